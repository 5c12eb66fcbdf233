"""End to end, as a user runs it: the CLI into a folder, read back with DuckDB and pyarrow."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.dataset as ds
import pytest

from schemas.tables import TABLES
from tests.conftest import SEEDS

TABLE_NAMES = list(TABLES)


def newsbeam(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The installed console script when there is one, else the same entry point via -m."""
    exe = shutil.which("newsbeam", path=os.path.dirname(sys.executable))
    command = [exe] if exe else [sys.executable, "-m", "pipeline.cli"]
    return subprocess.run(command + list(args), capture_output=True, text=True, cwd=cwd, timeout=900)


def query(sql: str) -> list[tuple]:
    return duckdb.sql(sql).fetchall()


def table_sql(out: Path, table: str) -> str:
    return f"read_parquet('{out}/{table}/**/*.parquet', hive_partitioning=true, union_by_name=true)"


def counts(out: Path) -> dict[str, int]:
    result = {}
    for table in TABLE_NAMES:
        if not list((out / table).glob("**/*.parquet")):
            result[table] = 0
            continue
        result[table] = query(f"select count(*) from {table_sql(out, table)}")[0][0]
    return result


@pytest.fixture(scope="module")
def seed_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("seeds") / "out"
    first = newsbeam("run", str(SEEDS), "--output", str(out))
    assert first.returncode == 0, first.stderr[-3000:]
    return out, first


def test_seeds_become_five_articles_and_every_table_reads_back(seed_run):
    out, first = seed_run
    table_counts = counts(out)
    assert table_counts["articles"] == 5
    assert table_counts["duplicates"] == 0
    assert table_counts["errors"] == 0
    assert table_counts["entities"] > 50
    assert table_counts["numbers"] > 20
    # pyarrow reads the same dataset with the partition column restored.
    articles = ds.dataset(out / "articles", format="parquet", partitioning="hive").to_table()
    assert articles.num_rows == 5 and "date" in articles.column_names
    assert "inputs 5 = articles 5 + duplicates 0 + rejected 0: ok" in first.stdout


def test_seed_text_is_clean_and_credits_are_kept(seed_run):
    out, _ = seed_run
    rows = query(f"select source, text, wire_credits, removed_lines from {table_sql(out, 'articles')}")
    promo = [
        "Sign up to our World News Bulletin",
        "CLICK HERE TO GET THE FOX NEWS APP",
        "RUSSIA INVADES UKRAINE: LIVE UPDATES",
        "(Source: Associated Press)",
        "The Associated Press contributed to this report",
    ]
    for source, text, _credits, _removed in rows:
        for line in promo:
            assert line not in text, (source, line)
    by_seed = {Path(source).name[:3]: (credits, removed) for source, _t, credits, removed in rows}
    assert "Associated Press" in by_seed["002"][0]
    assert by_seed["003"][1] >= 3  # two all-caps promos, the app promo, the credit line


@pytest.mark.parametrize(
    ("value", "qualifier", "counted"),
    [(2300, "at_least", "people"), (7000, "more_than", "people"), (400000, None, "resident"), (1464, None, "servicem")],
)
def test_seed_counts_are_found_with_their_counted_noun(seed_run, value, qualifier, counted):
    out, _ = seed_run
    rows = query(f"select qualifier, counted, verb, context from {table_sql(out, 'numbers')} where value = {value}")
    assert rows, f"no number {value} found"
    matches = [r for r in rows if r[1] and r[1].startswith(counted) and (qualifier is None or r[0] == qualifier)]
    assert matches, rows


def test_people_are_canonicalised_within_an_article(seed_run):
    out, _ = seed_run
    rows = query(
        f"select distinct canonical from {table_sql(out, 'entities')} "
        "where label = 'PERSON' and (text like '%Vereshchuk%' or text like '%Mizintse%')"
    )
    names = {r[0] for r in rows}
    assert names <= {"Iryna Vereshchuk", "Irina Vereshchuk", "Mikhail Mizintsev"}, names


def test_rerun_into_the_same_output_leaves_the_same_rows(seed_run):
    out, _ = seed_run
    before = counts(out)
    second = newsbeam("run", str(SEEDS), "--output", str(out))
    assert second.returncode == 0, second.stderr[-3000:]
    assert counts(out) == before
    manifests = sorted((out / "_runs").glob("*.json"))
    assert len(manifests) == 2
    manifest = json.loads(manifests[-1].read_text())
    assert manifest["accounting"]["balanced"] and manifest["accounting"]["inputs"] == 5
    assert manifest["versions"]["apache-beam"]


