"""Read stage: paths from the command line -> raw document records, and an error row for
every input that cannot become one.

Nothing is silently lost. An *input* is a file, one line of a ``.jsonl`` file, one item of a
top-level JSON array, or one HTML response record of a WARC/ARC file; each becomes exactly one
raw document or exactly one error row (``schemas.tables.error_row(source, "read", ...)``), so
``read_inputs`` counts both. WARC records that are not HTML pages (requests, images, redirects)
are no inputs: they are counted as ``read_skipped_<reason>``, as blank JSONL lines are skipped.

Formats, by extension: ``.txt`` (plain text), ``.html``/``.htm``, ``.json`` (one object or a
list of objects with a string ``text`` or ``html``), ``.jsonl`` (one such object per line,
blank lines ignored), ``.warc``/``.arc`` (``transforms/warc.py``). Each may be gzip-compressed
(``.jsonl.gz``, ``.warc.gz``...); decompressed content is capped at ``max_file_bytes`` and read
in chunks, so a gzip bomb stops at the cap. ``NAME.meta.json`` beside ``NAME.txt``/``.html``/
``.htm`` is a sidecar: metadata for its partner, not an input of its own.

Raw document (a plain dict, consumed by ``transforms/clean.py``)::

    {"source", "format": "text"|"html", "content", "encoding", "url", "title", "outlet",
     "authors", "published_at": aware UTC datetime | None, "date_source": "sidecar"|"json"|None}

plus ``"fetched_at"`` (aware UTC datetime) when a crawler saved the page: the WARC-Date.

``source`` is the path as a valid UTF-8 string: bytes of a file name that are not UTF-8 are
shown as ``\\xNN`` (Parquet strings must be UTF-8).

Error types: ``unreadable``, ``too_large``, ``unsupported_type``, ``orphan_sidecar``,
``invalid_sidecar``, ``empty``, ``binary``, ``undecodable``, ``invalid_json``,
``invalid_record``, ``corrupt`` (a broken gzip stream or WARC record), ``exception``.

Paths are local filesystem paths (discovery lists folders with ``os``), read on the workers.
"""

from __future__ import annotations

import codecs
import gzip
import json
import os
import re
import stat
import zlib
from collections.abc import Iterable, Iterator

import apache_beam as beam
from apache_beam.metrics import Metrics
from pydantic import ValidationError

from schemas.config import ReadConfig
from schemas.records import DocumentMeta, JsonDocument
from schemas.tables import EXCERPT_CHARS, error_row
from transforms.timing import StageClock

METRICS_NAMESPACE = "newsbeam"
STAGE = "read"
SIDECAR_SUFFIX = ".meta.json"
# Extension -> how the file is read. A configured extension missing here has no reader.
READERS = {
    ".txt": "text", ".html": "html", ".htm": "html", ".json": "json", ".jsonl": "jsonl",
    ".warc": "warc", ".arc": "warc",
}  # fmt: skip
# Any readable type may come gzip-compressed: "feed.jsonl.gz" is read as ".jsonl".
GZIP_SUFFIX = ".gz"
SIDECAR_PARTNERS = (".txt", ".html", ".htm")

