"""Clean stage: seed articles, boilerplate rules, HTML extraction, bad input, and the Beam wrapper."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import re

import apache_beam as beam
import pyarrow as pa
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.config import CleanConfig
from schemas.tables import ARTICLES
from tests.conftest import REPO
from transforms.clean import (
    CleanDocuments,
    CleanError,
    canonical_url,
    clean_document,
    detect_language,
    extract_html,
    make_doc_id,
    normalise_text,
    remove_boilerplate_lines,
)
from transforms.language import language_identifier

INGESTED = dt.datetime(2026, 11, 23, 9, 15, tzinfo=dt.timezone.utc)
RUN_ID = "test-run"
CFG = CleanConfig()
DEDUP_FIELDS = {"cluster_id", "copies", "outlets", "wire_share"}
ARTICLE_SCHEMA = pa.schema([field for field in ARTICLES if field.name not in DEDUP_FIELDS])

# Lines of the seed articles that are promos, cross-promo headlines, captions or credits.
SEED_BOILERPLATE = {
    "000": ["Want all the latest news and analysis from Ukraine? Sign up to our World News Bulletin here"],
    "001": ["With reporting from IRN"],
    "002": ["A Ukrainian serviceman guards his position in Mariupol, Ukraine. (Source: Associated Press)"],
    "003": [
        "MARIUPOL WARNS RUSSIA IS PREPARING TO SHUT DOWN CITY TO 'FILTER' ALL MEN FOR FORCED SERVICE, LABOR",
        "RUSSIA INVADES UKRAINE: LIVE UPDATES",
        "CLICK HERE TO GET THE FOX NEWS APP",
        "The Associated Press contributed to this report.",
    ],
    "004": [],
}
SEED_CREDITS = {"000": [], "001": ["IRN"], "002": ["Associated Press"], "003": ["Associated Press"], "004": []}
MUST_NOT_REMAIN = [
    "Sign up to our World News Bulletin",
    "CLICK HERE TO GET THE FOX NEWS APP",
    "RUSSIA INVADES UKRAINE: LIVE UPDATES",
    "MARIUPOL WARNS RUSSIA",
    "(Source: Associated Press)",
    "The Associated Press contributed to this report",
    "With reporting from IRN",
]


def text_document(content: str, source: str = "doc.txt", **metadata) -> dict:
    """A raw document as the read stage emits it."""
    return {
        "source": source,
        "format": "text",
        "content": content,
        "encoding": "utf-8",
        "url": None,
        "title": None,
        "outlet": None,
        "authors": [],
        "published_at": None,
        "date_source": None,
        **metadata,
    }


def html_document(content: str, source: str = "page.html", **metadata) -> dict:
    return {**text_document(content, source, **metadata), "format": "html"}


@pytest.fixture(scope="module")
def seed_documents(seed_paths) -> dict[str, dict]:
    return {p.name[:3]: text_document(p.read_text(encoding="utf-8"), source=str(p)) for p in seed_paths}


@pytest.fixture(scope="module")
def seed_articles(seed_documents) -> dict[str, dict]:
    return {key: clean_document(raw, CFG, RUN_ID, INGESTED) for key, raw in seed_documents.items()}


# ---------------------------------------------------------------- the seed articles


def test_seed_promos_captions_and_credits_are_gone(seed_articles):
    assert set(seed_articles) == set(SEED_BOILERPLATE)
    for key, article in seed_articles.items():
        for snippet in MUST_NOT_REMAIN:
            assert snippet not in article["text"], (key, snippet)


def test_seed_wire_credits_name_the_agencies(seed_articles):
    assert {key: article["wire_credits"] for key, article in seed_articles.items()} == SEED_CREDITS


def test_seed_every_real_sentence_is_kept_and_drops_are_counted(seed_documents, seed_articles):
    for key, raw in seed_documents.items():
        lines = normalise_text(raw["content"]).split("\n")
        expected = [line for line in lines if line not in SEED_BOILERPLATE[key]]
        article = seed_articles[key]
        assert article["text"].split("\n") == expected, key
        assert article["removed_lines"] == len(lines) - len(expected) == len(SEED_BOILERPLATE[key])
    assert "Many of the city's 400,000 residents remain trapped" in seed_articles["000"]["text"]
    assert "first reported Reuters." in seed_articles["003"]["text"]


def test_seed_article_record_fits_the_articles_schema(seed_articles):
    for article in seed_articles.values():
        assert set(article) == set(ARTICLE_SCHEMA.names)
        pa.Table.from_pylist([article], schema=ARTICLE_SCHEMA)  # types and nullability as written to Parquet
        assert article["language"] == "en"
        assert CFG.min_words <= article["word_count"] <= len(article["text"].split())
        assert article["content_hash"] == hashlib.sha256(article["text"].encode()).hexdigest()
        assert article["doc_id"] == make_doc_id(None, article["text"])
        assert (article["published_at"], article["date_source"], article["date"]) == (None, "ingestion", "2026-11-23")
        assert (article["ingested_at"], article["run_id"]) == (INGESTED, RUN_ID)


# ---------------------------------------------------------------- normalisation


def test_normalise_text_collapses_whitespace_and_keeps_punctuation():
    raw = "  Cafe\u0301 “quoted”\u00a0\u00a0text\t\there.  \r\n\n\n\u2003\nSecond\u00a0— line’s end.\u00a0 \n"
    assert normalise_text(raw) == "Café “quoted” text here.\nSecond — line’s end."
    assert normalise_text("") == ""
    assert normalise_text(" \n\t\u00a0\n") == ""


# ---------------------------------------------------------------- boilerplate rules (lines not in the seeds)


@pytest.mark.parametrize(
    "line",
    [
        "Sign up for our Morning Briefing newsletter",
        "Subscribe to The Daily Ledger for just $1 a week.",
        "Don't have the app yet? Get the Metro News app here",
        "Download our app for breaking news alerts",
        "Like what you read? Follow us on Instagram.",
        "Follow the Evening Post on Facebook and Twitter.",
        "Read more: Why the central bank held rates",
        "RELATED: Ten things to know about the vote",
        "Advertisement",
        "Story continues below advertisement",
        "PUTIN SAYS PEACE TALKS HAVE STALLED AS SHELLING CONTINUES IN THE EAST",
        "ELECTION NIGHT: LIVE RESULTS",
        "Firefighters work at the scene in Kharkiv. (Photo: Jane Roe/Getty Images)",
        "Photo: Jane Roe/Getty Images",
        "Image caption Rescue workers search the rubble",
        "* * *",
    ],
)
def test_promo_headline_and_caption_lines_are_dropped(line):
    text = f"The council met on Monday to discuss the budget.\n{line}\nThe vote is due next week."
    kept, removed, credits = remove_boilerplate_lines(text)
    assert kept == "The council met on Monday to discuss the budget.\nThe vote is due next week."
    assert (removed, credits) == (1, [])


@pytest.mark.parametrize(
    ("line", "agencies"),
    [
        ("Reuters contributed to this report.", ["Reuters"]),
        ("The Associated Press and Agence France-Presse contributed to this report.", ["Associated Press", "AFP"]),
        ("Associated Press writer Jim Heintz in Moscow contributed to this report.", ["Associated Press"]),
        ("Additional reporting by AFP", ["AFP"]),
        ("With reporting from Independent Radio News", ["IRN"]),
        ("PA News", ["PA"]),
        ("— AP", ["Associated Press"]),
        ("© Thomson Reuters 2022", ["Reuters"]),
        ("Residents queue for water in the city. Photograph: Evgeniy Maloletka/AP", ["Associated Press"]),
        ("Smoke rises over the steel plant on Sunday. (AP Photo/File)", ["Associated Press"]),
        ("Reporting by Jane Doe in London; Editing by John Roe", []),
        ("Jane Doe contributed reporting from Kyiv.", []),
        ("With reporting from wire services.", []),
        ("By JANE DOE and JOHN ROE, Associated Press", ["Associated Press"]),
    ],
)
def test_credit_lines_are_dropped_and_agencies_recorded(line, agencies):
    kept, removed, credits = remove_boilerplate_lines(f"Talks resumed on Monday in Istanbul.\n{line}")
    assert (kept, removed, credits) == ("Talks resumed on Monday in Istanbul.", 1, agencies)


@pytest.mark.parametrize(
    ("first", "rest", "agency"),
    [
        ("KYIV, Ukraine (AP) — Russian forces", "Russian forces", "Associated Press"),
        ("NEW YORK, March 21 (Reuters) - Oil prices", "Oil prices", "Reuters"),
        ("(CNN) — A judge", "A judge", "CNN"),
    ],
)
def test_inline_wire_tag_is_cut_from_the_first_paragraph(first, rest, agency):
    text = f"{first} rose on Tuesday after the announcement.\nKYIV (AP) — a second dateline stays."
    kept, removed, credits = remove_boilerplate_lines(text)
    assert kept == f"{rest} rose on Tuesday after the announcement.\nKYIV (AP) — a second dateline stays."
    assert (removed, credits) == (0, [agency])


@pytest.mark.parametrize(
    "sentence",
    [
        "The deal was first reported by Reuters on Monday.",
        "The Associated Press reported that three people were injured.",
        "Reporting by the Guardian showed the minister had misled parliament.",
        "The doctors contributed money and raised more from friends.",
        "Subscribers to the service rose 5% in the quarter. Subscribe now, the chief executive urged investors.",
        "Sign-ups for the programme doubled, officials said.",
        "Follow the money, the investigators said.",
        "By Monday, officials had counted 400 votes.",
        "Unemployment rose to 5.1% in March (Source: ONS)",
        "The photo (taken in 2019) shows the mayor at the opening.",
        "WHAT HAPPENS NEXT?",
        "HOW TO APPLY FOR THE GRANT",
        "NATO and the EU said on Tuesday they would send more aid.",
        "| HD | THE HOME DEPOT INC. | 225.86 | -12.99 | -5.44% |",
    ],
)
def test_real_sentences_and_subheads_are_kept(sentence):
    assert remove_boilerplate_lines(sentence) == (sentence, 0, [])


def test_extra_promo_patterns_drop_whole_matching_lines():
    text = "Police closed the road.\nTip us off at tips@example.com\nThe road reopened at noon."
    assert remove_boilerplate_lines(text, [r"Tip us off at \S+"]) == (
        "Police closed the road.\nThe road reopened at noon.",
        1,
        [],
    )
    # A pattern must match the whole line, not a part of a sentence.
    assert remove_boilerplate_lines(text, [r"road"])[1] == 0


def test_invalid_extra_pattern_fails_when_the_pipeline_is_built():
    with pytest.raises(ValueError, match="extra_promo_patterns"):
        CleanDocuments(CleanConfig(extra_promo_patterns=["(unclosed"]), RUN_ID, INGESTED)


# ---------------------------------------------------------------- language, URL, ids


def test_detect_language_gives_iso_639_1_or_none():
    assert detect_language("The council approved the budget after a long debate on Monday evening.") == "en"
    assert detect_language("Der Stadtrat hat den Haushalt nach einer langen Debatte beschlossen.") == "de"
    assert detect_language("Le conseil municipal a approuvé le budget après un long débat lundi soir.") == "fr"
    assert detect_language("") is None
    assert detect_language("1234 5678 — 42") is None


def test_an_unsure_short_sample_leaves_the_language_to_the_longer_one():
    # An Italian article behind an English opening: the first 500 characters lean English,
    # but not surely, so the first 1,000 (mostly Italian) decide, as they always did.
    english = "The city council approved the new budget on Monday after a long debate about schools. " * 5
    italian = "Il consiglio comunale ha approvato il nuovo bilancio lunedì dopo un lungo dibattito. " * 10
    text = english[:400] + italian
    identifier = language_identifier()
    assert identifier.classify(text[:500])[0] == "en"
    assert identifier.classify(text[:1000])[0] == "it"
    assert detect_language(text) == "it"


LANGUAGE_SAMPLES = [
    "The council approved the budget after a long debate on Monday evening.",
    "Der Stadtrat hat den Haushalt nach einer langen Debatte beschlossen.",
    "Москва приняла бюджет после долгих споров в понедельник вечером.",
    "東京都議会は月曜日の夜、長い議論の末に予算を承認した。",
]


def test_the_unpacked_language_model_scores_exactly_as_the_packaged_one(tmp_path, monkeypatch):
    from py3langid import modelio
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

    from transforms import language

    monkeypatch.setenv(language.CACHE_DIR_VARIABLE, str(tmp_path))
    packaged = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    assert language._unpacked_model(MODEL_DIR / MODEL_FILE) is not None  # unpacks into tmp_path
    assert list(tmp_path.glob("py3langid-*/manifest.json"))

    def no_unpacking(path):
        raise AssertionError("the unpacked copy should have been used")

    # A later process reads the copy and never decompresses the package's file again.
    monkeypatch.setattr(modelio, "load_model", no_unpacking)
    ptc, pc, classes, nextmove, row, output = language._unpacked_model(MODEL_DIR / MODEL_FILE)
    unpacked = LanguageIdentifier(ptc, pc, classes, nextmove, output, norm_probs=True, tk_row=row)
    for text in LANGUAGE_SAMPLES:
        assert unpacked.rank(text) == packaged.rank(text)


def test_a_damaged_language_cache_is_made_again_and_an_unwritable_one_is_done_without(tmp_path, monkeypatch):
    from py3langid.langid import MODEL_DIR, MODEL_FILE

    from transforms import language

    monkeypatch.setenv(language.CACHE_DIR_VARIABLE, str(tmp_path / "cache"))
    assert language._unpacked_model(MODEL_DIR / MODEL_FILE) is not None
    (nextmove,) = (tmp_path / "cache").glob("py3langid-*/nextmove.bin")
    size = nextmove.stat().st_size
    with open(nextmove, "r+b") as handle:  # cut short, as a full disk would leave it
        handle.truncate(size // 2)
    ptc, pc, classes, automaton, row, output = language._unpacked_model(MODEL_DIR / MODEL_FILE)
    assert nextmove.stat().st_size == size and len(automaton) * automaton.itemsize == size
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv(language.CACHE_DIR_VARIABLE, str(blocker / "cache"))
    assert language._unpacked_model(MODEL_DIR / MODEL_FILE) is None  # language_identifier then loads the package's file
    # No cache folder can be named at all (an arbitrary container user: no $HOME, no passwd entry).
    monkeypatch.delenv(language.CACHE_DIR_VARIABLE)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)

    def no_home():
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(language.Path, "home", staticmethod(no_home))
    assert language._unpacked_model(MODEL_DIR / MODEL_FILE) is None


def test_canonical_url_drops_what_does_not_identify_the_page():
    assert (
        canonical_url("HTTPS://News.Example.COM:443/world/story-1/?id=7&utm_source=tw&fbclid=x&gclid=y#comments")
        == "https://news.example.com/world/story-1?id=7"
    )
    assert canonical_url("http://example.com:8080/a/") == "http://example.com:8080/a"
    assert canonical_url("http://example.com/") == canonical_url("http://EXAMPLE.com") == "http://example.com"
    assert canonical_url("https://example.com/Path/Case?b=2&a=1") == "https://example.com/Path/Case?b=2&a=1"
    assert canonical_url(None) is None
    assert canonical_url("   ") is None


def test_doc_id_is_stable_and_follows_the_canonical_url():
    url_id = make_doc_id("https://example.com/story/?utm_medium=email", "one text")
    assert url_id == make_doc_id("https://EXAMPLE.com/story#top", "another text")
    assert re.fullmatch(r"[0-9a-f]{16}", url_id)
    assert make_doc_id(None, "Same  words\n\nhere") == make_doc_id(None, "Same words\nhere")
    assert make_doc_id(None, "Same words here") != make_doc_id(None, "Other words here")


# ---------------------------------------------------------------- HTML

ARTICLE_PARAGRAPHS = [
    "A container crane collapsed onto the quay at the northern terminal early on Tuesday, forcing the port "
    "authority to suspend all cargo handling for at least seven days while engineers inspect the remaining cranes.",
    "No one was injured, the authority said, because the night shift had ended twenty minutes before the boom "
    "gave way. Dock workers described hearing a sound like thunder as the steel structure folded onto two trailers.",
    '"We are treating this as a serious structural failure," said harbour master Jonas Berg. "Until every crane '
    'of the same model has been checked, none of them will lift a single box."',
    "Shipping lines have begun diverting vessels to neighbouring ports, and the regional chamber of commerce "
    "estimated that the closure could delay deliveries worth several million euros to local factories.",
]
PAGE_FURNITURE = ["cookies", "Accept all", "Home", "Sport", "Most read", "ferry timetable", "Privacy policy", "©"]
PAGE = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Harbour crane collapse closes port for a week | Harbour Gazette</title>
<meta property="og:site_name" content="Harbour Gazette">
<meta property="og:title" content="Harbour crane collapse closes port for a week">
<meta name="author" content="Maria Lindqvist">
<meta property="article:published_time" content="2024-03-05T14:30:00+01:00">
<link rel="canonical" href="https://www.harbourgazette.example/news/2024/03/05/crane-collapse/">
</head><body>
<div id="cookie-banner" class="cookie-consent"><p>We use cookies to improve your experience and to show you
personalised advertising. By continuing to browse you agree to our use of cookies.</p>
<button>Accept all cookies</button><button>Manage preferences</button></div>
<header><nav class="main-nav"><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li>
<li><a href="/sport">Sport</a></li><li><a href="/business">Business</a></li></ul></nav></header>
<main><article><h1>Harbour crane collapse closes port for a week</h1>
<p class="byline">By <span class="author">Maria Lindqvist</span></p>
{"".join(f"<p>{p}</p>" for p in ARTICLE_PARAGRAPHS)}
<p>A Ukrainian-built crane of the same model stands idle. (AP Photo/File)</p>
</article>
<aside class="most-read"><h2>Most read</h2><ul><li><a href="/a">Council approves new ferry timetable</a></li>
<li><a href="/b">Storm warning for the weekend</a></li></ul></aside></main>
<footer><p>&copy; 2024 Harbour Gazette Ltd. All rights reserved.</p><ul><li><a href="/privacy">Privacy policy</a></li>
<li><a href="/terms">Terms of use</a></li></ul></footer>
</body></html>"""


