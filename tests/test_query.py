"""``newsbeam query``: the table, CSV and JSON it prints hold what DuckDB reads from the same files."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re

import duckdb
import pytest

from pipeline.cli import main
from tests.test_cli import write_outlet_folder
from tests.test_end_to_end import table_sql

COLUMNS = "doc_id, outlet, title, word_count, copies, outlets, published_at"


@pytest.fixture(scope="module")
def output(tmp_path_factory):
    root = tmp_path_factory.mktemp("query")
    write_outlet_folder(root / "in")
    assert main(["run", str(root / "in"), "--output", str(root / "out"), "--no-enrich", "--quiet"]) == 0
    return root / "out"


def cli_query(output, capsys, sql: str, *options: str) -> str:
    assert main(["query", str(output), sql, *options]) == 0
    captured = capsys.readouterr()
    assert not captured.err
    return captured.out


def direct(output, sql_over: str) -> tuple[list[str], list[tuple]]:
    """The same query straight over the Parquet files, as a user would write it in DuckDB."""
    relation = duckdb.sql(sql_over.format(articles=table_sql(output, "articles")))
    return relation.columns, relation.fetchall()


def test_csv_equals_duckdb_over_the_files(output, capsys):
    text = cli_query(output, capsys, f"select {COLUMNS} from articles order by doc_id", "--format", "csv")
    columns, rows = direct(output, f"select {COLUMNS} from {{articles}} order by doc_id")
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0] == columns
    assert len(parsed) - 1 == len(rows) == 4
    for printed, (doc_id, outlet, title, words, copies, outlets, published) in zip(parsed[1:], rows):
        assert printed[:5] == [doc_id, outlet, title, str(words), str(copies)]
        assert json.loads(printed[5]) == outlets
        assert dt.datetime.fromisoformat(printed[6]) == published


def test_json_equals_duckdb_over_the_files(output, capsys):
    text = cli_query(output, capsys, f"select {COLUMNS} from articles order by doc_id", "--format", "json")
    columns, rows = direct(output, f"select {COLUMNS} from {{articles}} order by doc_id")
    records = json.loads(text)
    assert len(records) == len(rows)
    for record, row in zip(records, rows):
        assert list(record) == columns
        expected = dict(zip(columns, row))
        published = expected.pop("published_at")
        assert dt.datetime.fromisoformat(record.pop("published_at")) == published
        assert record == expected


def test_table_is_aligned_and_holds_every_value(output, capsys):
    sql = "select outlet, count(*) as articles, sum(word_count) as words from {articles} group by all order by outlet"
    text = cli_query(output, capsys, sql.format(articles="articles"))
    columns, rows = direct(output, sql)
    lines = text.rstrip("\n").splitlines()
    rule = lines[1]
    spans = [(m.start(), m.end()) for m in re.finditer(r"-+", rule)]
    cells = [[line[a:b].strip() for a, b in spans] for line in lines[2:-1]]
    assert [lines[0][a:b].strip() for a, b in spans] == columns
    assert cells == [[str(v) for v in row] for row in rows]
    assert lines[-1] == f"({len(rows)} rows)"
    # Numbers are right-aligned under their header.
    assert all(line[spans[1][1] - 1] != " " for line in lines[2:-1])


def test_long_text_is_cut_in_a_table_but_whole_in_csv(output, capsys):
    sql = "select text from articles order by doc_id limit 1"
    table = cli_query(output, capsys, sql, "--max-width", "30")
    assert len(table.splitlines()[2]) == 30 and table.splitlines()[2].endswith("…")
    whole = cli_query(output, capsys, sql, "--format", "csv")
    (text,) = direct(output, "select text from {articles} order by doc_id limit 1")[1][0]
    assert list(csv.reader(io.StringIO(whole)))[1] == [text]


def test_views_include_every_table_and_the_runs(output, capsys):
    text = cli_query(output, capsys, "select count(*) as runs from runs", "--format", "json")
    assert json.loads(text) == [{"runs": 1}]
    for table in ("entities", "numbers", "claims", "reuse", "entity_index", "errors"):
        cli_query(output, capsys, f"select count(*) from {table}")