# UTF-32 before UTF-16: the UTF-32 LE BOM starts with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Formats that are never text, even when they happen to contain no NUL byte near the start.
_BINARY_MAGIC = (
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",  # JPEG
    b"GIF87a",
    b"GIF89a",
    b"%PDF-",
    b"PK\x03\x04",  # zip, docx, epub
    b"\x1f\x8b",  # gzip
    b"\xfd7zXZ\x00",
    b"\x7fELF",
)
# Guessing these without a BOM turns short Latin-1 text into CJK or EBCDIC nonsense, and a
# real UTF-16/32 file without a BOM is full of NUL bytes, which already made it "binary".
_NEVER_GUESS = [
    "utf_16", "utf_16_be", "utf_16_le", "utf_32", "utf_32_be", "utf_32_le", "utf_7",
    "cp037", "cp273", "cp424", "cp500", "cp875", "cp1026", "cp1140",
]  # fmt: skip
# charset-normalizer ranks by "mess" and breaks ties alphabetically, so Western text often comes
# back as cp1250/cp1257 ("trčs" for "très"). cp1252, the commonest legacy encoding of Western
# text and the WHATWG default, wins unless another encoding is clearly better: fits the
# language better, or is less messy by more than this margin.
_PREFERRED_GUESS = "cp1252"
_PREFERRED_MESS_MARGIN = 0.1
# WHATWG: a page declaring ISO-8859-1 or ASCII is decoded as windows-1252 by every browser.
_DECLARED_AS_CP1252 = {"iso8859-1", "ascii"}
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_C1_BYTE = re.compile(rb"[\x80-\x9f]")
_CHARSET_SNIFF_BYTES = 4096
# Valid UTF-8 multi-byte characters needed per invalid sequence to call a file damaged UTF-8.
_MULTIBYTE_PER_DAMAGED_BYTE = 10
_HEAD_BYTES = 1024
# UTF-16 without a BOM: ASCII-range characters (spaces, digits, punctuation at least) put a NUL
# in one byte of their pair and never in the other; binary data has NULs in both.
_UTF16_SNIFF_BYTES = 65536
_UTF16_MIN_NUL_SHARE = 0.1
_UTF16_MAX_OTHER_SIDE_NULS = 0.05
_UTF16_MAX_CONTROL_SHARE = 0.01
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class DecodeError(ValueError):
    """Bytes that no encoding we trust turns into text."""


class CorruptError(ValueError):
    """A compressed stream or archive record that cannot be read as its format says."""


# ---------------------------------------------------------------- discovery


def _is_sidecar(path: str) -> bool:
    return path.lower().endswith(SIDECAR_SUFFIX)


def file_type(path: str) -> tuple[str, bool]:
    """(extension that says the format, gzip-compressed?): "a.jsonl.gz" -> (".jsonl", True)."""
    stem, ext = os.path.splitext(path)
    if ext.lower() == GZIP_SUFFIX:
        return os.path.splitext(stem)[1].lower(), True
    return ext.lower(), False


def source_name(path: str) -> str:
    """``path`` as a valid UTF-8 string for the ``source`` column.

    A file name that is not UTF-8 reaches Python with its bad bytes smuggled in as lone
    surrogates (PEP 383), which no Parquet writer accepts; they are shown as ``\\xNN``.
    """
    try:
        return os.fsencode(path).decode("utf-8", errors="backslashreplace")
    except UnicodeEncodeError:  # a surrogate that no file name produced
        return _LONE_SURROGATE.sub("\ufffd", path)


def valid_text(text: str) -> str:
    """``text`` without lone surrogates (JSON's ``"\\ud800"`` makes them), which UTF-8 cannot hold."""
    return _LONE_SURROGATE.sub("\ufffd", text)


def _identity(path: str) -> str:
    """What makes two paths the same input: the real file, or the link itself when broken."""
    return os.path.realpath(path) if os.path.exists(path) else os.path.abspath(path)


def _walk(folder: str, visited_dirs: set[str]) -> Iterator[str]:
    """Files under ``folder``, sorted, following symlinked folders once each (so loops end).

    A folder that cannot be listed is yielded itself: it becomes an "unreadable" error row
    rather than vanishing.
    """
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        yield folder
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            is_dir = entry.is_dir()  # follows symlinks; False for a broken link
        except OSError:
            is_dir = False
        if not is_dir:
            yield entry.path
            continue
        real = os.path.realpath(entry.path)
        if real in visited_dirs:
            continue
        visited_dirs.add(real)
        yield from _walk(entry.path, visited_dirs)


def _sidecar_for(path: str, partner_extensions: set[str]) -> str | None:
    stem, ext = os.path.splitext(path)
    if ext.lower() not in partner_extensions:
        return None
    candidate = stem + SIDECAR_SUFFIX
    return candidate if os.path.isfile(candidate) else None


