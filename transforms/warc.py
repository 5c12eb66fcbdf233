"""WARC and ARC input: every HTML page a crawler saved becomes one raw document.

Called by the read stage (``transforms/read.py``) for ``.warc``, ``.arc``, ``.warc.gz`` and
``.arc.gz`` files, which warcio reads record by record (never the whole file at once).

- A ``response`` record with HTTP status 200 and an HTML Content-Type is an input: it becomes
  one raw document (``format`` "html") whose ``url`` is the WARC-Target-URI and whose
  ``fetched_at`` is the WARC-Date; clean uses that as the publication date when the page
  states none. Its source is ``<path>#offset=<byte offset of the record>``, the address
  ``warcio extract`` and CDX indexes use.
- Every other record (warcinfo, request, metadata, revisit, an image, a redirect, a 404) is
  no input: it is reported as ``("skipped", {"source", "reason"})`` with reason
  ``not_response``, ``not_http``, ``not_ok_status`` or ``not_html``, and counted.
- A record that cannot be parsed is an input that failed: one ``corrupt`` error row, then
  reading goes on at the next record found after it (the next gzip member of a
  ``.warc.gz``, the next ``WARC/1.`` header line of a ``.warc``). Uncompressed ARC has no
  marker to find the next record by, so a corrupt record ends such a file, with that row.
  A file that ends inside a record (a download cut short) gives a ``corrupt`` row for it,
  never a document of half a page.
- A record's payload (after HTTP chunked/gzip decoding) is capped at ``max_file_bytes``
  (``too_large``); an empty, binary or undecodable page is ``empty``, ``binary`` or
  ``undecodable``, as for files.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from schemas.config import ReadConfig
from schemas.records import DocumentMeta, parse_timestamp
from transforms.read import DecodeError, binary_reason, raw_document, read_error

HTML_TYPES = ("text/html", "application/xhtml+xml")
_GZIP_MEMBER = b"\x1f\x8b\x08"
_WARC_HEADER_LINE = b"\nWARC/1."
_SCAN_BYTES = 1 << 20
_EXCERPT_BYTES = 512
_MEMBER_PROBE_BYTES = 4096


def record_source(path: str, offset: int) -> str:
    return f"{path}#offset={offset}"


def _skipped(source: str, reason: str) -> tuple[str, dict]:
    return "skipped", {"source": source, "reason": reason}


def record_result(path: str, offset: int, record, cfg: ReadConfig) -> tuple[str, dict]:
    """One parsed warcio record -> a document, an error row, or a skipped marker."""
    from transforms.feeds import decode_page  # the HTTP Content-Type charset, then read's detection

    source = record_source(path, offset)
    if record.length is None:  # every WARC/ARC header states one: this one was cut short
        return read_error(source, "corrupt", "the record's header is incomplete (truncated file?)")
    if record.rec_type != "response":
        return _skipped(source, "not_response")
    http = record.http_headers
    if http is None:
        return _skipped(source, "not_http")  # dns:, ftp: or a resource saved without headers
    if http.get_statuscode() != "200":
        return _skipped(source, "not_ok_status")
    content_type = http.get_header("Content-Type") or ""
    if content_type.split(";")[0].strip().lower() not in HTML_TYPES:
        return _skipped(source, "not_html")
    try:
        body = record.content_stream().read(cfg.max_file_bytes + 1)
    except (OSError, EOFError, ValueError, zlib.error) as exc:
        return read_error(source, "corrupt", f"the record's HTTP body cannot be decoded: {exc}")
    if len(body) > cfg.max_file_bytes:
        return read_error(source, "too_large", f"page over max_file_bytes {cfg.max_file_bytes}", body[:_EXCERPT_BYTES])
    if getattr(record.raw_stream, "limit", 0) > 0:  # bytes the header promised and the file lacks
        return read_error(source, "corrupt", "the file ends inside this record (truncated?)", body)
    if not body.strip():
        return read_error(source, "empty", "the response has no body")
    reason = binary_reason(body)
    if reason is not None:
        return read_error(source, "binary", f"{content_type} response, but {reason}", body)
    try:
        text, encoding = decode_page(body, content_type)
    except DecodeError as exc:
        return read_error(source, "undecodable", str(exc), body)
    try:
        fetched_at = parse_timestamp(record.rec_headers.get_header("WARC-Date"))
    except ValueError:
        fetched_at = None  # a bad crawl date is no date; the page may still state one
    url = record.rec_headers.get_header("WARC-Target-URI")
    return raw_document(source, "html", text, encoding, DocumentMeta(url=url), "fetch", fetched_at=fetched_at)


def _next_marker(handle: BinaryIO, start: int, marker: bytes, skip: int = 0) -> int | None:
    """Offset of the first ``marker`` at or after ``start`` (plus ``skip``), or None at the end."""
    position = start
    while True:
        handle.seek(position)
        chunk = handle.read(_SCAN_BYTES + len(marker))
        found = chunk.find(marker)
        if found != -1:
            return position + found + skip
        if len(chunk) <= len(marker):
            return None
        position += _SCAN_BYTES


class _DamagedMember(Exception):
    """A ``.warc.gz`` record whose gzip member does not decompress. warcio reads such bytes as
    uncompressed text and can make a plausible empty record of them, which would hide the
    damage and misplace the records after it."""


def _member_decompresses(path: str, offset: int) -> bool:
    with open(path, "rb") as probe:  # warcio reads the main handle: never move it
        probe.seek(offset)
        try:
            zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(probe.read(_MEMBER_PROBE_BYTES))
        except zlib.error:
            return False
    return True


def _excerpt_at(handle: BinaryIO, offset: int, compressed: bool) -> bytes:
    if compressed:
        return b""  # compressed bytes say nothing to a reader
    handle.seek(offset)
    return handle.read(_EXCERPT_BYTES)


def read_warc(path: str, cfg: ReadConfig) -> Iterator[tuple[str, dict]]:
    """The records of one WARC/ARC file (plain or gzip-compressed) as read-stage results."""
    from warcio.archiveiterator import ArchiveIterator

    with open(path, "rb") as handle:
        compressed = handle.read(2) == _GZIP_MEMBER[:2]
        handle.seek(0)
        is_warc = compressed or handle.read(7) == b"WARC/1."
        marker, skip = (_GZIP_MEMBER, 0) if compressed else (_WARC_HEADER_LINE, 1)
        start, resyncing = 0, False
        while start is not None:
            handle.seek(start)
            records = ArchiveIterator(handle, arc2warc=True)
            given = 0
            try:
                for record in records:
                    if compressed and not _member_decompresses(path, records.offset):
                        raise _DamagedMember("its gzip member does not decompress")
                    given, resyncing = given + 1, False
                    yield record_result(path, records.offset, record, cfg)
            except Exception as exc:  # noqa: BLE001 - warcio raises many types on bad bytes
                if compressed and start == 0 and "non-chunked gzip" in str(exc):
                    # ``gzip file.warc`` makes one stream of all records instead of one member per
                    # record: read it through, as the stream it is.
                    yield from _read_one_stream(path, cfg, already_given=given)
                    return
                failed_at = max(records.offset, start)  # warcio's offset is not always set on failure
                if not resyncing:
                    message = f"record cannot be read: {type(exc).__name__}: {str(exc).strip()[:300]}"
                    excerpt = _excerpt_at(handle, failed_at, compressed)
                    yield read_error(record_source(path, failed_at), "corrupt", message, excerpt)
                if not is_warc:
                    return  # uncompressed ARC: no marker says where the next record starts
                # The bytes up to the next record marker belong to the record that failed.
                start, resyncing = _next_marker(handle, failed_at + 1, marker, skip), True
                continue
            # warcio ends quietly at a record cut short (a download that stopped): say so.
            handle.seek(records.offset)
            rest = handle.read(_EXCERPT_BYTES)
            if rest.strip() and not resyncing:
                message = "the file ends inside this record (truncated?)"
                yield read_error(
                    record_source(path, records.offset),
                    "corrupt",
                    message,
                    _excerpt_at(handle, records.offset, compressed),
                )
            return


def _read_one_stream(path: str, cfg: ReadConfig, already_given: int) -> Iterator[tuple[str, dict]]:
    """The records after the first ``already_given`` of a WARC gzip-compressed as one stream.
    Offsets are in the decompressed stream, and a corrupt record ends the file (a compressed
    stream cannot be searched for the next one)."""
    from warcio.archiveiterator import ArchiveIterator

    with gzip.open(path, "rb") as stream:
        records = ArchiveIterator(stream, arc2warc=True)
        try:
            for number, record in enumerate(records):
                if number >= already_given:
                    yield record_result(path, records.offset, record, cfg)
        except Exception as exc:  # noqa: BLE001 - as in read_warc
            message = f"this and later records cannot be read: {type(exc).__name__}: {str(exc).strip()[:300]}"
            yield read_error(record_source(path, records.offset), "corrupt", message)
