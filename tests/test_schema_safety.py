"""Schema safety: an output of another schema version is refused before anything runs, and a
row that does not fit its table's schema becomes an error row instead of failing the write."""

from __future__ import annotations

import datetime as dt
import os

import apache_beam as beam
import duckdb
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline

from schemas.config import WriteConfig
from schemas.tables import SCHEMA_VERSION, SCHEMA_VERSION_KEY, TABLES
from tests.conftest import SEEDS
from tests.test_end_to_end import newsbeam
from transforms.write import (
    OutputSchemaMismatch,
    WriteTable,
    check_output_schema,
    commit_run,
    complete_error_row,
    read_table,
    staging_root,
    table_files,
    write_rows,
)

UTC = dt.timezone.utc
INGESTED = dt.datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def as_older_version(path: str, version: str) -> None:
    """Rewrite one Parquet file as an older newsbeam would have left it."""
    table = pq.read_table(path)
    metadata = {**table.schema.metadata, SCHEMA_VERSION_KEY: version.encode()}
    pq.write_table(table.replace_schema_metadata(metadata), path)


def test_an_output_of_another_schema_version_is_refused_before_the_run(tmp_path):
    out = tmp_path / "out"
    first = newsbeam("run", str(SEEDS), "--output", str(out), "--no-enrich")
    assert first.returncode == 0, first.stderr[-3000:]
    check_output_schema(str(out))  # this version's own output is fine
    older = table_files(str(out), "articles")[0]
    as_older_version(older, "2")
    manifests = sorted(os.listdir(out / "_runs"))

    second = newsbeam("run", str(SEEDS), "--output", str(out), "--no-enrich")
    assert second.returncode == 2
    message = second.stderr
    assert "schema version 2" in message and f"schema version {SCHEMA_VERSION}" in message
    assert "--output" in message and "migrate" in message and "Traceback" not in message
    # Nothing ran: no new manifest, nothing staged, the old file untouched.
    assert sorted(os.listdir(out / "_runs")) == manifests
    assert not (out / "_staging").exists()
    assert pq.read_schema(older).metadata[SCHEMA_VERSION_KEY] == b"2"


def test_a_file_without_a_version_is_refused_too(tmp_path):
    folder = tmp_path / "articles" / "date=2024-03-01"
    folder.mkdir(parents=True)
    pq.write_table(TABLES["articles"].empty_table().drop_columns(["date"]), folder / "foreign.parquet")
    with pytest.raises(OutputSchemaMismatch, match="schema version none"):
        check_output_schema(str(tmp_path))


def article(doc_id: str, source: str, **changes) -> dict:
    row = {name: None for name in TABLES["articles"].names}
    row.update(
        doc_id=doc_id, source=source, authors=[], outlets=[source], wire_credits=[], text="t", word_count=1,
        copies=1, removed_lines=0, run_id="run1", date="2024-03-01", ingested_at=INGESTED,
    )  # fmt: skip
    row.update(changes)
    return row


def write_tables(output: str, tables: dict[str, list[dict]], run_id: str = "run1") -> None:
    """Stage ``tables`` with the real WriteTable transforms on a Beam runner, then commit."""
    pipeline = TestPipeline()
    for name, rows in tables.items():
        _ = (
            pipeline
            | f"Create{name}" >> beam.Create(rows)
            | f"Write{name}" >> WriteTable(name, output, run_id, WriteConfig(), INGESTED)
        )
    pipeline.run().wait_until_finish()
    commit_run(output, run_id)