def discover_inputs(paths: list[str], extensions: list[str]) -> list[dict]:
    """Expand files and folders into ``[{"path", "sidecar"}]``, sorted by path.

    Folders are walked recursively; hidden files and folders are skipped; each real file is
    an input once (the smallest path naming it wins). Files of any extension are inputs:
    those outside ``extensions`` become "unsupported_type" error rows when read. A
    ``NAME.meta.json`` beside ``NAME.txt``/``.html``/``.htm`` (if that format is among
    ``extensions``) is paired with it, also when only the document was named on the command
    line; a sidecar with no partner is an input of its own, which the reader reports.
    Raises FileNotFoundError for a named path that does not exist.
    """
    found: list[str] = []
    for given in paths:
        if not os.path.lexists(given):
            raise FileNotFoundError(f"input path does not exist: {given}")
        if os.path.isdir(given):
            found.extend(_walk(given, {os.path.realpath(given)}))
        else:
            found.append(given)  # named explicitly: read even if hidden or a broken link

    first_by_identity: dict[str, str] = {}
    for path in sorted(found):
        first_by_identity.setdefault(_identity(path), path)
    unique = sorted(first_by_identity.values())

    partner_extensions = {e.lower() for e in extensions} & set(SIDECAR_PARTNERS)
    inputs, claimed_sidecars, sidecars = [], set(), []
    for path in unique:
        if _is_sidecar(path):
            sidecars.append(path)
            continue
        sidecar = _sidecar_for(path, partner_extensions)
        if sidecar is not None:
            claimed_sidecars.add(_identity(sidecar))
        inputs.append({"path": path, "sidecar": sidecar})
    inputs.extend({"path": s, "sidecar": None} for s in sidecars if _identity(s) not in claimed_sidecars)
    return sorted(inputs, key=lambda item: item["path"])


# ---------------------------------------------------------------- decoding


def _canonical_encoding(name: str) -> str:
    return codecs.lookup(name).name


def _declared_html_charset(data: bytes) -> str | None:
    match = _META_CHARSET.search(data[:_CHARSET_SNIFF_BYTES])
    if not match:
        return None
    try:
        name = _canonical_encoding(match.group(1).decode("ascii"))
    except (LookupError, UnicodeDecodeError):
        return None
    # A UTF-16/32 declaration inside ASCII-compatible bytes is wrong by construction.
    return None if name.startswith(("utf-16", "utf-32")) else name


def _decode_declared(data: bytes, declared: str) -> tuple[str, str] | None:
    candidates = [declared]
    if declared in _DECLARED_AS_CP1252:
        # Same text as Latin-1 unless bytes 0x80-0x9f occur; then cp1252 is what was meant.
        has_c1 = _C1_BYTE.search(data) is not None
        candidates = ["cp1252", declared] if has_c1 or declared == "ascii" else [declared, "cp1252"]
    for name in candidates:
        try:
            return data.decode(name), name
        except UnicodeDecodeError:
            continue
    return None


def _guess(data: bytes) -> tuple[str, str] | None:
    import charset_normalizer

    matches = charset_normalizer.from_bytes(data, cp_exclusion=_NEVER_GUESS)
    best = matches.best()
    if best is None:
        return None
    for match in matches:
        if (
            _PREFERRED_GUESS in match.could_be_from_charset
            and match.coherence >= best.coherence
            and match.chaos <= best.chaos + _PREFERRED_MESS_MARGIN
        ):
            try:
                return data.decode(_PREFERRED_GUESS), _PREFERRED_GUESS
            except UnicodeDecodeError:
                break
    return str(best), _canonical_encoding(best.encoding)


def _damaged_utf8(data: bytes) -> str | None:
    """The text of UTF-8 with a few corrupt bytes, or None when it does not look like that.

    Many valid multi-byte sequences do not occur by accident in a legacy encoding, so a
    stray bad byte among them is damage: replacing it keeps the article, where a guessed
    single-byte encoding would garble every accent in it.
    """
    text = data.decode("utf-8", errors="replace")
    invalid = text.count("\ufffd") - data.count("\ufffd".encode())
    multibyte = sum(1 for ch in text if ord(ch) > 0x7F) - invalid
    if invalid and multibyte >= _MULTIBYTE_PER_DAMAGED_BYTE * invalid:
        return text
    return None


