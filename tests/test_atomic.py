"""Idempotent, atomic output: reruns leave identical tables, SIGKILL at any point leaves no
partial file and no half-committed state once the next run has taken the output, one run at
a time holds an output folder, and all of it also works through Beam's filesystems for an
output that is not on a local disk."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import apache_beam as beam
import duckdb
import pytest
from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.localfilesystem import LocalFileSystem
from apache_beam.testing.test_pipeline import TestPipeline

from benchmarks.soak import seed_vocabulary, synthetic_text
from pipeline.run import run
from schemas.config import WriteConfig
from schemas.tables import TABLES
from tests.test_end_to_end import newsbeam, write_mixed_folder
from tests.test_schema_safety import article, write_tables
from transforms.write import (
    INDEX_TABLE,
    JOURNAL_FILE,
    LOCK_FILE,
    STAGING_DIR,
    OutputInUse,
    OutputLock,
    WriteTable,
    check_output_schema,
    read_table,
    table_files,
)

ALL_TABLES = [*TABLES, INDEX_TABLE]
# Columns that say when and by which run a row was written: everything else must be equal.
RUN_COLUMNS = {"run_id", "ingested_at"}


def write_documents(folder: Path, count: int, days: int, seed: int) -> int:
    """``count`` distinct JSON documents published over ``days`` days (many date partitions)."""
    rng = random.Random(seed)
    vocabulary = seed_vocabulary()
    folder.mkdir(parents=True)
    for number in range(count):
        record = {
            "url": f"https://example.org/{seed}/{number}",
            "title": f"Story {number}",
            "published": f"2024-03-{1 + number % days:02d}T08:00:00Z",
            "text": synthetic_text(rng, vocabulary, rng.randint(60, 120)),
        }
        (folder / f"doc-{number:04d}.json").write_text(json.dumps(record), encoding="utf-8")
    return count


def start_run(inputs: Path, out: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "pipeline.cli", "run", str(inputs), "--output", str(out), "--no-enrich"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(predicate, process: subprocess.Popen, timeout: float = 300) -> bool:
    """Poll ``predicate`` as fast as possible while ``process`` runs; False if it ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if process.poll() is not None:
            return False
    raise AssertionError("timed out waiting for the run")


def visible_counts(out: Path) -> dict[str, int]:
    """Row counts as a DuckDB user sees them: every visible file must read whole."""
    counts = {}
    for table in ALL_TABLES:
        if not list((out / table).glob("*/*.parquet")):
            counts[table] = 0
            continue
        sql = f"select count(*) from read_parquet('{out}/{table}/**/*.parquet', hive_partitioning=true)"
        counts[table] = duckdb.sql(sql).fetchall()[0][0]
    return counts


def table_rows(out: Path) -> dict[str, list[tuple]]:
    """Every table's rows without the run columns, sorted: what a rerun must leave unchanged."""
    rows = {}
    for table in ALL_TABLES:
        data = read_table(str(out), table)
        data = data.select([c for c in data.column_names if c not in RUN_COLUMNS])
        rows[table] = sorted(
            tuple(json.dumps(v, default=str, sort_keys=True) for v in r.values()) for r in data.to_pylist()
        )
    return rows


def test_rerun_of_the_same_input_leaves_identical_tables(tmp_path):
    write_mixed_folder(tmp_path / "in")
    out = tmp_path / "out"
    run([str(tmp_path / "in")], output=str(out), enrich=False)
    first = table_rows(out)
    second_summary = run([str(tmp_path / "in")], output=str(out), enrich=False)
    assert table_rows(out) == first
    assert all(first[t] for t in ("articles", "duplicates", "errors", INDEX_TABLE))
    # No file of the first run is left behind with rows the second one replaced.
    articles = read_table(str(out), "articles")
    assert set(articles.column("run_id").to_pylist()) == {second_summary["run_id"]}