def test_rows_that_do_not_fit_the_schema_become_error_rows_and_the_rest_is_written(tmp_path):
    output = str(tmp_path)
    good = [article(f"good{i}", f"/in/good{i}.txt") for i in range(5)]
    bad = [
        article("badcount", "/in/badcount.txt", word_count="many"),
        article("badlist", "/in/badlist.txt", authors="Jane Doe"),
        article("baddate", "/in/baddate.txt", date="../../escape"),
    ]
    entities = [
        {"doc_id": "good0", "text": "Kyiv", "label": "GPE", "canonical": "Kyiv", "entity_id": "e1", "start": 0,
         "end": 4, "date": "2024-03-01"},
        {"doc_id": "good1", "text": "Kyiv", "label": "GPE", "canonical": "Kyiv", "entity_id": "e1", "start": 2**40,
         "end": 4, "date": "2024-03-01"},
    ]  # fmt: skip
    stage_error = complete_error_row(
        {"source": "/in/x.txt", "stage": "read", "error_type": "empty", "message": 404, "excerpt": ""}, "run1", INGESTED
    )
    write_tables(output, {"articles": good + bad, "entities": entities, "errors": [stage_error]})

    articles = read_table(output, "articles")
    assert sorted(articles.column("doc_id").to_pylist()) == [f"good{i}" for i in range(5)]
    assert read_table(output, "entities").column("doc_id").to_pylist() == ["good0"]
    errors = duckdb.sql(
        f"select source, stage, error_type, message from read_parquet('{output}/errors/**/*.parquet') order by source"
    ).fetchall()
    by_source = {source: (stage, error_type, message) for source, stage, error_type, message in errors}
    assert set(by_source) == {"/in/badcount.txt", "/in/badlist.txt", "/in/baddate.txt", "doc:good1", "/in/x.txt"}
    for source, column in (
        ("/in/badcount.txt", "word_count"),
        ("/in/badlist.txt", "authors"),
        ("/in/baddate.txt", "date"),
    ):
        stage, error_type, message = by_source[source]
        assert (stage, error_type) == ("write", "encode") and f"column {column}" in message
    assert by_source["doc:good1"][:2] == ("write", "encode_part") and "column start" in by_source["doc:good1"][2]
    # An error row is never rejected: a value of the wrong type is written as text.
    assert by_source["/in/x.txt"] == ("read", "empty", "404")
    assert not (tmp_path.parent / "escape").exists()
    assert not os.path.exists(staging_root(output, "run1"))


def test_strings_that_are_not_unicode_are_rejected_and_error_rows_escape_them(tmp_path):
    # Beam's coders refuse lone surrogates, so the read stage keeps them out of elements; the
    # writer still never lets one reach a file, nor lose an error row over one.
    rows = [article("ok", "/in/ok.txt"), article("bad", "/in/bad.txt", text="broken \ud800 text")]
    written, rejected = write_rows(rows, "articles", str(tmp_path / "a.parquet"), "zstd")
    assert written == 1 and [row["doc_id"] for row, _reason, _value in rejected] == ["bad"]
    assert "column text" in rejected[0][1]
    error = complete_error_row(
        {"source": "/in/\udcff.txt", "stage": "read", "error_type": "empty", "message": "m", "excerpt": ""},
        "run1",
        INGESTED,
    )
    written, rejected = write_rows([error], "errors", str(tmp_path / "e.parquet"), "zstd")
    assert (written, rejected) == (1, [])
    assert pq.read_table(tmp_path / "e.parquet").column("source").to_pylist() == ["/in/\\udcff.txt"]


def test_a_rerun_that_writes_the_document_clears_its_earlier_encode_errors(tmp_path):
    output = str(tmp_path)
    entity = {"doc_id": "a", "text": "Kyiv", "label": "GPE", "canonical": "Kyiv", "entity_id": "e1", "start": 0,
              "end": 4, "date": "2024-03-01"}  # fmt: skip
    write_tables(output, {"articles": [article("a", "/in/a.txt")], "entities": [{**entity, "end": "four"}]})
    assert read_table(output, "errors").column("source").to_pylist() == ["doc:a"]
    write_tables(output, {"articles": [article("a", "/in/a.txt")], "entities": [entity]}, "run2")
    assert read_table(output, "errors").num_rows == 0
    assert read_table(output, "entities").num_rows == 1
