"""Streaming mode: poll a feed on a clock, count each entry once, write windowed files."""

from __future__ import annotations

import json

import duckdb

from tests.conftest import SEEDS
from tests.test_end_to_end import newsbeam, table_sql
from tests.test_feeds import LocalServer, rss, send
from tests.test_feeds_end_to_end import as_html_paragraphs


def test_polls_count_each_entry_once_and_catch_a_copy_published_later(tmp_path):
    seeds = sorted(SEEDS.glob("*.txt"))
    text_a, text_b = seeds[0].read_text(encoding="utf-8"), seeds[4].read_text(encoding="utf-8")
    copy_a = "Sign up for our newsletter\n" + text_a.replace("“", '"').replace("”", '"')
    server = LocalServer()
    try:
        first_items = [
            {"title": "A", "link": server.url("/a"), "content": as_html_paragraphs(text_a),
             "pubDate": "Mon, 21 Mar 2022 06:00:00 GMT"},
            {"title": "B", "link": server.url("/b"), "content": as_html_paragraphs(text_b),
             "pubDate": "Sun, 17 Apr 2022 08:00:00 GMT"},
        ]  # fmt: skip
        copy_item = {"title": "A again", "link": server.url("/a-copy"), "content": as_html_paragraphs(copy_a),
                     "pubDate": "Mon, 21 Mar 2022 11:00:00 GMT"}  # fmt: skip
        polls = []

        def feed(handler):
            polls.append(1)
            items = first_items if len(polls) == 1 else first_items + [copy_item]
            send(handler, 200, rss(items).encode(), "application/rss+xml")

        server.routes["/feed.xml"] = feed
        server.routes["/robots.txt"] = lambda h: send(h, 200, b"User-agent: *\nAllow: /\n", "text/plain")
        config = tmp_path / "fast.yaml"
        config.write_text("feeds:\n  per_host_delay: 0\n  max_retries: 0\n", encoding="utf-8")
        out = tmp_path / "out"
        result = newsbeam(
            "run", "--streaming", "--feeds", server.url("/feed.xml"), "--allow-host", server.host,
            "--poll-interval", "2", "--max-polls", "2", "--output", str(out), "--config", str(config), "--no-enrich",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        assert len(polls) == 2
        manifest = json.loads(next((out / "_runs").glob("*.json")).read_text())
        accounting = manifest["accounting"]
        assert (accounting["inputs"], accounting["articles"], accounting["duplicates"]) == (3, 2, 1), accounting
        titles = sorted(r[0] for r in duckdb.sql(f"select title from {table_sql(out, 'articles')}").fetchall())
        assert titles == ["A", "B"]
        dup = duckdb.sql(
            f"select d.duplicate_of = a.doc_id from {table_sql(out, 'duplicates')} d, {table_sql(out, 'articles')} a "
            "where a.title = 'A'"
        ).fetchall()
        assert dup == [(True,)]
    finally:
        server.close()
