"""Write stage: Hive-partitioned Parquet tables, staged by the pipeline and committed after it.

Two steps, so that a reader never sees half a run and a rerun never doubles rows:

1. ``WriteTables`` (inside the pipeline) groups each table's rows by ``(date, shard)`` and writes
   one zstd Parquet file per group into ``<output>/_staging/<run_id>/<table>/date=D/``. Every
   file is written under a temporary name and renamed, so no partial file is ever visible.
2. ``commit_run`` (in the launcher, after the pipeline succeeded) moves the staged files into
   ``<output>/<table>/date=D/part-<run_id>-<shard>.parquet`` and then *replaces by key*: rows of
   earlier runs for the same documents (same doc_id, or same input source) are removed from
   the older files. Running the same input twice therefore leaves the same rows.

If the launcher dies between the two halves of the commit, the worst case is a document
present twice until the next run over the same input, never a lost one.
"""

from __future__ import annotations

import datetime as dt
import glob
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterable

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.metrics import Metrics

from schemas.config import WriteConfig
from schemas.tables import INTERNAL_TABLES, PARTITION_COLUMN, TABLES, file_schema
from transforms.timing import StageClock

METRICS_NAMESPACE = "newsbeam"
STAGING_DIR = "_staging"
INDEX_TABLE = "_index"
# Run-level aggregate tables and their keys: a rerun replaces rows with the same key.
AGGREGATE_KEYS = {"entity_index": "entity_id", "claims": "claim_id"}
# Everything a run writes: the query tables and the signature index.
WRITTEN_TABLES = (*TABLES, *INTERNAL_TABLES)
RUNS_DIR = "_runs"

# Sort order inside a file: stable bytes for the same rows, and readers get doc_id locality.
_SORT_KEYS = {
    "articles": ("doc_id",),
    "entities": ("doc_id", "start", "end", "label"),
    "numbers": ("doc_id", "start", "end"),
    "duplicates": ("doc_id",),
    "reuse": ("doc_id", "source_doc_id"),
    "_index": ("doc_id",),
    "entity_index": ("entity_id",),
    "claims": ("claim_id",),
    "errors": ("source", "stage", "error_type"),
}


# ---------------------------------------------------------------- pure functions


def rows_to_table(rows: Iterable[dict], table: str) -> pa.Table:
    """Rows (dicts with every column of ``table``) as an Arrow table in the file schema."""
    schema = file_schema(table)
    keys = _SORT_KEYS[table]
    ordered = sorted(rows, key=lambda r: tuple("" if r.get(k) is None else r.get(k) for k in keys))
    columns = {name: [row.get(name) for row in ordered] for name in schema.names}
    return pa.Table.from_pydict(columns, schema=schema)


def write_parquet_atomically(table: pa.Table, path: str, compression: str = "zstd") -> None:
    """Write under a hidden temporary name in the same folder, then rename into place."""
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    temporary = os.path.join(folder, f".tmp-{uuid.uuid4().hex}.parquet")
    try:
        pq.write_table(table, temporary, compression=compression)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def shard_of(row: dict, table: str, shards: int) -> int:
    if shards == 1:
        return 0
    key = str(row.get("doc_id") or row.get("source") or "")
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=4).digest(), "little") % shards


def staging_root(output: str, run_id: str) -> str:
    return os.path.join(output, STAGING_DIR, run_id)


def table_files(root: str, table: str) -> list[str]:
    return sorted(glob.glob(os.path.join(root, table, f"{PARTITION_COLUMN}=*", "*.parquet")))


def _read_column(path: str, column: str) -> pa.Array:
    return pq.read_table(path, columns=[column]).column(column).combine_chunks()