def utf16_without_bom(data: bytes) -> str | None:
    """``"utf-16-le"``/``"utf-16-be"`` when ``data`` is UTF-16 text that lacks a BOM, else None.

    Decided on the NUL bytes of the first 64 KB (on one side of the byte pairs only), then
    confirmed by a strict decode of the whole file into text with (almost) no control characters.
    """
    sample = data[:_UTF16_SNIFF_BYTES]
    pairs = len(sample) // 2
    if not pairs or len(data) % 2:
        return None
    nuls_at_even, nuls_at_odd = sample[0::2].count(0), sample[1::2].count(0)
    if nuls_at_odd >= _UTF16_MIN_NUL_SHARE * pairs and nuls_at_even <= _UTF16_MAX_OTHER_SIDE_NULS * nuls_at_odd:
        encoding = "utf-16-le"  # "A" is b"A\x00"
    elif nuls_at_even >= _UTF16_MIN_NUL_SHARE * pairs and nuls_at_odd <= _UTF16_MAX_OTHER_SIDE_NULS * nuls_at_even:
        encoding = "utf-16-be"
    else:
        return None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        return None
    controls = sum(1 for ch in text if ch < " " and ch not in "\n\r\t\f")
    return encoding if controls <= _UTF16_MAX_CONTROL_SHARE * len(text) else None


def decode_bytes(data: bytes, is_html: bool = False) -> tuple[str, str]:
    """``(text, encoding)``: a BOM first, then UTF-16 without a BOM, then strict UTF-8, then
    UTF-8 with a few damaged bytes (replaced by U+FFFD), then (HTML) a declared
    ``<meta charset>`` that decodes cleanly, then charset-normalizer's best guess. Raises
    DecodeError when nothing fits.
    """
    for bom, name in _BOMS:
        if data.startswith(bom):
            try:
                # utf-8-sig drops its own BOM; the others are given the bytes after it.
                body = data if name == "utf-8-sig" else data[len(bom) :]
                return body.decode(name), name
            except UnicodeDecodeError as exc:
                raise DecodeError(f"starts with a {name} byte order mark but is not valid {name}: {exc}") from exc
    if b"\x00" in data[:_UTF16_SNIFF_BYTES]:
        wide = utf16_without_bom(data)
        if wide is not None:
            return data.decode(wide), wide
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    damaged = _damaged_utf8(data)
    if damaged is not None:
        return damaged, "utf-8"
    if is_html:
        declared = _declared_html_charset(data)
        if declared is not None:
            decoded = _decode_declared(data, declared)
            if decoded is not None:
                return decoded
    guessed = _guess(data)
    if guessed is None:
        raise DecodeError("not valid UTF-8 and no other encoding fits")
    return guessed


def _has_text_bom(data: bytes) -> bool:
    return any(data.startswith(bom) for bom, _name in _BOMS)


def binary_reason(data: bytes) -> str | None:
    """Why ``data`` is not text (a known file signature, or NUL bytes), or None."""
    for magic in _BINARY_MAGIC:
        if data.startswith(magic):
            return f"file signature {magic[:8]!r} of a binary format"
    # UTF-16/32 text is full of NULs; its BOM says so, or their places in the byte pairs do.
    if b"\x00" in data and not _has_text_bom(data) and utf16_without_bom(data) is None:
        return "contains NUL bytes"
    return None


def excerpt_of(content: bytes | str) -> str:
    """A bounded, printable excerpt for an error row: control bytes shown escaped."""
    if isinstance(content, bytes):
        content = content[: EXCERPT_CHARS * 4].decode("utf-8", errors="replace")
    shown = []
    for ch in content[:EXCERPT_CHARS]:
        if ch.isprintable() or ch in "\n\t":
            shown.append(ch)
        else:
            shown.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
    return "".join(shown)[:EXCERPT_CHARS]


