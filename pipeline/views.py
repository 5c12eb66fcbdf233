"""Every output table of a newsbeam folder as a DuckDB view, for ``newsbeam query`` and the report.

``open_views(output)`` returns an in-memory DuckDB connection where ``articles``, ``entities``,
``numbers``, ... read the Hive-partitioned Parquet datasets in place (nothing is copied), and
``runs`` reads the run manifests in ``_runs/`` (there is no ``runs`` view before the first run).
A table with no files yet is an empty view with the contract's columns, so the same SQL works
on a fresh output as on a full one.
"""

from __future__ import annotations

import json
import os

import duckdb

from schemas.tables import PARTITION_COLUMN, TABLES
from transforms.write import RUNS_DIR, table_files

RUNS_VIEW = "runs"


def is_output_folder(output: str) -> bool:
    """A folder a run has written to: it holds a table dataset or a run manifest folder."""
    return os.path.isdir(output) and any(os.path.isdir(os.path.join(output, name)) for name in (*TABLES, RUNS_DIR))


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _parquet_view_sql(output: str, table: str) -> str:
    pattern = _sql_string(os.path.join(output, table, "**", "*.parquet"))
    # The partition column is a string in the contract; DuckDB would otherwise guess DATE.
    return (
        f"select * from read_parquet({pattern}, hive_partitioning=true, union_by_name=true, "
        f"hive_types={{'{PARTITION_COLUMN}': 'VARCHAR'}})"
    )


def output_folder_problem(output: str) -> str | None:
    """Why ``output`` is not a folder a newsbeam run wrote (one line, with what to do); None if it is."""
    if not os.path.isdir(output):
        return f"output folder not found: {output}; give the --output folder of a newsbeam run"
    if not is_output_folder(output):
        return (
            f"{output} is not a newsbeam output folder (no table folders such as articles/ and no {RUNS_DIR}/); "
            f"give the --output folder of a newsbeam run, or make one with: newsbeam run INPUT --output {output}"
        )
    return None


def open_views(output: str) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with one view per output table, plus ``runs`` when present."""
    problem = output_folder_problem(output)
    if problem:
        raise FileNotFoundError(problem)
    output = os.path.abspath(output)
    connection = duckdb.connect()
    for table, schema in TABLES.items():
        if table_files(output, table):
            connection.execute(f'create view "{table}" as {_parquet_view_sql(output, table)}')
        else:
            connection.register(table, schema.empty_table())
    manifests = readable_manifests(os.path.join(output, RUNS_DIR))
    if manifests:
        files = "[" + ", ".join(_sql_string(path) for path in manifests) + "]"
        connection.execute(f"create view {RUNS_VIEW} as select * from read_json_auto({files}, union_by_name=true)")
    return connection


def readable_manifests(folder: str) -> list[str]:
    """The run manifests in ``folder`` that parse: one damaged by hand must not stop every query."""
    if not os.path.isdir(folder):
        return []
    readable = []
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".json"):
            continue
        path = os.path.join(folder, name)
        try:
            with open(path, encoding="utf-8") as handle:
                if isinstance(json.load(handle), dict):
                    readable.append(path)
        except (OSError, ValueError):
            continue
    return readable