def _rewrite_without(path: str, mask: pa.Array) -> int:
    """Drop the rows where ``mask`` is true; delete the file when nothing is left."""
    removed = pc.sum(mask).as_py() or 0
    if not removed:
        return 0
    table = pq.read_table(path)
    # Keep the partition column out of the file, as written.
    if PARTITION_COLUMN in table.column_names:
        table = table.drop_columns([PARTITION_COLUMN])
    kept = table.filter(pc.invert(mask))
    if kept.num_rows == 0:
        os.remove(path)
    else:
        write_parquet_atomically(kept.replace_schema_metadata(table.schema.metadata), path)
    return removed


def commit_run(output: str, run_id: str) -> dict[str, int]:
    """Publish a run's staged files and replace earlier rows of the same documents.

    Returns the number of earlier rows replaced per table.
    """
    staged_root = staging_root(output, run_id)
    staged = {table: table_files(staged_root, table) for table in WRITTEN_TABLES}

    def staged_values(table: str, column: str) -> set[str]:
        values: set[str] = set()
        for path in staged[table]:
            values.update(v for v in _read_column(path, column).to_pylist() if v is not None)
        return values

    new_doc_ids = staged_values("articles", "doc_id") | staged_values("duplicates", "doc_id")
    new_sources = (
        staged_values("articles", "source") | staged_values("duplicates", "source") | staged_values("errors", "source")
    )

    aggregate_keys = {table: staged_values(table, key) for table, key in AGGREGATE_KEYS.items()}
    own_prefix = f"part-{run_id}-"
    published: list[str] = []
    for table, paths in staged.items():
        for path in paths:
            partition = os.path.basename(os.path.dirname(path))
            destination = os.path.join(output, table, partition, own_prefix + os.path.basename(path))
            os.makedirs(os.path.dirname(destination), exist_ok=True)
            os.replace(path, destination)
            published.append(destination)

    def earlier_files(table: str) -> list[str]:
        return [p for p in table_files(output, table) if not os.path.basename(p).startswith(own_prefix)]

    replaced = {table: 0 for table in WRITTEN_TABLES}
    new_ids = pa.array(sorted(new_doc_ids), type=pa.string())
    new_srcs = pa.array(sorted(new_sources), type=pa.string())
    removed_doc_ids: set[str] = set()
    for table in ("articles", "duplicates", INDEX_TABLE):
        for path in earlier_files(table):
            keys = pq.read_table(path, columns=["doc_id", "source"])
            mask = pc.or_(
                pc.is_in(keys.column("doc_id"), value_set=new_ids), pc.is_in(keys.column("source"), value_set=new_srcs)
            ).combine_chunks()
            mask = pc.fill_null(mask, False)
            if table != INDEX_TABLE:
                removed_doc_ids.update(keys.column("doc_id").filter(mask).to_pylist())
            replaced[table] += _rewrite_without(path, mask)
    gone_ids = pa.array(sorted(new_doc_ids | removed_doc_ids), type=pa.string())
    for table in ("entities", "numbers", "reuse"):
        for path in earlier_files(table):
            mask = pc.fill_null(pc.is_in(_read_column(path, "doc_id"), value_set=gone_ids), False)
            replaced[table] += _rewrite_without(path, mask)
    # Run-level aggregates: a rerun recomputes them under the same ids, which replace the old.
    for table, key in AGGREGATE_KEYS.items():
        new_keys = pa.array(sorted(aggregate_keys[table]), type=pa.string())
        for path in earlier_files(table):
            mask = pc.fill_null(pc.is_in(_read_column(path, key), value_set=new_keys), False)
            replaced[table] += _rewrite_without(path, mask)
    for path in earlier_files("errors"):
        mask = pc.fill_null(pc.is_in(_read_column(path, "source"), value_set=new_srcs), False)
        replaced["errors"] += _rewrite_without(path, mask)

    shutil.rmtree(staged_root, ignore_errors=True)
    staging_parent = os.path.join(output, STAGING_DIR)
    if os.path.isdir(staging_parent) and not os.listdir(staging_parent):
        os.rmdir(staging_parent)
    return replaced