def test_extract_html_reads_the_article_and_its_metadata():
    found = extract_html(PAGE)
    for paragraph in ARTICLE_PARAGRAPHS:
        assert paragraph in found["text"]
    for furniture in PAGE_FURNITURE:
        assert furniture not in found["text"], furniture
    assert found["title"] == "Harbour crane collapse closes port for a week"
    assert found["authors"] == ["Maria Lindqvist"]
    assert found["outlet"] == "Harbour Gazette"
    assert found["url"] == "https://www.harbourgazette.example/news/2024/03/05/crane-collapse/"
    # The canonical URL carries only the day; the page states the time, which is kept.
    assert found["published_at"] == dt.datetime(2024, 3, 5, 13, 30, tzinfo=dt.timezone.utc)


def test_clean_document_html_uses_page_metadata_when_the_user_gave_none():
    article = clean_document(html_document(PAGE), CFG, RUN_ID, INGESTED)
    assert article["text"].split("\n") == ARTICLE_PARAGRAPHS  # title line, caption and furniture gone
    assert article["removed_lines"] == 2  # the repeated title and the caption
    assert article["wire_credits"] == ["Associated Press"]
    assert (article["title"], article["outlet"], article["authors"]) == (
        "Harbour crane collapse closes port for a week",
        "Harbour Gazette",
        ["Maria Lindqvist"],
    )
    assert (article["date_source"], article["date"]) == ("html", "2024-03-05")
    assert article["doc_id"] == make_doc_id("https://www.harbourgazette.example/news/2024/03/05/crane-collapse", "")
    assert article["doc_id"] != make_doc_id(None, article["text"])