# ---------------------------------------------------------------- reading one input


def read_error(source: str, error_type: str, message: str, excerpt: bytes | str = "") -> tuple[str, dict]:
    """A ``("error", row)`` result of the read stage; source and message made valid UTF-8."""
    return "error", error_row(source_name(source), STAGE, error_type, source_name(message), excerpt_of(excerpt))


def _read_head(path: str) -> bytes:
    """The first bytes of a file for an excerpt; empty when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            return handle.read(_HEAD_BYTES)
    except OSError:
        return b""


def raw_document(
    source: str,
    fmt: str,
    content: str,
    encoding: str,
    meta: DocumentMeta | None,
    date_source: str,
    fetched_at=None,
) -> tuple[str, dict]:
    """A ``("document", raw_doc)`` result; every string made valid UTF-8 (see ``valid_text``).
    ``fetched_at`` (a crawl time) is set only when given."""
    meta = meta or DocumentMeta()

    def valid(value: str | None) -> str | None:
        return None if value is None else valid_text(value)

    document = {
        "source": source_name(source),
        "format": fmt,
        "content": valid_text(content),
        "encoding": encoding,
        "url": valid(meta.url),
        "title": valid(meta.title),
        "outlet": valid(meta.outlet),
        "authors": [valid_text(a) for a in meta.authors],
        "published_at": meta.published,
        "date_source": date_source if meta.published is not None else None,
    }
    if fetched_at is not None:
        document["fetched_at"] = fetched_at
    return "document", document


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        field = ".".join(str(part) for part in err["loc"]) or "record"
        parts.append(f"field '{field}': {err['msg']}")
    return "; ".join(parts)


def _load_sidecar(sidecar: str, cfg: ReadConfig) -> tuple[DocumentMeta | None, str, bytes]:
    """(metadata, reason it is invalid, its bytes): metadata is None exactly when invalid."""
    try:
        size = os.stat(sidecar).st_size
        if size > cfg.max_file_bytes:
            return None, f"sidecar {sidecar} is {size} bytes, over max_file_bytes {cfg.max_file_bytes}", b""
        with open(sidecar, "rb") as handle:
            data = handle.read(cfg.max_file_bytes + 1)
    except OSError as exc:
        return None, f"sidecar {sidecar} cannot be read: {exc.strerror or exc}", b""
    try:
        text, _encoding = decode_bytes(data)
        value = json.loads(text)
    except (DecodeError, json.JSONDecodeError) as exc:
        return None, f"sidecar {sidecar} is not valid JSON: {exc}", data
    if not isinstance(value, dict):
        return None, f"sidecar {sidecar} must hold a JSON object, not {type(value).__name__}", data
    try:
        return DocumentMeta.model_validate(value), "", data
    except ValidationError as exc:
        return None, f"sidecar {sidecar}: {_validation_message(exc)}", data


def _read_markup(path: str, fmt: str, data: bytes, sidecar: str | None, cfg: ReadConfig) -> list[tuple[str, dict]]:
    """A .txt or .html file: one document, with its sidecar's metadata if it has one."""
    try:
        content, encoding = decode_bytes(data, is_html=fmt == "html")
    except DecodeError as exc:
        return [read_error(path, "undecodable", str(exc), data)]
    if not content.strip():
        return [read_error(path, "empty", "the file holds only whitespace", data)]
    meta = None
    if sidecar is not None:
        meta, reason, sidecar_data = _load_sidecar(sidecar, cfg)
        if meta is None:
            # Strict: the user's metadata was wrong, and a document silently missing its
            # date or URL would be worse than one clearly reported.
            return [read_error(path, "invalid_sidecar", reason, sidecar_data)]
    return [raw_document(path, fmt, content, encoding, meta, "sidecar")]


