"""Feeds: parsing (RSS, Atom, JSON Feed, OPML), entries -> raw documents, and the polite, safe
HTTP client, against a real HTTP server on 127.0.0.1.

No test contacts any address outside 127.0.0.0/8: every URL is an IP literal on the local
server (or a refused address that is never connected to), and feeds whose entries link to
real sites are read with ``fetch_pages=False``.
"""

from __future__ import annotations

import datetime as dt
import glob
import gzip
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.config import CleanConfig
from schemas.feeds_config import FeedConfig
from schemas.records import parse_timestamp
from transforms.clean import clean_document
from transforms.feeds import (
    FeedError,
    ReadFeeds,
    entry_to_raw_document,
    fetch_entry_page,
    parse_feed,
    parse_opml,
    read_feed_source,
    source_spec,
)
from transforms.http import (
    PoliteClient,
    address_refusal,
    commit_validator_state,
    load_validator_state,
    save_validator_state,
    stage_validator_updates,
    url_refusal,
    validators_for_request,
)

PARAGRAPH = (
    "The city council approved the new budget on Tuesday after a long debate about spending on "
    "schools, roads and parks, and officials said the plan would take effect in the spring. "
)
ARTICLE_HTML = (
    "<html><head><title>{title}</title>{meta}</head><body><nav>Home | World | Sport</nav>"
    "<article><h1>{title}</h1>" + "".join(f"<p>{PARAGRAPH}Part {i}.</p>" for i in range(8)) + "</article>"
    "<footer>Copyright Example News</footer></body></html>"
)
FULL_CONTENT = "".join(f"<p>{PARAGRAPH}Section {i}.</p>" for i in range(6))  # about 190 words
INGESTED_AT = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.timezone.utc)


def fast_config(**overrides) -> FeedConfig:
    """Short timeouts and no politeness delay, so fault tests stay quick."""
    values = dict(
        per_host_delay=0.0,
        backoff_base=0.05,
        max_retry_wait=5.0,
        connect_timeout=2.0,
        read_timeout=2.0,
        total_timeout=10.0,
        max_retries=2,
    )
    values.update(overrides)
    return FeedConfig(**values)


# ---------------------------------------------------------------- a real local HTTP server


class LocalServer:
    """A threaded http.server on 127.0.0.1 with per-path responders and a request log."""

    def __init__(self):
        self.routes: dict[str, object] = {}
        self.requests: list[tuple[str, dict]] = []
        self.connections = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self):  # noqa: N802 - http.server's naming
                path = self.path.split("?")[0]
                owner.requests.append((path, {k.lower(): v for k, v in self.headers.items()}))
                responder = owner.routes.get(path)
                try:
                    if responder is None:
                        send(self, 404, b"not found", "text/plain")
                    else:
                        responder(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading (size cap, timeout): expected

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def verify_request(self, request, client_address):
                owner.connections += 1
                return True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"http://{self.host}{path}"

    def hits(self, path: str) -> list[dict]:
        return [headers for p, headers in self.requests if p == path]

    def close(self):
        self._server.shutdown()
        self._server.server_close()


def send(handler, status: int, body: bytes, content_type: str = "text/html; charset=utf-8", headers=None):
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


def static(body: bytes | str, content_type: str = "application/rss+xml; charset=utf-8", status: int = 200, **headers):
    data = body.encode("utf-8") if isinstance(body, str) else body
    return lambda handler: send(
        handler, status, data, content_type, {k.replace("_", "-"): v for k, v in headers.items()}
    )


def in_turn(*responders):
    """Each request gets the next responder; the last one repeats."""
    calls = []

    def respond(handler):
        calls.append(1)
        responders[min(len(calls), len(responders)) - 1](handler)

    return respond


def redirect(location: str, status: int = 302):
    return lambda handler: send(handler, status, b"", "text/plain", {"Location": location})


@pytest.fixture
def server():
    local = LocalServer()
    yield local
    local.close()


@pytest.fixture
def other_server():
    local = LocalServer()
    yield local
    local.close()


def client_for(server: LocalServer, cfg: FeedConfig | None = None, sleeps: list | None = None) -> PoliteClient:
    def recording_sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)
        time.sleep(seconds)

    return PoliteClient(cfg or fast_config(), [server.host], sleep=recording_sleep)


def rss(items: list[dict], title: str = "Example News") -> str:
    """A small RSS 2.0 feed; each item may have title, link, description, content, pubDate, guid."""
    parts = []
    for item in items:
        fields = [f"<title>{item.get('title', 'A story')}</title>"]
        if "link" in item:
            fields.append(f"<link>{item['link']}</link>")
        if "guid" in item:
            # Not a permalink: feedparser would otherwise take a bare guid for the entry's link.
            fields.append(f'<guid isPermaLink="false">{item["guid"]}</guid>')
        if "description" in item:
            fields.append(f"<description><![CDATA[{item['description']}]]></description>")
        if "content" in item:
            fields.append(f"<content:encoded><![CDATA[{item['content']}]]></content:encoded>")
        if "pubDate" in item:
            fields.append(f"<pubDate>{item['pubDate']}</pubDate>")
        if "author" in item:
            fields.append(f"<dc:creator>{item['author']}</dc:creator>")
        parts.append("<item>" + "".join(fields) + "</item>")
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        f"<title>{title}</title><link>http://news.example/</link><description>d</description>"
        + "".join(parts)
        + "</channel></rss>"
    )


