"""trafilatura's extraction, with its fallback comparison run only where it can change the result,
and without the metadata newsbeam never reads (``page_metadata``).

trafilatura extracts a page in two steps: its own rule-based extractor, then a comparison with
readability (and, for short or unclean results, justext) that replaces its own text when that
looks deficient. The comparison is ~40 % of the extraction's cost (0.95 of 2.1 ms on the
benchmark's pages) and, on the 181 real pages of ../shared/eval/extraction_scrapinghub, changes
the text of 6. trafilatura's ``fast`` mode skips it, at two points of F1 there.

``extract_document`` runs the fast mode first and keeps its result when the comparison could
not have replaced it (``why_fallback_may_change``), else runs the full extraction. The kept
result is the one the full extraction gives, because with ``favor_precision`` (trafilatura
2.3, ``external.compare_extraction``):

- readability's text replaces the own text only when it is empty, more than twice as long as
  the own text, or the own text has no paragraph text or more tables than paragraphs.
  Readability returns a part of the page's text (it moves and drops elements, and writes
  "VIDEO" into video iframes), so an own text at least half as long as all the page's text
  (``page_text_bound``) cannot be beaten on length;
- justext is consulted only for an own text shorter than ``min_extracted_size`` (250) or
  holding elements of ``SANITIZED_XPATH``;
- the fast mode also keeps teaser-class blocks when it recovers "wild" paragraphs after a
  short main pass; a page without an element whose id or class says "teaser" has none.

Pages whose article dominates their text (feed items' HTML, text-heavy pages, the benchmark's
generated pages) take the short path; of the real scrapinghub pages, wrapped in navigation and
link lists, 73 of 181 do. A page whose paragraphs hold less than half its text goes straight to
the full extraction, so such pages seldom pay for both (``extract_document``).
``tests/test_extraction.py`` checks on every real page of ../shared/eval, and on its real feed
items' HTML, that the result is the full extraction's. The shortcut is used only with the
trafilatura versions it was checked against (``SHORTCUT_VERSIONS``); any other gets the full
extraction every time.
"""

from __future__ import annotations

from functools import lru_cache

# Measured on ../shared/eval/extraction_scrapinghub (benchmarks/extraction_quality_html.py):
# favor_precision lifts the mean per-document shingle F1 from 0.954 to 0.960 there, mostly by
# leaving out link lists and teasers that the default mode keeps. Comments are never article text.
TRAFILATURA_OPTIONS = {"favor_precision": True, "include_comments": False}
# trafilatura releases whose fallback rules the reasoning above was checked against.
SHORTCUT_VERSIONS = ("2.3.",)
# Fields of trafilatura's Document that the text extraction fills; the others are metadata.
_TEXT_FIELDS = {"body", "comments", "commentsbody", "raw_text", "text"}
# What readability writes into a video iframe, plus a separating space.
_VIDEO_MARK_CHARS = len("VIDEO") + 1


@lru_cache(maxsize=1)
def shortcut_enabled() -> bool:
    import trafilatura

    return trafilatura.__version__.startswith(SHORTCUT_VERSIONS)


@lru_cache(maxsize=1)
def min_extracted_size() -> int:
    """trafilatura's MIN_EXTRACTED_SIZE (250 by default): shorter own texts go to justext."""
    from trafilatura.settings import Extractor

    return Extractor().min_extracted_size


@lru_cache(maxsize=1)
def _xpaths():
    from lxml.etree import XPath
    from trafilatura.external import SANITIZED_XPATH

    # What trafilatura's TEASER_DISCARD_XPATH could match, and more: an id or class holding
    # "easer" ("teaser", "Teaser") on any element (its own list of tags is a subset). Attributes
    # rather than elements: 0.02 instead of 0.07 ms a page.
    teaser = XPath("//@class[contains(., 'easer')] | //@id[contains(., 'easer')]")
    return XPath(SANITIZED_XPATH), teaser, XPath("//p//text()")


def collapsed_length(text: str) -> int:
    """Length of ``text`` with whitespace runs as one space and none at the ends (trafilatura's ``trim``)."""
    return len(" ".join(text.split()))


def page_text_bound(tree) -> int:
    """An upper bound on the length of any text readability can extract from ``tree``.

    All of the page's text outside scripts and styles, whitespace collapsed: readability's text
    is made of a subset of its text nodes in order, and dropping text never lengthens a
    collapsed string. A script's or style's text is taken off the whole by its own collapsed
    length: cutting a piece out of a text shortens the collapsed text by at least that much (its
    non-space characters, and the whitespace runs between them, go; the runs around it stay
    or merge).
    """
    from lxml import etree

    whole = collapsed_length(etree.tostring(tree, method="text", encoding=str, with_tail=False))
    in_code = sum(collapsed_length(element.text or "") for element in tree.iter("script", "style"))
    iframes = sum(1 for _ in tree.iter("iframe"))
    return whole - in_code + _VIDEO_MARK_CHARS * iframes