def _json_record(source: str, value: object, encoding: str, raw: str) -> tuple[str, dict]:
    """One JSON value (a file, an array item or a JSONL line) -> a document or an error row."""
    if not isinstance(value, dict):
        return read_error(source, "invalid_record", f"expected a JSON object, got {type(value).__name__}", raw)
    try:
        record = JsonDocument.model_validate(value)
    except ValidationError as exc:
        return read_error(source, "invalid_record", _validation_message(exc), raw)
    # A non-blank plain text is what the user already extracted; else the HTML.
    if record.text is not None and record.text.strip():
        return raw_document(source, "text", record.text, encoding, record, "json")
    if record.html is not None and record.html.strip():
        return raw_document(source, "html", record.html, encoding, record, "json")
    if record.text is None and record.html is None:
        return read_error(source, "invalid_record", "needs a string field 'text' or 'html'", raw)
    return read_error(source, "empty", "'text'/'html' holds only whitespace", raw)


def _compact_json(value: object) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=str)[: EXCERPT_CHARS * 2]
    except (TypeError, ValueError):
        return repr(value)[: EXCERPT_CHARS * 2]


def _read_json(path: str, data: bytes) -> list[tuple[str, dict]]:
    try:
        text, encoding = decode_bytes(data)
    except DecodeError as exc:
        return [read_error(path, "undecodable", str(exc), data)]
    if not text.strip():
        return [read_error(path, "empty", "the file holds only whitespace", data)]
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return [read_error(path, "invalid_json", f"not valid JSON: {exc}", text)]
    if isinstance(value, list):
        if not value:
            return [read_error(path, "empty", "the JSON array has no items", text)]
        return [_json_record(f"{path}#{i}", item, encoding, _compact_json(item)) for i, item in enumerate(value)]
    return [_json_record(path, value, encoding, text)]


def _jsonl_lines(data: bytes) -> Iterator[tuple[int, bytes, tuple[str, str] | DecodeError]]:
    """(1-based line number, raw line, (text, encoding) or why it cannot be decoded).

    Lines are decoded one by one, so one badly encoded line fails alone. A line that is not
    UTF-8 is first tried in the encoding guessed once for the whole file (one file, one
    encoding, and one guess instead of one per line).
    """
    if (_has_text_bom(data) and not data.startswith(codecs.BOM_UTF8)) or utf16_without_bom(data):
        # UTF-16/32 cannot be split on the byte b"\n": decode the whole file first.
        text, encoding = decode_bytes(data)
        for number, line in enumerate(text.split("\n"), start=1):
            yield number, line.encode("utf-8"), (line, encoding)
        return
    data = data.removeprefix(codecs.BOM_UTF8)
    file_encoding: str | None = None
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            decoded: tuple[str, str] | DecodeError = (raw.decode("utf-8"), "utf-8")
        except UnicodeDecodeError:
            if file_encoding is None:
                try:
                    file_encoding = decode_bytes(data)[1]
                except DecodeError:
                    file_encoding = ""
            decoded = _decode_jsonl_line(raw, file_encoding)
        yield number, raw, decoded


def _decode_jsonl_line(raw: bytes, file_encoding: str) -> tuple[str, str] | DecodeError:
    if file_encoding == "utf-8":  # damaged UTF-8: replace this line's bad bytes
        return raw.decode("utf-8", errors="replace"), "utf-8"
    if file_encoding:
        try:
            return raw.decode(file_encoding), file_encoding
        except UnicodeDecodeError:
            pass
    try:
        return decode_bytes(raw)
    except DecodeError as exc:
        return exc


def _read_jsonl(path: str, data: bytes) -> list[tuple[str, dict]]:
    try:
        lines = list(_jsonl_lines(data))
    except DecodeError as exc:
        return [read_error(path, "undecodable", str(exc), data)]
    out = []
    for number, raw, decoded in lines:
        source = f"{path}#L{number}"
        if isinstance(decoded, DecodeError):
            out.append(read_error(source, "undecodable", str(decoded), raw))
            continue
        line, encoding = decoded
        if not line.strip():
            continue  # blank lines are separators, not inputs
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            out.append(read_error(source, "invalid_json", f"line {number} is not valid JSON: {exc}", line))
            continue
        out.append(_json_record(source, value, encoding, line))
    if not out:
        return [read_error(path, "empty", "the file holds no JSON lines", data)]
    return out


