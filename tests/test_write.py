"""Write stage: real Parquet files, read back with pyarrow and DuckDB; replace-by-key commits."""

from __future__ import annotations

import datetime as dt
import os

import duckdb
import pyarrow.parquet as pq

from schemas.tables import SCHEMA_VERSION, SCHEMA_VERSION_KEY, TABLES
from transforms.write import commit_run, read_table, rows_to_table, staging_root, table_files, write_parquet_atomically

UTC = dt.timezone.utc


def article(doc_id: str, source: str, date: str = "2022-03-21", run_id: str = "r1") -> dict:
    row = {name: None for name in TABLES["articles"].names}
    row.update(
        doc_id=doc_id, source=source, authors=[], outlets=[source], wire_credits=[], text="t", word_count=1,
        copies=1, removed_lines=0, run_id=run_id, date=date, ingested_at=dt.datetime(2022, 3, 21, tzinfo=UTC),
    )  # fmt: skip
    return row


def entity(doc_id: str, date: str = "2022-03-21") -> dict:
    return {"doc_id": doc_id, "text": "Kyiv", "label": "GPE", "canonical": "Kyiv", "start": 0, "end": 4, "date": date}


def stage(output: str, run_id: str, table: str, rows: list[dict]) -> None:
    by_date: dict[str, list[dict]] = {}
    for row in rows:
        by_date.setdefault(row["date"], []).append(row)
    for date, part in by_date.items():
        path = os.path.join(staging_root(output, run_id), table, f"date={date}", "00000.parquet")
        write_parquet_atomically(rows_to_table(part, table), path)


def test_files_carry_schema_and_version_and_leave_date_to_the_path(tmp_path):
    path = tmp_path / "x.parquet"
    write_parquet_atomically(rows_to_table([article("a", "s")], "articles"), str(path))
    schema = pq.read_schema(path)
    assert "date" not in schema.names
    assert schema.metadata[SCHEMA_VERSION_KEY] == SCHEMA_VERSION.encode()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".tmp")]


def test_rerun_replaces_rows_of_the_same_documents(tmp_path):
    output = str(tmp_path)
    for run_id in ("run1", "run2"):
        stage(output, run_id, "articles", [article("a", "a.txt", run_id=run_id), article("b", "b.txt", run_id=run_id)])
        stage(output, run_id, "entities", [entity("a"), entity("b")])
        commit_run(output, run_id)
    articles = read_table(output, "articles")
    assert sorted(articles.column("doc_id").to_pylist()) == ["a", "b"]
    assert set(articles.column("run_id").to_pylist()) == {"run2"}
    assert read_table(output, "entities").num_rows == 2
    assert not os.path.exists(os.path.join(output, "_staging"))


def test_changed_file_replaces_its_old_article_and_entities(tmp_path):
    output = str(tmp_path)
    stage(output, "run1", "articles", [article("old", "a.txt"), article("keep", "k.txt")])
    stage(output, "run1", "entities", [entity("old"), entity("keep")])
    commit_run(output, "run1")
    # a.txt was edited: new text, new doc_id, same source; and its date moved.
    stage(output, "run2", "articles", [article("new", "a.txt", date="2022-03-22", run_id="run2")])
    stage(output, "run2", "entities", [entity("new", date="2022-03-22")])
    commit_run(output, "run2")
    assert sorted(read_table(output, "articles").column("doc_id").to_pylist()) == ["keep", "new"]
    assert sorted(read_table(output, "entities").column("doc_id").to_pylist()) == ["keep", "new"]


def test_errors_of_a_source_that_now_succeeds_are_removed(tmp_path):
    output = str(tmp_path)
    error = {
        "source": "a.txt", "stage": "read", "error_type": "unreadable", "message": "m", "excerpt": "",
        "ingested_at": dt.datetime(2022, 3, 21, tzinfo=UTC), "run_id": "run1", "date": "2022-03-21",
    }  # fmt: skip
    stage(output, "run1", "errors", [error])
    commit_run(output, "run1")
    stage(output, "run2", "articles", [article("a", "a.txt", run_id="run2")])
    commit_run(output, "run2")
    assert read_table(output, "errors").num_rows == 0
    assert read_table(output, "articles").num_rows == 1


def test_duckdb_reads_the_hive_partitions(tmp_path):
    output = str(tmp_path)
    stage(output, "run1", "articles", [article("a", "a.txt"), article("b", "b.txt", date="2022-03-22")])
    commit_run(output, "run1")
    assert len(table_files(output, "articles")) == 2
    rows = duckdb.sql(
        f"select date, count(*) from read_parquet('{output}/articles/**/*.parquet', hive_partitioning=true) "
        "group by date order by date"
    ).fetchall()
    assert [(str(d), n) for d, n in rows] == [("2022-03-21", 1), ("2022-03-22", 1)]


