"""Clean stage: a raw document from the read stage becomes an article record (before dedup).

Steps, each a plain function below and wrapped by ``CleanDocuments``:

1. HTML pages go through trafilatura (``extract_html``): main text plus title, authors,
   date and site name. Plain text is taken as it is. Hostile pages are stopped three ways:
   pages over ``max_html_chars`` are not extracted (``too_large``), pages nested deeper than
   any real page (``MAX_HTML_DEPTH``) are refused (``too_deep``), and an extraction still
   running after ``extract_timeout_s`` is interrupted (``extract_timeout``, see
   ``call_with_time_limit``).
2. ``normalise_text``: Unicode NFC, whitespace collapsed per line, one paragraph per line.
3. ``remove_boilerplate_lines``: whole lines that are promos, cross-promo headlines, photo
   captions or wire credits are dropped; the credited agencies (and an inline
   ``KYIV (AP) —`` tag, which is cut from the first paragraph) go to ``wire_credits``.
4. ``clean_document`` merges metadata (the raw document's own metadata wins over what the
   HTML says), detects the language, hashes, and rejects texts shorter than ``min_words``
   with a ``CleanError``; ``CleanDocuments`` turns those into dead-letter rows.

The line rules are deliberately conservative: a line is dropped only when its *shape*
says it is not prose (a call to action, an all-caps teaser, a caption ending in a photo
credit, a credit line whose words are only names and agencies). A normal sentence that
mentions an agency ("…, first reported Reuters.") is prose and stays.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import hashlib
import heapq
import itertools
import os
import re
import threading
import time
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.utils.windowed_value import WindowedValue

from schemas.config import CleanConfig
from schemas.records import parse_date_string, parse_timestamp
from schemas.tables import EXCERPT_CHARS, error_row
from transforms.extraction import extract_document
from transforms.language import detect_language, language_identifier
from transforms.timing import StageClock

METRICS_NAMESPACE = "newsbeam"
STAGE = "clean"

# htmldate gives a bare date by default; asking for the time keeps it where the page states one.
_HTML_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


class CleanError(Exception):
    """A document that cannot become an article; ``error_type`` is the dead-letter reason."""

    def __init__(self, error_type: str, message: str):
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message


# ---------------------------------------------------------------- time limit

_Result = TypeVar("_Result")


class TimeLimitExceeded(Exception):
    """A call stopped by ``call_with_time_limit``."""


class _Interrupted(BaseException):
    # A BaseException, so that a library's own ``except Exception`` cannot swallow it.
    pass


def _raise_in_thread(thread_id: int, exception: type[BaseException] | None) -> None:
    """Make ``exception`` raise in the thread at its next bytecode; None withdraws one still pending."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), None if exception is None else ctypes.py_object(exception)
    )


def call_with_time_limit(function: Callable[[], _Result], seconds: float) -> _Result:
    """``function()``, stopped with ``TimeLimitExceeded`` once it has run ``seconds``.

    Beam runs DoFns on worker threads, where ``signal.alarm`` cannot be used, and a call
    abandoned in another thread would keep burning the CPU. So a watchdog thread raises an
    exception inside the calling thread itself (``PyThreadState_SetAsyncExc``): the extraction
    unwinds and the CPU is free. Python code stops at once; a C call already running (an lxml
    parse, a regex) finishes first, which the ``max_html_chars`` cap keeps short (measured: under
    0.5 s past the limit on a 10 MB page).
    """
    try:
        return _call_interruptibly(function, seconds)
    except _Interrupted:
        raise TimeLimitExceeded(f"stopped after {seconds:g} s") from None


def _call_interruptibly(function: Callable[[], _Result], seconds: float) -> _Result:
    watchdog = _watchdog()
    deadline = watchdog.arm(seconds)
    try:
        return function()
    finally:
        if watchdog.disarm(deadline):
            _raise_in_thread(deadline.thread_id, None)  # fired as the call returned: not delivered yet


class _Deadline:
    __slots__ = ("due", "thread_id", "done", "fired")

    def __init__(self, due: float, thread_id: int):
        self.due, self.thread_id, self.done, self.fired = due, thread_id, False, False