def test_clean_document_user_metadata_wins_over_the_page():
    published = dt.datetime(2024, 3, 6, 1, 30, tzinfo=dt.timezone(dt.timedelta(hours=3)))
    raw = html_document(
        PAGE,
        url="https://mirror.example/crane",
        title="Crane collapse",
        outlet="Port Weekly",
        authors=["Desk"],
        published_at=published,
        date_source="sidecar",
    )
    article = clean_document(raw, CFG, RUN_ID, INGESTED)
    assert (article["url"], article["title"], article["outlet"], article["authors"]) == (
        "https://mirror.example/crane",
        "Crane collapse",
        "Port Weekly",
        ["Desk"],
    )
    # 01:30 at UTC+3 is the evening before in UTC: the partition date follows UTC.
    assert article["published_at"] == dt.datetime(2024, 3, 5, 22, 30, tzinfo=dt.timezone.utc)
    assert (article["date_source"], article["date"]) == ("sidecar", "2024-03-05")
    assert article["doc_id"] == make_doc_id("https://mirror.example/crane", "")


def test_agency_author_counts_as_a_wire_credit_but_a_namesake_does_not():
    agency = text_document(" ".join(ARTICLE_PARAGRAPHS), authors=["Associated Press", "Jane Doe"])
    assert clean_document(agency, CFG, RUN_ID, INGESTED)["wire_credits"] == ["Associated Press"]
    columnist = text_document(" ".join(ARTICLE_PARAGRAPHS), authors=["Michael Bloomberg"])
    assert clean_document(columnist, CFG, RUN_ID, INGESTED)["wire_credits"] == []