def test_write_table_transform_stages_one_file_per_date(tmp_path):
    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    from schemas.config import WriteConfig
    from transforms.write import WriteTable

    rows = [article("a", "a.txt"), article("b", "b.txt"), article("c", "c.txt", date="2022-03-22")]
    pipeline = TestPipeline()
    paths = pipeline | beam.Create(rows) | WriteTable("articles", str(tmp_path), "run1", WriteConfig())
    assert_that(
        paths | beam.Map(lambda p: os.path.relpath(p, staging_root(str(tmp_path), "run1"))),
        equal_to(["articles/date=2022-03-21/00000.parquet", "articles/date=2022-03-22/00000.parquet"]),
        label="OneFilePerDate",
    )
    result = pipeline.run()
    result.wait_until_finish()
    counters = result.metrics().query(MetricsFilter().with_name("write_articles_rows"))["counters"]
    assert sum(c.committed for c in counters) == 3
    staged = read_table(staging_root(str(tmp_path), "run1"), "articles")
    assert sorted(staged.column("doc_id").to_pylist()) == ["a", "b", "c"]


def test_commit_with_staged_tables_already_read_publishes_the_same(tmp_path):
    """A run reads its staged tables for the summary (only some columns) and hands them to the
    commit, which then skips reading the staged keys again: the published output and the
    replaced-row counts must be those of a commit that reads the files itself."""
    from pipeline.run import STAGED_COLUMNS

    results = []
    for name, hand_over in (("reads", False), ("handed", True)):
        output = str(tmp_path / name)
        replaced = []
        for run_id, rows in (("run1", [("old", "a.txt"), ("keep", "k.txt")]), ("run2", [("new", "a.txt")])):
            stage(output, run_id, "articles", [article(d, s, run_id=run_id) for d, s in rows])
            stage(output, run_id, "entities", [entity(d) for d, _ in rows])
            staged = None
            if hand_over:
                root = staging_root(output, run_id)
                staged = {table: read_table(root, table, STAGED_COLUMNS.get(table, [])) for table in TABLES}
                assert staged["entities"].num_columns == 0 and staged["entities"].num_rows == len(rows)
                assert staged["articles"].column_names == STAGED_COLUMNS["articles"]
            replaced.append(commit_run(output, run_id, staged))
        published = {t: sorted(read_table(output, t).column("doc_id").to_pylist()) for t in ("articles", "entities")}
        results.append((replaced, published))
    assert results[0] == results[1]
    assert results[1][1] == {"articles": ["keep", "new"], "entities": ["keep", "new"]}
    assert results[1][0][1]["articles"] == 1


def test_packed_index_anchors_are_written_as_the_lists_they_pack(tmp_path):
    # The index's anchors travel packed (8 little-endian bytes a hash); the file holds the same
    # list<uint64> a list would give, and a packing cut short is a write error, not a crash.
    from transforms.dedup import pack_hashes
    from transforms.write import encode_rows

    anchors = [[1, 2**63, 2**64 - 1], [], [7]]
    rows = [
        {
            "doc_id": f"d{i}",
            "cluster_id": f"d{i}",
            "source": f"s{i}",
            "outlet": "Wire",
            "published_ts": 1.0,
            "text_chars": 10,
            "anchors": hashes,
            "bands": ["0:00000000000000aa"],
            "date": "2024-03-05",
        }
        for i, hashes in enumerate(anchors)
    ]
    packed = [{**row, "anchors": pack_hashes(row["anchors"])} for row in rows]
    table, bad = encode_rows(packed, "_index")
    assert not bad and table.equals(rows_to_table(rows, "_index"))
    path = str(tmp_path / "index.parquet")
    write_parquet_atomically(table, path)
    assert pq.read_table(path).column("anchors").to_pylist() == anchors
    table, bad = encode_rows([packed[0], {**packed[1], "anchors": b"\x01\x02\x03"}], "_index")
    assert table.num_rows == 1 and [reason for _row, reason, _value in bad] == [
        "column anchors: packed hashes of 3 bytes"
    ]
    # Two rows cut short by 3 and 5 bytes join into 8: still both refused, not read as one hash.
    cut = [{**packed[0], "anchors": b"\x01" * 3}, {**packed[1], "anchors": b"\x02" * 5}, packed[2]]
    table, bad = encode_rows(cut, "_index")
    assert table.column("anchors").to_pylist() == [[7]] and len(bad) == 2