@pytest.fixture
def committed_output(tmp_path):
    """An output holding a first run of 40 documents, and a second input folder of 200 more
    (re-using 40 URLs, so the second commit replaces rows in many files)."""
    first_in, second_in, out = tmp_path / "first", tmp_path / "second", tmp_path / "out"
    write_documents(first_in, 40, days=20, seed=1)
    write_documents(second_in, 200, days=28, seed=2)
    for number in range(40):  # the same URL -> the same doc_id: these rows are replaced
        path = second_in / f"doc-{number:04d}.json"
        record = json.loads(path.read_text())
        path.write_text(json.dumps({**record, "url": f"https://example.org/1/{number}"}), encoding="utf-8")
    run([str(first_in)], output=str(out), enrich=False)
    before = visible_counts(out)
    assert before["articles"] == 40
    return second_in, out, before


def expected_after(before: dict[str, int]) -> dict[str, int]:
    # The 40 shared URLs replace the first run's 40 articles: 200 remain, one index row each.
    return {**before, "articles": 200, INDEX_TABLE: 200}


def test_sigkill_during_the_pipeline_and_the_next_run_takes_over(committed_output):
    second_in, out, before = committed_output
    process = start_run(second_in, out)
    staged = out / STAGING_DIR
    caught = wait_for(lambda: any(staged.glob("*/*/*/*.parquet")), process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert caught, "the run ended before anything was staged"
    visible_counts(out)  # every visible file reads whole
    assert str(process.pid) in (out / LOCK_FILE).read_text()
    # Once the output is taken again, it holds the first run or both, never half of the second.
    copy = out.parent / "copy"
    shutil.copytree(out, copy)
    with OutputLock(str(copy), "recovery-check", warn=lambda message: None):
        assert visible_counts(copy) in (before, expected_after(before))

    again = newsbeam("run", str(second_in), "--output", str(out), "--no-enrich")
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"pid {process.pid}" in again.stderr and "died" in again.stderr
    assert visible_counts(out) == expected_after(before)
    assert not staged.exists() and not (out / LOCK_FILE).exists()


def test_sigkill_during_the_commit_is_rolled_forward(committed_output):
    second_in, out, before = committed_output
    process = start_run(second_in, out)
    journals = out / STAGING_DIR
    caught = wait_for(lambda: any(journals.glob(f"*/{JOURNAL_FILE}")), process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    if not caught:
        pytest.skip("the commit finished before the test saw its journal")
    # Readers never see a partial file, even mid-commit.
    for table in ALL_TABLES:
        for path in table_files(str(out), table):
            assert not os.path.basename(path).startswith(".")
    visible_counts(out)
    with OutputLock(str(out), "recovery-check", warn=lambda message: None) as lock:
        pass
    journalled = lock.recovered["rolled_forward"]
    assert journalled or not journals.exists()
    assert visible_counts(out) == expected_after(before)
    assert not journals.exists()


def test_a_second_run_into_a_busy_output_exits_2_and_the_first_completes(committed_output):
    second_in, out, before = committed_output
    first = start_run(second_in, out)
    assert wait_for(lambda: (out / LOCK_FILE).exists(), first)
    second = newsbeam("run", str(second_in), "--output", str(out), "--no-enrich")
    assert second.returncode == 2
    assert "in use by run" in second.stderr and f"pid {first.pid}" in second.stderr
    assert "Traceback" not in second.stderr
    _stdout, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr[-3000:]
    assert visible_counts(out) == expected_after(before)


def test_a_lock_of_a_live_process_that_does_not_flock_is_respected(tmp_path):
    # What an older newsbeam wrote: "<run_id> pid=<pid>", held by existence only.
    (tmp_path / LOCK_FILE).write_text(f"20260101T000000Z-old pid={os.getpid()}\n")
    with pytest.raises(OutputInUse, match=f"pid {os.getpid()}"):
        with OutputLock(str(tmp_path), "new"):
            pass
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / LOCK_FILE).write_text(f"20260101T000000Z-old pid={dead.pid}\n")
    warnings = []
    with OutputLock(str(tmp_path), "new", warn=warnings.append):
        assert json.loads((tmp_path / LOCK_FILE).read_text())["run_id"] == "new"
    assert warnings and f"pid {dead.pid}" in warnings[0]
    assert not (tmp_path / LOCK_FILE).exists()


class ObjectStoreStandIn(LocalFileSystem):
    """``nbstore://<path>``: Beam's local filesystem under a scheme of its own, so the output
    takes the route of every remote store (gs://, s3://): FileSystems channels, listings by
    match, a lock object instead of an OS lock, no folders to make."""

    PREFIX = "nbstore://"

    @classmethod
    def scheme(cls):
        return "nbstore"

    def _local(self, path: str) -> str:
        return path[len(self.PREFIX) :] if path.startswith(self.PREFIX) else path

    def join(self, basepath, *paths):
        return self.PREFIX + super().join(self._local(basepath), *paths)

    def split(self, path):
        head, tail = super().split(self._local(path))
        return self.PREFIX + head, tail

    def _url_dirname(self, url_or_path):
        return self.PREFIX + super()._url_dirname(self._local(url_or_path))

    def _list(self, dir_or_prefix):
        for folder, _subfolders, names in os.walk(self._local(dir_or_prefix)):
            for name in names:
                path = os.path.join(folder, name)
                yield FileMetadata(self.PREFIX + path, os.path.getsize(path), os.path.getmtime(path))

    def create(self, path, *args, **kwargs):
        return super().create(self._local(path), *args, **kwargs)

    def open(self, path, *args, **kwargs):
        return super().open(self._local(path), *args, **kwargs)

    def rename(self, source_file_names, destination_file_names):
        for destination in destination_file_names:  # an object store has no folders to make first
            os.makedirs(os.path.dirname(self._local(destination)), exist_ok=True)
        super().rename([self._local(p) for p in source_file_names], [self._local(p) for p in destination_file_names])

    def exists(self, path):
        return super().exists(self._local(path))

    def metadata(self, path):
        found = super().metadata(self._local(path))
        return FileMetadata(path, found.size_in_bytes, found.last_updated_in_seconds)

    def delete(self, paths):
        super().delete([self._local(p) for p in paths])


def test_an_output_on_another_filesystem_goes_through_beams_filesystems(tmp_path):
    out = f"{ObjectStoreStandIn.PREFIX}{tmp_path}/out"
    local = tmp_path / "out"
    with OutputLock(out, "run1"):
        assert json.loads((local / LOCK_FILE).read_text())["run_id"] == "run1"
        with pytest.raises(OutputInUse, match="in use by run run1"):
            with OutputLock(out, "run2"):
                pass
        write_tables(out, {"articles": [article("a", "/in/a.txt"), article("b", "/in/b.txt", word_count="x")]})
    assert not (local / LOCK_FILE).exists()
    with OutputLock(out, "run2"):
        write_tables(out, {"articles": [article("a", "/in/a.txt"), article("c", "/in/c.txt")]}, "run2")
    assert sorted(read_table(out, "articles").column("doc_id").to_pylist()) == ["a", "c"]
    assert read_table(out, "errors").column("source").to_pylist() == ["/in/b.txt"]
    # The files are where a reader of the store expects them, and read whole.
    sql = f"select doc_id from read_parquet('{local}/articles/**/*.parquet', hive_partitioning=true) order by 1"
    assert duckdb.sql(sql).fetchall() == [("a",), ("c",)]
    check_output_schema(out)

    # A run that died after staging: the next one taking the output rolls it back.
    pipeline = TestPipeline()
    _ = pipeline | beam.Create([article("d", "/in/d.txt")]) | WriteTable("articles", out, "run3", WriteConfig())
    pipeline.run().wait_until_finish()
    assert list((local / STAGING_DIR).rglob("*.parquet"))
    with OutputLock(out, "run4") as lock:
        assert lock.recovered == {"rolled_forward": [], "rolled_back": ["run3"]}
    assert not list((local / STAGING_DIR).rglob("*.parquet"))
    assert sorted(read_table(out, "articles").column("doc_id").to_pylist()) == ["a", "c"]
