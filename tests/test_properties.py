"""Property-based tests (hypothesis): any string into the cleaner and the number parser gives
no exception, and every offset the number parser reports points at the text it reports.

Strategies mix arbitrary Unicode with the words the rules look for (agencies, promo phrases,
number words, dates, dashes, line breaks), so the examples reach deep into the rules rather
than stopping at "no match".
"""

from __future__ import annotations

import datetime as dt
import math
import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from schemas.config import CleanConfig, EnrichConfig
from schemas.tables import NUMBER_KINDS, QUALIFIERS
from transforms import clean, numbers
from transforms.clean import (
    CleanError,
    canonical_url,
    clean_document,
    count_words,
    credited_organisations,
    extract_html,
    known_agencies,
    make_doc_id,
    normalise_text,
    remove_boilerplate_lines,
)

PROPERTY_SETTINGS = settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
INGESTED = dt.datetime(2026, 11, 23, 9, 15, tzinfo=dt.timezone.utc)
PUBLISHED = dt.datetime(2024, 3, 5, 12, 0, tzinfo=dt.timezone.utc)

SEPARATORS = [" ", " ", " ", "\n", "\n\n", "  ", "\t", "\u00a0", "\r\n", "\u2028", "", "\u200b", "\u00ad"]
CLEANER_WORDS = [
    "Sign up", "Subscribe now", "to our newsletter", "(AP)", "(Reuters)", "—", "–", "-", "KYIV,", "Ukraine",
    "Photo:", "Photograph:", "Getty Images", "/AP", "READ MORE:", "Related:", "Advertisement", "ADVERTISEMENT",
    "contributed to this report.", "The Associated Press", "Reuters", "AFP", "PA", "By", "Reporting by",
    "Editing by", ";", "Source:", "CLICK HERE TO GET THE APP", "RUSSIA INVADES", "Follow us on Twitter",
    "the", "mayor", "said", "on", "Tuesday", ".", ",", "?", "!", ":", "(", ")", "[", "]", "*", "_", "©",
    "Copyright 2024", "All rights reserved", "é", "e\u0301", "ﬁ", "Ⅻ", "\x00", "\x0c",
]  # fmt: skip
NUMBER_WORDS = [
    "2,300", "7,000", "1,464", "at least", "more than", "nearly", "about", "up to", "between", "and", "to",
    "or", "killed", "died", "injured", "fled", "evacuated", "people", "residents", "civilians", "soldiers",
    "were", "have", "the", "death toll", "rose", "from", "million", "billion", "2.5", "3.5bn", "£3m", "$",
    "US$", "€", "%", "per cent", "percentage points", "5am", "5 a.m.", "10:30", "p.m.", "noon", "midnight",
    "10-15", "3 to 4 million", "March 9", "9 March", "Monday", "yesterday", "this week", "50 days ago",
    "ago", "days", "weeks", "half", "a thousand", "thousands", "tens of thousands", "dozens", "several",
    "a few", "twenty-one", "twenty five", "thirty six", "36th", "first", "½", "¾", "1/2", "1½", "−5", "-",
    "–", "—", "100 m", "km", "kilometres", "MW", "1e5", "9" * 40, "9" * 400, "0.000001", ".5", "0", "00", "1,0,0",
    "5,", "5.", "Mr", "Smith", "Kyiv", ".", ",", ";", "(", ")", "\n", "'", '"',
]  # fmt: skip


# Letters next to combining marks and invisible characters: what Unicode normalisation must get right.
CLUSTER_CHARACTERS = ["e", "A", "n", "\u0301", "\u0308", "\u200b", "\ufeff", "\u00ad", " "]
CLUSTER = st.text(alphabet=st.sampled_from(CLUSTER_CHARACTERS), max_size=4)


def mixed_text(vocabulary: list[str]) -> st.SearchStrategy[str]:
    """Texts of vocabulary words, letter/mark clusters and arbitrary Unicode, joined by assorted whitespace."""
    piece = st.one_of(st.sampled_from(vocabulary), CLUSTER, st.text(max_size=6))
    pair = st.tuples(piece, st.sampled_from(SEPARATORS)).map("".join)
    return st.lists(pair, max_size=60).map("".join)


ANY_TEXT = st.one_of(st.text(max_size=300), mixed_text(CLEANER_WORDS))
NUMBER_TEXT = st.one_of(st.text(max_size=200), mixed_text(NUMBER_WORDS))

TAGS = ["p", "div", "article", "main", "span", "a", "h1", "h2", "li", "ul", "nav", "footer", "script", "style", "br"]
html_fragment = st.recursive(
    mixed_text(CLEANER_WORDS).map(lambda text: text.replace("<", "&lt;")),
    lambda children: st.tuples(st.sampled_from(TAGS), st.lists(children, max_size=4)).map(
        lambda tag_children: f"<{tag_children[0]}>{''.join(tag_children[1])}</{tag_children[0]}>"
    ),
    max_leaves=30,
)
ANY_HTML = st.one_of(
    st.text(max_size=300),
    html_fragment.map(lambda body: f"<html><head><title>T</title></head><body>{body}</body></html>"),
    st.tuples(st.text(max_size=30), html_fragment, st.text(max_size=30)).map("".join),
)


