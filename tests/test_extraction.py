"""trafilatura's fallback comparison skipped only where it cannot change the result
(transforms/extraction.py): the text and metadata are the full extraction's, page for page."""

from __future__ import annotations

import gzip
from copy import deepcopy
from pathlib import Path

import pytest
import trafilatura
from lxml.etree import tostring
from trafilatura.external import try_readability
from trafilatura.settings import Document, set_date_params
from trafilatura.utils import load_html, trim

from transforms import extraction
from transforms.extraction import (
    TRAFILATURA_OPTIONS,
    extract_document,
    page_text_bound,
    shortcut_enabled,
    why_fallback_may_change,
)

# Every field of the result but the element trees (compared through their text) and the
# metadata newsbeam never reads, which page_metadata leaves out.
NOT_COMPARED = {"body", "commentsbody", "categories", "tags", "license"}
COMPARED_FIELDS = [field for field in Document.__slots__ if field not in NOT_COMPARED]


def _date_params() -> dict:
    return {**set_date_params(True), "outputformat": "%Y-%m-%dT%H:%M:%S%z"}


def _full_extraction(tree, url=None):
    return trafilatura.bare_extraction(
        tree, url=url, with_metadata=True, date_extraction_params=_date_params(), **TRAFILATURA_OPTIONS
    )


def _fields(document) -> dict | None:
    return None if document is None else {field: getattr(document, field) for field in COMPARED_FIELDS}


def _real_pages(eval_dir: Path) -> list[tuple[str, str]]:
    pages = []
    for path in sorted((eval_dir / "extraction_scrapinghub" / "html").glob("*.html.gz")):
        pages.append((path.name, gzip.decompress(path.read_bytes()).decode("utf-8", errors="replace")))
    for path in sorted((eval_dir / "wirecopy_dev" / "docs").glob("*.html")):
        pages.append((path.name, path.read_text(encoding="utf-8", errors="replace")))
    if len(pages) < 200:
        pytest.skip(f"expected the 181 scrapinghub and 58 wirecopy HTML pages under {eval_dir}, found {len(pages)}")
    pages += _feed_item_pages(eval_dir / "feeds")
    return [(name, html) for name, html in pages if load_html(html) is not None]


def _feed_item_pages(feeds: Path) -> list[tuple[str, str]]:
    """Real feed items' HTML (content or summary of 500+ characters with markup) as pages: the
    kind of page whose article is most of its text."""
    import feedparser

    found: dict[str, str] = {}
    for path in sorted(feeds.rglob("*")):
        if path.suffix not in (".xml", ".rss", ".atom", ".json"):
            continue
        for entry in feedparser.parse(str(path)).entries:
            bodies = [content.get("value") or "" for content in entry.get("content") or []]
            for body in [*bodies, entry.get("summary") or ""]:
                if len(body) > 500 and "<" in body:
                    found.setdefault(body, f"{path.name}#{len(found)}")
    return [(name, f"<html><body>{body}</body></html>") for body, name in found.items()]


@pytest.fixture(scope="module")
def real_pages(eval_dir) -> list[tuple[str, str]]:
    return _real_pages(eval_dir)


def test_the_shortcut_is_checked_against_the_installed_trafilatura():
    # Every other test here relies on it: with another release the module extracts in full.
    assert shortcut_enabled(), f"trafilatura {trafilatura.__version__} is not one of {extraction.SHORTCUT_VERSIONS}"


def test_real_pages_get_the_full_extractions_text_and_metadata(real_pages):
    shortcut_taken = 0
    for name, html in real_pages:
        tree = load_html(html)
        expected = _fields(_full_extraction(tree))
        got = _fields(extract_document(tree, None, _date_params()))
        assert got == expected, name
        quick = trafilatura.bare_extraction(tree, fast=True, **TRAFILATURA_OPTIONS)
        if quick is not None and why_fallback_may_change(tree, quick.body) is None:
            shortcut_taken += 1
    # Both kinds are there: pages the fast mode serves, and pages it would get wrong.
    assert 150 <= shortcut_taken < len(real_pages), (shortcut_taken, len(real_pages))


def test_pages_whose_text_the_fallback_changes_are_never_served_by_the_fast_mode(real_pages):
    changed = 0
    for name, html in real_pages:
        tree = load_html(html)
        quick = trafilatura.bare_extraction(tree, fast=True, **TRAFILATURA_OPTIONS)
        full = trafilatura.bare_extraction(tree, **TRAFILATURA_OPTIONS)
        if quick is None or full is None or quick.text == full.text:
            continue
        changed += 1
        assert why_fallback_may_change(tree, quick.body) is not None, name
    assert changed >= 5, "the real pages hold pages whose text trafilatura's fallback changes"


