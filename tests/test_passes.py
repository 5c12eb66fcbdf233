"""Large inputs as passes: files past ``read.max_documents_per_pass`` run as successive runs into
one output, and a copy in a later pass is found against the earlier passes' articles."""

from __future__ import annotations

import gzip
import json
import random
import shutil
from pathlib import Path

import duckdb
import pytest

from benchmarks.soak import seed_vocabulary, syndicated_copy, synthetic_record
from pipeline.run import estimate_documents, run
from schemas.config import DedupConfig, ReadConfig
from tests.conftest import SEEDS
from tests.test_end_to_end import newsbeam
from transforms.dedup import dedup_losses

LIMIT = 8
ACCOUNTED = ("inputs", "articles", "duplicates", "rejected")


def write_jsonl(path: Path, records: list[dict | str]) -> None:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Three passes at LIMIT 8: a.jsonl (5 lines) with b.txt, c.jsonl (5), d.jsonl (10, over
    the limit, alone). Later files carry copies of earlier files' stories, published later."""
    root = tmp_path_factory.mktemp("passes")
    folder = root / "in"
    folder.mkdir()
    rng, words = random.Random(6), seed_vocabulary()
    stories = [synthetic_record(rng, words, n) for n in range(14)]
    copies = {}  # the copy's source (file and line) -> the URL of the story it copies

    def copy(story: int, where: str) -> dict:
        copies[where] = stories[story]["url"]
        return syndicated_copy(rng, stories[story], 100 + len(copies))

    write_jsonl(folder / "a.jsonl", stories[0:5])
    shutil.copy(sorted(SEEDS.glob("*.txt"))[0], folder / "b.txt")
    write_jsonl(folder / "c.jsonl", [stories[5], copy(0, "c.jsonl#L2"), stories[6], copy(1, "c.jsonl#L4"), stories[7]])
    broken = '{"url": "https://broken.example/1", "text": "cut off'
    d_lines = [
        copy(5, "d.jsonl#L1"),  # a story of pass 2
        stories[8],
        copy(2, "d.jsonl#L3"),  # a story of pass 1
        stories[9],
        broken,
        stories[10],
        copy(8, "d.jsonl#L7"),  # a story of this pass
        stories[11],
        stories[12],
        stories[13],
    ]
    write_jsonl(folder / "d.jsonl", d_lines)
    config = root / "passes.yaml"
    config.write_text(f"read:\n  max_documents_per_pass: {LIMIT}\n", encoding="utf-8")
    one_pass = root / "one-pass.yaml"
    one_pass.write_text("read:\n  max_documents_per_pass: 0\n", encoding="utf-8")
    expected = {"inputs": 21, "articles": 21 - len(copies) - 1, "duplicates": len(copies), "rejected": 1}
    return {"root": root, "folder": folder, "config": config, "one_pass": one_pass, "copies": copies,
            "expected": expected}  # fmt: skip


@pytest.fixture(scope="module")
def passes_run(corpus):
    out = corpus["root"] / "out"
    result = newsbeam(
        "run", str(corpus["folder"]), "--output", str(out), "--config", str(corpus["config"]),
        "--no-enrich", "--log-format", "json", "--progress-interval", "60",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    return out, summary, events


def outcomes(out: Path) -> dict[str, tuple[str, str]]:
    """input source (file name and line) -> (table, cluster_id), read back with DuckDB."""
    rows = duckdb.sql(
        f"select 'articles', source, cluster_id from read_parquet('{out}/articles/**/*.parquet')"
        f" union all select 'duplicates', source, cluster_id from read_parquet('{out}/duplicates/**/*.parquet')"
    ).fetchall()
    return {Path(source).name: (table, cluster) for table, source, cluster in rows}


def manifests(out: Path) -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted((out / "_runs").glob("*.json"))]