def index_files(output: str, retention_days: int, today: dt.date) -> list[str]:
    """Signature index files of earlier runs still inside the retention window."""
    oldest = (today - dt.timedelta(days=retention_days)).isoformat()
    return [p for p in table_files(output, INDEX_TABLE) if _partition_date(p) >= oldest]


def expire_index(output: str, retention_days: int, today: dt.date) -> int:
    """Delete index partitions older than the retention window; returns files removed."""
    oldest = (today - dt.timedelta(days=retention_days)).isoformat()
    removed = 0
    for path in table_files(output, INDEX_TABLE):
        if _partition_date(path) < oldest:
            os.remove(path)
            removed += 1
    for folder in glob.glob(os.path.join(output, INDEX_TABLE, f"{PARTITION_COLUMN}=*")):
        if not os.listdir(folder):
            os.rmdir(folder)
    return removed


def _partition_date(path: str) -> str:
    return os.path.basename(os.path.dirname(path)).split("=", 1)[1]


def write_windowed_group(output: str, table: str, date: str, rows: list[dict], name: str, compression: str) -> str:
    """Streaming: one window's rows of one table and date, published directly (no staging:
    a stream has no end to commit at). Written under a temporary name and renamed."""
    folder = os.path.join(output, table, f"{PARTITION_COLUMN}={date}")
    path = os.path.join(folder, f"part-{name}-{uuid.uuid4().hex[:8]}.parquet")
    write_parquet_atomically(rows_to_table(rows, table), path, compression)
    return path


def write_manifest(output: str, run_id: str, manifest: dict) -> str:
    path = os.path.join(output, RUNS_DIR, f"{run_id}.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=2, sort_keys=True, default=str)
    os.replace(temporary, path)
    return path


def read_table(output: str, table: str) -> pa.Table:
    """All rows of one output table (staged or published root), with the partition column."""
    paths = table_files(output, table)
    if not paths:
        return (TABLES[table] if table in TABLES else INTERNAL_TABLES[table]).empty_table()
    import pyarrow.dataset as ds

    dataset = ds.dataset(paths, format="parquet", partitioning="hive", partition_base_dir=os.path.join(output, table))
    return dataset.to_table()


# ---------------------------------------------------------------- Beam wrappers


def complete_error_row(row: dict, run_id: str, ingested_at: dt.datetime) -> dict:
    """Errors leave each stage with the five descriptive fields; the run adds the rest."""
    return {**row, "ingested_at": ingested_at, "run_id": run_id, PARTITION_COLUMN: ingested_at.strftime("%Y-%m-%d")}


class _WriteGroupFn(beam.DoFn):
    def __init__(self, table: str, root: str, compression: str):
        self._table = table
        self._root = root
        self._compression = compression
        self._rows = Metrics.counter(METRICS_NAMESPACE, f"write_{table}_rows")
        self._clock = StageClock("write")

    def process(self, element):
        (date, shard), rows = element
        with self._clock.timing():
            rows = list(rows)
            path = os.path.join(self._root, self._table, f"{PARTITION_COLUMN}={date}", f"{shard:05d}.parquet")
            write_parquet_atomically(rows_to_table(rows, self._table), path, self._compression)
        self._rows.inc(len(rows))
        yield path


class WriteTable(beam.PTransform):
    """One table's rows -> staged Parquet files, one per (date, shard); outputs the file paths."""

    def __init__(self, table: str, output: str, run_id: str, cfg: WriteConfig):
        super().__init__()
        self._table = table
        self._root = staging_root(output, run_id)
        self._cfg = cfg

    def expand(self, rows):
        table, shards = self._table, self._cfg.shards_per_date
        return (
            rows
            | "KeyByPartition" >> beam.Map(lambda r: ((r[PARTITION_COLUMN], shard_of(r, table, shards)), r))
            | "GroupByPartition" >> beam.GroupByKey()
            | "WriteParquet" >> beam.ParDo(_WriteGroupFn(table, self._root, self._cfg.compression))
        )