def kinds(outcomes) -> list[str]:
    return [kind for kind, _ in outcomes]


def only(outcomes, kind: str) -> list:
    return [value for k, value in outcomes if k == kind]


def remote(url: str) -> dict:
    return source_spec(url)


def single_error(outcomes) -> dict:
    errors = only(outcomes, "error")
    assert len(errors) == 1, outcomes
    assert errors[0]["stage"] == "read"
    return errors[0]


# ---------------------------------------------------------------- parsing real-world feeds


@pytest.fixture(scope="module")
def feed_rs(eval_dir) -> Path:
    folder = eval_dir / "feeds" / "feed_rs"
    if not folder.is_dir():
        pytest.skip(f"feed_rs fixtures not found at {folder}")
    return folder


def test_feed_rs_fixtures_parse_to_the_entries_their_expectations_list(feed_rs):
    """Each feed_rs fixture carries another parser's result (*.serde.json): same entry count,
    titles and publication times (to the second), and links (relative ones resolved)."""
    checked = 0
    for expected_path in sorted(glob.glob(str(feed_rs / "*" / "*.serde.json"))):
        suffix = ".json" if "/jsonfeed/" in expected_path else ".xml"
        feed_path = expected_path.replace(".serde.json", suffix)
        expected = json.loads(Path(expected_path).read_text(encoding="utf-8"))
        meta, entries, _bozo = parse_feed(Path(feed_path).read_bytes(), "https://feeds.example/feed")
        assert len(entries) == len(expected["entries"]), feed_path
        for want, got in zip(expected["entries"], entries):
            title = (want.get("title") or {}).get("content")
            if title:
                assert " ".join((got["title"] or "").split()) == " ".join(title.split()), feed_path
            when = want.get("published") or want.get("updated")
            if when:
                assert got["published_at"] == parse_timestamp(when).replace(microsecond=0), feed_path
            hrefs = [link["href"] for link in want.get("links", [])]
            if hrefs and got["link"] not in hrefs:
                # Where the fixture keeps a relative link or odd host casing, ours is resolved.
                assert any(got["link"].lower().endswith(h.lower().lstrip("/").rstrip("/")) for h in hrefs), feed_path
        checked += 1
    assert checked >= 60


def test_invalid_feed_rs_feed_is_one_bozo_error_row(feed_rs):
    path = feed_rs / "rss2" / "rss_2.0_invalid_1.xml"
    error = single_error(read_feed_source(source_spec(str(path)), None, FeedConfig()))
    assert error["error_type"] == "bozo" and error["source"] == str(path)
    assert "no entries recovered" in error["message"]


def test_feed_rs_feeds_served_over_http_become_raw_documents(server, feed_rs):
    """Real publishers' feeds (BBC RSS, Atom, JSON Feed) fetched from the local server; their
    entries link to real sites, so pages are not fetched and summaries stand in."""
    server.routes["/bbc.xml"] = static((feed_rs / "rss2" / "rss_2.0_bbc.xml").read_bytes())
    server.routes["/reddit.xml"] = static(
        (feed_rs / "atom" / "atom_example_reddit.xml").read_bytes(), "application/atom+xml"
    )
    server.routes["/df.json"] = static(
        (feed_rs / "jsonfeed" / "jsonfeed_example_1.json").read_bytes(), "application/feed+json"
    )
    cfg = fast_config(fetch_pages=False)
    client = client_for(server, cfg)

    bbc = only(read_feed_source(remote(server.url("/bbc.xml")), client, cfg), "document")
    assert len(bbc) == 1
    assert bbc[0]["outlet"] == "In Our Time" and bbc[0]["title"] == "Marcus Aurelius"
    assert bbc[0]["url"] == "http://www.bbc.co.uk/programmes/m000sjxt"
    assert bbc[0]["published_at"] == dt.datetime(2021, 2, 25, 10, 15, tzinfo=dt.timezone.utc)
    assert bbc[0]["date_source"] == "feed" and bbc[0]["format"] == "text"  # a plain-text description
    assert bbc[0]["source"] == server.url("/bbc.xml") + "#urn:bbc:podcast:m000sjxt"

    reddit = only(read_feed_source(remote(server.url("/reddit.xml")), client, cfg), "document")
    assert reddit[0]["outlet"] == "The Rust Programming Language" and reddit[0]["authors"]

    daring = only(read_feed_source(remote(server.url("/df.json")), client, cfg), "document")
    assert [d["outlet"] for d in daring] == ["Daring Fireball", "Daring Fireball"]
    assert all(d["url"].startswith("https://daringfireball.net/") for d in daring)
    assert all(d["published_at"] is not None and d["date_source"] == "feed" for d in daring)


# ---------------------------------------------------------------- entries -> raw documents


