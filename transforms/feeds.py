"""Feeds in: RSS, Atom, JSON Feed and OPML -> raw documents for the clean stage, and error rows.

A *feed source* is an http(s) URL, a local feed file, or an OPML subscription list (local or
remote) whose feeds become sources themselves (one level: an OPML listed by an OPML is
reported, not followed). Everything is read through the pure functions below, wrapped by
``ReadFeeds``; ``read_feed_source`` is one poll of one source, so a streaming poller can
reuse it unchanged.

Accounting (the run summary checks inputs = articles + duplicates + rejected):

* An *input* is one feed entry, or one feed source that fails as a whole. Each ends as exactly
  one raw document (later an article or duplicate) or exactly one error row with stage
  ``"read"``; ``read_inputs`` counts both.
* A source that fails as a whole (refused, unreachable, not a feed, unparseable with no entry
  recovered, an XML bomb) is one input and one ``"read"`` error row.
* A 304 (not modified) feed has no inputs and writes no row; an OPML list is not an input
  (its feeds are).
* Notes that reject nothing are error rows with stage ``"feed"``, which the summary does not
  count as rejecting: ``bozo`` for a malformed feed from which entries were recovered (the
  entries are inputs of their own), ``no_entries`` for a valid feed without entries, and
  ``nested_opml`` for a subscription list listed by another one.

Raw documents follow ``transforms/read.py``. ``source`` is ``<feed>#<entry id or link>``,
``outlet`` the feed's title, ``url`` the entry link (the page's final URL when it was
fetched). An entry whose own body (content:encoded, Atom content, JSON Feed content_html or
content_text, else its summary) has at least ``full_text_min_words`` words is used as it is
(format ``"html"``, or ``"text"`` for plain-text bodies); otherwise the linked page is
fetched and passed on whole as ``"html"`` for clean's extraction. Date chain: the entry's
published/updated date (``date_source`` ``"feed"``), else clean finds the page's own date
(``"html"``), else the ingestion time (``"ingestion"``).

Error types (stage ``"read"``): those of ``transforms.http.FETCH_ERROR_TYPES`` for a feed or a
page, plus ``unreadable`` and ``too_large`` (local files), ``bozo`` (nothing recoverable),
``not_a_feed``, ``xml_bomb`` (entity expansion beyond ``MAX_ENTITY_EXPANSION``),
``empty_entry`` (no body and no link), ``not_html`` and ``undecodable`` (a fetched page),
``empty`` and ``exception``.

Graph (``ReadFeeds``): sources are grouped by host and read; entries needing their page are
grouped by the page's host and fetched. The grouping is the reshuffle that spreads work over
workers, and it puts each host on one client's queue, so the per-host delay, robots.txt and
the one-request-at-a-time limit hold across the run, not only per worker. Conditional-GET
validators are staged only for feeds none of whose pages failed in a way a later run may
fix (timeout, connection, 429, 5xx): a 304 must never hide an entry that was not written.

XML safety: feedparser never fetches external entities and keeps only literal internal
ones, but literal entities referenced many times still expand quadratically (a 200 kB feed
can make it build gigabytes). ``xml_bomb_reason`` bounds the expansion before any XML parser
sees the bytes.
"""

from __future__ import annotations

import calendar
import codecs
import datetime as dt
import html
import io
import json
import os
import re
from collections.abc import Iterator
from urllib.parse import unquote, urljoin, urlsplit

import apache_beam as beam
from apache_beam.metrics import Metrics

from schemas.feeds_config import FeedConfig
from schemas.records import parse_timestamp
from schemas.tables import error_row
from transforms.http import (
    ALLOWED_SCHEMES,
    FetchError,
    FetchResult,
    PoliteClient,
    load_validator_state,
    next_validator_record,
    stage_validator_updates,
    validators_for_request,
)
from transforms.read import DecodeError, binary_reason, decode_bytes, excerpt_of
from transforms.timing import StageClock