# ---------------------------------------------------------------- bad input

NO_ARTICLE_PAGE = """<html><head><title>Harbour Gazette</title></head><body>
<nav><a href="/">Home</a> <a href="/news">News</a> <a href="/sport">Sport</a></nav>
<footer>&copy; 2024 Harbour Gazette</footer></body></html>"""
IMAGE_ONLY_PAGE = """<html><head><title>Gallery</title><script>var gallery = [1, 2, 3];</script></head>
<body><div class="gallery"><img src="/a.jpg" alt=""><img src="/b.jpg" alt=""></div></body></html>"""
BAD_DOCUMENTS = [
    (text_document("", source="empty.txt"), "empty"),
    (text_document(" \n\t\u00a0\n", source="blank.txt"), "empty"),
    (html_document(IMAGE_ONLY_PAGE, source="image-only.html"), "no_article_text"),
    # trafilatura keeps the menu words here; far too few to be an article.
    (html_document(NO_ARTICLE_PAGE, source="nav-only.html"), "too_short"),
    (text_document("Police closed the road on Monday.", source="short.txt"), "too_short"),
    (text_document("Sign up for our newsletter\nADVERTISEMENT", source="promo-only.txt"), "too_short"),
    ({**text_document("Some text"), "source": "feed.xml", "format": "rss"}, "unsupported_format"),
]