def test_entry_with_full_content_is_an_html_document_with_the_feed_metadata():
    data = rss(
        [
            {
                "title": "Budget approved",
                "link": "http://news.example/budget",
                "guid": "budget-1",
                "description": "A short teaser.",
                "content": FULL_CONTENT,
                "pubDate": "Tue, 24 Nov 2026 09:30:00 +0100",
                "author": "Jane Doe",
            }
        ]
    ).encode()
    meta, entries, bozo = parse_feed(data, "http://news.example/feed")
    assert bozo is None
    raw = entry_to_raw_document(entries[0], meta, "http://news.example/feed")
    assert raw["format"] == "html" and "Section 5." in raw["content"]
    assert raw["url"] == "http://news.example/budget" and raw["title"] == "Budget approved"
    assert raw["outlet"] == "Example News" and raw["authors"] == ["Jane Doe"]
    assert raw["published_at"] == dt.datetime(2026, 11, 24, 8, 30, tzinfo=dt.timezone.utc)
    assert raw["date_source"] == "feed" and raw["source"] == "http://news.example/feed#budget-1"
    article = clean_document(raw, CleanConfig(), "run", INGESTED_AT)
    assert article["date_source"] == "feed" and "Section 5." in article["text"]


def test_entry_with_only_a_summary_needs_its_page_and_one_without_link_keeps_the_summary():
    data = rss(
        [
            {"title": "Teaser", "link": "http://news.example/a", "description": "Read the full story."},
            {"title": "No link", "description": "A paragraph without any link to a page."},
            {"title": "Nothing at all"},
        ]
    ).encode()
    meta, entries, _ = parse_feed(data, "http://news.example/feed")
    assert entry_to_raw_document(entries[0], meta, "feed") is None
    assert entry_to_raw_document(entries[0], meta, "feed", use_summary=True)["content"] == "Read the full story."
    assert entry_to_raw_document(entries[1], meta, "feed")["content"].startswith("A paragraph")
    with pytest.raises(FeedError) as excinfo:
        entry_to_raw_document(entries[2], meta, "feed")
    assert excinfo.value.error_type == "empty_entry"


def test_updated_date_and_localised_weekday_are_used_when_published_is_missing():
    atom = (
        '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Atom News</title>'
        "<entry><id>urn:1</id><title>One</title><updated>2026-01-02T03:04:05Z</updated>"
        f'<content type="html"><![CDATA[{FULL_CONTENT}]]></content></entry></feed>'
    ).encode()
    meta, entries, _ = parse_feed(atom, "http://news.example/atom")
    assert entries[0]["published_at"] == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    assert entry_to_raw_document(entries[0], meta, "x")["format"] == "html"
    italian = rss([{"title": "Uno", "guid": "1", "description": "x", "pubDate": "mer, 16 nov 2022 00:38:15 +0100"}])
    _, entries, _ = parse_feed(italian.encode(), "http://news.example/it")
    assert entries[0]["published_at"] == dt.datetime(2022, 11, 15, 23, 38, 15, tzinfo=dt.timezone.utc)


def test_json_feed_items_with_html_text_and_relative_urls():
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "JSON News",
        "items": [
            {
                "id": "1",
                "url": "/posts/1",
                "content_html": FULL_CONTENT,
                "date_published": "2026-03-01T10:00:00+02:00",
                "authors": [{"name": "Ann"}],
                "title": "First",
            },
            {"id": "2", "url": "https://json.example/posts/2", "content_text": "Plain words. " * 60},
            {"id": "3", "external_url": "https://elsewhere.example/3", "summary": "Short."},
            "not an object",
        ],
    }
    meta, entries, bozo = parse_feed(json.dumps(feed).encode(), "https://json.example/feed.json")
    assert meta["title"] == "JSON News" and meta["version"] == "json11"
    assert "item 3 is not an object" in bozo
    first = entry_to_raw_document(entries[0], meta, meta["url"])
    assert first["url"] == "https://json.example/posts/1" and first["authors"] == ["Ann"]
    assert first["published_at"] == dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.timezone.utc)
    assert entry_to_raw_document(entries[1], meta, meta["url"])["format"] == "text"
    assert entry_to_raw_document(entries[2], meta, meta["url"]) is None  # a summary: fetch the page


def test_bozo_feed_with_recovered_entries_adds_a_feed_stage_note_not_a_rejection(tmp_path):
    broken = rss([{"title": "Kept & recovered", "guid": "g1", "description": "Words here."}]).replace(
        "</channel></rss>", ""
    )
    path = tmp_path / "broken.xml"
    path.write_text(broken, encoding="utf-8")
    outcomes = read_feed_source(source_spec(str(path)), None, FeedConfig())
    assert kinds(outcomes) == ["note", "document"]
    note = only(outcomes, "note")[0]
    assert note["stage"] == "feed" and note["error_type"] == "bozo" and "1 entries recovered" in note["message"]


def test_html_page_given_as_a_feed_is_not_a_feed(tmp_path):
    path = tmp_path / "page.xml"
    path.write_text("<html><body><p>Hello</p></body></html>", encoding="utf-8")
    error = single_error(read_feed_source(source_spec(str(path)), None, FeedConfig()))
    assert error["error_type"] in ("not_a_feed", "bozo")


BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE rss [\n <!ENTITY lol "lol">\n'
    + "".join(f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n' for i in range(1, 10))
    + ']>\n<rss version="2.0"><channel><title>&lol9;</title><item><title>t</title>'
    "<description>&lol9;</description></item></channel></rss>"
)
QUADRATIC_BLOWUP = (
    '<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY a "' + "A" * 50_000 + '">\n]>\n'
    '<rss version="2.0"><channel><title>t</title><item><title>t</title><description>'
    + "&a;" * 50_000
    + "</description></item></channel></rss>"
)


@pytest.mark.parametrize("document", [BILLION_LAUGHS, QUADRATIC_BLOWUP], ids=["billion_laughs", "quadratic"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_entity_expansion_bombs_are_refused_before_parsing(tmp_path, document, encoding):
    # Unguarded, feedparser spends minutes and gigabytes on the quadratic one.
    path = tmp_path / "bomb.xml"
    path.write_bytes(document.encode(encoding))
    error = single_error(read_feed_source(source_spec(str(path)), None, FeedConfig()))
    assert error["error_type"] == "xml_bomb"
    with pytest.raises(FeedError, match="xml_bomb"):
        parse_opml(document.replace("rss", "opml").encode())


def test_declared_entities_of_ordinary_size_still_parse():
    feed = (
        '<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY copy "&#169;">\n<!ENTITY site "Example">\n]>\n'
        '<rss version="2.0"><channel><title>&site; News &copy;</title><item><guid>1</guid><title>&site;</title>'
        "<description>Words.</description></item></channel></rss>"
    )
    meta, entries, _ = parse_feed(feed.encode(), "x")
    assert meta["title"] == "Example News ©" and entries[0]["title"] == "Example"


# ---------------------------------------------------------------- OPML


def opml(urls: list[str]) -> str:
    outlines = "".join(f'<outline text="f{i}" type="rss" xmlUrl="{u}"/>' for i, u in enumerate(urls))
    return f'<?xml version="1.0"?><opml version="2.0"><head><title>subs</title></head><body>{outlines}</body></opml>'


def test_local_opml_listing_two_local_feeds(tmp_path):
    (tmp_path / "feeds").mkdir()
    (tmp_path / "feeds" / "one.xml").write_text(rss([{"guid": "a", "description": "First feed item."}], "One"))
    (tmp_path / "two.xml").write_text(rss([{"guid": "b", "description": "Second feed item."}], "Two"))
    subscriptions = tmp_path / "subs.opml"
    subscriptions.write_text(opml(["feeds/one.xml", f"file://{tmp_path / 'two.xml'}"]))
    assert parse_opml(subscriptions.read_bytes()) == ["feeds/one.xml", f"file://{tmp_path / 'two.xml'}"]

    listed = only(read_feed_source(source_spec(str(subscriptions)), None, FeedConfig()), "listed")
    assert listed == [
        {"location": str(tmp_path / "feeds" / "one.xml"), "local": True},
        {"location": str(tmp_path / "two.xml"), "local": True},
    ]
    outlets = [
        only(read_feed_source(spec, None, FeedConfig(), follow_lists=False), "document")[0]["outlet"] for spec in listed
    ]
    assert outlets == ["One", "Two"]


def test_remote_opml_lists_only_urls_and_a_nested_list_is_noted_not_followed(server):
    server.routes["/subs.opml"] = static(
        opml(["/feed-a.xml", "file:///etc/passwd"]).replace(
            "</body>", '<outline text="more" type="include" url="/more.opml"/></body>'
        ),
        "text/x-opml",
    )
    client = client_for(server)
    outcomes = read_feed_source(remote(server.url("/subs.opml")), client, fast_config())
    assert only(outcomes, "listed") == [
        {"location": server.url("/feed-a.xml"), "local": False},
        {"location": "file:///etc/passwd", "local": False},  # refused when fetched, never opened
    ]
    assert [n["error_type"] for n in only(outcomes, "note")] == ["nested_opml"]
    assert only(outcomes, "validators") == []  # a list is always fetched in full
    refused = single_error(read_feed_source(only(outcomes, "listed")[1], client, fast_config()))
    assert refused["error_type"] == "refused" and "file://" in refused["message"]


# ---------------------------------------------------------------- pages


def test_summary_entry_fetches_its_page_and_the_date_chain_falls_back_to_the_page(server):
    dated = ARTICLE_HTML.format(
        title="Dated story", meta='<meta property="article:published_time" content="2026-05-04T07:00:00+00:00">'
    )
    server.routes["/dated"] = static(dated, "text/html; charset=utf-8")
    server.routes["/undated"] = static(ARTICLE_HTML.format(title="Undated story", meta=""), "text/html")
    server.routes["/from-feed"] = redirect("/dated")
    server.routes["/feed.xml"] = static(
        rss(
            [
                {
                    "guid": "1",
                    "title": "Feed-dated",
                    "link": server.url("/from-feed"),
                    "description": "Teaser.",
                    "pubDate": "Mon, 04 May 2026 06:00:00 GMT",
                },
                {"guid": "2", "title": "Dated story", "link": server.url("/dated"), "description": "Teaser."},
                {"guid": "3", "title": "Undated story", "link": server.url("/undated"), "description": "Teaser."},
            ]
        )
    )
    cfg = fast_config()
    client = client_for(server, cfg)
    outcomes = read_feed_source(remote(server.url("/feed.xml")), client, cfg)
    requests = only(outcomes, "page")
    assert kinds(outcomes) == ["validators", "page", "page", "page"]
    docs = [fetch_entry_page(request, client, cfg) for request in requests]
    assert [(kind, retryable) for kind, _, retryable in docs] == [("document", False)] * 3
    raws = [raw for _, raw, _ in docs]
    assert raws[0]["url"] == server.url("/dated")  # the page actually read, after the redirect
    assert all(raw["format"] == "html" and "<article>" in raw["content"] for raw in raws)
    articles = [clean_document(raw, CleanConfig(), "run", INGESTED_AT) for raw in raws]
    assert [(a["date_source"], a["published_at"]) for a in articles] == [
        ("feed", dt.datetime(2026, 5, 4, 6, 0, tzinfo=dt.timezone.utc)),
        ("html", dt.datetime(2026, 5, 4, 7, 0, tzinfo=dt.timezone.utc)),
        ("ingestion", None),
    ]
    assert all("Part 7." in a["text"] and "Copyright" not in a["text"] for a in articles)
    assert all(headers["user-agent"] == cfg.user_agent for _, headers in server.requests)


def test_page_that_is_not_html_is_an_error(server):
    server.routes["/photo"] = static(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "image/png")
    cfg = fast_config()
    request = {"entry": {"key": "k", "link": server.url("/photo"), "title": "Photo"}, "feed_meta": {}, "feed_url": "f"}
    kind, row, retryable = fetch_entry_page(request, client_for(server, cfg), cfg)
    assert (kind, row["error_type"], retryable) == ("error", "not_html", False)
    assert row["source"] == "f#k"


@pytest.mark.parametrize("link", ["file:///etc/passwd", "ftp://127.0.0.1/pub/story.html", "gopher://127.0.0.1/1"])
def test_entry_links_with_other_schemes_are_refused(server, link):
    server.routes["/feed.xml"] = static(rss([{"guid": "x", "link": link, "description": "Teaser."}]))
    cfg = fast_config()
    client = client_for(server, cfg)
    [request] = only(read_feed_source(remote(server.url("/feed.xml")), client, cfg), "page")
    kind, row, retryable = fetch_entry_page(request, client, cfg)
    assert (kind, row["error_type"], retryable) == ("error", "refused", False)
    # feedparser folds "file:///etc/passwd" to "file://etc/passwd"; the scheme is what matters.
    assert link.split("://")[0] + "://" in row["message"] and "only http and https" in row["message"]


def test_robots_txt_disallow_is_respected_for_pages(server):
    server.routes["/robots.txt"] = static("User-agent: *\nDisallow: /private/\n", "text/plain")
    server.routes["/private/story"] = static(ARTICLE_HTML.format(title="Secret", meta=""), "text/html")
    server.routes["/feed.xml"] = static(rss([{"guid": "p", "link": server.url("/private/story"), "description": "t"}]))
    cfg = fast_config()
    client = client_for(server, cfg)
    [request] = only(read_feed_source(remote(server.url("/feed.xml")), client, cfg), "page")
    kind, row, _ = fetch_entry_page(request, client, cfg)
    assert (kind, row["error_type"]) == ("error", "robots_disallowed")
    assert server.hits("/private/story") == []
    assert len(server.hits("/robots.txt")) == 1  # cached per host


def test_robots_txt_that_fails_with_a_server_error_means_disallow(server):
    server.routes["/robots.txt"] = static("oops", "text/plain", status=503)
    server.routes["/feed.xml"] = static(rss([{"guid": "1", "description": "x"}]))
    cfg = fast_config(max_retries=0)
    error = single_error(read_feed_source(remote(server.url("/feed.xml")), client_for(server, cfg), cfg))
    assert error["error_type"] == "robots_disallowed" and server.hits("/feed.xml") == []


# ---------------------------------------------------------------- faults


def test_server_error_then_success_is_retried_with_backoff(server):
    feed = rss([{"guid": "1", "description": "Recovered after a retry."}])
    server.routes["/feed.xml"] = in_turn(static("busy", status=500), static(feed))
    sleeps: list[float] = []
    cfg = fast_config()
    outcomes = read_feed_source(remote(server.url("/feed.xml")), client_for(server, cfg, sleeps), cfg)
    assert only(outcomes, "document")[0]["content"] == "Recovered after a retry."
    assert len(server.hits("/feed.xml")) == 2
    assert len(sleeps) == 1 and 0 < sleeps[0] <= cfg.backoff_base


def test_persistent_server_error_gives_up_after_the_configured_retries(server):
    server.routes["/feed.xml"] = static("down", status=502)
    cfg = fast_config(max_retries=2)
    error = single_error(read_feed_source(remote(server.url("/feed.xml")), client_for(server, cfg), cfg))
    assert error["error_type"] == "http_status" and "HTTP 502 (after 3 attempts)" in error["message"]
    assert len(server.hits("/feed.xml")) == 3


def test_429_waits_as_long_as_retry_after_says(server):
    feed = rss([{"guid": "1", "description": "After the pause."}])
    server.routes["/feed.xml"] = in_turn(static("slow down", status=429, Retry_After="1"), static(feed))
    sleeps: list[float] = []
    cfg = fast_config()
    outcomes = read_feed_source(remote(server.url("/feed.xml")), client_for(server, cfg, sleeps), cfg)
    assert only(outcomes, "document")[0]["content"] == "After the pause."
    assert sleeps == [1.0]


def test_429_asking_for_a_longer_pause_than_allowed_gives_up_at_once(server):
    server.routes["/feed.xml"] = static("later", status=429, Retry_After="3600")
    sleeps: list[float] = []
    cfg = fast_config()
    error = single_error(read_feed_source(remote(server.url("/feed.xml")), client_for(server, cfg, sleeps), cfg))
    assert error["error_type"] == "rate_limited" and "3600" in error["message"]
    assert sleeps == [] and len(server.hits("/feed.xml")) == 1


def test_body_slower_than_the_read_timeout_is_a_timeout(server):
    def stalls(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "application/rss+xml")
        handler.end_headers()
        handler.wfile.write(b"<?xml version='1.0'?><rss version='2.0'><channel>")
        handler.wfile.flush()
        time.sleep(1.5)
        handler.wfile.write(b"</channel></rss>")

    server.routes["/feed.xml"] = stalls
    cfg = fast_config(read_timeout=0.3)
    error = single_error(read_feed_source(remote(server.url("/feed.xml")), client_for(server, cfg), cfg))
    assert error["error_type"] == "timeout"


def test_gzip_is_decoded_and_a_truncated_gzip_body_is_an_error(server):
    feed = rss([{"guid": str(i), "description": f"Item {i}."} for i in range(50)]).encode()
    compressed = gzip.compress(feed)
    server.routes["/ok.xml"] = static(compressed, Content_Encoding="gzip")
    server.routes["/cut.xml"] = static(compressed[: len(compressed) // 2], Content_Encoding="gzip")
    cfg = fast_config()
    client = client_for(server, cfg)
    assert len(only(read_feed_source(remote(server.url("/ok.xml")), client, cfg), "document")) == 50
    assert server.hits("/ok.xml")[0]["accept-encoding"] == "gzip, deflate"
    error = single_error(read_feed_source(remote(server.url("/cut.xml")), client, cfg))
    assert error["error_type"] == "truncated"


def test_20_mb_bodies_stop_at_the_size_cap_also_after_decompression(server):
    def streams_20_mb(handler):  # no Content-Length: only counting can stop it
        handler.send_response(200)
        handler.send_header("Content-Type", "application/rss+xml")
        handler.end_headers()
        block = b"<!-- padding -->" * 4096
        for _ in range(20 * 1024 * 1024 // len(block)):
            handler.wfile.write(block)

    server.routes["/stream.xml"] = streams_20_mb
    server.routes["/declared.xml"] = static(b" " * (20 * 1024 * 1024))
    server.routes["/bomb.xml"] = static(gzip.compress(b" " * (20 * 1024 * 1024)), Content_Encoding="gzip")
    cfg = fast_config(max_bytes=1_000_000)
    client = client_for(server, cfg)
    for path in ("/stream.xml", "/declared.xml", "/bomb.xml"):
        error = single_error(read_feed_source(remote(server.url(path)), client, cfg))
        assert error["error_type"] == "too_large", path
        assert "max_bytes 1000000" in error["message"]


def test_unreachable_host_is_a_connection_error_after_retries():
    import socket

    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps: list[float] = []
    cfg = fast_config(max_retries=1)
    client = PoliteClient(cfg, [f"127.0.0.1:{port}"], sleep=sleeps.append)
    error = single_error(read_feed_source(remote(f"http://127.0.0.1:{port}/feed.xml"), client, cfg))
    assert error["error_type"] == "connection" and "Connection refused (after 2 attempts)" in error["message"]
    assert len(sleeps) == 1  # one backoff between the two attempts


def test_redirect_loop_and_too_many_redirects(server):
    server.routes["/a"] = redirect("/b")
    server.routes["/b"] = redirect("/a")
    for i in range(10):
        server.routes[f"/hop{i}"] = redirect(f"/hop{i + 1}", status=301)
    cfg = fast_config(max_redirects=3)
    client = client_for(server, cfg)
    loop = single_error(read_feed_source(remote(server.url("/a")), client, cfg))
    assert loop["error_type"] == "redirect_loop"
    chain = single_error(read_feed_source(remote(server.url("/hop0")), client, cfg))
    assert chain["error_type"] == "too_many_redirects" and len(server.hits("/hop3")) == 1
    assert server.hits("/hop4") == []


def test_redirect_to_cloud_metadata_is_refused_without_connecting(server):
    server.routes["/feed.xml"] = redirect("http://169.254.169.254/latest/meta-data/")
    cfg = fast_config(connect_timeout=30.0, max_retries=0)  # a connection attempt would hang, not fail fast
    error = single_error(read_feed_source(remote(server.url("/feed.xml")), client_for(server, cfg), cfg))
    assert error["error_type"] == "refused"
    assert "http://169.254.169.254/latest/meta-data/" in error["message"]
    assert "cloud metadata" in error["message"] and "redirect from" in error["message"]


def test_redirect_to_a_loopback_port_outside_the_allow_list_never_connects(server, other_server):
    other_server.routes["/admin"] = static("secret", "text/plain")
    server.routes["/feed.xml"] = redirect(other_server.url("/admin"))
    cfg = fast_config()
    error = single_error(read_feed_source(remote(server.url("/feed.xml")), client_for(server, cfg), cfg))
    assert error["error_type"] == "refused" and "loopback" in error["message"]
    assert other_server.connections == 0


def test_without_the_allow_list_127_0_0_1_is_refused(server):
    server.routes["/feed.xml"] = static(rss([{"guid": "1", "description": "x"}]))
    cfg = fast_config()
    error = single_error(read_feed_source(remote(server.url("/feed.xml")), PoliteClient(cfg), cfg))
    assert error["error_type"] == "refused"
    assert server.url("/feed.xml") in error["message"] and "loopback" in error["message"]
    assert server.connections == 0


def test_dns_rebinding_is_caught_at_connect_time(server):
    """The name check passes (the resolver says "public"), but the socket lands on loopback:
    the connection is dropped before a request is sent."""
    server.routes["/feed.xml"] = static(rss([{"guid": "1", "description": "x"}]))
    cfg = fast_config(respect_robots=False)
    lying_client = PoliteClient(cfg, resolve=lambda host, port: ["93.184.216.34"])
    error = single_error(read_feed_source(remote(server.url("/feed.xml")), lying_client, cfg))
    assert error["error_type"] == "refused" and "connected to 127.0.0.1" in error["message"]
    assert server.hits("/feed.xml") == []


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.169.254", "cloud metadata"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("100.64.0.1", "not a globally routable"),
        ("240.0.0.1", "reserved"),
        ("93.184.216.34", None),
        ("2606:2800:220:1:248:1893:25c8:1946", None),
    ],
)
def test_address_classification(address, reason):
    refusal = address_refusal(address)
    assert (refusal is None) if reason is None else (reason in refusal)


def test_allow_list_matches_host_and_port_and_names_resolve_before_the_check():
    allow = frozenset({"127.0.0.1:8080", "intranet.example"})
    assert url_refusal("http://127.0.0.1:8080/feed", allow) is None
    assert url_refusal("http://127.0.0.1:8081/feed", allow)[0] == "refused"
    assert url_refusal("https://intranet.example:9443/x", allow, resolve=lambda h, p: ["10.0.0.5"]) is None
    error_type, reason = url_refusal("http://sneaky.example/", frozenset(), resolve=lambda h, p: ["10.0.0.5"])
    assert error_type == "refused" and "resolves to 10.0.0.5" in reason
    assert url_refusal("http://2130706433/", frozenset())[0] == "refused"  # 127.0.0.1 as one number


# ---------------------------------------------------------------- conditional GET


def conditional_feed(body: bytes, etag: str):
    def respond(handler):
        if handler.headers.get("If-None-Match") == etag:
            handler.send_response(304)
            handler.send_header("ETag", etag)
            handler.end_headers()
            return
        send(
            handler, 200, body, "application/rss+xml", {"ETag": etag, "Last-Modified": "Mon, 04 May 2026 06:00:00 GMT"}
        )

    return respond


def test_second_poll_with_saved_validators_gets_a_304_and_no_entries(server, tmp_path):
    server.routes["/feed.xml"] = conditional_feed(rss([{"guid": "1", "description": "Once."}]).encode(), '"v1"')
    cfg = fast_config()
    client = client_for(server, cfg)
    url = server.url("/feed.xml")
    first = read_feed_source(remote(url), client, cfg, {})
    assert len(only(first, "document")) == 1
    save_validator_state(str(tmp_path), dict(only(first, "validators")))

    state = load_validator_state(str(tmp_path))
    assert state[url]["etag"] == '"v1"' and state[url]["last_modified"] == "Mon, 04 May 2026 06:00:00 GMT"
    second = read_feed_source(remote(url), client, cfg, state)
    assert kinds(second) == ["validators"]
    assert server.hits("/feed.xml")[1]["if-none-match"] == '"v1"'
    assert only(second, "validators")[0][1]["conditional_streak"] == 1


def test_periodic_unconditional_fetch_catches_a_body_changed_behind_the_same_etag(server):
    url = server.url("/feed.xml")
    cfg = fast_config(revalidate_every=2)
    client = client_for(server, cfg)
    server.routes["/feed.xml"] = conditional_feed(rss([{"guid": "1", "description": "Old."}]).encode(), '"same"')
    state = dict(only(read_feed_source(remote(url), client, cfg, {}), "validators"))
    for _ in range(2):  # two 304s reach revalidate_every
        state.update(only(read_feed_source(remote(url), client, cfg, state), "validators"))
    assert validators_for_request(state[url], cfg) is None
    # The publisher changed the feed but not its ETag; the unconditional fetch sees it.
    server.routes["/feed.xml"] = conditional_feed(rss([{"guid": "2", "description": "New."}]).encode(), '"same"')
    outcomes = read_feed_source(remote(url), client, cfg, state)
    assert [d["content"] for d in only(outcomes, "document")] == ["New."]
    assert "if-none-match" not in server.hits("/feed.xml")[-1]
    state.update(only(outcomes, "validators"))
    assert state[url]["stale_validators"] is True
    read_feed_source(remote(url), client, cfg, state)
    assert "if-none-match" not in server.hits("/feed.xml")[-1]  # that server's 304s are not trusted


def test_validator_commit_takes_this_runs_shards_and_drops_failed_runs(tmp_path):
    state_dir = str(tmp_path / "_state")
    save_validator_state(state_dir, {"http://a/": {"etag": "old", "checked_at": "2026-01-01T00:00:00+00:00"}})
    stage_validator_updates(
        state_dir, "run-ok", [("http://a/", {"etag": "new", "checked_at": "2026-02-01T00:00:00+00:00"})]
    )
    stage_validator_updates(
        state_dir, "run-ok", [("http://b/", {"etag": "b1", "checked_at": "2026-02-01T00:00:00+00:00"})]
    )
    stage_validator_updates(
        state_dir, "run-failed", [("http://c/", {"etag": "c1", "checked_at": "2026-03-01T00:00:00+00:00"})]
    )
    assert commit_validator_state(state_dir, "run-ok") == 2
    state = load_validator_state(state_dir)
    assert {url: record["etag"] for url, record in state.items()} == {"http://a/": "new", "http://b/": "b1"}
    assert sorted(os.listdir(state_dir)) == ["feed_validators.json"]


def test_politeness_delay_between_requests_to_one_host(server):
    server.routes["/one.xml"] = static(rss([{"guid": "1", "description": "x"}]))
    sleeps: list[float] = []
    cfg = fast_config(per_host_delay=0.4)
    client = client_for(server, cfg, sleeps)
    read_feed_source(remote(server.url("/one.xml")), client, cfg)  # robots.txt, then the feed
    read_feed_source(remote(server.url("/one.xml")), client, cfg)
    assert len(sleeps) == 2 and all(0 < s <= 0.4 for s in sleeps)


# ---------------------------------------------------------------- the Beam transform


def counters(result) -> dict[str, int]:
    found = result.metrics().query(MetricsFilter().with_namespace("newsbeam"))["counters"]
    totals: dict[str, int] = {}
    for counter in found:
        totals[counter.key.metric.name] = totals.get(counter.key.metric.name, 0) + counter.committed
    return totals


def test_read_feeds_pipeline_accounts_for_every_entry_and_reruns_get_304s(server, tmp_path):
    server.routes["/subs.opml"] = static(opml(["/news.xml", "/gone.xml"]), "text/x-opml")
    server.routes["/story"] = static(ARTICLE_HTML.format(title="Story", meta=""), "text/html")
    news = rss(
        [
            {"guid": "full", "title": "Full", "link": server.url("/full"), "content": FULL_CONTENT},
            {"guid": "teaser", "title": "Story", "link": server.url("/story"), "description": "Teaser."},
            {"guid": "missing", "title": "Missing", "link": server.url("/missing"), "description": "Teaser."},
        ]
    ).encode()
    server.routes["/news.xml"] = conditional_feed(news, '"n1"')
    local_feed = tmp_path / "local.xml"
    local_feed.write_text(rss([{"guid": "l", "description": "A local item."}], "Local"))
    state_dir = str(tmp_path / "out" / "_state")
    cfg = fast_config()
    sources = [server.url("/subs.opml"), str(local_feed), "ftp://127.0.0.1/feed.xml"]

    def run(run_id: str):
        pipeline = TestPipeline()
        documents, errors = pipeline | ReadFeeds(sources, cfg, [server.host], state_dir, run_id)
        return pipeline, documents, errors

    pipeline, documents, errors = run("run-1")
    assert_that(
        documents | beam.Map(lambda d: (d["source"].rsplit("#", 1)[1], d["outlet"], d["format"])),
        equal_to([("full", "Example News", "html"), ("teaser", "Example News", "html"), ("l", "Local", "html")]),
        label="documents",
    )
    assert_that(
        errors | beam.Map(lambda e: (e["stage"], e["error_type"], e["source"].split("/")[-1])),
        equal_to(
            [
                ("read", "http_status", "news.xml#missing"),
                ("read", "http_status", "gone.xml"),
                ("read", "refused", "feed.xml"),
            ]
        ),
        label="errors",
    )
    result = pipeline.run()
    result.wait_until_finish()
    first = counters(result)
    assert first["read_inputs"] == 6 and first["read_documents"] == 3
    assert commit_validator_state(state_dir, "run-1") == 1  # news.xml; the OPML keeps none

    pipeline, documents, errors = run("run-2")
    assert_that(
        documents | beam.Map(lambda d: d["source"].rsplit("#", 1)[1]), equal_to(["l"]), label="only_local_again"
    )
    assert_that(errors | beam.Map(lambda e: e["error_type"]), equal_to(["http_status", "refused"]), label="errors2")
    result = pipeline.run()
    result.wait_until_finish()
    assert counters(result)["read_inputs"] == 3
    assert server.hits("/news.xml")[-1]["if-none-match"] == '"n1"'


# ---------------------------------------------------------------- robustness sweep


@pytest.mark.slow
def test_every_feedparser_test_feed_yields_entries_or_an_error_row(eval_dir):
    from benchmarks.feed_sweep import feed_files, run_sweep

    data = eval_dir / "feeds" / "feedparser"
    if not data.is_dir():
        pytest.skip(f"feedparser test feeds not found at {data}")
    report = run_sweep(data)
    assert report["counts"]["files"] == len(feed_files(data)) >= 2100
    assert report["files_without_outcome"] == []
    assert report["files_with_exceptions"] == []
    assert report["counts"]["files_with_entries"] > 1000
