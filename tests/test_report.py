"""The HTML report and the DuckDB views, on a real run: seeds with sidecars, a copy, a broken file."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from pipeline.report import TOP_CLUSTERS, TOP_ENTITIES_PER_LABEL, write_report
from pipeline.run import run
from pipeline.views import open_views
from schemas.tables import TABLES
from tests.conftest import SEEDS

PLANTED_TITLE = '<script>alert("pwned")</script> Mariupol & the "siege"'
PLANTED_OUTLET = "Daily <b>Planet</b> & Co"
CHROMIUM = Path("/usr/bin/chromium")
CHARTS = ("articles_per_day", "top_entities", "wire_clusters", "events_over_time", "error_reasons")


def write_inputs(folder: Path) -> None:
    """The seeds over four days and three outlets, a later copy of seed 000 elsewhere, a binary file."""
    folder.mkdir(parents=True)
    outlets = ("Kyiv Independent", "Wire Desk", "Harbour Gazette")
    for i, seed in enumerate(sorted(SEEDS.glob("*.txt"))):
        shutil.copy(seed, folder / seed.name)
        meta = {"outlet": outlets[i % 3], "published": f"2022-03-{15 + i % 4:02d}T09:00:00Z"}
        if i == 0:
            meta["title"] = PLANTED_TITLE
        (folder / f"{seed.stem}.meta.json").write_text(json.dumps(meta), encoding="utf-8")
        if i == 0:
            shutil.copy(seed, folder / "copy_of_000.txt")
            copy_meta = {"outlet": PLANTED_OUTLET, "published": "2022-03-16T12:00:00Z"}
            (folder / "copy_of_000.meta.json").write_text(json.dumps(copy_meta), encoding="utf-8")
    (folder / "broken.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, Path, dict[str, int]]:
    root = tmp_path_factory.mktemp("report")
    write_inputs(root / "in")
    out = root / "out"
    run(paths=[str(root / "in")], output=str(out))
    html_path = root / "report.html"
    points = write_report(str(out), str(html_path))
    return out, html_path, points


def parquet(out: Path, table: str) -> str:
    return f"read_parquet('{out}/{table}/**/*.parquet', hive_partitioning=true, union_by_name=true)"


def scalar(sql: str) -> int:
    return duckdb.sql(sql).fetchall()[0][0]


def expected_points(out: Path) -> dict[str, int]:
    """What each chart should draw, counted straight from the Parquet files."""
    return {
        "articles_per_day": scalar(f"select count(distinct date) from {parquet(out, 'articles')}"),
        "top_entities": scalar(
            f"select sum(least({TOP_ENTITIES_PER_LABEL}, names)) from (select label, "
            f"count(distinct coalesce(canonical, text)) as names from {parquet(out, 'entities')} group by label)"
        ),
        "wire_clusters": scalar(
            f"select least({TOP_CLUSTERS}, count(distinct cluster_id)) from {parquet(out, 'duplicates')}"
        ),
        "events_over_time": scalar(
            f"select count(*) from (select distinct event, date from {parquet(out, 'numbers')} "
            "where is_people and event is not null and coalesce(value_max, value) > 0)"
        ),
        "error_reasons": scalar(f"select count(distinct (stage, error_type)) from {parquet(out, 'errors')}"),
    }


class ChartCollector(HTMLParser):
    """Each ``<svg data-chart>``: its declared points and the data marks (rect/circle/path) inside it."""

    def __init__(self):
        super().__init__()
        self.charts: dict[str, dict] = {}
        self._current: str | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "svg" and "data-chart" in attributes:
            self._current = attributes["data-chart"]
            self.charts[self._current] = {"points": int(attributes["data-points"]), "marks": 0}
        elif self._current and tag in ("rect", "circle", "path") and "mark" in (attributes.get("class") or "").split():
            self.charts[self._current]["marks"] += 1

    def handle_endtag(self, tag):
        if tag == "svg":
            self._current = None


def charts_in(page: str) -> dict[str, dict]:
    collector = ChartCollector()
    collector.feed(page)
    return collector.charts


def test_every_chart_draws_what_the_tables_hold(report):
    out, html_path, points = report
    expected = expected_points(out)
    assert points == expected
    assert all(n > 0 for n in points.values()), points
    drawn = charts_in(html_path.read_text(encoding="utf-8"))
    assert {name: chart["points"] for name, chart in drawn.items()} == expected
    for name, chart in drawn.items():
        assert chart["marks"] >= chart["points"], name


def test_report_header_lists_the_run_and_totals(report):
    out, html_path, _ = report
    page = html_path.read_text(encoding="utf-8")
    run_ids = [p.stem for p in (out / "_runs").glob("*.json")]
    assert run_ids and all(run_id in page for run_id in run_ids)
    articles = scalar(f"select count(*) from {parquet(out, 'articles')}")
    assert f"<li><b>{articles}</b><span>articles</span></li>" in page


def test_report_fetches_nothing_when_opened(report):
    _, html_path, _ = report
    page = html_path.read_text(encoding="utf-8")
    assert not re.search(r"""\b(src|href|srcset|action|xlink:href)\s*=""", page, re.IGNORECASE)
    assert not re.search(r"<script|<link|<iframe|<img|@import|url\(", page, re.IGNORECASE)
    assert not re.search(r"https?://", page, re.IGNORECASE)
    assert "default-src 'none'" in page


def test_titles_and_outlets_from_the_web_are_escaped(report):
    _, html_path, _ = report
    page = html_path.read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in page
    assert "&lt;b&gt;Planet&lt;/b&gt; &amp; Co" in page
    assert "<script" not in page and "<b>Planet" not in page


def test_empty_output_says_no_data_in_every_chart(tmp_path):
    out = tmp_path / "out"
    (out / "_runs").mkdir(parents=True)
    points = write_report(str(out), str(tmp_path / "report.html"))
    assert points == dict.fromkeys(CHARTS, 0)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert page.count("No data:") == len(CHARTS)
    assert all(chart["points"] == 0 for chart in charts_in(page).values())


def test_views_read_every_table_and_an_empty_one_has_the_contract_columns(report, tmp_path):
    out, _, _ = report
    views = open_views(str(out))
    for table, schema in TABLES.items():
        columns = [row[0] for row in views.execute(f"describe {table}").fetchall()]
        assert sorted(columns) == sorted(schema.names), table
        files = list((out / table).glob("**/*.parquet"))
        raw = scalar(f"select count(*) from {parquet(out, table)}") if files else 0
        assert views.execute(f"select count(*) from {table}").fetchall()[0][0] == raw, table
    assert views.execute("select count(*) from runs").fetchall()[0][0] == len(list((out / "_runs").glob("*.json")))
    runs = tmp_path / "fresh" / "_runs"
    runs.mkdir(parents=True)
    fresh = open_views(str(tmp_path / "fresh"))
    assert fresh.execute("select count(*), count(date) from articles").fetchall() == [(0, 0)]
    # A manifest damaged by hand is left out of `runs` instead of breaking every query.
    shutil.copy(next((out / "_runs").glob("*.json")), runs / "good.json")
    (runs / "damaged.json").write_text('{"run_id": ', encoding="utf-8")
    assert open_views(str(tmp_path / "fresh")).execute("select count(*) from runs").fetchall() == [(1,)]


def test_views_refuse_a_folder_that_is_not_an_output(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a newsbeam output folder"):
        open_views(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="not found"):
        open_views(str(tmp_path / "missing"))


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ]
    return subprocess.run([str(CHROMIUM), *flags, *args], capture_output=True, text=True, timeout=180)


@pytest.mark.slow
def test_report_renders_in_headless_chromium(report, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium package (apt-get install -y chromium)")
    _, html_path, points = report
    screenshot = tmp_path / "report.png"
    shot = chromium(
        f"--screenshot={screenshot}", "--window-size=1280,2400", html_path.as_uri(), profile=tmp_path / "p1"
    )
    assert screenshot.exists(), shot.stderr[-2000:]
    # A blank 1280x2400 PNG compresses to a few kilobytes; charts and text make it far larger.
    assert screenshot.stat().st_size > 50_000
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dom = chromium("--dump-dom", html_path.as_uri(), profile=tmp_path / "p2")
    assert dom.returncode == 0, dom.stderr[-2000:]
    rendered = charts_in(dom.stdout)
    assert set(rendered) == set(CHARTS)
    for name, chart in rendered.items():
        assert chart["points"] == points[name] > 0, name
        assert chart["marks"] >= chart["points"], name