# ---------------------------------------------------------------- the cleaner


@PROPERTY_SETTINGS
@given(ANY_TEXT)
@example("A\u200b\u0300")  # found by this test: the invisible character kept "A" and its accent apart for NFC
def test_normalise_text_is_idempotent_and_leaves_no_blank_lines(text):
    once = normalise_text(text)
    assert normalise_text(once) == once
    assert all(line and line == line.strip() for line in once.split("\n")) or once == ""


def _normalised_line_by_line(text: str) -> str:
    """normalise_text as first written (and as its docstring says): each of str.splitlines'
    lines with whitespace runs made one space and stripped, blank lines dropped."""
    import unicodedata

    text = unicodedata.normalize("NFC", re.sub("[\u200b\ufeff\u00ad]", "", text))
    lines = (re.sub(r"\s+", " ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


WHITESPACE_TEXT = st.text(
    alphabet=st.sampled_from(list("ab \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u2028\u2029\u3000\u200b")), max_size=40
)


@PROPERTY_SETTINGS
@given(st.one_of(ANY_TEXT, WHITESPACE_TEXT))
@example("a\r\n\r\nb \x1f c\x85 \u2028d")
def test_normalise_text_gives_what_the_regex_version_gave(text):
    assert normalise_text(text) == _normalised_line_by_line(text)


@PROPERTY_SETTINGS
@given(ANY_TEXT, st.lists(st.sampled_from([r"Watch .*", r"[A-Z ]+", r"\d+ comments?"]), max_size=2))
def test_boilerplate_removal_only_drops_whole_lines(text, extra):
    normalised = normalise_text(text)
    kept, removed, credits = remove_boilerplate_lines(normalised, extra)
    lines = normalised.split("\n") if normalised else []
    kept_lines = kept.split("\n") if kept else []
    assert len(kept_lines) + removed == len(lines)
    for index, line in enumerate(kept_lines):
        if index == 0:  # the first kept paragraph may lose its "KYIV (AP) —" tag
            assert any(original.endswith(line) for original in lines), line
        else:
            assert line in lines, line
    assert all(isinstance(agency, str) and agency for agency in credits)


# Lines the boilerplate shortcuts are about: credits, captions, embeds, capitals and sentence ends.
SHORTCUT_WORDS = CLEANER_WORDS + [
    "contributed", "CONTRIBUTED", "/", "://", "https://t.co/x1", "pic.twitter.com/ab", "instagram.com/p/",
    "Jane Doe", "NEWS", "HEADLINE", "WORLD", "A", "a", "ı", "ſ", "K", ". ", "! ", "? ",
]  # fmt: skip
LINE_TEXT = st.one_of(st.text(max_size=200), mixed_text(SHORTCUT_WORDS).map(lambda text: text.replace("\n", " ")))


@PROPERTY_SETTINGS
@given(LINE_TEXT)
@example("McDONALD'S AND McCAIN SHARES FALL AS THE WORLD REACTS")  # a headline with lower-case letters early
@example("Jane Doe and John Roe contributed to this report")
@example("Crowds in the square. Photograph: Jane Doe/Getty Images")
@example("The view from the hill https://t.co/AbC123")
def test_boilerplate_shortcuts_never_hide_a_match(line):
    """Each substring test that skips a boilerplate pattern holds wherever the pattern matches,
    the sentence iterator splits as the pattern does, and the headline shortcut agrees with the
    capitals ratio it stands in for."""
    if clean._CONTRIBUTED.fullmatch(line):
        assert clean._CONTRIBUTED_WORD.search(line)
    if clean._BARE_PHOTO_CREDIT.fullmatch(line):
        assert "/" in line
    if clean._TRAILING_PHOTO_CREDIT.search(line):
        assert ":" in line
    if clean._EMBED_LINK.search(line):
        assert "://" in line or "pic.twitter.com/" in line
    assert list(clean._sentences(line)) == clean._SENTENCE_SPLIT.split(line)
    upper, lower = sum(map(str.isupper, line)), sum(map(str.islower, line))
    words = [w for w in line.split() if any(ch.isalpha() for ch in w)]
    headline = (
        not (line.startswith("|") or line.endswith("?"))
        and upper + lower >= 12
        and upper / (upper + lower) >= 0.9
        and len(words) >= 4
        and (len(words) >= clean.MIN_HEADLINE_WORDS or ":" in line)
    )
    assert clean._is_cross_promo_headline(line) == headline


@PROPERTY_SETTINGS
@given(ANY_TEXT)
def test_agency_and_word_helpers_accept_any_text(text):
    assert count_words(text) >= 0
    assert isinstance(known_agencies(text), list)
    assert isinstance(credited_organisations(text), list)


@PROPERTY_SETTINGS
@given(st.one_of(st.text(max_size=80), st.from_regex(r"https?://[^\s]{0,40}", fullmatch=True)))
def test_canonical_url_accepts_any_string_and_is_stable(url):
    canonical = canonical_url(url)
    assert canonical is None or canonical_url(canonical) == canonical
    assert re.fullmatch(r"[0-9a-f]{16}", make_doc_id(url, "some text"))


def _clean(raw: dict) -> dict | None:
    try:
        return clean_document(raw, CleanConfig(min_words=1), "prop-run", INGESTED)
    except CleanError:
        return None


@PROPERTY_SETTINGS
@given(ANY_TEXT)
def test_clean_document_on_any_text_gives_an_article_or_a_clean_error(text):
    article = _clean({"source": "t.txt", "format": "text", "content": text})
    if article is not None:
        assert article["word_count"] == count_words(article["text"]) >= 1
        assert normalise_text(article["text"]) == article["text"]
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", article["date"])


@PROPERTY_SETTINGS
@given(ANY_HTML)
def test_html_extraction_on_any_markup_gives_text_or_a_value_error(html):
    try:
        found = extract_html(html)
    except ValueError:
        found = None
    if found is not None:
        assert found["text"].strip()
    article = _clean({"source": "p.html", "format": "html", "content": html})
    assert article is None or article["text"]


# ---------------------------------------------------------------- the number parser


@PROPERTY_SETTINGS
@given(NUMBER_TEXT)
@example("9" * 400)  # found by this test: the float overflowed to inf
def test_parse_number_gives_a_finite_value_or_none(text):
    value = numbers.parse_number(text)
    assert value is None or math.isfinite(value)


@PROPERTY_SETTINGS
@given(NUMBER_TEXT, st.booleans())
def test_resolve_date_gives_a_date_or_none(text, prefer_future):
    resolved = numbers.resolve_date(text, PUBLISHED, prefer_future=prefer_future)
    assert resolved is None or isinstance(resolved, dt.date)


@pytest.fixture(scope="module")
def nlp():
    from transforms.enrich import load_model

    return load_model(EnrichConfig().spacy_model)


@PROPERTY_SETTINGS
@given(text=NUMBER_TEXT, published=st.sampled_from([None, PUBLISHED]))
def test_number_rows_point_at_their_text(nlp, text, published):
    from transforms.enrich import number_rows, whole_text_disabled

    doc = next(nlp.pipe([text], disable=whole_text_disabled(nlp)))
    article = {
        "doc_id": "d",
        "date": "2024-03-05",
        "source": "s",
        "published_at": published,
        "ingested_at": INGESTED,
        "date_source": "html" if published else "ingestion",
    }
    for row in number_rows(nlp, doc, article):
        assert 0 <= row["start"] < row["end"] <= len(text), row
        assert text[row["start"] : row["end"]] == row["text"], row
        assert row["value"] is None or math.isfinite(row["value"]), row
        assert row["value_max"] is None or math.isfinite(row["value_max"]), row
        assert row["qualifier"] in QUALIFIERS and row["kind"] in NUMBER_KINDS, row


@PROPERTY_SETTINGS
@given(text=st.one_of(NUMBER_TEXT, mixed_text(["²", "½", "٣", "⅞", "𝟙", "’", "—", "3rd", "1,200", "CARDINAL"])))
def test_number_tokens_read_from_arrays_are_those_the_token_loop_finds(nlp, text):
    # sentences_with_numbers finds number tokens from the Doc's arrays and the text's digits;
    # it must find exactly the tokens the per-token test does, in any script.
    from transforms.enrich import whole_text_disabled

    doc = next(nlp.pipe([text], disable=whole_text_disabled(nlp)))
    expected = [token.idx for token in doc if numbers._mentions_number(token)]
    assert numbers._number_token_starts(doc, text) == expected


def _iso_spellings(moment: dt.datetime) -> list[str]:
    """The ways pages write one moment in ISO 8601: date only, minutes, seconds, fractions,
    ``Z`` or an offset, ``T`` or a space."""
    spellings = [moment.date().isoformat(), moment.strftime("%Y%m%d")]
    for separator in ("T", " "):
        for timespec in ("minutes", "seconds", "milliseconds", "microseconds"):
            text = moment.isoformat(sep=separator, timespec=timespec)
            spellings.append(text)
            if text.endswith("+00:00"):
                spellings.append(text.removesuffix("+00:00") + "Z")
    return spellings


@PROPERTY_SETTINGS
@given(
    st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2100, 1, 1)),
    st.one_of(st.none(), st.integers(-14 * 60, 14 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))),
)
def test_iso_dates_read_by_the_fast_path_as_dateutil_reads_them(moment, zone):
    # parse_date_string skips dateutil for ISO strings; it must not change a single date.
    from dateutil import parser as date_parser

    from schemas.records import parse_date_string

    for text in _iso_spellings(moment.replace(tzinfo=zone)):
        assert parse_date_string(text) == date_parser.parse(text), text
        assert parse_date_string(text).utcoffset() == date_parser.parse(text).utcoffset(), text