def why_fallback_may_change(tree, body, page_bound: int | None = None) -> str | None:
    """Why trafilatura's fallback comparison could replace the own extraction ``body`` of the
    page ``tree`` (a reason, for tests), or None when it cannot.
    ``page_bound``: ``page_text_bound(tree)`` when the caller has it."""
    unclean, teaser, _paragraphs = _xpaths()
    own = len(" ".join(body.itertext()).strip())
    if own < min_extracted_size():
        return "short"
    if not body.xpath(".//p//text()") or len(body.findall(".//table")) > len(body.findall(".//p")):
        return "structure"
    if unclean(body):
        return "unclean"
    if 2 * own < (page_text_bound(tree) if page_bound is None else page_bound):
        return "page_text"
    if teaser(tree):
        return "teaser"
    return None


def paragraph_text_length(tree) -> int:
    """Collapsed length of the text inside the page's ``<p>`` elements."""
    return collapsed_length("".join(_xpaths()[2](tree)))


def page_metadata(tree, url: str | None, date_params: dict):
    """trafilatura's ``extract_metadata`` without what newsbeam never reads: categories, tags
    (whose XPaths call back into Python for every ``div``: 0.25 ms a page) and licence.

    Follows trafilatura 2.3's ``metadata.extract_metadata`` step for step otherwise; only used
    with the versions in ``SHORTCUT_VERSIONS`` (``tests/test_extraction.py`` compares every other
    field with trafilatura's own on the real and generated pages).
    """
    from courlan import extract_domain
    from htmldate import find_date
    from trafilatura.metadata import (
        META_URL,
        examine_meta,
        extract_author,
        extract_meta_json,
        extract_sitename,
        extract_title,
        extract_url,
    )

    metadata = examine_meta(tree)
    if metadata.author and " " not in metadata.author:
        metadata.author = None
    try:
        metadata = extract_meta_json(tree, metadata)
    except Exception:  # noqa: BLE001 - trafilatura logs and carries on: bugs in its JSON-LD reader
        pass
    if not metadata.title:
        metadata.title = extract_title(tree)
    if not metadata.author:
        metadata.author = extract_author(tree)
    if not metadata.url:
        metadata.url = extract_url(tree, url)
    if metadata.url:
        metadata.hostname = extract_domain(metadata.url, fast=True)
    metadata.date = find_date(tree, **{**date_params, "url": metadata.url})
    if not metadata.sitename:
        metadata.sitename = extract_sitename(tree)
    if metadata.sitename:
        metadata.sitename = metadata.sitename.lstrip("@")
        if metadata.sitename and "." not in metadata.sitename and not metadata.sitename[0].isupper():
            metadata.sitename = metadata.sitename.title()
    elif metadata.url:
        found = META_URL.match(metadata.url)
        if found:
            metadata.sitename = found[1]
    metadata.filedate = date_params.get("max_date")
    metadata.clean_and_trim()
    return metadata


def extract_document(tree, url: str | None, date_params: dict):
    """trafilatura's ``bare_extraction`` of a parsed page with metadata, as the full extraction
    gives it (but for categories, tags and licence, which ``page_metadata`` leaves out); None
    when it finds no text. ``tree`` is left as it was (trafilatura copies it).

    The fast mode is tried only where paragraphs hold at least half the page's text: where they
    do not, the own text rarely reaches half of it either (on the real pages, 65 of the 106
    pages that pass this test keep the fast result, 8 of the other 75 would have), and trying
    would add the fast mode's cost to the full one's. The test decides the cost, never the text.
    """
    import trafilatura

    if not shortcut_enabled():
        return trafilatura.bare_extraction(
            tree, url=url, with_metadata=True, date_extraction_params=date_params, **TRAFILATURA_OPTIONS
        )
    try:
        metadata = page_metadata(tree, url, date_params)
    except (TypeError, ValueError):
        return None  # as bare_extraction treats them: a page it cannot read
    # The URL trafilatura's text extraction is given after its own metadata step.
    options = {"url": url or metadata.url, "with_metadata": False, **TRAFILATURA_OPTIONS}
    document = None
    page_bound = page_text_bound(tree)
    if 2 * paragraph_text_length(tree) >= page_bound:
        quick = trafilatura.bare_extraction(tree, fast=True, **options)
        if quick is not None and why_fallback_may_change(tree, quick.body, page_bound) is None:
            document = quick
    if document is None:
        document = trafilatura.bare_extraction(tree, **options)
    if document is None:
        return None
    for field in type(document).__slots__:
        if field not in _TEXT_FIELDS:
            setattr(document, field, getattr(metadata, field))
    return document