def _orphan_reason(sidecar: str) -> str:
    stem = sidecar[: -len(SIDECAR_SUFFIX)]
    partners = [stem + ext for ext in SIDECAR_PARTNERS if os.path.isfile(stem + ext)]
    if partners:
        return f"its document {partners[0]} is not among the inputs (or its type is not read)"
    return f"no {'/'.join(SIDECAR_PARTNERS)} document beside this sidecar to apply it to"


def _read_capped(path: str, gzipped: bool, cap: int) -> bytes:
    """At most ``cap + 1`` bytes of the file, decompressed in chunks when ``gzipped`` (so a
    gzip bomb costs ``cap`` bytes, not its expanded size). Raises OSError, or CorruptError."""
    with open(path, "rb") as handle:
        if not gzipped:
            # Sized by the file, not the cap: read(n) allocates n bytes first, and a cap of tens
            # of megabytes for an 8 KB page cost ~25 µs per file (0.15 ms in a busy worker).
            size = os.fstat(handle.fileno()).st_size
            data = handle.read(min(size, cap) + 1)
            if len(data) <= size or len(data) > cap:
                return data
            # Grown since stat, or a file whose size stat does not know (/proc): on to the cap.
            return data + handle.read(cap + 1 - len(data))
        try:
            with gzip.GzipFile(fileobj=handle) as stream:
                return stream.read(cap + 1)
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise CorruptError(f"not a valid gzip stream: {exc}") from exc


def _read_input(path: str, sidecar: str | None, cfg: ReadConfig) -> Iterable[tuple[str, dict]]:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        reason = "broken symlink" if os.path.islink(path) else "file no longer exists"
        return [read_error(path, "unreadable", reason)]
    except OSError as exc:  # permissions, a symlink loop (ELOOP), a name too long
        return [read_error(path, "unreadable", f"cannot stat: {exc.strerror or exc}")]
    if stat.S_ISDIR(info.st_mode):
        return [read_error(path, "unreadable", "a folder that cannot be listed")]
    if not stat.S_ISREG(info.st_mode):
        # Opening a FIFO or device would block or never end.
        return [read_error(path, "unreadable", "not a regular file")]

    if _is_sidecar(path):
        return [read_error(path, "orphan_sidecar", _orphan_reason(path), _read_head(path))]
    ext, gzipped = file_type(path)
    understood = {e.lower() for e in cfg.extensions}
    if ext not in understood or ext not in READERS:
        label = (ext + GZIP_SUFFIX if gzipped else ext) or "no extension"
        readable = ", ".join(sorted(understood & set(READERS)))
        message = f"{label} is not a readable type ({readable}, each optionally {GZIP_SUFFIX})"
        return [read_error(path, "unsupported_type", message, _read_head(path))]
    kind = READERS[ext]
    if kind == "warc":
        from transforms.warc import read_warc  # warcio is only needed for archives

        # An archive streams record by record: its size is no limit, each record's is.
        return read_warc(path, cfg)
    if info.st_size > cfg.max_file_bytes:
        message = f"{info.st_size} bytes, over max_file_bytes {cfg.max_file_bytes}"
        return [read_error(path, "too_large", message, _read_head(path))]

    try:
        data = _read_capped(path, gzipped, cfg.max_file_bytes)
    except CorruptError as exc:
        return [read_error(path, "corrupt", str(exc), _read_head(path))]
    except OSError as exc:
        return [read_error(path, "unreadable", f"cannot read: {exc.strerror or exc}")]
    if len(data) > cfg.max_file_bytes:
        # Grew since stat, a file whose size stat does not know, or decompresses past the cap.
        over = "decompresses to more than" if gzipped else "over"
        return [read_error(path, "too_large", f"{over} max_file_bytes {cfg.max_file_bytes}", data[:_HEAD_BYTES])]
    if not data:
        return [read_error(path, "empty", "the file is empty")]
    reason = binary_reason(data)
    if reason is not None:
        return [read_error(path, "binary", reason, data)]

    if kind == "json":
        return _read_json(path, data)
    if kind == "jsonl":
        return _read_jsonl(path, data)
    return _read_markup(path, kind, data, sidecar, cfg)


