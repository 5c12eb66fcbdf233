"""``newsbeam query OUT "SQL"``: DuckDB SQL over an output folder, printed for people or programs.

Every output table is a view (``articles``, ``entities``, ``numbers``, ``duplicates``, ``reuse``,
``entity_index``, ``claims``, ``errors``, and ``runs`` over the run manifests; see
``pipeline.views``). The result prints as an aligned text table, as CSV, or as a JSON array of
objects, with no dependency beyond DuckDB.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json

import duckdb

from pipeline.options import UsageError
from pipeline.summary import clip

FORMATS = ("table", "csv", "json")
# Article texts are long; a table cell shows this many characters (0: no limit).
DEFAULT_MAX_WIDTH = 60
NULL = "NULL"


def run_query(output: str, sql: str) -> tuple[list[str], list[tuple]]:
    """Column names and rows of ``sql`` over the views of ``output``; a bad query is a UsageError."""
    from pipeline.views import open_views

    connection = open_views(output)
    try:
        cursor = connection.execute(sql)
        columns = [d[0] for d in cursor.description] if cursor.description else []
        rows = cursor.fetchall() if columns else []
    except duckdb.Error as exc:
        views = [
            r[0] for r in connection.execute("select table_name from information_schema.tables order by 1").fetchall()
        ]
        raise UsageError(f"query failed: {_first_paragraph(str(exc))}; the views are {', '.join(views)}") from exc
    finally:
        connection.close()
    return columns, rows


def _first_paragraph(message: str) -> str:
    """DuckDB's message up to its first blank line (the error and its hint, not the SQL excerpt)."""
    return " ".join(message.split("\n\n", 1)[0].split())


def render(columns: list[str], rows: list[tuple], fmt: str = "table", max_width: int = DEFAULT_MAX_WIDTH) -> str:
    if fmt == "csv":
        return format_csv(columns, rows)
    if fmt == "json":
        return format_json(columns, rows)
    return format_table(columns, rows, max_width)


def format_table(columns: list[str], rows: list[tuple], max_width: int = DEFAULT_MAX_WIDTH) -> str:
    """Columns padded to their widest cell, numbers right-aligned, a dashed rule under the header."""
    cells = [[clip(_text(value), max_width) for value in row] for row in rows]
    widths = [max([len(name), *(len(row[i]) for row in cells)]) for i, name in enumerate(columns)]
    numeric = [_is_numeric_column([row[i] for row in rows]) for i in range(len(columns))]

    def line(values: list[str]) -> str:
        padded = [v.rjust(w) if right else v.ljust(w) for v, w, right in zip(values, widths, numeric)]
        return "  ".join(padded).rstrip()

    lines = [line(columns), "  ".join("-" * w for w in widths)]
    lines += [line(row) for row in cells]
    lines.append(f"({len(rows)} row{'' if len(rows) == 1 else 's'})")
    return "\n".join(lines)


def _is_numeric_column(values: list) -> bool:
    numbers = [v for v in values if v is not None]
    return bool(numbers) and all(
        isinstance(v, (int, float, decimal.Decimal)) and not isinstance(v, bool) for v in numbers
    )


def format_csv(columns: list[str], rows: list[tuple]) -> str:
    """RFC 4180 CSV with a header; NULL is an empty field; lists and structs are JSON."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_value(value) for value in row])
    return buffer.getvalue().rstrip("\n")


def format_json(columns: list[str], rows: list[tuple]) -> str:
    """A JSON array with one object per row (one row per line); times in ISO 8601."""
    records = [json.dumps(dict(zip(columns, row)), default=_json_value, ensure_ascii=False) for row in rows]
    return "[\n" + ",\n".join(records) + "\n]" if records else "[]"


def _json_value(value):
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    return str(value)


def _csv_value(value) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else _text(value)


def _text(value) -> str:
    """One cell as text: NULL, ISO times, JSON for nested values, one line for multi-line text."""
    if value is None:
        return NULL
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=_json_value, ensure_ascii=False)
    return " ".join(str(value).splitlines()) if isinstance(value, str) else str(value)