@pytest.mark.parametrize(("raw", "error_type"), BAD_DOCUMENTS, ids=[raw["source"] for raw, _ in BAD_DOCUMENTS])
def test_bad_documents_raise_clean_errors(raw, error_type):
    with pytest.raises(CleanError) as caught:
        clean_document(raw, CFG, RUN_ID, INGESTED)
    assert caught.value.error_type == error_type


def test_min_words_comes_from_the_config():
    raw = text_document("Police closed the road — at 5 a.m. — on Monday.")  # dashes are not words
    assert clean_document(raw, CleanConfig(min_words=9), RUN_ID, INGESTED)["word_count"] == 9
    with pytest.raises(CleanError):
        clean_document(raw, CleanConfig(min_words=10), RUN_ID, INGESTED)


# ---------------------------------------------------------------- Beam


def _counter(result, name: str) -> int:
    query = result.metrics().query(MetricsFilter().with_namespace("newsbeam").with_name(name))
    return sum(c.committed if c.committed is not None else c.attempted for c in query["counters"])


def test_clean_documents_transform_splits_articles_and_errors(seed_documents, seed_articles):
    broken = {**text_document("x"), "source": "broken.txt", "content": 12345}  # a read-stage bug, not a crash
    inputs = [*seed_documents.values(), *(raw for raw, _ in BAD_DOCUMENTS), broken]

    p = TestPipeline()
    articles, errors = p | beam.Create(inputs) | CleanDocuments(CFG, RUN_ID, INGESTED)
    assert_that(
        articles | "ArticleKeys" >> beam.Map(lambda a: (a["source"], a["doc_id"], tuple(a["wire_credits"]))),
        equal_to([(a["source"], a["doc_id"], tuple(a["wire_credits"])) for a in seed_articles.values()]),
        label="CheckArticles",
    )
    assert_that(
        errors | "ErrorKeys" >> beam.Map(lambda e: (e["source"], e["stage"], e["error_type"])),
        equal_to(
            [(raw["source"], "clean", error_type) for raw, error_type in BAD_DOCUMENTS]
            + [("broken.txt", "clean", "exception")]
        ),
        label="CheckErrors",
    )
    result = p.run()
    result.wait_until_finish()

    assert _counter(result, "clean_kept") == len(seed_documents)
    assert _counter(result, "clean_rejected_empty") == 2
    assert _counter(result, "clean_rejected_too_short") == 3
    assert _counter(result, "clean_rejected_no_article_text") == 1
    assert _counter(result, "clean_rejected_unsupported_format") == 1
    assert _counter(result, "clean_rejected_exception") == 1