def iter_input(path: str, sidecar: str | None, cfg: ReadConfig) -> Iterator[tuple[str, dict]]:
    """One discovered input -> ``("document", raw_doc)``, ``("error", error_row)`` and, for
    archives, ``("skipped", {"source", "reason"})`` items, streamed.

    A file gives one item; a JSONL file one per non-blank line; a JSON array one per item;
    a WARC/ARC file one per record. Never raises: an unexpected failure becomes one
    "exception" error row (after the items already given, for an archive).
    """
    try:
        yield from _read_input(path, sidecar, cfg)
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop the run
        yield read_error(path, "exception", f"{type(exc).__name__}: {exc}")


def read_input(path: str, sidecar: str | None, cfg: ReadConfig) -> list[tuple[str, dict]]:
    """``iter_input`` as a list."""
    return list(iter_input(path, sidecar, cfg))


# ---------------------------------------------------------------- Beam wrappers


class ReadInputFn(beam.DoFn):
    """``{"path", "sidecar"}`` (file system bytes) -> raw documents, and error rows on the
    "errors" output."""

    def __init__(self, cfg: ReadConfig):
        self._cfg = cfg
        self._inputs = Metrics.counter(METRICS_NAMESPACE, "read_inputs")
        self._documents = Metrics.counter(METRICS_NAMESPACE, "read_documents")
        self._by_reason: dict[str, object] = {}
        self._clock = StageClock("read")

    def _counter(self, name: str):
        if name not in self._by_reason:
            self._by_reason[name] = Metrics.counter(METRICS_NAMESPACE, name)
        return self._by_reason[name]

    def process(self, item: dict):
        sidecar = item.get("sidecar")
        results = iter_input(os.fsdecode(item["path"]), None if sidecar is None else os.fsdecode(sidecar), self._cfg)
        while True:
            # Timed per item: an archive streams its records out between reads.
            with self._clock.timing():
                kind, record = next(results, (None, None))
            if kind is None:
                return
            if kind == "skipped":
                self._counter(f"read_skipped_{record['reason']}").inc()
                continue
            self._inputs.inc()
            if kind == "document":
                self._documents.inc()
                yield record
            else:
                self._counter(f"read_rejected_{record['error_type']}").inc()
                yield beam.pvalue.TaggedOutput("errors", record)


@beam.typehints.with_output_types(dict[str, bytes | None])
class _CreateInputs(beam.Create):
    """``beam.Create`` of the input list, its element type declared: Create otherwise infers it
    from every element, five times over while the graph is built (0.16 s for 2,000 files;
    3.4 s each time for 200,000). The declared type gives the coder inference gave (a map of str to
    optional bytes)."""


class ReadDocuments(beam.PTransform):
    """PBegin -> (raw documents, read error rows) for the given files and folders.

    Inputs are discovered when the graph is built, so a missing path fails the launch
    (FileNotFoundError) before any work starts.
    """

    def __init__(self, paths: list[str], cfg: ReadConfig):
        super().__init__()
        self._paths = list(paths)
        self._cfg = cfg

    def expand(self, pbegin):
        # As bytes: Beam's coders need valid UTF-8, and a file name need not be.
        inputs = [
            {"path": os.fsencode(i["path"]), "sidecar": None if i["sidecar"] is None else os.fsencode(i["sidecar"])}
            for i in discover_inputs(self._paths, self._cfg.extensions)
        ]
        result = (
            pbegin
            # Create puts everything on one worker; files are the unit of work to spread. Its own
            # reshuffle is off: SpreadInputs does that (two would be a stage and a shuffle more).
            | "ListInputs" >> _CreateInputs(inputs, reshuffle=False)
            | "SpreadInputs" >> beam.Reshuffle()
            | "ReadInputs" >> beam.ParDo(ReadInputFn(self._cfg)).with_outputs("errors", main="documents")
        )
        return result.documents, result.errors
