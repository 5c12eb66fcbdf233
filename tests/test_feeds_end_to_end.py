"""Feeds through the whole CLI: a real HTTP server on 127.0.0.1, then a scheduled rerun that gets 304."""

from __future__ import annotations

import html
import json

import duckdb

from tests.conftest import SEEDS
from tests.test_end_to_end import newsbeam, table_sql
from tests.test_feeds import LocalServer, rss, send


def as_html_paragraphs(text: str) -> str:
    return "".join(f"<p>{html.escape(line)}</p>" for line in text.split("\n") if line.strip())


def test_feed_entries_become_articles_and_a_rerun_gets_304(tmp_path):
    seeds = sorted(SEEDS.glob("*.txt"))
    server = LocalServer()
    try:
        page = (
            "<html><head><title>Mariupol deadline passes</title>"
            "<meta property='article:published_time' content='2022-04-19T10:00:00+00:00'></head><body>"
            "<nav>Home | World | Sport</nav><article><h1>Mariupol deadline passes</h1>"
            + as_html_paragraphs(seeds[3].read_text(encoding="utf-8"))
            + "</article><footer>Copyright Example News</footer></body></html>"
        )
        feed = rss(
            [
                {
                    "title": "Ukraine rejects surrender call",
                    "link": server.url("/a1"),
                    "content": as_html_paragraphs(seeds[0].read_text(encoding="utf-8")),
                    "pubDate": "Mon, 21 Mar 2022 06:00:00 GMT",
                },
                {
                    "title": "Mariupol refuses to surrender",
                    "link": server.url("/a2"),
                    "content": as_html_paragraphs(seeds[1].read_text(encoding="utf-8")),
                    "pubDate": "Mon, 21 Mar 2022 09:30:00 GMT",
                },
                {
                    "title": "Mariupol deadline passes",
                    "link": server.url("/a3"),
                    "description": "The deadline issued by Moscow has passed.",
                    "pubDate": "Tue, 19 Apr 2022 10:00:00 GMT",
                },
            ]
        )

        def feed_with_etag(handler):
            if handler.headers.get("If-None-Match") == '"v1"':
                send(handler, 304, b"", headers={"ETag": '"v1"'})
            else:
                send(handler, 200, feed.encode(), "application/rss+xml", {"ETag": '"v1"'})

        server.routes["/feed.xml"] = feed_with_etag
        server.routes["/a3"] = lambda h: send(h, 200, page.encode())
        server.routes["/robots.txt"] = lambda h: send(h, 200, b"User-agent: *\nAllow: /\n", "text/plain")
        config = tmp_path / "fast.yaml"
        config.write_text("feeds:\n  per_host_delay: 0\n  max_retries: 0\n", encoding="utf-8")
        out = tmp_path / "out"
        args = ["run", "--feeds", server.url("/feed.xml"), "--allow-host", server.host]
        args += ["--output", str(out), "--config", str(config), "--no-enrich"]

        first = newsbeam(*args)
        assert first.returncode == 0, first.stderr[-3000:]
        rows = duckdb.sql(
            f"select title, url, date_source, cast(date as varchar) from {table_sql(out, 'articles')} order by date"
        ).fetchall()
        assert [(r[2], r[3]) for r in rows] == [("feed", "2022-03-21"), ("feed", "2022-03-21"), ("feed", "2022-04-19")]
        assert server.url("/a3") in {r[1] for r in rows}
        page_text = duckdb.sql(f"select text from {table_sql(out, 'articles')} where url like '%/a3'").fetchall()[0][0]
        assert "Azovstal" in page_text and "Home | World" not in page_text

        second = newsbeam(*args)
        assert second.returncode == 0, second.stderr[-3000:]
        assert server.hits("/feed.xml")[-1].get("if-none-match") == '"v1"'
        manifests = sorted((out / "_runs").glob("*.json"))
        accounting = json.loads(manifests[-1].read_text())["accounting"]
        assert accounting["inputs"] == 0 and accounting["balanced"]
        assert duckdb.sql(f"select count(*) from {table_sql(out, 'articles')}").fetchall()[0][0] == 3
    finally:
        server.close()