_SENTENCES = {
    "en": "The city council met on Tuesday evening to discuss the new budget for schools, roads and public "
    "libraries in the northern district of the town. Item {i}.",
    "de": "Der Stadtrat traf sich am Dienstagabend, um über den neuen Haushalt für Schulen, Straßen und "
    "öffentliche Bibliotheken im nördlichen Bezirk der Stadt zu beraten. Punkt {i}.",
    "fr": "Le conseil municipal s'est réuni mardi soir pour discuter du nouveau budget des écoles, des routes "
    "et des bibliothèques publiques du quartier nord de la ville. Point {i}.",
}


def test_languages_told_in_batches_reach_every_article_in_its_own_window():
    # More documents than one language batch holds, with timestamps spread over windows: each
    # article leaves with its language, its window and its timestamp, batch or bundle end.
    from apache_beam.transforms.window import FixedWindows, TimestampedValue

    from transforms.clean import LANGUAGE_BATCH

    count = 2 * LANGUAGE_BATCH + 22
    languages = list(_SENTENCES)
    documents = [
        (text_document(_SENTENCES[languages[i % 3]].format(i=i), source=f"d{i}.txt"), i * 10) for i in range(count)
    ]
    p = TestPipeline()
    articles, errors = (
        p
        | beam.Create(documents)
        | "Stamp" >> beam.Map(lambda pair: TimestampedValue(*pair))
        | beam.WindowInto(FixedWindows(100))
        | CleanDocuments(CFG, RUN_ID, INGESTED)
    )
    placed = articles | "Place" >> beam.Map(
        lambda a, w=beam.DoFn.WindowParam, t=beam.DoFn.TimestampParam: (
            a["source"],
            a["language"],
            int(w.start),
            int(t),
        )
    )
    assert_that(
        placed,
        equal_to([(f"d{i}.txt", languages[i % 3], (i * 10) // 100 * 100, i * 10) for i in range(count)]),
        label="CheckPlaced",
    )
    assert_that(errors, equal_to([]), label="NoErrors")
    p.run().wait_until_finish()


def test_a_failure_telling_the_language_rejects_that_document_only(monkeypatch):
    from apache_beam.transforms.window import GlobalWindow
    from apache_beam.utils.timestamp import MIN_TIMESTAMP

    import transforms.clean as clean_module

    real = clean_module.detect_language

    def failing_on_item_3(text: str):
        if "Item 3." in text:
            raise RuntimeError("identifier broke")
        return real(text)

    monkeypatch.setattr(clean_module, "detect_language", failing_on_item_3)
    fn = clean_module._CleanFn(CFG, RUN_ID, INGESTED)
    fn.setup()
    fn.start_bundle()
    outputs = []
    for i in range(5):
        raw = text_document(_SENTENCES["en"].format(i=i), source=f"d{i}.txt")
        outputs += list(fn.process(raw, MIN_TIMESTAMP, GlobalWindow()))
    assert outputs == []  # waiting for the batch
    outputs += list(fn.finish_bundle())
    kept = [o.value["source"] for o in outputs if not isinstance(o, beam.pvalue.TaggedOutput)]
    rejected = [
        (o.tag, o.value.value["source"], o.value.value["error_type"])
        for o in outputs
        if isinstance(o, beam.pvalue.TaggedOutput)
    ]
    assert kept == ["d0.txt", "d1.txt", "d2.txt", "d4.txt"]
    assert rejected == [("errors", "d3.txt", "exception")]


def test_error_rows_carry_the_reason_and_an_excerpt():
    p = TestPipeline()
    _, errors = (
        p | beam.Create([text_document("Too short to keep.", source="s.txt")]) | CleanDocuments(CFG, RUN_ID, INGESTED)
    )
    assert_that(
        errors,
        equal_to(
            [
                {
                    "source": "s.txt",
                    "stage": "clean",
                    "error_type": "too_short",
                    "message": "4 words after cleaning, fewer than min_words=20",
                    "excerpt": "Too short to keep.",
                }
            ]
        ),
        label="CheckErrorRow",
    )
    p.run().wait_until_finish()


# ---------------------------------------------------------------- extraction quality (real pages)


def _load_benchmark():
    path = REPO / "benchmarks" / "extraction_quality_html.py"
    spec = importlib.util.spec_from_file_location("extraction_quality_html", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_boilerplate_removal_does_not_lower_extraction_quality(eval_dir):
    data = eval_dir / "extraction_scrapinghub"
    if not (data / "ground-truth.json").is_file():
        pytest.skip(f"scrapinghub extraction benchmark not found at {data}")
    bench = _load_benchmark()
    html, urls, truth = bench.load_pages(data)
    scores = {
        name: bench.evaluate(truth, {key: bench.EXTRACTORS[name](html[key], urls[key]) for key in truth})
        for name in ("extract_html", "clean_stage")
    }
    assert scores["clean_stage"]["mean_page_f1"] >= scores["extract_html"]["mean_page_f1"]
    # trafilatura with its default settings scores about 0.953 here; the chosen setting must not be worse.
    assert scores["extract_html"]["mean_page_f1"] >= 0.953
    assert scores["clean_stage"]["empty_pages"] == 0


def test_teaser_then_call_to_action_is_promo_but_reported_speech_is_kept():
    from transforms.clean import boilerplate_reason

    assert boilerplate_reason("Get the best of our journalism every weekday: sign up for our newsletter here.")
    assert boilerplate_reason("The minister said: sign up was slow because the forms were long.") is None