def test_readability_never_extracts_more_text_than_the_page_bound(real_pages):
    # The reasoning's load-bearing claim, checked on every real page (and not only where the
    # decision mattered): readability's text, as trafilatura measures it, fits in the bound.
    for name, html in real_pages:
        tree = load_html(html)
        bound = page_text_bound(tree)
        readability_text = trim(tostring(try_readability(deepcopy(tree)), method="text", encoding="utf-8").decode())
        assert len(readability_text) <= bound, name


def test_page_bound_counts_text_not_code_and_what_readability_writes_into_video_frames():
    body = "<p>" + "word " * 30 + "</p>"
    plain = load_html(f"<html><body>{body}</body></html>")
    with_code = load_html(
        f"<html><head><style>p {{ color: red; }}</style></head><body>{body}"
        "<script>var x = 'long long long long long long long long';</script></body></html>"
    )
    with_video = load_html(f'<html><body>{body}<iframe src="https://www.youtube.com/embed/x"></iframe></body></html>')
    assert page_text_bound(plain) >= len(trim("word " * 30))
    assert page_text_bound(with_code) <= page_text_bound(plain) + 2  # at most the runs around the code
    assert page_text_bound(with_video) >= page_text_bound(plain) + len("VIDEO")


def test_generated_article_pages_take_the_shortcut_with_the_full_result(tmp_path):
    from benchmarks.corpus import generate_corpus

    generate_corpus(40, str(tmp_path))
    pages = sorted((tmp_path / "pages").glob("*.html"))
    taken = 0
    for page in pages:
        tree = load_html(page.read_text(encoding="utf-8"))
        assert _fields(extract_document(tree, None, _date_params())) == _fields(_full_extraction(tree)), page.name
        quick = trafilatura.bare_extraction(tree, fast=True, **TRAFILATURA_OPTIONS)
        taken += quick is not None and why_fallback_may_change(tree, quick.body) is None
    assert taken == len(pages) == 40


def test_a_navigation_heavy_page_is_extracted_in_full():
    links = "".join(f'<li><a href="/s/{i}">Another story headline number {i} here</a></li>' for i in range(80))
    article = "<p>" + "The council voted on the budget after a long debate. " * 6 + "</p>"
    tree = load_html(f"<html><body><nav><ul>{links}</ul></nav><article>{article}</article></body></html>")
    quick = trafilatura.bare_extraction(tree, fast=True, **TRAFILATURA_OPTIONS)
    assert why_fallback_may_change(tree, quick.body) == "page_text"
    assert _fields(extract_document(tree, None, _date_params())) == _fields(_full_extraction(tree))


def test_other_trafilatura_releases_get_the_full_extraction(monkeypatch):
    calls = []
    real = trafilatura.bare_extraction

    def counting(*args, **kwargs):
        calls.append(kwargs.get("fast", False))
        return real(*args, **kwargs)

    monkeypatch.setattr(trafilatura, "bare_extraction", counting)
    monkeypatch.setattr(extraction, "SHORTCUT_VERSIONS", ("9.9.",))
    extraction.shortcut_enabled.cache_clear()
    try:
        article = "<p>" + "The council voted on the budget after a long debate. " * 12 + "</p>"
        tree = load_html(f"<html><body><article>{article}</article></body></html>")
        assert extract_document(tree, None, _date_params()) is not None
        assert calls == [False]
    finally:
        extraction.shortcut_enabled.cache_clear()


def test_a_page_with_teaser_blocks_is_extracted_in_full():
    # trafilatura's fast mode keeps teaser-class blocks where its full mode drops them.
    article = "<p>" + "The council voted on the budget after a long debate. " * 12 + "</p>"
    for teaser in ('class="story-Teaser"', 'id="teaser-3"'):
        tree = load_html(f"<html><body><article>{article}</article><div {teaser}><p>Read more</p></div></body></html>")
        quick = trafilatura.bare_extraction(tree, fast=True, **TRAFILATURA_OPTIONS)
        assert why_fallback_may_change(tree, quick.body) == "teaser", teaser
    tree = load_html(f"<html><body><article>{article}</article><div class='aside'><p>Read more</p></div></body></html>")
    quick = trafilatura.bare_extraction(tree, fast=True, **TRAFILATURA_OPTIONS)
    assert why_fallback_may_change(tree, quick.body) is None


def test_a_page_whose_metadata_cannot_be_read_is_no_document_as_in_trafilatura(monkeypatch):
    # bare_extraction turns a TypeError or ValueError of its metadata step into None ("no
    # text"), which the clean stage reports as no_article_text; so does the shortcut's own step.
    def unreadable(*_args, **_kwargs):
        raise ValueError("unreadable date")

    monkeypatch.setattr(extraction, "page_metadata", unreadable)
    article = "<p>" + "The council voted on the budget after a long debate. " * 12 + "</p>"
    assert extract_document(load_html(f"<html><body><article>{article}</article></body></html>"), None, {}) is None