def write_mixed_folder(folder: Path) -> dict[str, int]:
    """Good, duplicate and broken inputs; returns the expected outcome counts."""
    seeds = sorted(SEEDS.glob("*.txt"))
    folder.mkdir(parents=True)
    for seed in seeds[:3]:
        shutil.copy(seed, folder / seed.name)
    text = seeds[0].read_text(encoding="utf-8")
    (folder / "copy_of_000.txt").write_text("Sign up for our newsletter\n" + text, encoding="utf-8")
    (folder / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (folder / "empty.txt").write_bytes(b"")
    (folder / "missing_fields.json").write_text(json.dumps({"title": "no body"}), encoding="utf-8")
    seed1 = seeds[1].read_text(encoding="utf-8")
    lines = [json.dumps({"text": seed1, "url": "https://example.org/a"}), "{not json", json.dumps({"html": 5})]
    (folder / "feed.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    latin = (
        "<html><head><meta charset='iso-8859-1'><title>Caf\xe9</title></head><body><nav>Home | World</nav>"
        "<article><h1>R\xe9sum\xe9 of the day</h1>"
        + "".join(
            f"<p>Paragraph {i}: the caf\xe9 owner in Mariupol said the na\xefve plan failed again.</p>"
            for i in range(12)
        )
        + "</article><footer>Copyright</footer></body></html>"
    ).encode("latin-1")
    (folder / "latin1.html").write_bytes(latin)
    (folder / "notes.docx").write_bytes(b"PK\x03\x04 not really a document")
    # 3 seeds + latin1.html + jsonl line 1 (a copy of seed 1 -> duplicate) ...
    return {"inputs": 12, "articles": 4, "duplicates": 2, "rejected": 6}


def test_mixed_folder_is_fully_accounted_for(tmp_path):
    expected = write_mixed_folder(tmp_path / "in")
    out = tmp_path / "out"
    result = newsbeam("run", str(tmp_path / "in"), "--output", str(out), "--no-enrich")
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads(next((out / "_runs").glob("*.json")).read_text())
    accounting = manifest["accounting"]
    assert accounting["balanced"], accounting
    got = {k: accounting[k] for k in expected}
    assert got == expected, accounting
    errors = query(f"select source, stage, error_type, message from {table_sql(out, 'errors')}")
    assert {Path(s.split("#")[0]).name for s, *_ in errors} >= {
        "binary.txt",
        "empty.txt",
        "missing_fields.json",
        "notes.docx",
    }
    assert all(stage and error_type and message for _s, stage, error_type, message in errors)
    latin = query(f"select text from {table_sql(out, 'articles')} where source like '%latin1.html'")
    assert latin and "café owner" in latin[0][0]


def test_two_worker_processes_give_the_same_tables(tmp_path):
    write_mixed_folder(tmp_path / "in")
    outputs = {}
    for workers in ("1", "2"):
        out = tmp_path / f"out{workers}"
        args = ["run", str(tmp_path / "in"), "--output", str(out), "--no-enrich"]
        if workers == "2":
            args += ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
        result = newsbeam(*args)
        assert result.returncode == 0, result.stderr[-3000:]
        outputs[workers] = {
            table: sorted(query(f"select doc_id from {table_sql(out, table)}")) if counts(out)[table] else []
            for table in ("articles", "duplicates")
        } | {"errors": sorted(query(f"select source, error_type from {table_sql(out, 'errors')}"))}
    assert outputs["1"] == outputs["2"]


def test_missing_input_is_a_one_line_error_with_exit_code_2(tmp_path):
    result = newsbeam("run", str(tmp_path / "nope"), "--output", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_one_entity_id_per_person_and_no_place_or_unit_tagged_as_a_person(seed_run):
    out, _ = seed_run
    ids = query(f"select count(distinct entity_id) from {table_sql(out, 'entities')} where canonical like '%Zelensk%'")
    assert ids == [(1,)]
    wrong = query(
        f"select text from {table_sql(out, 'entities')} where label = 'PERSON' "
        "and text in ('Kyiv', 'Gomel', 'Mariupol', 'Azov Regiment', 'Azov Battalion', 'Belarus')"
    )
    assert wrong == []
    index = query(f"select variants from {table_sql(out, 'entity_index')} where canonical like '%Zelensk%'")
    assert len(index) == 1 and len(index[0][0]) >= 3


def test_claims_group_the_same_count_across_articles(seed_run):
    out, _ = seed_run
    shelter = query(
        f"select value, articles, outlets from {table_sql(out, 'claims')} "
        "where event = 'shelter' and counted = 'people'"
    )
    assert (400.0, 2, 2) in shelter