class _Watchdog:
    """One daemon thread per process that interrupts the calls still running past their deadline.

    It replaces a ``threading.Timer`` per call: starting, cancelling and joining a thread for
    every page cost ~0.15 ms, here arming and disarming cost a lock and a heap push. The lock
    is what makes the time limit exact at its edge: the watchdog fires only under it and only a
    deadline not yet done, and ``disarm`` marks it done under it, so after ``disarm`` nothing
    can fire at the caller any more.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending: list[tuple[float, int, _Deadline]] = []  # a heap by due time
        # When the watchdog wakes on its own (infinity: never) while it waits, so that ``arm``
        # wakes it only for an earlier deadline. Woken for every call, it cost each call two
        # thread switches (~0.3 ms of a page's 4 ms); a later deadline waits for that wake-up.
        self._waiting_until = float("-inf")
        self._order = itertools.count()
        self._pid = os.getpid()
        threading.Thread(target=self._watch, name="newsbeam-time-limit", daemon=True).start()

    def arm(self, seconds: float) -> _Deadline:
        deadline = _Deadline(time.monotonic() + seconds, threading.get_ident())
        with self._lock:
            while self._pending and self._pending[0][2].done:
                heapq.heappop(self._pending)  # finished calls leave as they reach the front
            heapq.heappush(self._pending, (deadline.due, next(self._order), deadline))
            if deadline.due < self._waiting_until:
                self._wake.notify()  # the watchdog sleeps until a later deadline, or for ever
        return deadline

    def disarm(self, deadline: _Deadline) -> bool:
        """Mark the call finished; True when the deadline fired first."""
        with self._lock:
            deadline.done = True
            return deadline.fired

    def _watch(self) -> None:
        with self._lock:
            while True:
                while self._pending and self._pending[0][2].done:
                    heapq.heappop(self._pending)
                if not self._pending:
                    self._waiting_until = float("inf")
                    self._wake.wait()
                    self._waiting_until = float("-inf")
                    continue
                wait = self._pending[0][0] - time.monotonic()
                if wait > 0:
                    self._waiting_until = self._pending[0][0]
                    self._wake.wait(wait)
                    self._waiting_until = float("-inf")
                    continue
                deadline = heapq.heappop(self._pending)[2]
                deadline.fired = True
                _raise_in_thread(deadline.thread_id, _Interrupted)


_WATCHDOG: _Watchdog | None = None
_WATCHDOG_LOCK = threading.Lock()


def _watchdog() -> _Watchdog:
    """This process's watchdog, started on first use (a forked worker starts its own: threads
    do not survive a fork)."""
    global _WATCHDOG
    watchdog = _WATCHDOG
    if watchdog is None or watchdog._pid != os.getpid():
        with _WATCHDOG_LOCK:
            if _WATCHDOG is None or _WATCHDOG._pid != os.getpid():
                _WATCHDOG = _Watchdog()
            watchdog = _WATCHDOG
    return watchdog


# ---------------------------------------------------------------- HTML extraction

# Real pages nest 10 to 60 elements deep. libxml2 silently drops whatever lies deeper than
# 255 levels, so a page past this depth is hostile or already cut short by the parser.
MAX_HTML_DEPTH = 200


@lru_cache(maxsize=1)
def _nested_too_deep():
    """A compiled XPath, true when an element lies deeper than ``MAX_HTML_DEPTH`` (compiled once:
    compiling the 200-step path costs more than extracting a page)."""
    from lxml import etree

    return etree.XPath(f"boolean({'/'.join(['*'] * MAX_HTML_DEPTH)})")


class HtmlTooDeep(ValueError):
    """A page nested deeper than ``MAX_HTML_DEPTH`` elements."""


def extract_html(html: str, url: str | None = None) -> dict:
    """Main text and metadata of an HTML page, via trafilatura.

    Returns ``{"text", "title", "authors", "published_at", "outlet", "url", "language"}``;
    ``published_at`` is an aware UTC datetime or None. Raises ``ValueError("no article text")``
    when trafilatura finds no main text, and ``HtmlTooDeep`` for a page nested deeper than
    ``MAX_HTML_DEPTH``.
    """
    from trafilatura.settings import set_date_params
    from trafilatura.utils import load_html

    # Parsed once here: trafilatura works on a copy, the date lookup below reads the original.
    tree = load_html(html) if html and html.strip() else None
    if tree is None:
        raise ValueError("no article text")
    if _nested_too_deep()(tree):
        raise HtmlTooDeep(
            f"elements nested more than {MAX_HTML_DEPTH} levels deep; no real page does that, and the "
            "parser drops what lies past 255 levels"
        )
    # set_date_params() stamps today's date as the latest acceptable one, so build it per call.
    date_params = {**set_date_params(True), "outputformat": _HTML_DATE_FORMAT}
    document = extract_document(tree, url, date_params)
    if document is None or not (document.text or "").strip():
        raise ValueError("no article text")
    published_at = _page_publication_time(tree, document.date)
    authors = [a.strip() for a in (document.author or "").split(";") if a.strip()]
    return {
        "text": document.text,
        "title": document.title or None,
        "authors": authors,
        "published_at": published_at,
        "outlet": document.sitename or None,
        "url": document.url or url,
        "language": document.language or None,
    }


# Where pages state their publication time in machine-readable form.
_PUBLISHED_META = re.compile(
    r"article:published_time|og:published_time|datepublished|pubdate|publishdate|publish[-_]date|dc\.date\.issued",
    re.IGNORECASE,
)
_JSON_LD_PUBLISHED = re.compile(r'"datePublished"\s*:\s*"([^"]{8,40})"')


def _page_publication_time(tree, page_date: str | None) -> dt.datetime | None:
    """htmldate's date, with the time of day the page states where htmldate only found the day.

    htmldate prefers a date in the URL (``/2024/03/05/``), which has no time; the page's own
    ``article:published_time`` or JSON-LD ``datePublished`` usually has it, and publication
    order within a day decides which copy of a story is the original.
    """
    try:
        published_at = parse_timestamp(page_date)
    except ValueError:
        return None  # an unparseable page date is no date, not a broken document
    if published_at is None or not page_date.endswith("T00:00:00"):
        return published_at
    stated = [
        meta.get("content", "")
        for meta in tree.iter("meta")
        if _PUBLISHED_META.fullmatch(meta.get("property") or meta.get("name") or meta.get("itemprop") or "")
    ]
    stated += _JSON_LD_PUBLISHED.findall(" ".join(tree.xpath("//script[@type='application/ld+json']/text()")))
    for value in stated:
        try:
            with warnings.catch_warnings():  # "EST"-style zone names: parsed naive, then skipped below
                warnings.simplefilter("ignore")
                precise = parse_date_string(value.strip())
        except (ValueError, OverflowError):
            continue
        # Only an explicit offset makes a time usable, and it must be the day htmldate found
        # (compared before conversion to UTC, as the page states it).
        if precise.tzinfo is not None and precise.date() == published_at.date() and precise.time() != dt.time(0):
            return parse_timestamp(precise)
    return published_at


# ---------------------------------------------------------------- text normalisation

_WHITESPACE_RUN = re.compile(r"\s+")
# Invisible characters that only break word matching: zero-width space, BOM, soft hyphen.
# (Zero-width *joiner* stays: it is part of emoji sequences and Indic scripts.)
_INVISIBLE = re.compile("[\u200b\ufeff\u00ad]")


def normalise_text(text: str) -> str:
    """NFC; whitespace runs (NBSP and tabs included) to one space per line; no empty lines.

    Paragraphs are joined with ``"\\n"``. Punctuation and quotes are left as the author wrote them.
    """
    # Invisible characters go before NFC: "e", U+200B, U+0301 composes to "é" only once they are gone.
    text = unicodedata.normalize("NFC", _INVISIBLE.sub("", text or ""))
    # str.split() splits at exactly the whitespace ``\s`` matches and drops it from both ends:
    # joined by one space, a line is what ``re.sub(r"\s+", " ", line).strip()`` made of it, in
    # C (0.17 -> 0.05 ms a page: the regex matched every space between two words).
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


_LETTER_OR_DIGIT = re.compile(r"[^\W_]")


def count_words(text: str) -> int:
    """Whitespace-separated tokens that hold a letter or digit (a lone dash is not a word)."""
    # ``[^\W_]`` is one letter or digit, exactly ``str.isalnum``; most tokens are plain words.
    return sum(1 for token in text.split() if token.isalnum() or _LETTER_OR_DIGIT.search(token))


# ---------------------------------------------------------------- wire agencies

# Canonical name -> the ways articles credit it. Short all-caps forms match case-sensitively
# (so "ap" inside prose never counts); longer names match in any case.
WIRE_AGENCIES: dict[str, tuple[str, ...]] = {
    "Associated Press": ("The Associated Press", "Associated Press", "AP"),
    "Reuters": ("Thomson Reuters", "Reuters"),
    "AFP": ("Agence France-Presse", "Agence France Presse", "AFP"),
    "PA": ("PA Media", "PA News Agency", "PA News", "PA Wire", "Press Association", "PA"),
    "dpa": ("Deutsche Presse-Agentur", "dpa"),
    "Bloomberg": ("Bloomberg News", "Bloomberg"),
    "UPI": ("United Press International", "UPI"),
    "IRN": ("Independent Radio News", "IRN"),
    "Canadian Press": ("The Canadian Press", "Canadian Press"),
    "AAP": ("Australian Associated Press", "AAP"),
    "Press Trust of India": ("Press Trust of India", "PTI"),
    "CNN": ("CNN Wire", "CNN"),
    "ANSA": ("ANSA",),
    "EFE": ("EFE",),
    "Xinhua": ("Xinhua News Agency", "Xinhua"),
    "TASS": ("TASS",),
    "Interfax": ("Interfax",),
    "Kyodo": ("Kyodo News", "Kyodo"),
    "Yonhap": ("Yonhap",),
    "IANS": ("IANS",),
    "ANI": ("ANI",),
}


def _alias_pattern(alias: str) -> str:
    """One alias after a word start (the ``\\b`` every alias opens with is factored out)."""
    body = re.escape(alias).replace(r"\ ", r"\s+")
    if len(alias) <= 4:
        return rf"(?-i:{body}\b)"
    return rf"{body}\b"


_ALIAS_TO_AGENCY = {alias.casefold(): name for name, aliases in WIRE_AGENCIES.items() for alias in aliases}
# Longest first, so "PA News" is one credit rather than "PA" plus a stray word. The leading
# word boundary, shared, lets the engine skip the ~50 alternatives inside words (5x faster).
_AGENCY_ALIAS = re.compile(
    r"\b(?:"
    + "|".join(
        _alias_pattern(alias)
        for alias in sorted((a for aliases in WIRE_AGENCIES.values() for a in aliases), key=len, reverse=True)
    )
    + ")",
    re.IGNORECASE,
)
# Credit words that name an organisation rather than a person ("Independent Radio News").
_ORGANISATION_WORDS = {"news", "press", "agency", "wire", "service", "radio", "media", "television", "tv", "newswire"}
_ACRONYM = re.compile(r"[A-Z][A-Z&]{1,5}")


def known_agencies(text: str) -> list[str]:
    """Canonical names of the wire agencies credited in ``text``, in order, without repeats."""
    found: dict[str, None] = {}
    for match in _AGENCY_ALIAS.finditer(text):
        alias = _WHITESPACE_RUN.sub(" ", match.group(0)).casefold()
        found.setdefault(_ALIAS_TO_AGENCY[alias], None)
    return list(found)


def credited_organisations(credit: str, acronyms: bool = True) -> list[str]:
    """Organisations named in a credit (known agencies normalised; people and generic words dropped).

    "The Associated Press and Reuters" -> both agencies; "IRN" -> "IRN" (an acronym);
    "Will Dunham" or "wire services" -> nothing: a credit line names people or no one in particular.
    """
    known = known_agencies(credit)
    if known:
        return known
    names = []
    for part in re.split(r"\s*(?:[,;/&]|\band\b)\s*", credit):
        part = re.sub(r"^(?:the|by|from)\s+", "", part.strip(" .:-—–()"), flags=re.IGNORECASE)
        words = part.split()
        if not words or len(words) > 5:
            continue
        if acronyms and len(words) == 1 and _ACRONYM.fullmatch(part):
            names.append(part)
        elif all(w[:1].isupper() for w in words) and words[-1].casefold() in _ORGANISATION_WORDS:
            names.append(part)
    return list(dict.fromkeys(names))


# ---------------------------------------------------------------- boilerplate line rules

# A call to action opening a sentence. Each is imperative and addressed to the reader, which
# ordinary news prose never is ("Subscribe now…", "Sign up to…", "Follow us on…").
_CALL_TO_ACTION = re.compile(
    r"""(?:sign\s?up|subscribe|register\s+(?:now|here|today|for\s+free)|click\s+here|tap\s+here
    |download\s+(?:the|our)\b|get\s+(?:the|our)\s+(?:[\w'’-]+\s+){0,4}(?:app|newsletter|bulletin)s?\b
    |(?:follow|like|find|join)\s+us\b|join\s+our\s+(?:[\w'’-]+\s+){0,3}(?:newsletter|community|channel)
    |follow\s+[^.!?]{1,60}?\s+on\s+(?:facebook|twitter|instagram|linkedin|youtube|tiktok|threads|x)\b
    |get\s+[^.!?]{0,60}\b(?:in|to)\s+your\s+inbox|share\s+(?:it|this)\s+with\b
    |listen\s+to\s+(?:this|the)\s+(?:article|story|podcast)|don['’]t\s+miss\b
    |(?:for|to\s+get)\s+(?:the\s+latest|more)\b[^.!?]{0,80},\s*
    (?:sign\s?up|subscribe|follow|download|visit))\b""",
    re.IGNORECASE | re.VERBOSE,
)
# A label that introduces a link to another story ("READ MORE: …", "Related: …").
_PROMO_LABEL = re.compile(
    r"""[\[(]?(?:read\s+more|related(?:\s+(?:stories|articles|posts?|coverage|content|reading|links?))?
    |see\s+(?:also|more)|also(?:\s+read)?|read\s+next|more\s+from\s+[^:]{1,40}|recommended(?:\s+for\s+you)?
    |most\s+read|trending|watch|listen
    |more|top\s+stories|filed\s+under)
    \s*[:»›|]""",
    re.IGNORECASE | re.VERBOSE,
)
# Page furniture that survives as a line of its own.
_FURNITURE_LINE = re.compile(
    r"""(?:advertisement|advertisements|advert|sponsored(?:\s+content)?|skip\s+advertisement
    |story\s+continues\s+(?:below|after)(?:\s+(?:this\s+)?(?:advertisement|ad))?
    |continue\s+reading(?:\s+the\s+main\s+story|\s+below)?
    |scroll\s+(?:down\s+)?to\s+continue(?:\s+with\s+content)?|share\s+this\s+(?:article|story|page)|back\s+to\s+top
    |listen\s+to\s+(?:this\s+)?article|read\s+more|loading|(?:hide|toggle|show)\s+caption|enlarge\s+this\s+image
    |you\s+(?:may|might)\s+also\s+(?:like|enjoy)|(?:\d+\s+)?comments?|\d+\s+min(?:ute)?s?\s+read
    |all\s+rights\s+reserved
    |this\s+(?:material|article|story|content)\s+may\s+not\s+be\s+(?:published|reproduced|copied)\b.*)
    \W*""",
    re.IGNORECASE | re.VERBOSE,
)
# Photo captions: a caption label opening the line, or a photo credit closing it.
_CAPTION_LABEL = re.compile(
    r"""(?:image|photo|media|video)\s+caption\b
    |(?:photo(?:graph)?s?|images?|pictures?|pic|foto|фото|illustration|graphic|video|gallery
    |(?:image|photo|media|video)\s+(?:caption|credit|source)|caption|file\s+photo|file)\s*(?::|\s[-—–]\s|$)""",
    re.IGNORECASE | re.VERBOSE,
)
_TRAILING_PARENTHESIS = re.compile(r"\(([^()]{1,120})\)\W*$")
_PHOTO_CREDIT_INSIDE = re.compile(
    r"""^(?:(?:AP|AFP|EPA|PA|UPI|Reuters|Getty|Xinhua|dpa|Bloomberg|NASA|file)\s+)?
    (?:photo(?:graph)?s?|images?|pictures?|pic|foto|illustration|file|credit|(?:image|photo)\s+credit)\s*(?:[:/]|$)
    |getty\s+images|shutterstock|alamy|istock|via\s+getty|/\s*(?:AP|AFP|EPA|Reuters)\b""",
    re.IGNORECASE | re.VERBOSE,
)
_SOURCE_INSIDE = re.compile(r"^source\s*:\s*(.+)$", re.IGNORECASE)
# "… Photograph: Jane Doe/AP" at the end of a caption line.
_TRAILING_PHOTO_CREDIT = re.compile(
    r"(?:^|[.!?]\s)(?:photo(?:graph)?|image|picture|credit|foto|фото)\s*:\s*([^.!?]{1,80})$", re.IGNORECASE
)
# "Jane Doe/Getty Images" alone on a line.
_BARE_PHOTO_CREDIT = re.compile(
    r"""(?:[\w.'’-]+\s+){0,5}[\w.'’-]+\s*/\s*
    (?:getty\s+images|afp|ap|epa|reuters|shutterstock|alamy|pa\s+wire)(?:\s+via\s+getty\s+images)?""",
    re.IGNORECASE | re.VERBOSE,
)
# Credit clauses: "With reporting from IRN", "Reporting by A; Editing by B", "Additional reporting by …",
# and bylines ("By Jane Doe, Associated Press").
_CREDIT_CLAUSE = re.compile(
    r"""(?:(?:with\s+|additional\s+|further\s+)?
    (?:reporting|writing|editing|research|compiled|produced|graphics|reporting\s+and\s+writing|contributions?)
    (?:\s+and\s+(?:reporting|writing|editing|research))?\s+(?:by|from)|by)\s+(?P<who>.+)""",
    re.IGNORECASE | re.VERBOSE,
)
# "The Associated Press contributed to this report." / "Jane Doe contributed reporting."
_CONTRIBUTED = re.compile(
    r"""(?P<who>.{2,150}?)\s+contributed\s+
    (?:(?:additional\s+)?reporting(?:\s+(?:to|for)\s+(?:this|the)\s+(?:report|story|article))?
    |(?:to|for)\s+(?:this|the)\s+(?:report|story|article))
    (?:\s+from\s+[^.]{1,60})?""",
    re.IGNORECASE | re.VERBOSE,
)
_CONTRIBUTED_WORD = re.compile(r"\scontributed\s", re.IGNORECASE)  # what _CONTRIBUTED cannot match without
# Lower-case words that may appear in a credit naming only people and agencies.
_CREDIT_FILLER = {
    "and", "in", "from", "of", "the", "at", "with", "by", "for", "staff", "staffers", "wire", "wires", "services",
    "service", "agencies", "agency", "desk", "reporters", "reporter", "correspondents", "correspondent", "our",
    "news", "writers", "writer", "bureau", "additional", "editing", "reporting", "writing", "de", "da", "van",
    "von", "der", "al", "bin", "le", "la", "du", "dos", "del", "y",
}  # fmt: skip
# Words allowed around an agency name on an agency-only line ("— AP", "© Thomson Reuters 2019").
_AGENCY_LINE_FILLER = {
    "source", "sources", "copyright", "credit", "credits", "via", "by", "with", "and", "news", "wire", "wires",
    "media", "staff", "agencies", "agency", "the", "from", "all", "rights", "reserved", "c", "photo", "photos",
    "reporting", "additional", "report", "reports",
}  # fmt: skip
_SOURCE_LINE = re.compile(r"sources?\s*:\s*(?P<who>[^:]{2,80})", re.IGNORECASE)
_GENERIC_CREDIT_LINE = re.compile(r"(?:with\s+)?(?:agencies|wire\s+services|news\s+agencies|wires)\W*", re.IGNORECASE)
# "KYIV, Ukraine (AP) — ", "NEW YORK, Nov 19 (Reuters) - ", "(CNN) —" opening the first paragraph.
_INLINE_WIRE_TAG = re.compile(
    r"^(?:[A-Z][A-Z.'’-]+(?:\s+[A-Z][A-Z.'’-]+)*(?:,[^()\n]{1,40}?)?\s*)?\((?P<tag>[^()\n]{2,40})\)\s*[-—–]+\s*"
)
# "Copyright 2022 The Associated Press. All rights reserved. …" and "© Reuters 2019".
_COPYRIGHT_LINE = re.compile(r"^(?:copyright\b|©|\(c\)\s)", re.IGNORECASE)
# Social-media embeds: the post's text ends with its short link, then a signature line
# "— Jane Doe (@jdoe) November 18, 2019". They quote another story, not this article.
_EMBED_LINK = re.compile(r"(?:pic\.twitter\.com/\w+|https?://t\.co/\w+|https?://(?:www\.)?instagram\.com/p/\S+)\W*$")
_EMBED_SIGNATURE = re.compile(r"^[—–-]\s*[^()\n]{1,80}\(@\w{1,30}\)\s+\w+\.?\s+\d{1,2},\s+\d{4}$")
# All-caps lines this long are headlines; shorter ones may be the article's own subheads.
MIN_HEADLINE_WORDS = 8
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+")
_WORD_TOKEN = re.compile(r"[^\W\d_][\w'’.-]*|\d+")


def _is_cross_promo_headline(line: str) -> bool:
    """An all-caps headline of another story ("RUSSIA INVADES UKRAINE: LIVE UPDATES").

    Short all-caps subheads ("WHO IS THE FRONT-RUNNER?", "HOW TO USE A WATER BATH CANNER") are
    the article's own structure and are kept: on the scrapinghub pages they are part of the
    ground truth. So a capitalised line is a promo only when it is a headline in shape: long
    (a full sentence of headline) or in kicker form ("X: Y"), and not a question.
    """
    if line.startswith("|") or line.endswith("?"):
        return False  # a table row; a question subhead
    # Most lines are prose, settled by their opening: more than a tenth of the line lower-case
    # already means under 90 % capitals (lower > len/10 >= cased/10), whatever the rest holds.
    if sum(map(str.islower, line[:40])) * 10 > len(line):
        return False
    # Counted with C-level passes: this runs on every line of every article.
    upper = sum(map(str.isupper, line))
    cased = upper + sum(map(str.islower, line))
    if cased < 12 or upper / cased < 0.9:
        return False
    words = [w for w in line.split() if any(ch.isalpha() for ch in w)]
    return len(words) >= 4 and (len(words) >= MIN_HEADLINE_WORDS or ":" in line)


_REPORTING_VERB = re.compile(r"\b(?:said|says|told|tells|according|wrote|writes|added|asked)\b", re.IGNORECASE)


def _is_teaser_then_call(sentence: str) -> bool:
    """ "Get the best of our journalism every weekday: sign up for our newsletter here." — a short
    teaser, a colon, a call to action; not reported speech ("The minister said: …")."""
    teaser, colon, rest = sentence.partition(": ")
    return (
        bool(colon)
        and len(teaser.split()) <= 12
        and not _REPORTING_VERB.search(teaser)
        and bool(_CALL_TO_ACTION.match(rest))
    )


def _is_call_to_action(line: str) -> bool:
    """Promo: a sentence that asks the reader to sign up, subscribe, follow, download…

    Allowed only with teaser questions around it ("Want all the latest…? Sign up…"), so a
    paragraph of reporting that happens to contain such a sentence is kept.
    """
    if len(line.split()) > 40:
        return False
    # Sentence by sentence, stopping at the first that is neither a call nor a question: for
    # prose that is the first sentence, and the rest of the line is never split.
    has_call = False
    for sentence in _sentences(line):
        # "Get the best of our journalism every weekday: sign up for our newsletter here."
        if _CALL_TO_ACTION.match(sentence) or _is_teaser_then_call(sentence):
            has_call = True
        elif not sentence.endswith("?"):
            return False
    return has_call


def _sentences(line: str) -> Iterator[str]:
    """``_SENTENCE_SPLIT.split(line)``, one sentence at a time."""
    start = 0
    for boundary in _SENTENCE_SPLIT.finditer(line):
        yield line[start : boundary.start()]
        start = boundary.end()
    yield line[start:]


def _caption_credits(line: str) -> list[str] | None:
    """Agencies credited by a photo caption line, or None when the line is not a caption."""
    # The substring tests only skip patterns that cannot match without that character.
    if _CAPTION_LABEL.match(line) or ("/" in line and _BARE_PHOTO_CREDIT.fullmatch(line)):
        return known_agencies(line)
    trailing = _TRAILING_PARENTHESIS.search(line)
    if trailing:
        inside = trailing.group(1).strip()
        if _PHOTO_CREDIT_INSIDE.search(inside):
            return known_agencies(inside)
        source = _SOURCE_INSIDE.match(inside)
        # "(Source: Associated Press)" credits a photo; "(Source: ONS)" after a figure is a citation.
        if source and known_agencies(source.group(1)):
            return known_agencies(source.group(1))
    trailing_credit = _TRAILING_PHOTO_CREDIT.search(line) if ":" in line else None
    if trailing_credit and len(trailing_credit.group(1).split()) <= 10:
        return known_agencies(trailing_credit.group(1))
    return None


def _names_only(credit: str) -> bool:
    """True when a credit holds only names and credit vocabulary, not a sentence of reporting."""
    for token in _WORD_TOKEN.findall(credit):
        if token[:1].islower() and token.casefold().strip(".") not in _CREDIT_FILLER:
            return False
    return True


def _credit_line_credits(line: str) -> list[str] | None:
    """Organisations credited by a wire credit line, or None when the line is not one."""
    body = line.strip().strip("()[]").strip(" -—–•·*_").rstrip(".").strip()
    word_count = len(body.split())
    if not body or word_count > 40:
        return None
    # The lazy "who" of _CONTRIBUTED tries every length on every line; the word must be there first.
    contributed = _CONTRIBUTED.fullmatch(body) if _CONTRIBUTED_WORD.search(body) else None
    if contributed and _names_only(contributed.group("who")):
        return credited_organisations(contributed.group("who"))
    clauses = [c.strip() for c in re.split(r"\s*;\s*", body) if c.strip()] if ";" in body else [body]
    matches = [_CREDIT_CLAUSE.fullmatch(c) for c in clauses]
    if matches and all(matches) and all(_names_only(m.group("who")) for m in matches):
        credits: list[str] = []
        for m in matches:
            credits.extend(credited_organisations(m.group("who")))
        return list(dict.fromkeys(credits))
    if _GENERIC_CREDIT_LINE.fullmatch(body):
        return []
    source = _SOURCE_LINE.fullmatch(body)
    if source and _names_only(source.group("who")):
        # "Source: Al Jazeera News" credits an outlet; "Source: ONS" under a chart is a citation.
        credits = credited_organisations(source.group("who"), acronyms=False)
        if credits:
            return credits
    return agency_only(body, word_count) or None


def agency_only(text: str, word_count: int | None = None) -> list[str]:
    """The agencies of a text that names nothing else ("— AP", "PA News", "Reuters staff"); else [].

    ``word_count`` is ``len(text.split())`` when the caller has it already."""
    if (len(text.split()) if word_count is None else word_count) > 12:
        return []  # checked first: most lines are prose, and the agency regex is the cost
    agencies = known_agencies(text)
    if not agencies:
        return []
    residue = _AGENCY_ALIAS.sub(" ", text)
    if all(t.isdigit() or t.casefold() in _AGENCY_LINE_FILLER for t in _WORD_TOKEN.findall(residue)):
        return agencies
    return []


def _strip_inline_wire_tag(line: str) -> tuple[str, str | None]:
    """Cut "KYIV, Ukraine (AP) — " from a paragraph's start; returns (rest, credited agency)."""
    match = _INLINE_WIRE_TAG.match(line)
    if not match:
        return line, None
    tag = match.group("tag").strip()
    credits = credited_organisations(tag)
    if not credits or len(tag.split()) > 4:
        return line, None  # "(in Kyiv) —" or the like: not an agency tag
    rest = line[match.end() :].strip()
    return (rest, credits[0]) if rest else (line, None)


@lru_cache(maxsize=64)
def compile_extra_patterns(patterns: tuple[str, ...]) -> tuple[re.Pattern, ...]:
    """User patterns from ``CleanConfig.extra_promo_patterns``; a line is dropped when one matches it whole."""
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            raise ValueError(f"bad extra_promo_patterns entry {pattern!r}: {exc}") from exc
    return tuple(compiled)


def boilerplate_reason(line: str, extra: Sequence[re.Pattern] = ()) -> tuple[str, list[str]] | None:
    """Why a (normalised, non-empty) line is not article text, and the agencies it credits; None to keep it."""
    credits = _credit_line_credits(line)
    if credits is not None:
        return "credit", credits
    if _COPYRIGHT_LINE.match(line):
        return "credit", known_agencies(line)
    if (("://" in line or "pic.twitter.com/" in line) and _EMBED_LINK.search(line)) or _EMBED_SIGNATURE.match(line):
        return "embed", []
    credits = _caption_credits(line)
    if credits is not None:
        return "caption", credits
    if not any(ch.isalnum() for ch in line):
        return "separator", []  # "___", "* * *"
    if _FURNITURE_LINE.fullmatch(line) or (_PROMO_LABEL.match(line) and len(line.split()) <= 25):
        return "promo", []
    if _is_call_to_action(line):
        return "promo", []
    if _is_cross_promo_headline(line):
        return "headline", []
    if any(p.fullmatch(line) for p in extra):
        return "extra", []
    return None


def remove_boilerplate_lines(text: str, extra_patterns: Iterable[str] = ()) -> tuple[str, int, list[str]]:
    """Drop promo, caption, cross-promo and credit lines; returns (kept text, lines removed, wire credits).

    ``text`` is expected normalised (one paragraph per line); blank lines are skipped and not
    counted. An agency tag opening the first kept paragraph ("KYIV (AP) — …") is cut from it.
    """
    extra = compile_extra_patterns(tuple(extra_patterns))
    kept: list[str] = []
    removed = 0
    credits: dict[str, None] = {}
    for line in text.split("\n"):
        line = line.strip()
        if not line:
            continue
        verdict = boilerplate_reason(line, extra)
        if verdict is not None:
            removed += 1
            credits.update(dict.fromkeys(verdict[1]))
            continue
        if not kept:
            line, agency = _strip_inline_wire_tag(line)
            if agency:
                credits.setdefault(agency, None)
        kept.append(line)
    return "\n".join(kept), removed, list(credits)


def drop_title_line(text: str, title: str | None) -> tuple[str, int]:
    """Drop a first line that only repeats the title (kept in its own field); returns (text, lines dropped)."""
    if not title or not text:
        return text, 0
    first, _, rest = text.partition("\n")
    if first.casefold() == normalise_text(title).casefold():
        return rest, 1
    return text, 0


# ---------------------------------------------------------------- language, URL, ids


_TRACKING_PARAMS = {"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "igshid"}
_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_url(url: str | None) -> str | None:
    """The URL as an identity: lower-case scheme and host, no fragment, tracking parameters,
    default port or trailing slash. Other query parameters keep their order and encoding."""
    if url is None or not url.strip():
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:  # "http://[" : a broken IPv6 literal
        return url
    if not parts.scheme or not parts.netloc:
        return url  # not an absolute URL: nothing to normalise safely
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    if parts.username or parts.password:
        netloc = parts.netloc.rsplit("@", 1)[0] + "@" + netloc
    query = "&".join(pair for pair in parts.query.split("&") if pair and not _is_tracking_param(pair.split("=", 1)[0]))
    path = parts.path.rstrip("/")
    return urlunsplit((scheme, netloc, path, query, ""))


def _is_tracking_param(name: str) -> bool:
    name = name.lower()
    return name.startswith("utm_") or name in _TRACKING_PARAMS


def make_doc_id(url: str | None, text: str) -> str:
    """16 hex digits of SHA-256 of the canonical URL, or of the normalised text when there is no URL."""
    key = canonical_url(url) or normalise_text(text)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


# ---------------------------------------------------------------- one document


def _extract_within_limits(html: str, url: str | None, cfg: CleanConfig) -> dict:
    """``extract_html`` under the size cap and the time limit; failures as CleanError."""
    if len(html) > cfg.max_html_chars:
        raise CleanError("too_large", f"{len(html)} characters of HTML, over max_html_chars {cfg.max_html_chars}")
    try:
        return call_with_time_limit(lambda: extract_html(html, url), cfg.extract_timeout_s)
    except TimeLimitExceeded as exc:
        message = f"HTML extraction {exc} (extract_timeout_s {cfg.extract_timeout_s:g})"
        raise CleanError("extract_timeout", message) from exc
    except HtmlTooDeep as exc:
        raise CleanError("too_deep", str(exc)) from exc
    except ValueError as exc:
        raise CleanError("no_article_text", f"HTML extraction found no article text ({exc})") from exc


def clean_document(
    raw: dict, cfg: CleanConfig, run_id: str, ingested_at: dt.datetime, with_language: bool = True
) -> dict:
    """One raw document (from the read stage) as an article record without the dedup fields.

    ``removed_lines`` counts the boilerplate lines dropped plus a first line that only repeated
    the title.
    The publication date is the raw document's own (sidecar, JSON), else the page's, else
    when a crawler fetched it (``fetched_at``, from a WARC record: date_source ``fetch``), else
    the ingestion time.
    ``with_language=False`` leaves ``language`` None, for a caller that tells it for many
    articles at once (``_CleanFn``).
    Raises ``CleanError`` with error_type ``empty`` (no content), ``too_large`` (HTML over
    ``cfg.max_html_chars``), ``too_deep`` (see ``extract_html``), ``extract_timeout`` (HTML
    extraction ran over ``cfg.extract_timeout_s``), ``no_article_text`` (HTML without main
    text), ``unsupported_format`` or ``too_short`` (< ``cfg.min_words`` words left).
    """
    content = raw.get("content") or ""
    if not content.strip():
        raise CleanError("empty", "document has no content")
    doc_format = raw.get("format")
    found: dict = {}
    if doc_format == "html":
        found = _extract_within_limits(content, raw.get("url"), cfg)
        body = found["text"]
    elif doc_format == "text":
        body = content
    else:
        raise CleanError("unsupported_format", f"format {doc_format!r} is neither 'text' nor 'html'")

    title = raw.get("title") or found.get("title")
    text, title_lines = drop_title_line(normalise_text(body), title)
    text, removed_lines, wire_credits = remove_boilerplate_lines(text, cfg.extra_promo_patterns)
    removed_lines += title_lines
    word_count = count_words(text)
    if word_count < cfg.min_words:
        raise CleanError("too_short", f"{word_count} words after cleaning, fewer than min_words={cfg.min_words}")

    # The user's metadata (sidecar, JSON record) wins over what the page itself claims.
    url = raw.get("url") or found.get("url")
    authors = list(raw.get("authors") or []) or found.get("authors", [])
    if raw.get("published_at") is not None:
        published_at = parse_timestamp(raw["published_at"])  # aware: converted to UTC; naive: taken as UTC
        date_source = raw.get("date_source") or "metadata"
    elif found.get("published_at") is not None:
        published_at, date_source = found["published_at"], "html"
    elif raw.get("fetched_at") is not None:
        published_at, date_source = parse_timestamp(raw["fetched_at"]), "fetch"
    else:
        published_at, date_source = None, "ingestion"
    ingested_at = parse_timestamp(ingested_at)
    # An author that is an agency ("Associated Press", "Reuters Staff") credits it as a credit line does.
    byline_agencies = [agency for author in authors for agency in agency_only(author)]
    wire_credits = list(dict.fromkeys([*wire_credits, *byline_agencies]))

    return {
        "doc_id": make_doc_id(url, text),
        "url": url,
        "source": raw.get("source"),
        "outlet": raw.get("outlet") or found.get("outlet"),
        "title": title,
        "authors": authors,
        "published_at": published_at,
        "date_source": date_source,
        "ingested_at": ingested_at,
        "language": detect_language(text) if with_language else None,
        "text": text,
        "word_count": word_count,
        "content_hash": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "wire_credits": wire_credits,
        "removed_lines": removed_lines,
        "run_id": run_id,
        "date": (published_at or ingested_at).strftime("%Y-%m-%d"),
    }


# ---------------------------------------------------------------- Beam wrapper


# Articles whose language is told one after the other, after their pages are extracted: the
# identifier walks a 40 MB automaton that each page's extraction pushes out of the CPU's caches
# (0.44 ms a text told between extractions, 0.25 ms in runs of 64, on the benchmark's pages).
LANGUAGE_BATCH = 64


def _excerpt(raw: dict) -> str:
    """The part of a raw document an error row keeps."""
    content = raw.get("content")
    return content[:EXCERPT_CHARS] if isinstance(content, str) else ""


class _CleanFn(beam.DoFn):
    """``clean_document`` per element; failures leave on the ``errors`` output, never crash the run.

    Articles wait in ``_pending`` (at most ``LANGUAGE_BATCH``, flushed at the end of every
    bundle) until their languages are told together; each keeps its own window and timestamp.
    """

    def __init__(self, cfg: CleanConfig, run_id: str, ingested_at: dt.datetime):
        self._cfg = cfg
        self._run_id = run_id
        self._ingested_at = ingested_at
        self._kept = Metrics.counter(METRICS_NAMESPACE, "clean_kept")
        self._clock = StageClock("clean")
        self._pending: list[tuple[WindowedValue, str, str]] = []  # (article, source, excerpt)

    def setup(self):
        # Pay for the language model and the user's patterns once per worker, not per element.
        compile_extra_patterns(tuple(self._cfg.extra_promo_patterns))
        language_identifier()

    def start_bundle(self):
        self._pending = []

    def process(self, raw: dict, timestamp=beam.DoFn.TimestampParam, window=beam.DoFn.WindowParam) -> Iterator:
        source = str(raw.get("source") or "")
        rejected = None
        with self._clock.timing():
            try:
                article = clean_document(raw, self._cfg, self._run_id, self._ingested_at, with_language=False)
            except CleanError as exc:
                rejected = self._reject(source, exc.error_type, exc.message, _excerpt(raw))
            except Exception as exc:  # one bad document must not take the run down
                rejected = self._reject(source, "exception", f"{type(exc).__name__}: {exc}", _excerpt(raw))
        if rejected is not None:
            yield rejected
            return
        # Only the excerpt an error row would keep waits with the article, not the page (up to
        # max_html_chars each).
        self._pending.append((WindowedValue(article, timestamp, (window,)), source, _excerpt(raw)))
        if len(self._pending) >= LANGUAGE_BATCH:
            yield from self._flush()

    def finish_bundle(self):
        yield from self._flush()

    def _flush(self) -> list:
        pending, self._pending = self._pending, []
        outputs = []
        # Gathered, then returned: the stage's clock must not run while the fused steps after it
        # handle an output.
        with self._clock.timing():
            for windowed, source, excerpt in pending:
                try:
                    windowed.value["language"] = detect_language(windowed.value["text"])
                except Exception as exc:  # as in process: the document is rejected, the run goes on
                    rejected = self._reject(source, "exception", f"{type(exc).__name__}: {exc}", excerpt)
                    outputs.append(beam.pvalue.TaggedOutput(rejected.tag, windowed.with_value(rejected.value)))
                    continue
                self._kept.inc()
                outputs.append(windowed)
        return outputs

    def _reject(self, source: str, error_type: str, message: str, excerpt: str):
        Metrics.counter(METRICS_NAMESPACE, f"clean_rejected_{error_type}").inc()
        return beam.pvalue.TaggedOutput("errors", error_row(source, STAGE, error_type, message, excerpt))


class CleanDocuments(beam.PTransform):
    """Raw documents -> (articles, errors). Error rows carry stage "clean" and the reason."""

    def __init__(self, cfg: CleanConfig, run_id: str, ingested_at: dt.datetime):
        super().__init__()
        # Fail at graph construction, not on the workers, when a configured pattern is invalid.
        compile_extra_patterns(tuple(cfg.extra_promo_patterns))
        self._cfg = cfg
        self._run_id = run_id
        self._ingested_at = ingested_at

    def expand(self, raw_docs):
        outputs = raw_docs | "CleanDocument" >> beam.ParDo(
            _CleanFn(self._cfg, self._run_id, self._ingested_at)
        ).with_outputs("errors", main="articles")
        return outputs.articles, outputs.errors