def test_files_past_the_limit_run_as_passes_whose_accounting_adds_up(corpus, passes_run):
    out, summary, events = passes_run
    runs = sorted(manifests(out), key=lambda m: m["batch"]["pass"])
    assert [m["batch"]["pass"] for m in runs] == [1, 2, 3]
    assert {m["batch"]["id"] for m in runs} == {summary["batch"]["id"]}
    assert summary["run_ids"] == [m["run_id"] for m in runs] == [e["run_id"] for e in events if e["event"] == "pass"]
    # Whole files, in sorted order; the file over the limit is a pass of its own.
    assert [(m["batch"]["first_file"], m["batch"]["last_file"]) for m in runs] == [
        (str(corpus["folder"] / "a.jsonl"), str(corpus["folder"] / "b.txt")),
        (str(corpus["folder"] / "c.jsonl"),) * 2,
        (str(corpus["folder"] / "d.jsonl"),) * 2,
    ]
    assert all(m["accounting"]["inputs"] <= LIMIT for m in runs[:2]) and runs[2]["accounting"]["inputs"] > LIMIT
    # Later passes read the index of the earlier ones.
    assert [m["index_files_read"] > 0 for m in runs] == [False, True, True]
    # Pairs with earlier passes' articles went through the joins too, and none was lost there.
    assert [m["counters"].get("dedup_index_pairs", 0) > 0 for m in runs] == [False, True, True]
    assert [dedup_losses(m["counters"], DedupConfig().bands) for m in runs] == [[], [], []]
    combined = summary["accounting"]
    assert combined["balanced"] and all(m["accounting"]["balanced"] for m in runs)
    assert {k: combined[k] for k in ACCOUNTED} == corpus["expected"]
    assert {k: combined[k] for k in ACCOUNTED} == {k: sum(m["accounting"][k] for m in runs) for k in ACCOUNTED}
    rows = duckdb.sql(
        f"select (select count(*) from read_parquet('{out}/articles/**/*.parquet')),"
        f" (select count(*) from read_parquet('{out}/duplicates/**/*.parquet'))"
    ).fetchall()[0]
    assert rows == (combined["articles"], combined["duplicates"])


def test_a_copy_in_a_later_pass_points_at_the_earlier_passes_article(corpus, passes_run):
    out = passes_run[0]
    doc_of_url = dict(duckdb.sql(f"select url, doc_id from read_parquet('{out}/articles/**/*.parquet')").fetchall())
    duplicate_of = dict(
        duckdb.sql(f"select source, duplicate_of from read_parquet('{out}/duplicates/**/*.parquet')").fetchall()
    )
    found = {where: duplicate_of.get(str(corpus["folder"] / where)) for where in corpus["copies"]}
    assert found == {where: doc_of_url[url] for where, url in corpus["copies"].items()}


def test_passes_give_the_same_articles_duplicates_and_clusters_as_one_pass(corpus, passes_run):
    out, _summary, _events = passes_run
    one = corpus["root"] / "one"
    summary = run([str(corpus["folder"])], output=str(one), config_path=str(corpus["one_pass"]), enrich=False)
    assert summary["batch"]["passes"] == 1 and len(manifests(one)) == 1
    assert outcomes(out) == outcomes(one)


def test_rerunning_the_passes_doubles_nothing(corpus, passes_run, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(passes_run[0], out)
    before = outcomes(out)
    again = run([str(corpus["folder"])], output=str(out), config_path=str(corpus["config"]), enrich=False)
    assert len(again["run_ids"]) == 3 and again["accounting"]["balanced"]
    assert {k: again["accounting"][k] for k in ACCOUNTED} == corpus["expected"]
    assert outcomes(out) == before
    for table in ("articles", "duplicates"):
        rows, ids = duckdb.sql(
            f"select count(*), count(distinct doc_id) from read_parquet('{out}/{table}/**/*.parquet')"
        ).fetchall()[0]
        assert rows == ids == corpus["expected"][table]


def test_documents_per_file_are_estimated_without_parsing(tmp_path):
    cfg = ReadConfig()
    lines = "\n".join(json.dumps({"text": f"line {n}"}) for n in range(250))
    (tmp_path / "plain.jsonl").write_text(lines + "\n", encoding="utf-8")
    with gzip.open(tmp_path / "packed.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.write(lines)  # no newline after the last line
    (tmp_path / "array.json").write_text(json.dumps([{"text": "x" * 1000}] * 40), encoding="utf-8")
    (tmp_path / "object.json").write_text(json.dumps({"text": "x" * 90_000}), encoding="utf-8")
    (tmp_path / "page.html").write_text("<p>x</p>" * 10_000, encoding="utf-8")
    estimates = {p.name: estimate_documents(str(p), cfg) for p in sorted(tmp_path.iterdir())}
    assert estimates == {"array.json": 40, "object.json": 1, "packed.jsonl.gz": 250, "page.html": 1, "plain.jsonl": 250}


def test_the_same_text_in_two_passes_keeps_both_inputs(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    seed = sorted(SEEDS.glob("*.txt"))[0]
    shutil.copy(seed, folder / "a.txt")
    shutil.copy(seed, folder / "b.txt")
    config = tmp_path / "one-each.yaml"
    config.write_text("read:\n  max_documents_per_pass: 1\n", encoding="utf-8")
    run([str(folder)], output=str(tmp_path / "out"), config_path=str(config), enrich=False)
    assert set(outcomes(tmp_path / "out")) == {"a.txt", "b.txt"}