METRICS_NAMESPACE = "newsbeam"
STAGE = "read"
NOTE_STAGE = "feed"
DATE_SOURCE = "feed"
MAX_ENTITY_EXPANSION = 1_000_000  # characters all entity references may expand to
FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, text/plain;q=0.5, */*;q=0.1"
# Page fetch failures worth another try on the next run: the feed's validators are then not
# advanced, so a 304 cannot hide the entry whose page failed.
RETRYABLE_FETCH_ERRORS = ("timeout", "connection", "rate_limited", "truncated")
_PAGE_TYPES = {"text/html": "html", "application/xhtml+xml": "html", "text/plain": "text"}
_TAG = re.compile(r"<[^>]+>")
_OPML_ROOT = re.compile(rb"^\s*(?:<\?xml[^>]*>\s*|<!--.*?-->\s*|<!DOCTYPE[^>]*>\s*)*<opml\b", re.DOTALL | re.IGNORECASE)
_ENTITY_DECL = re.compile(r"""<!ENTITY\s+(?:%\s+)?([^\s"'>]+)\s+(?:"([^"]*)"|'([^']*)')""")
_ENTITY_REF = re.compile(r"[&%]([^\s&%;<>\"']+);")
_JSON_FEED_VERSION = re.compile(r"^https?://jsonfeed\.org/version/")


class FeedError(Exception):
    """A source or an entry that cannot become a raw document; ``error_type`` is the reason."""

    def __init__(self, error_type: str, message: str):
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message


# ---------------------------------------------------------------- sources


def source_spec(location: str, local: bool | None = None) -> dict:
    """A feed source as given by the user: ``{"location", "local"}``.

    ``file://`` URLs and plain paths are local files (the user named them); every other
    location is fetched, and the client refuses schemes other than http/https.
    """
    location = location.strip()
    if local is None:
        scheme = urlsplit(location).scheme.lower()
        if scheme == "file":
            return {"location": unquote(urlsplit(location).path), "local": True}
        local = "://" not in location and scheme not in ALLOWED_SCHEMES
    return {"location": location, "local": local}


def launch_specs(sources: list[str]) -> list[dict]:
    """The unique non-empty sources as specs, local paths made absolute at launch: workers (a
    portable runner's SDK workers included) need not share the launcher's working folder."""
    specs = [source_spec(s) for s in dict.fromkeys(s.strip() for s in sources if s.strip())]
    return [{**s, "location": os.path.abspath(s["location"])} if s["local"] else s for s in specs]


def listed_source(child: str, parent: dict) -> dict:
    """A feed listed by an OPML ``parent``. A local list may name local files (relative to
    it); a remote list's entries are URLs resolved against it, checked when fetched."""
    child = child.strip()
    if not parent["local"]:
        return {"location": urljoin(parent["location"], child), "local": False}
    spec = source_spec(child)
    if spec["local"] and not os.path.isabs(spec["location"]):
        spec["location"] = os.path.join(os.path.dirname(os.path.abspath(parent["location"])), spec["location"])
    return spec


def host_key(spec: dict) -> str:
    """What fetches are grouped by: the host for a URL (one polite queue per host), the path
    itself for a local file (no reason to serialise them)."""
    if spec["local"]:
        return f"file:{spec['location']}"
    return urlsplit(spec["location"]).netloc.lower() or spec["location"]


def read_local_source(path: str, max_bytes: int) -> bytes:
    """A local feed or OPML file's bytes; raises FeedError ``unreadable`` / ``too_large`` / ``empty``."""
    try:
        if os.path.isdir(path):
            raise FeedError("unreadable", f"{path} is a folder, not a feed file")
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError as exc:
        raise FeedError("unreadable", f"{path}: no such file") from exc
    except OSError as exc:
        raise FeedError("unreadable", f"{path}: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:
        raise FeedError("too_large", f"{path}: over max_bytes {max_bytes}")
    if not data.strip():
        raise FeedError("empty", f"{path}: the file is empty")
    return data


# ---------------------------------------------------------------- XML safety


def _scannable_text(data: bytes) -> str:
    """The document as text for the entity scan, whatever its XML encoding family."""
    for bom, name in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return data.decode(name, errors="ignore")
    head = data[:4]
    families = {
        b"\x00\x00\x00<": "utf-32-be",
        b"<\x00\x00\x00": "utf-32-le",
        b"\x00<\x00?": "utf-16-be",
        b"<\x00?\x00": "utf-16-le",
        b"\x4c\x6f\xa7\x94": "cp037",  # "<?xm" in EBCDIC
    }
    return data.decode(families.get(head, "utf-8"), errors="ignore")


def entity_expansion_chars(text: str, limit: int = MAX_ENTITY_EXPANSION) -> int:
    """An upper bound of the characters the document's internal entities expand to.

    Each declared entity's full length (nested references included) times the number of
    references to it anywhere in the document. Stops counting once past ``limit``.
    """
    declared = {m.group(1): (m.group(2) if m.group(2) is not None else m.group(3)) for m in _ENTITY_DECL.finditer(text)}
    if not declared:
        return 0
    lengths: dict[str, int] = {}

    def expanded(name: str, depth: int) -> int:
        if name in lengths:
            return lengths[name]
        if depth > 16:  # deeper nesting than any real document: treat as unbounded
            return limit + 1
        value = declared[name]
        total = len(value)
        for ref in _ENTITY_REF.findall(value):
            if ref in declared:
                total += expanded(ref, depth + 1)
            if total > limit:
                break
        lengths[name] = min(total, limit + 1)
        return lengths[name]

    total = 0
    for ref in _ENTITY_REF.findall(text):
        if ref in declared:
            total += expanded(ref, 0)
            if total > limit:
                return total
    return total


def xml_bomb_reason(data: bytes, limit: int = MAX_ENTITY_EXPANSION) -> str | None:
    """Why ``data`` must not be given to an XML parser (entity expansion past ``limit``), or None."""
    text = _scannable_text(data)
    if "<!ENTITY" not in text:
        return None  # the common case: no entity declarations at all
    chars = entity_expansion_chars(text, limit)
    if chars > limit:
        return f"entity declarations expand to more than {limit:,} characters (an XML entity expansion bomb)"
    return None


# ---------------------------------------------------------------- OPML


def is_opml(data: bytes) -> bool:
    return _OPML_ROOT.match(_scannable_text(data[:4096]).encode("utf-8", errors="ignore")) is not None


def parse_opml(data: bytes) -> list[str]:
    """The feed URLs an OPML subscription list names, in order, without repeats.

    Raises FeedError ``xml_bomb`` or ``bozo`` (not a readable OPML list). listparser is
    given bytes only: handed a string that looks like a URL it would fetch it itself.
    """
    import listparser

    reason = xml_bomb_reason(data)
    if reason:
        raise FeedError("xml_bomb", reason)
    result = listparser.parse(bytes(data))
    urls = [feed.url for feed in result.feeds if (feed.get("url") or "").strip()]
    if not urls and result.bozo:
        raise FeedError("bozo", f"not a readable OPML list: {result.bozo_exception}")
    return list(dict.fromkeys(u.strip() for u in urls))


def nested_opml_lists(data: bytes) -> list[str]:
    """Subscription lists an OPML list includes (reported, not followed)."""
    import listparser

    return [item.url for item in listparser.parse(bytes(data)).lists if item.get("url")]


# ---------------------------------------------------------------- feed parsing


def _struct_to_datetime(value) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.fromtimestamp(calendar.timegm(value), tz=dt.timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


_LEADING_WEEKDAY = re.compile(r"^\s*[^\W\d]+\.?,\s*")
_YEAR = re.compile(r"\b\d{4}\b")


def _unparsed_date(value: str | None) -> dt.datetime | None:
    """A date feedparser could not read, e.g. with a localised weekday ("mer, 16 nov 2022
    00:38:15 +0100"): retried without the weekday. Needs a four-digit year, so that a stray
    number is never taken for a date."""
    if not value or not _YEAR.search(value):
        return None
    try:
        return parse_timestamp(_LEADING_WEEKDAY.sub("", value))
    except (ValueError, OverflowError):
        return None


def _format_of(mime: str | None) -> str:
    return "text" if (mime or "").lower() == "text/plain" else "html"


def _author_names(people) -> list[str]:
    names = []
    for person in people or []:
        if isinstance(person, str):
            name = person
        elif isinstance(person, dict):
            name = person.get("name") or person.get("email") or ""
        else:
            continue
        name = " ".join(str(name).split())
        if name and name not in names:
            names.append(name)
    return names


def _entry_key(entry_id: str | None, link: str | None, index: int) -> str:
    return (entry_id or "").strip() or (link or "").strip() or f"entry{index}"


def _feedparser_entry(entry, index: int) -> dict:
    link = entry.get("link")
    if not link:
        alternates = [x.get("href") for x in entry.get("links", []) if x.get("href")]
        link = alternates[0] if alternates else None
    contents = [c for c in entry.get("content", []) if (c.get("value") or "").strip()]
    best = max(contents, key=lambda c: len(c["value"])) if contents else None
    summary_detail = entry.get("summary_detail") or {}
    authors = _author_names(entry.get("authors")) or _author_names([entry.get("author")])
    published = None
    for key in ("published", "updated", "created"):
        published = _struct_to_datetime(entry.get(f"{key}_parsed")) or _unparsed_date(entry.get(key))
        if published is not None:
            break
    return {
        "key": _entry_key(entry.get("id"), link, index),
        "id": entry.get("id"),
        "link": (link or "").strip() or None,
        "title": (entry.get("title") or "").strip() or None,
        "authors": authors,
        "published_at": published,
        "content": best["value"] if best else None,
        "content_format": _format_of(best.get("type")) if best else None,
        "summary": entry.get("summary") or None,
        "summary_format": _format_of(summary_detail.get("type")) if entry.get("summary") else None,
        "categories": [t.get("term") for t in entry.get("tags", []) if t.get("term")],
    }


def _json_feed_date(item: dict) -> dt.datetime | None:
    for key in ("date_published", "date_modified"):
        try:
            value = parse_timestamp(item.get(key))
        except ValueError:
            continue
        if value is not None:
            return value
    return None


def _text_or_none(value) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def parse_json_feed(document: dict, feed_url: str) -> tuple[dict, list[dict], str | None]:
    """A JSON Feed (1.0 or 1.1) already decoded from JSON."""
    base = feed_url if urlsplit(feed_url).scheme in ALLOWED_SCHEMES else None
    items = document.get("items")
    problems = []
    if not isinstance(items, list):
        problems.append("'items' is missing or not a list")
        items = []
    entries = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append(f"item {index} is not an object")
            continue
        link = _text_or_none(item.get("url")) or _text_or_none(item.get("external_url"))
        if link and base:
            link = urljoin(base, link)
        if _text_or_none(item.get("content_html")):
            content, content_format = item["content_html"], "html"
        elif _text_or_none(item.get("content_text")):
            content, content_format = item["content_text"], "text"
        else:
            content, content_format = None, None
        authors = item.get("authors") if isinstance(item.get("authors"), list) else [item.get("author")]
        entry_id = str(item["id"]) if item.get("id") not in (None, "") else None
        tags = item.get("tags") if isinstance(item.get("tags"), list) else []
        entries.append(
            {
                "key": _entry_key(entry_id, link, index),
                "id": entry_id,
                "link": link,
                "title": (_text_or_none(item.get("title")) or "").strip() or None,
                "authors": _author_names(authors),
                "published_at": _json_feed_date(item),
                "content": content,
                "content_format": content_format,
                "summary": _text_or_none(item.get("summary")),
                "summary_format": "text" if _text_or_none(item.get("summary")) else None,
                "categories": [t for t in tags if isinstance(t, str)],
            }
        )
    version = str(document.get("version", ""))
    meta = {
        "title": (_text_or_none(document.get("title")) or "").strip() or None,
        "link": _text_or_none(document.get("home_page_url")),
        "description": _text_or_none(document.get("description")),
        "url": feed_url,
        "version": "json" + version.rstrip("/").rsplit("/", 1)[-1].replace(".", ""),
        "encoding": "utf-8",
        "language": _text_or_none(document.get("language")),
    }
    return meta, entries, ("; ".join(problems) or None)


def _json_document(data: bytes) -> dict | None:
    """The decoded JSON object when ``data`` is JSON (a JSON Feed candidate), else None."""
    stripped = data.lstrip(b" \t\r\n\xef\xbb\xbf")
    if not stripped.startswith(b"{"):
        return None
    try:
        text, _encoding = decode_bytes(data)
        value = json.loads(text)
    except (DecodeError, ValueError) as exc:
        raise FeedError("bozo", f"starts like JSON but is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        return None
    return value


def parse_feed(data: bytes, feed_url: str, content_type: str | None = None) -> tuple[dict, list[dict], str | None]:
    """``(feed_meta, entries, bozo_reason)`` for an RSS, Atom, RDF or JSON feed document.

    ``feed_meta``: ``{"title", "link", "description", "url", "version", "encoding", "language"}`` (version is
    feedparser's, e.g. ``"rss20"``, ``"atom10"``, or ``"json11"``; ``""`` when the document
    is not recognised as a feed). ``entries``: plain dicts ``{"key", "id", "link", "title",
    "authors", "published_at", "content", "content_format", "summary", "summary_format",
    "categories"}``. A malformed feed returns what feedparser recovered, with the reason.
    ``feed_url`` resolves relative links when it is an http(s) URL.

    Raises FeedError ``xml_bomb`` before parsing a document whose entities would explode,
    and ``bozo`` for a document that looks like JSON but is not valid JSON.
    """
    import feedparser

    document = _json_document(data)
    if document is not None:
        if _JSON_FEED_VERSION.match(str(document.get("version", ""))):
            return parse_json_feed(document, feed_url)
        meta = {
            "title": None,
            "link": None,
            "description": None,
            "url": feed_url,
            "version": "",
            "encoding": "utf-8",
            "language": None,
        }
        return meta, [], None  # JSON, but not a JSON Feed: no entries and no feed version

    reason = xml_bomb_reason(data)
    if reason:
        raise FeedError("xml_bomb", reason)
    headers = {}
    if urlsplit(feed_url).scheme in ALLOWED_SCHEMES:
        headers["content-location"] = feed_url  # the base for relative links
        # With any header given, feedparser reads a missing Content-Type as a broken server;
        # a caller without one (a file, a test) means "XML, encoding as declared inside".
        headers["content-type"] = content_type or "application/xml"
    elif content_type:
        headers["content-type"] = content_type
    # A BytesIO, never bytes or str: feedparser treats a string as a path or URL to open.
    parsed = feedparser.parse(io.BytesIO(data), response_headers=headers)
    feed = parsed.get("feed", {})
    meta = {
        "title": " ".join((feed.get("title") or "").split()) or None,
        "link": feed.get("link") or None,
        "url": feed_url,
        "description": feed.get("subtitle") or None,
        "version": parsed.get("version") or "",
        "encoding": parsed.get("encoding") or "utf-8",
        "language": feed.get("language") or None,
    }
    entries = [_feedparser_entry(entry, index) for index, entry in enumerate(parsed.get("entries", []))]
    bozo_reason = None
    if parsed.get("bozo"):
        exc = parsed.get("bozo_exception")
        bozo_reason = f"{type(exc).__name__}: {exc}" if exc is not None else "malformed feed"
    return meta, entries, bozo_reason


# ---------------------------------------------------------------- entries -> raw documents


def count_body_words(body: str | None) -> int:
    if not body:
        return 0
    return len(html.unescape(_TAG.sub(" ", body)).split())


def entry_source(feed_url: str, entry: dict) -> str:
    return f"{feed_url}#{entry['key']}"


def _raw_document(entry: dict, feed_meta: dict, feed_url: str, fmt: str, content: str, encoding: str, url) -> dict:
    published_at = entry.get("published_at")
    return {
        "source": entry_source(feed_url, entry),
        "format": fmt,
        "content": content,
        "encoding": encoding,
        "url": url,
        "title": entry.get("title"),
        "outlet": feed_meta.get("title"),
        "authors": list(entry.get("authors") or []),
        "published_at": published_at,
        "date_source": DATE_SOURCE if published_at is not None else None,
    }


def fetchable_link(entry: dict) -> str | None:
    """The entry's link if it names a scheme (non-http schemes are refused, with an error row,
    when fetched); a relative link that no base resolved is no link at all."""
    link = entry.get("link")
    return link if link and urlsplit(link).scheme else None


def _best_body(entry: dict) -> tuple[str | None, str | None]:
    """The entry's longest body: its content, else its summary (content wins ties)."""
    bodies = [
        (entry.get(text_key), entry.get(format_key))
        for text_key, format_key in (("content", "content_format"), ("summary", "summary_format"))
        if (entry.get(text_key) or "").strip()
    ]
    if not bodies:
        return None, None
    return max(bodies, key=lambda body: count_body_words(body[0]))


def entry_to_raw_document(
    entry: dict, feed_meta: dict, feed_url: str, full_text_min_words: int = 100, use_summary: bool = False
) -> dict | None:
    """A raw document from the entry alone, or None when its linked page must be fetched.

    The entry's body counts as full text with at least ``full_text_min_words`` words. A
    shorter body is a summary: None (fetch the page) when the entry has a link, the summary
    itself when it has none or ``use_summary`` is set (clean then judges whether it is long
    enough). Raises FeedError ``empty_entry`` for an entry with neither body nor link.
    """
    body, fmt = _best_body(entry)
    encoding = feed_meta.get("encoding") or "utf-8"
    if body is not None and count_body_words(body) >= full_text_min_words:
        return _raw_document(entry, feed_meta, feed_url, fmt, body, encoding, entry.get("link"))
    if fetchable_link(entry) and not use_summary:
        return None
    if body is not None:
        return _raw_document(entry, feed_meta, feed_url, fmt, body, encoding, entry.get("link"))
    raise FeedError("empty_entry", "the entry has no content, no summary and no link")


def _charset(content_type: str) -> str | None:
    match = re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", content_type or "", re.IGNORECASE)
    if not match:
        return None
    try:
        return codecs.lookup(match.group(1)).name
    except LookupError:
        return None


def decode_page(body: bytes, content_type: str) -> tuple[str, str]:
    """``(text, encoding)`` of a fetched page: the charset the server declared when it decodes
    cleanly, else the read stage's detection (BOM, UTF-8, ``<meta charset>``, a guess)."""
    declared = _charset(content_type)
    if declared:
        try:
            return body.decode(declared), declared
        except UnicodeDecodeError:
            pass
    return decode_bytes(body, is_html=True)


def page_to_raw_document(entry: dict, feed_meta: dict, feed_url: str, page: FetchResult) -> dict:
    """The raw document for an entry whose linked page was fetched: the page, whole, for clean.

    Raises FeedError ``not_html`` (an image, PDF, feed...), ``empty`` or ``undecodable``.
    """
    content_type = page.headers.get("content-type", "")
    mime = content_type.split(";")[0].strip().lower()
    if mime and mime not in _PAGE_TYPES:
        raise FeedError("not_html", f"{page.final_url}: Content-Type {mime} is not a web page")
    if not page.body.strip():
        raise FeedError("empty", f"{page.final_url}: empty page")
    binary = binary_reason(page.body)
    if binary:
        raise FeedError("not_html", f"{page.final_url}: {binary}")
    try:
        text, encoding = decode_page(page.body, content_type)
    except DecodeError as exc:
        raise FeedError("undecodable", f"{page.final_url}: {exc}") from exc
    return _raw_document(entry, feed_meta, feed_url, _PAGE_TYPES.get(mime, "html"), text, encoding, page.final_url)


# ---------------------------------------------------------------- one poll of one source


def _error(source: str, error_type: str, message: str, excerpt: bytes | str = "") -> tuple[str, dict]:
    return "error", error_row(source, STAGE, error_type, message, excerpt_of(excerpt))


def _note(source: str, error_type: str, message: str, excerpt: bytes | str = "") -> tuple[str, dict]:
    return "note", error_row(source, NOTE_STAGE, error_type, message, excerpt_of(excerpt))


def _entry_outcomes(
    entries: list[dict], feed_meta: dict, feed_url: str, cfg: FeedConfig
) -> Iterator[tuple[str, object]]:
    for entry in entries:
        source = entry_source(feed_url, entry)
        try:
            raw = entry_to_raw_document(
                entry, feed_meta, feed_url, cfg.full_text_min_words, use_summary=not cfg.fetch_pages
            )
        except FeedError as exc:
            yield _error(source, exc.error_type, exc.message, entry.get("title") or "")
            continue
        if raw is not None:
            yield "document", raw
        else:
            yield "page", {"entry": entry, "feed_meta": feed_meta, "feed_url": feed_url}


def read_feed_source(
    spec: dict,
    client: PoliteClient | None,
    cfg: FeedConfig,
    validator_state: dict[str, dict] | None = None,
    follow_lists: bool = True,
) -> list[tuple[str, object]]:
    """One poll of one feed source -> tagged outcomes, in order:

    * ``("document", raw)`` an entry carrying its full text;
    * ``("page", request)`` an entry whose page ``fetch_entry_page`` must fetch;
    * ``("error", row)`` stage "read": one failed entry, or the whole source failed;
    * ``("note", row)`` stage "feed": a bozo feed with recovered entries, an empty feed...;
    * ``("listed", spec)`` a feed named by this OPML list (only with ``follow_lists``);
    * ``("validators", (url, record))`` the conditional-GET record to store for this URL.

    ``client`` may be None for local files. Never raises.
    """
    location = spec["location"]
    outcomes: list[tuple[str, object]] = []
    data = b""
    try:
        content_type = None
        if spec["local"]:
            data = read_local_source(location, cfg.max_bytes)
            base_url = location
        else:
            if client is None:
                raise FeedError("exception", "no HTTP client for a remote source")
            previous = (validator_state or {}).get(location)
            sent = validators_for_request(previous, cfg)
            result = client.get(location, validators=sent, accept=FEED_ACCEPT)
            if result.not_modified and sent is None:
                raise FeedError("http_status", f"{location}: HTTP 304 to an unconditional request")
            outcomes.append(("validators", (location, next_validator_record(sent, previous, result))))
            if result.not_modified:
                return outcomes
            data, base_url = result.body, result.final_url
            content_type = result.headers.get("content-type")
            if not data.strip():
                raise FeedError("empty", f"{result.final_url}: empty response body")

        if is_opml(data):
            # No validators for a list: a 304 for it would leave its feeds unpolled.
            outcomes = [o for o in outcomes if o[0] != "validators"]
            if not follow_lists:
                return [
                    *outcomes,
                    _note(location, "nested_opml", "an OPML list listed by another is not followed", data),
                ]
            listed = [("listed", listed_source(url, spec)) for url in parse_opml(data)]
            notes = [
                _note(location, "nested_opml", f"includes the list {url}, not followed")
                for url in nested_opml_lists(data)
            ]
            if not listed:
                return [*outcomes, *notes, _error(location, "empty", "the OPML list names no feeds", data)]
            return [*outcomes, *listed, *notes]

        feed_meta, entries, bozo_reason = parse_feed(data, base_url, content_type)
        feed_meta["url"] = location
        if not entries:
            if bozo_reason:
                return [*outcomes, _error(location, "bozo", f"no entries recovered: {bozo_reason}", data)]
            if not (feed_meta["version"] or feed_meta["title"] or feed_meta["link"] or feed_meta["description"]):
                return [*outcomes, _error(location, "not_a_feed", "not an RSS, Atom, RDF or JSON feed", data)]
            return [*outcomes, _note(location, "no_entries", f"a valid {feed_meta['version']} feed with no entries")]
        if bozo_reason:
            outcomes.append(_note(location, "bozo", f"{len(entries)} entries recovered: {bozo_reason}", data))
        outcomes.extend(_entry_outcomes(entries, feed_meta, location, cfg))
        return outcomes
    except FetchError as exc:
        return [*outcomes, _error(location, exc.error_type, exc.message)]
    except FeedError as exc:
        return [*outcomes, _error(location, exc.error_type, exc.message, data)]
    except Exception as exc:  # noqa: BLE001 - one bad feed must not stop the run
        return [*outcomes, _error(location, "exception", f"{type(exc).__name__}: {exc}", data)]


def fetch_entry_page(request: dict, client: PoliteClient, cfg: FeedConfig) -> tuple[str, dict, bool]:
    """``(kind, record, retryable)``: the entry's page as a raw document, or an error row.

    ``retryable`` says the failure may pass on a later run (timeouts, connection errors,
    rate limits, 5xx). Never raises.
    """
    entry, feed_meta, feed_url = request["entry"], request["feed_meta"], request["feed_url"]
    source = entry_source(feed_url, entry)
    link = entry["link"]
    try:
        page = client.get(link, accept=PAGE_ACCEPT)
        if page.not_modified:  # never asked for, but a broken server may send it
            raise FeedError("http_status", f"{link}: unexpected 304 to an unconditional request")
        return ("document", page_to_raw_document(entry, feed_meta, feed_url, page), False)
    except FetchError as exc:
        retryable = exc.error_type in RETRYABLE_FETCH_ERRORS or (exc.status or 0) >= 500 or exc.status == 429
        kind, row = _error(source, exc.error_type, f"page of entry: {exc.message}", entry.get("title") or "")
        return kind, row, retryable
    except FeedError as exc:
        kind, row = _error(source, exc.error_type, f"page of entry: {exc.message}", entry.get("title") or "")
        return kind, row, False
    except Exception as exc:  # noqa: BLE001
        kind, row = _error(source, "exception", f"page of entry {link}: {type(exc).__name__}: {exc}")
        return kind, row, False


# ---------------------------------------------------------------- Beam wrappers


class _Counted(beam.DoFn):
    """Counter bookkeeping shared by the feed and page steps (one vocabulary with read.py)."""

    def __init__(self):
        self._inputs = Metrics.counter(METRICS_NAMESPACE, "read_inputs")
        self._documents = Metrics.counter(METRICS_NAMESPACE, "read_documents")
        self._counters: dict[str, object] = {}
        self._clock = StageClock("read")

    def _count(self, name: str) -> None:
        if name not in self._counters:
            self._counters[name] = Metrics.counter(METRICS_NAMESPACE, name)
        self._counters[name].inc()


class FetchingDoFn(_Counted):
    """A step that fetches: one polite client per worker, opened in setup, closed in teardown."""

    def __init__(self, cfg: FeedConfig, allow_hosts: tuple[str, ...]):
        super().__init__()
        self._cfg = cfg
        self._allow_hosts = allow_hosts
        self._client: PoliteClient | None = None

    def setup(self):
        self._client = PoliteClient(self._cfg, self._allow_hosts)

    def teardown(self):
        if self._client is not None:
            self._client.close()


class _ReadFeedSourcesFn(FetchingDoFn):
    """``(host, [source specs])`` -> documents; tagged "pages", "errors", "listed", "validators".

    One host's sources are read one after another by one client, so the per-host delay holds.
    """

    def __init__(self, cfg: FeedConfig, allow_hosts: tuple[str, ...], validator_state: dict, follow_lists: bool):
        super().__init__(cfg, allow_hosts)
        self._validator_state = validator_state
        self._follow_lists = follow_lists

    def process(self, element):
        _host, specs = element
        for spec in specs:
            with self._clock.timing():
                outcomes = read_feed_source(spec, self._client, self._cfg, self._validator_state, self._follow_lists)
            self._count("feed_sources_read")
            for kind, value in outcomes:
                if kind == "document":
                    self._inputs.inc()
                    self._documents.inc()
                    yield value
                elif kind == "page":
                    self._inputs.inc()
                    yield beam.pvalue.TaggedOutput("pages", (urlsplit(value["entry"]["link"]).netloc.lower(), value))
                elif kind == "error":
                    self._inputs.inc()
                    self._count(f"read_rejected_{value['error_type']}")
                    yield beam.pvalue.TaggedOutput("errors", value)
                elif kind == "note":
                    self._count(f"feed_{value['error_type']}")
                    yield beam.pvalue.TaggedOutput("errors", value)
                elif kind == "listed":
                    yield beam.pvalue.TaggedOutput("listed", (host_key(value), value))
                elif kind == "validators":
                    yield beam.pvalue.TaggedOutput("validators", value)


class _FetchPagesFn(FetchingDoFn):
    """``(host, [page requests])`` -> documents; tagged "errors", and "held" feed URLs whose
    validators must not advance because a page failed in a way a later run may fix."""

    def process(self, element):
        _host, requests = element
        for request in requests:
            with self._clock.timing():
                kind, record, retryable = fetch_entry_page(request, self._client, self._cfg)
            if kind == "document":
                self._count("feed_pages_fetched")
                self._documents.inc()
                yield record
                continue
            self._count(f"read_rejected_{record['error_type']}")
            yield beam.pvalue.TaggedOutput("errors", record)
            if retryable:
                yield beam.pvalue.TaggedOutput("held", request["feed_url"])


class _StageValidatorsFn(beam.DoFn):
    """Writes each bundle's validator updates as one shard file for the launcher to commit."""

    def __init__(self, state_dir: str, run_id: str):
        self._state_dir = state_dir
        self._run_id = run_id
        self._buffer: list[tuple[str, dict]] = []

    def start_bundle(self):
        self._buffer = []

    def process(self, update):
        self._buffer.append(update)

    def finish_bundle(self):
        stage_validator_updates(self._state_dir, self._run_id, self._buffer)
        self._buffer = []


def _unless_held(element) -> Iterator[tuple[str, dict]]:
    url, grouped = element
    if grouped["held"]:
        return
    for record in grouped["updates"]:
        yield url, record


class ReadFeeds(beam.PTransform):
    """PBegin -> (raw documents, error rows) for feed URLs, local feed files and OPML lists
    (``sources`` plus ``cfg.sources``).

    Sources are grouped by host (one polite queue per host, spread over workers), read, and
    the entries that need their page are grouped by the page's host and fetched. With
    ``state_dir`` the conditional-GET validators stored there are sent; with ``run_id`` too,
    the new ones are staged under ``<state_dir>/pending-<run_id>/`` for the launcher's
    ``transforms.http.commit_validator_state(state_dir, run_id)`` after the run's commit.
    """

    def __init__(
        self,
        sources: list[str],
        cfg: FeedConfig,
        allow_hosts: list[str] | tuple[str, ...] = (),
        state_dir: str | None = None,
        run_id: str | None = None,
    ):
        super().__init__()
        # The command line's sources, then the profile's (feeds.sources), each once.
        self._specs = launch_specs([*sources, *cfg.sources])
        self._cfg = cfg
        self._allow_hosts = tuple(allow_hosts)
        self._state_dir = state_dir
        self._run_id = run_id

    def expand(self, pbegin):
        validator_state = load_validator_state(self._state_dir) if self._state_dir else {}
        listed_first = (
            pbegin
            | "ListFeedSources" >> beam.Create([(host_key(spec), spec) for spec in self._specs])
            | "GroupSourcesByHost" >> beam.GroupByKey()
            | "ReadFeedSources"
            >> beam.ParDo(_ReadFeedSourcesFn(self._cfg, self._allow_hosts, validator_state, True)).with_outputs(
                "pages", "errors", "listed", "validators", main="documents"
            )
        )
        listed = (
            listed_first.listed
            | "GroupListedByHost" >> beam.GroupByKey()
            | "ReadListedFeeds"
            >> beam.ParDo(_ReadFeedSourcesFn(self._cfg, self._allow_hosts, validator_state, False)).with_outputs(
                "pages", "errors", "listed", "validators", main="documents"
            )
        )
        pages = (
            (listed_first.pages, listed.pages)
            | "AllPageRequests" >> beam.Flatten()
            # Grouping by host is the reshuffle before the fetches, and keeps each host on one
            # polite queue: per-host delay and robots.txt hold across the whole run.
            | "GroupPagesByHost" >> beam.GroupByKey()
            | "FetchPages"
            >> beam.ParDo(_FetchPagesFn(self._cfg, self._allow_hosts)).with_outputs("errors", "held", main="documents")
        )
        if self._state_dir and self._run_id:
            updates = (listed_first.validators, listed.validators) | "AllValidators" >> beam.Flatten()
            held = pages.held | "KeyHeldFeeds" >> beam.Map(lambda url: (url, True))
            _ = (
                {"updates": updates, "held": held}
                | "JoinHeldFeeds" >> beam.CoGroupByKey()
                | "DropHeldValidators" >> beam.FlatMap(_unless_held)
                | "StageValidators" >> beam.ParDo(_StageValidatorsFn(self._state_dir, self._run_id))
            )
        documents = (listed_first.documents, listed.documents, pages.documents) | "AllFeedDocuments" >> beam.Flatten()
        errors = (listed_first.errors, listed.errors, pages.errors) | "AllFeedErrors" >> beam.Flatten()
        return documents, errors
