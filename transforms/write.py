"""Write stage: Hive-partitioned Parquet tables, staged by the pipeline and committed after it.

Layout of an output folder::

    <table>/date=D/part-<run_id>-<name>.parquet   published files: what readers glob
    _staging/<run_id>/<table>/date=D/*.parquet    one run's files until it commits
    _staging/<run_id>/_replaced/*.parquet         new versions of earlier files (rows replaced)
    _staging/<run_id>/_commit.json                the commit journal
    _lock                                         the run that holds the output
    _runs/<run_id>.json                           one manifest per run

Two steps, so that a reader never sees half a run and a rerun never doubles rows:

1. ``WriteTable`` (inside the pipeline) writes each table's rows, grouped by ``(date, shard)``,
   as zstd Parquet files into the run's staging folder. A row that does not fit the table's
   schema (a wrong type, a string that is not valid Unicode) is not written: it becomes an
   error row (stage ``write``, error type ``encode`` for an article or duplicate, whose input is
   then rejected, ``encode_part`` for a derived row such as an entity) and the rest of the
   group is written. The errors table itself never rejects a row: it escapes what it cannot
   encode, so a bad error row cannot loop back into errors.
2. ``commit_run`` (in the launcher, after the pipeline succeeded) publishes the staged files
   and *replaces by key*: rows of earlier runs for the same documents (same doc_id, or same
   input source) are removed from the older files, so the same input twice leaves the same rows.

Crash safety. Every file is written under a hidden name that does not end in ``.parquet`` and
renamed into place, so ``read_parquet('<out>/<table>/**/*.parquet')`` never sees a partial
file. The commit is journalled: all new files (staged ones and rewritten earlier ones) are
written first, then the list of renames and deletes goes to ``_commit.json`` (written whole or
not at all), then the renames and deletes run. ``OutputLock`` runs ``recover_output`` when it
takes the output: a staging folder without a journal belongs to a run that died before its
commit and is deleted (rolled back); one with a journal is rolled forward (every step is
idempotent). Between a crash in the rename phase and the next run, a reader may see the
published part of that commit; the next run (or ``recover_output``) completes it.

Every file operation goes through Beam's ``FileSystems``, so the output may be on gs:// or
s3:// (with Beam's extra for it). ``OutputLock`` is an OS lock on a local disk; on an object
store it is a lock object, which keeps runs apart but not two that start at the same moment.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import pickle
import re
import shutil
import socket
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from schemas.config import WriteConfig
from schemas.tables import (
    INTERNAL_TABLES,
    PARTITION_COLUMN,
    SCHEMA_VERSION,
    SCHEMA_VERSION_KEY,
    TABLES,
    error_row,
    file_schema,
)
from transforms.read import excerpt_of
from transforms.timing import StageClock

METRICS_NAMESPACE = "newsbeam"
STAGE = "write"
STAGING_DIR = "_staging"
INDEX_TABLE = "_index"
# Run-level aggregate tables and their keys: a rerun replaces rows with the same key.
AGGREGATE_KEYS = {"entity_index": "entity_id", "claims": "claim_id"}
# Everything a run writes: the query tables and the signature index.
WRITTEN_TABLES = (*TABLES, *INTERNAL_TABLES)
RUNS_DIR = "_runs"
LOCK_FILE = "_lock"
JOURNAL_FILE = "_commit.json"
REPLACED_DIR = "_replaced"
# Hidden, and not matched by a reader's ``*.parquet`` glob while it is being written.
TEMPORARY_PREFIX = ".tmp-"
TEMPORARY_SUFFIX = ".partial"
# Rows written to a file per step: a big date partition streams through in bounded memory.
CHUNK_ROWS = 10_000
# Tables whose row *is* an input's outcome: a row that cannot be written rejects its input.
INPUT_TABLES = ("articles", "duplicates")
ENCODE_ERROR = "encode"
ENCODE_PART_ERROR = "encode_part"
# Error rows about a derived row (entity, number...) name the document as ``doc:<doc_id>``.
DOC_SOURCE_PREFIX = "doc:"

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
_PARTITION_VALUE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# A record of a file that holds many inputs (transforms/read.py, transforms/warc.py): a JSONL
# line ``a.jsonl#L3``, a JSON array item ``a.json#3``, a WARC record ``a.warc.gz#offset=1234``.
# Never a feed URL: ``https://x/feed.json#1`` is a feed entry, and entries come and go.
_RECORD_SOURCE = re.compile(
    r"^(?!https?://)(?P<file>[^#]+?\.(?:jsonl(?:\.gz)?#L|json(?:\.gz)?#|w?arc(?:\.gz)?#offset=))\d+$", re.IGNORECASE
)


class OutputError(Exception):
    """The output folder cannot be written now: busy, or made by another schema version."""


class OutputInUse(OutputError):
    pass


class OutputSchemaMismatch(OutputError):
    pass


# ---------------------------------------------------------------- files, through Beam's filesystems
# A local path keeps what only a local disk has: pyarrow reads and writes it natively, parent
# folders are made, a rename is atomic. On an object store a file appears whole when its
# upload closes, and there are no folders.


def is_local(path: str) -> bool:
    return FileSystems.get_scheme(path) is None


def join_path(base: str, *parts: str) -> str:
    return FileSystems.join(base, *parts)


def _parent(path: str) -> str:
    return FileSystems.split(path)[0]


def _name(path: str) -> str:
    return FileSystems.split(path)[1]


def _make_parent(path: str) -> None:
    if is_local(path):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)


def path_exists(path: str) -> bool:
    return FileSystems.exists(path)


def _move(source: str, destination: str) -> None:
    _make_parent(destination)
    FileSystems.rename([source], [destination])


def delete_path(path: str) -> None:
    FileSystems.delete([path])


def matching_files(pattern: str) -> list[str]:
    """Files matching a glob, sorted; hidden ones (temporaries) left out, as ``glob`` does."""
    found = FileSystems.match([pattern])[0].metadata_list
    return sorted(m.path for m in found if not _name(m.path).startswith("."))


@contextmanager
def _writable(path: str) -> Iterator:
    """Where pyarrow writes ``path``: the path itself when local, else a FileSystems channel."""
    if is_local(path):
        _make_parent(path)
        yield path
        return
    channel = FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED)
    try:
        yield channel
    finally:
        channel.close()


@contextmanager
def _readable(path: str) -> Iterator:
    if is_local(path):
        yield path
        return
    channel = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    try:
        yield channel
    finally:
        channel.close()


def write_bytes_atomically(path: str, data: bytes) -> None:
    """A small file (a journal, a manifest) that exists whole or not at all."""
    if not is_local(path):
        with _writable(path) as channel:
            channel.write(data)
        return
    _make_parent(path)
    temporary = _temporary_beside(path)
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    _move(temporary, path)


def read_bytes(path: str) -> bytes:
    channel = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    try:
        return channel.read()
    finally:
        channel.close()


def _relative(output: str, path: str) -> str:
    if is_local(path):
        return os.path.relpath(path, output)
    return path[len(output.rstrip("/")) + 1 :]


def _temporary_beside(path: str) -> str:
    return join_path(_parent(path), f"{TEMPORARY_PREFIX}{uuid.uuid4().hex}{TEMPORARY_SUFFIX}")


def _table_schema(table: str) -> pa.Schema:
    return TABLES[table] if table in TABLES else INTERNAL_TABLES[table]


def rows_to_table(rows: Iterable[dict], table: str) -> pa.Table:
    """Rows (dicts with every column of ``table``) as an Arrow table in the file schema."""
    schema = file_schema(table)
    keys = _SORT_KEYS[table]
    ordered = sorted(rows, key=lambda r: tuple("" if r.get(k) is None else r.get(k) for k in keys))
    columns = {name: [row.get(name) for row in ordered] for name in schema.names}
    for name in PACKED_HASH_COLUMNS.get(table, ()):
        columns[name] = _hash_lists(columns[name])
    return pa.Table.from_pydict(columns, schema=schema)


# list<uint64> columns whose rows may arrive packed (``dedup.pack_hashes``: 8 little-endian
# bytes per hash). The signature index's anchors travel so: half of all 64-bit hashes are
# past what Beam's coder writes natively, and each of those was pickled, ~160 per article.
PACKED_HASH_COLUMNS = {"_index": ("anchors",)}


def _hash_lists(values: list) -> pa.Array | list:
    """A column of hash lists, each a list of ints, packed bytes or None, as an Arrow array."""
    if not any(isinstance(value, (bytes, bytearray)) for value in values):
        return values
    import numpy as np

    as_bytes = [
        None
        if value is None
        else value
        if isinstance(value, (bytes, bytearray))
        else np.asarray(value, dtype="<u8").tobytes()
        for value in values
    ]
    if any(value is not None and len(value) % 8 for value in as_bytes):
        # Cut short somewhere: joined, two such rows could pass for whole hashes.
        raise ValueError("packed hashes whose length is not a multiple of 8 bytes")
    lengths = np.array([0 if value is None else len(value) // 8 for value in as_bytes], dtype=np.int64)
    offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32), type=pa.int32())
    flat = np.frombuffer(b"".join(value for value in as_bytes if value), dtype="<u8")
    nulls = pa.array([value is None for value in as_bytes])
    return pa.ListArray.from_arrays(offsets, pa.array(flat, type=pa.uint64()), mask=nulls)


def write_parquet_atomically(table: pa.Table, path: str, compression: str = "zstd") -> None:
    """Write under a hidden temporary name in the same folder, then rename into place."""
    temporary = _temporary_beside(path)
    try:
        with _writable(temporary) as sink:
            pq.write_table(table, sink, compression=compression)
        _move(temporary, path)
    finally:
        if path_exists(temporary):
            delete_path(temporary)


def shard_of(row: dict, table: str, shards: int) -> int:
    if shards == 1:
        return 0
    key = str(row.get("doc_id") or row.get("source") or "")
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=4).digest(), "little") % shards


def staging_root(output: str, run_id: str) -> str:
    return join_path(output, STAGING_DIR, run_id)


def table_files(root: str, table: str) -> list[str]:
    return matching_files(join_path(root, table, f"{PARTITION_COLUMN}=*", "*.parquet"))


def read_parquet_file(path: str, columns: list[str] | None = None) -> pa.Table:
    with _readable(path) as source:
        return pq.read_table(source, columns=columns)


def _read_columns(path: str, columns: list[str]) -> pa.Table:
    return read_parquet_file(path, columns)


def _read_column(path: str, column: str) -> pa.Array:
    return _read_columns(path, [column]).column(column).combine_chunks()


# ---------------------------------------------------------------- encoding rows


def _is_list(field: pa.Field) -> bool:
    return pa.types.is_list(field.type) or pa.types.is_large_list(field.type)


def _value_problem(value: object, field: pa.Field) -> str | None:
    # Arrow would take a string for a list column, as a list of its characters.
    if _is_list(field) and value is not None and not isinstance(value, (list, tuple)):
        return f"column {field.name} ({field.type}): expected a list, got {type(value).__name__}"
    try:
        pa.array([value], type=field.type)
    except Exception as exc:  # noqa: BLE001 - any refusal by Arrow is the answer
        return f"column {field.name} ({field.type}): {type(exc).__name__}: {exc}"
    return None


def row_problem(row: dict, table: str) -> tuple[str, object] | None:
    """Why ``row`` cannot be written to ``table`` (first bad column) and the bad value, or None."""
    packed = PACKED_HASH_COLUMNS.get(table, ())
    for field in file_schema(table):
        value = row.get(field.name)
        if field.name in packed and isinstance(value, (bytes, bytearray)):
            problem = None if len(value) % 8 == 0 else f"column {field.name}: packed hashes of {len(value)} bytes"
        else:
            problem = _value_problem(value, field)
        if problem is not None:
            return problem, value
    return None


def encode_rows(rows: list[dict], table: str) -> tuple[pa.Table, list[tuple[dict, str, object]]]:
    """The rows that fit ``table``'s schema as an Arrow table, and ``(row, reason, value)`` for
    each one that does not. Rows are checked one by one only when the whole batch fails (list
    columns are always checked: Arrow does not refuse a string there)."""
    packed = PACKED_HASH_COLUMNS.get(table, ())
    list_columns = [
        (f.name, (list, tuple, type(None), *((bytes,) if f.name in packed else ())))
        for f in file_schema(table)
        if _is_list(f)
    ]
    if not any(not isinstance(r.get(name), kinds) for r in rows for name, kinds in list_columns):
        try:
            return rows_to_table(rows, table), []
        except Exception:  # noqa: BLE001 - find the culprits below
            pass
    good, bad = [], []
    for row in rows:
        problem = row_problem(row, table)
        if problem is None:
            good.append(row)
        else:
            bad.append((row, *problem))
    return rows_to_table(good, table), bad


def _printable(value: object) -> str | None:
    """A string any Parquet writer accepts: lone surrogates and other unencodable characters escaped."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def repaired_error_row(row: dict) -> dict:
    """An error row that always encodes: strings escaped, any other bad value left out.
    Errors are never rejected, so a bad error row cannot loop back into errors."""
    repaired = dict(row)
    for field in TABLES["errors"]:
        if pa.types.is_string(field.type):
            repaired[field.name] = _printable(row.get(field.name))
        elif _value_problem(row.get(field.name), field) is not None:
            repaired[field.name] = None
    return repaired


def encode_error_row(row: dict, table: str, reason: str, value: object) -> dict:
    """The error row (stage "write") for a row of ``table`` that could not be encoded."""
    doc_id = row.get("doc_id")
    if table in INPUT_TABLES:
        source, error_type = row.get("source"), ENCODE_ERROR
        what = f"{table} row of document {doc_id} not written, so its input is rejected"
    elif doc_id is not None:
        source, error_type = f"{DOC_SOURCE_PREFIX}{doc_id}", ENCODE_PART_ERROR
        what = f"a {table} row of document {doc_id} not written (the document itself was)"
    else:
        key = AGGREGATE_KEYS.get(table)
        source, error_type = f"{table}:{row.get(key) if key else ''}", ENCODE_PART_ERROR
        what = f"a {table} row not written"
    return error_row(_printable(source) or "", STAGE, error_type, f"{what}: {reason}", excerpt_of(repr(value)))


def _ingestion_time(rows: Iterable[dict], default: dt.datetime | None) -> dt.datetime:
    if default is not None:
        return default
    for row in rows:
        if isinstance(row.get("ingested_at"), dt.datetime):
            return row["ingested_at"]
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def complete_error_row(row: dict, run_id: str, ingested_at: dt.datetime) -> dict:
    """Errors leave each stage with the five descriptive fields; the run adds the rest."""
    return {**row, "ingested_at": ingested_at, "run_id": run_id, PARTITION_COLUMN: ingested_at.strftime("%Y-%m-%d")}


def _chunks(rows: Iterable[dict], size: int) -> Iterator[list[dict]]:
    chunk: list[dict] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def write_rows(
    rows: Iterable[dict], table: str, path: str, compression: str, chunk_rows: int = CHUNK_ROWS
) -> tuple[int, list[tuple[dict, str, object]]]:
    """Stream ``rows`` into one Parquet file at ``path`` (temporary name, then renamed), a
    chunk at a time; returns the rows written and the rejected ``(row, reason, value)``.

    The errors table repairs instead of rejecting. No file is left when no row was written.
    """
    if table == "errors":
        rows = (repaired_error_row(row) for row in rows)
    temporary = _temporary_beside(path)
    written, rejected = 0, []
    try:
        with _writable(temporary) as sink:
            writer = None
            try:
                for chunk in _chunks(rows, chunk_rows):
                    encoded, bad = encode_rows(chunk, table)
                    rejected.extend(bad)
                    if encoded.num_rows:
                        if writer is None:
                            writer = pq.ParquetWriter(sink, encoded.schema, compression=compression)
                        writer.write_table(encoded)
                        written += encoded.num_rows
            finally:
                if writer is not None:
                    writer.close()
        if written:
            _move(temporary, path)
    finally:
        if path_exists(temporary):
            delete_path(temporary)
    return written, rejected


# ---------------------------------------------------------------- replace by key


def record_file(source: str) -> str | None:
    """The file a record came from (``a.jsonl#L3`` -> ``a.jsonl``), else None."""
    match = _RECORD_SOURCE.match(source or "")
    return match.group("file").rsplit("#", 1)[0] if match else None


def _superseded_errors(sources: list, new_sources: set[str], reread_files: set[str], gone_doc_ids: set[str]):
    """Which earlier error rows the new run replaces: the same input source; any record of a
    file this run read again (a fixed JSONL file may have fewer lines); a derived row's
    error (``doc:<id>``) of a document this run rewrote."""
    mask = []
    for source in sources:
        source = source or ""
        mask.append(
            source in new_sources
            or record_file(source) in reread_files
            or (source.startswith(DOC_SOURCE_PREFIX) and source[len(DOC_SOURCE_PREFIX) :] in gone_doc_ids)
        )
    return pa.array(mask, type=pa.bool_())


@dataclass
class _CommitPlan:
    operations: list[list[str]]  # ["move", from, to] | ["delete", path], paths relative to the output
    replaced: dict[str, int]


def _plan_commit(output: str, run_id: str, already_read: dict[str, pa.Table]) -> _CommitPlan:
    """Work out (and write the new versions of earlier files for) the commit of one run.

    Touches nothing a reader sees: rewritten files go to the staging folder.
    """
    staged_root = staging_root(output, run_id)
    replaced_dir = join_path(staged_root, REPLACED_DIR)
    staged = {table: table_files(staged_root, table) for table in WRITTEN_TABLES}

    def staged_values(table: str, column: str) -> set[str]:
        read = already_read.get(table)
        if read is not None and column in read.column_names:
            return {v for v in read.column(column).to_pylist() if v is not None}
        values: set[str] = set()
        for path in staged[table]:
            values.update(v for v in _read_column(path, column).to_pylist() if v is not None)
        return values

    new_doc_ids = staged_values("articles", "doc_id") | staged_values("duplicates", "doc_id")
    new_sources = (
        staged_values("articles", "source") | staged_values("duplicates", "source") | staged_values("errors", "source")
    )
    aggregate_keys = {table: staged_values(table, key) for table, key in AGGREGATE_KEYS.items()}

    operations: list[list[str]] = []
    own_prefix = f"part-{run_id}-"
    for table, paths in staged.items():
        for path in paths:
            destination = join_path(output, table, _name(_parent(path)), own_prefix + _name(path))
            operations.append(["move", _relative(output, path), _relative(output, destination)])

    replaced = {table: 0 for table in WRITTEN_TABLES}

    def drop_rows(table: str, path: str, mask: pa.Array) -> None:
        removed = pc.sum(mask).as_py() or 0
        if not removed:
            return
        replaced[table] += removed
        old = read_parquet_file(path)
        # Keep the partition column out of the file, as written.
        if PARTITION_COLUMN in old.column_names:
            old = old.drop_columns([PARTITION_COLUMN])
        kept = old.filter(pc.invert(mask))
        if kept.num_rows == 0:
            operations.append(["delete", _relative(output, path)])
            return
        new_version = join_path(replaced_dir, f"{len(operations):06d}.parquet")
        write_parquet_atomically(kept.replace_schema_metadata(old.schema.metadata), new_version)
        operations.append(["move", _relative(output, new_version), _relative(output, path)])

    new_ids = pa.array(sorted(new_doc_ids), type=pa.string())
    new_srcs = pa.array(sorted(new_sources), type=pa.string())
    removed_doc_ids: set[str] = set()
    for table in ("articles", "duplicates", INDEX_TABLE):
        for path in table_files(output, table):
            keys = _read_columns(path, ["doc_id", "source"])
            mask = pc.or_(
                pc.is_in(keys.column("doc_id"), value_set=new_ids), pc.is_in(keys.column("source"), value_set=new_srcs)
            ).combine_chunks()
            mask = pc.fill_null(mask, False)
            if table != INDEX_TABLE:
                removed_doc_ids.update(keys.column("doc_id").filter(mask).to_pylist())
            drop_rows(table, path, mask)
    gone_doc_ids = new_doc_ids | removed_doc_ids
    gone_ids = pa.array(sorted(gone_doc_ids), type=pa.string())
    for table in ("entities", "numbers", "reuse"):
        for path in table_files(output, table):
            drop_rows(table, path, pc.fill_null(pc.is_in(_read_column(path, "doc_id"), value_set=gone_ids), False))
    # Run-level aggregates: a rerun recomputes them under the same ids, which replace the old.
    for table, key in AGGREGATE_KEYS.items():
        new_keys = pa.array(sorted(aggregate_keys[table]), type=pa.string())
        for path in table_files(output, table):
            drop_rows(table, path, pc.fill_null(pc.is_in(_read_column(path, key), value_set=new_keys), False))
    reread_files = {record_file(s) or s for s in new_sources}
    for path in table_files(output, "errors"):
        sources = _read_column(path, "source").to_pylist()
        drop_rows("errors", path, _superseded_errors(sources, new_sources, reread_files, gone_doc_ids))
    return _CommitPlan(operations, replaced)


def _write_journal(output: str, run_id: str, operations: list[list[str]]) -> str:
    path = join_path(staging_root(output, run_id), JOURNAL_FILE)
    write_bytes_atomically(path, json.dumps({"run_id": run_id, "operations": operations}).encode())
    return path


def _apply_journal(output: str, journal_path: str) -> None:
    """Run a commit journal's renames and deletes; each is skipped when already done."""
    operations = json.loads(read_bytes(journal_path))["operations"]
    for operation in operations:
        if operation[0] == "move":
            source, destination = (join_path(output, p) for p in operation[1:])
            if path_exists(source):
                _move(source, destination)
        else:
            path = join_path(output, operation[1])
            if path_exists(path):
                delete_path(path)
    _remove_staging(output, _parent(journal_path))


def _remove_staging(output: str, staged_root: str) -> None:
    if not is_local(staged_root):
        for path in FileSystems.match([join_path(staged_root, "**")])[0].metadata_list:
            delete_path(path.path)
        return
    shutil.rmtree(staged_root, ignore_errors=True)
    staging_parent = os.path.join(output, STAGING_DIR)
    if os.path.isdir(staging_parent) and not os.listdir(staging_parent):
        os.rmdir(staging_parent)


def _staged_runs(output: str) -> list[str]:
    """Run ids with something in the staging folder."""
    staging = join_path(output, STAGING_DIR)
    if is_local(staging):
        return sorted(os.listdir(staging)) if os.path.isdir(staging) else []
    found = FileSystems.match([join_path(staging, "**")])[0].metadata_list
    return sorted({_relative(staging, m.path).split("/", 1)[0] for m in found})


def commit_run(output: str, run_id: str, staged: dict[str, pa.Table] | None = None) -> dict[str, int]:
    """Publish a run's staged files and replace earlier rows of the same documents (journalled,
    so a crash at any point is rolled back or forward by ``recover_output``).

    ``staged``: staged tables the caller has already read (``read_table`` of the staging root),
    whose columns are used instead of reading the staged files again.
    Returns the number of earlier rows replaced per table.
    """
    plan = _plan_commit(output, run_id, staged or {})
    _apply_journal(output, _write_journal(output, run_id, plan.operations))
    return plan.replaced


def recover_output(output: str) -> dict[str, list[str]]:
    """Finish or undo what dead runs left; call only while holding the output's lock.

    A staged run with a journal had decided to commit: its commit is completed. One without
    a journal died before committing: its staged files are deleted. Temporary files of
    interrupted writes are deleted. Returns the run ids rolled forward and back.
    """
    done: dict[str, list[str]] = {"rolled_forward": [], "rolled_back": []}
    for run_id in _staged_runs(output):
        staged_root = staging_root(output, run_id)
        journal = join_path(staged_root, JOURNAL_FILE)
        if path_exists(journal):
            _apply_journal(output, journal)
            done["rolled_forward"].append(run_id)
        else:
            _remove_staging(output, staged_root)
            done["rolled_back"].append(run_id)
    for table in WRITTEN_TABLES:
        pattern = join_path(output, table, f"{PARTITION_COLUMN}=*", f"{TEMPORARY_PREFIX}*")
        for leftover in FileSystems.match([pattern])[0].metadata_list:
            delete_path(leftover.path)
    return done


# ---------------------------------------------------------------- the output lock


def _this_host() -> str:
    return socket.gethostname()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def _parse_holder(text: str) -> dict | None:
    """The lock file's record; also reads the ``<run_id> pid=<n>`` line of older versions."""
    text = text.strip()
    if not text:
        return None
    try:
        record = json.loads(text)
        if isinstance(record, dict):
            return record
    except json.JSONDecodeError:
        pass
    match = re.match(r"(?P<run_id>\S+)\s+pid=(?P<pid>\d+)", text)
    if match:
        return {"run_id": match.group("run_id"), "pid": int(match.group("pid")), "host": _this_host()}
    return {"run_id": text[:80], "pid": None, "host": None}


def _describe(holder: dict) -> str:
    return f"run {holder.get('run_id') or '?'} (pid {holder.get('pid') or '?'} on {holder.get('host') or '?'})"


def _warn_on_stderr(message: str) -> None:
    print(f"newsbeam: warning: {message}", file=sys.stderr)


class OutputLock:
    """One run at a time per output folder, held as an OS lock (``flock``) on ``<output>/_lock``.

    The OS releases the lock when its process dies, even by SIGKILL, so a dead run never
    blocks the next one; its record (run id, pid, host) stays in the file. Taking the lock
    then warns, and ``recover_output`` finishes or undoes that run's commit. A record whose
    process is still alive (a run of an older newsbeam that did not ``flock``), or that comes
    from another host, is respected: ``OutputInUse``.
    """

    def __init__(self, output: str, run_id: str, warn: Callable[[str], None] = _warn_on_stderr):
        self._output = output
        self._path = join_path(output, LOCK_FILE)
        self._run_id = run_id
        self._warn = warn
        self._fd: int | None = None
        self.recovered: dict[str, list[str]] = {}

    def _busy(self, holder: dict | None) -> OutputInUse:
        who = _describe(holder) if holder else "another run"
        return OutputInUse(
            f"output {self._output} is in use by {who}; wait for it to finish, "
            f"or delete {self._path} if that run is dead"
        )

    def _acquire(self) -> int:
        while True:
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _parse_holder(os.pread(fd, 4096, 0).decode("utf-8", "replace"))
                os.close(fd)
                raise self._busy(holder) from None
            # The previous holder may have unlinked the file between our open and flock.
            try:
                same = os.stat(self._path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                return fd
            os.close(fd)

    def _record(self) -> bytes:
        record = {
            "run_id": self._run_id,
            "pid": os.getpid(),
            "host": _this_host(),
            "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        return (json.dumps(record) + "\n").encode()

    def _enter_object_store(self) -> None:
        """An object store has no lock: the lock object's existence stands for one, without
        the guarantee an OS lock gives (two runs starting together may both go on)."""
        if path_exists(self._path):
            raise self._busy(_parse_holder(read_bytes(self._path).decode("utf-8", "replace")))
        write_bytes_atomically(self._path, self._record())

    def __enter__(self) -> OutputLock:
        if not is_local(self._output):
            self._enter_object_store()
            self.recovered = recover_output(self._output)
            return self
        os.makedirs(self._output, exist_ok=True)
        fd = self._acquire()
        previous = _parse_holder(os.pread(fd, 4096, 0).decode("utf-8", "replace"))
        if previous is not None:
            pid = previous.get("pid")
            dead_here = previous.get("host") == _this_host() and isinstance(pid, int) and not _pid_alive(pid)
            if not dead_here:
                os.close(fd)
                raise self._busy(previous)
            self._warn(f"{_describe(previous)} died holding {self._path}; taking over and cleaning up after it")
        os.ftruncate(fd, 0)
        os.pwrite(fd, self._record(), 0)
        self._fd = fd
        self.recovered = recover_output(self._output)
        return self

    def __exit__(self, *exc_info) -> None:
        if path_exists(self._path):
            delete_path(self._path)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


# ---------------------------------------------------------------- schema versions


def _file_schema_version(path: str) -> str:
    try:
        with _readable(path) as source:
            metadata = pq.read_metadata(source).metadata or {}
    except Exception as exc:  # noqa: BLE001 - a broken file is reported, not a crash
        return f"unreadable ({type(exc).__name__}: {exc})"
    found = metadata.get(SCHEMA_VERSION_KEY)
    return found.decode("utf-8", "replace") if found is not None else "none"


def check_output_schema(output: str) -> None:
    """Raise ``OutputSchemaMismatch`` when ``output`` holds files of another schema version.

    Every file is checked (a footer read each), so a mixed output is found too.
    """
    for table in WRITTEN_TABLES:
        for path in table_files(output, table):
            found = _file_schema_version(path)
            if found == SCHEMA_VERSION:
                continue
            raise OutputSchemaMismatch(
                f"output {output} holds tables of schema version {found} (first found: "
                f"{_relative(output, path)}), but this newsbeam writes schema version {SCHEMA_VERSION}; "
                f"mixing them would break every query over the folder. Write to a new folder (--output NEW_DIR), "
                f"or migrate the old tables to version {SCHEMA_VERSION} first (see 'Schema history' in the README)"
            )


# ---------------------------------------------------------------- index, manifests, reading back


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
            delete_path(path)
            removed += 1
            folder = _parent(path)
            if is_local(folder) and not os.listdir(folder):
                os.rmdir(folder)
    return removed


def _partition_date(path: str) -> str:
    return _name(_parent(path)).split("=", 1)[1]


def _write_encode_errors(
    root: str, name: str, table: str, rejected: list[tuple[dict, str, object]], run_id: str, ingested_at: dt.datetime
) -> str:
    """The error rows for ``rejected`` rows of ``table``, as one file of the errors table under ``root``."""
    rows = [
        complete_error_row(encode_error_row(row, table, reason, value), run_id, ingested_at)
        for row, reason, value in rejected
    ]
    path = join_path(root, "errors", f"{PARTITION_COLUMN}={ingested_at:%Y-%m-%d}", f"{name}.parquet")
    write_rows(rows, "errors", path, "zstd")
    return path


def write_windowed_group(
    output: str, table: str, date: str, rows: list[dict], name: str, compression: str
) -> str | None:
    """Streaming: one window's rows of one table and date, published directly (no staging:
    a stream has no end to commit at). Written under a temporary name and renamed; rows that
    cannot be encoded go to a file of the errors table of the same window. Returns the data
    file's path, or None when no row could be written."""
    unique = uuid.uuid4().hex[:8]
    path = join_path(output, table, f"{PARTITION_COLUMN}={date}", f"part-{name}-{unique}.parquet")
    written, rejected = write_rows(rows, table, path, compression)
    if rejected:
        run_id = name.split("-w", 1)[0]  # streaming names a window's files <run_id>-w<window start>
        _write_encode_errors(
            output, f"part-{name}-encode-{table}-{unique}", table, rejected, run_id, _ingestion_time(rows, None)
        )
    return path if written else None


def write_manifest(output: str, run_id: str, manifest: dict) -> str:
    path = join_path(output, RUNS_DIR, f"{run_id}.json")
    write_bytes_atomically(path, json.dumps(manifest, indent=2, sort_keys=True, default=str).encode())
    return path


def read_table(output: str, table: str, columns: list[str] | None = None) -> pa.Table:
    """All rows of one output table (staged or published root), with the partition column;
    only ``columns`` when given (``[]``: no column, the row count only)."""
    paths = table_files(output, table)
    if not paths:
        empty = _table_schema(table).empty_table()
        return empty if columns is None else empty.select([c for c in columns if c in empty.column_names])
    if not is_local(output):
        parts = []
        with_partition = columns is None or PARTITION_COLUMN in columns
        file_columns = None if columns is None else [c for c in columns if c != PARTITION_COLUMN]
        for path in paths:
            part = read_parquet_file(path, file_columns)
            if with_partition:
                part = part.append_column(PARTITION_COLUMN, pa.array([_partition_date(path)] * part.num_rows))
            parts.append(part)
        return pa.concat_tables(parts, promote_options="default")
    import pyarrow.dataset as ds

    dataset = ds.dataset(paths, format="parquet", partitioning="hive", partition_base_dir=os.path.join(output, table))
    return dataset.to_table(columns=columns)


# ---------------------------------------------------------------- Beam wrappers


def partition_key(row: dict, table: str, shards: int) -> tuple[str, int]:
    """``(date, shard)`` of a row; the date is "" when it is not a YYYY-MM-DD string (the
    row is then rejected: the date names a folder, so it must be exactly that)."""
    date = row.get(PARTITION_COLUMN)
    valid = isinstance(date, str) and _PARTITION_VALUE.match(date) is not None
    return (date if valid else "", shard_of(row, table, shards))


# Rows per pickled chunk that crosses the write shuffle.
SHUFFLED_CHUNK_ROWS = 2048


def _pickled_chunks_by_partition(keyed_rows: list[tuple[tuple, dict]], table: str) -> Iterator[tuple[tuple, bytes]]:
    """A batch of (partition, row) -> one ((table, partition), pickled list of rows) per partition in it."""
    by_partition: dict[tuple[str, int], list[dict]] = {}
    for key, row in keyed_rows:
        by_partition.setdefault(key, []).append(row)
    for key, rows in by_partition.items():
        yield (table, *key), pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)


class _WriteGroupFn(beam.DoFn):
    def __init__(self, tables: list[str], root: str, compression: str, run_id: str, ingested_at: dt.datetime | None):
        self._root = root
        self._compression = compression
        self._run_id = run_id
        self._ingested_at = ingested_at
        self._rows = {table: Metrics.counter(METRICS_NAMESPACE, f"write_{table}_rows") for table in tables}
        self._rejected = Metrics.counter(METRICS_NAMESPACE, f"write_rejected_{ENCODE_ERROR}")
        self._clock = StageClock("write")

    def process(self, element):
        (table, date, shard), chunks = element
        rows = (row for chunk in chunks for row in pickle.loads(chunk))
        with self._clock.timing():
            name = f"{shard:05d}"
            if date:
                path = join_path(self._root, table, f"{PARTITION_COLUMN}={date}", f"{name}.parquet")
                written, rejected = write_rows(rows, table, path, self._compression)
            else:
                reason = f"column {PARTITION_COLUMN}: not a YYYY-MM-DD string"
                written, rejected = 0, [(row, reason, row.get(PARTITION_COLUMN)) for row in rows]
            if rejected:
                ingested_at = _ingestion_time((row for row, _r, _v in rejected), self._ingested_at)
                _write_encode_errors(
                    self._root,
                    f"encode-{table}-{date or 'nodate'}-{name}",
                    table,
                    rejected,
                    self._run_id,
                    ingested_at,
                )
        self._rows[table].inc(written)
        self._rejected.inc(len(rejected))
        if written:
            yield path


class WriteTables(beam.PTransform):
    """Several tables' rows (a dict of table name -> PCollection) -> staged Parquet files, one
    per table, date and shard, through one shuffle for all the tables; outputs the file paths.

    One shuffle rather than one per table: each is a stage of its own, and a stage costs the
    runner ~15 ms however few rows it has (eight fewer stages in a run of a few pages).
    Rows that do not fit the table's schema are written to the staged errors table instead
    (see the module docstring); ``ingested_at`` is the run's, for those error rows.
    """

    def __init__(self, output: str, run_id: str, cfg: WriteConfig, ingested_at: dt.datetime | None = None):
        super().__init__()
        self._root = staging_root(output, run_id)
        self._run_id = run_id
        self._cfg = cfg
        self._ingested_at = ingested_at

    def expand(self, tables: dict):
        shards = self._cfg.shards_per_date
        # Rows cross the shuffle as pickled chunks of one partition, not one by one: a run's
        # entity and number rows are 50x its articles, and each element through a shuffle
        # costs the runner a coder call per field.
        chunks = [
            rows
            | f"KeyByPartition{table}" >> beam.Map(lambda r, t=table: (partition_key(r, t, shards), r))
            | f"BatchRows{table}"
            >> beam.BatchElements(min_batch_size=SHUFFLED_CHUNK_ROWS // 8, max_batch_size=SHUFFLED_CHUNK_ROWS)
            | f"ChunkByPartition{table}" >> beam.FlatMap(_pickled_chunks_by_partition, table)
            for table, rows in tables.items()
        ]
        write = _WriteGroupFn(list(tables), self._root, self._cfg.compression, self._run_id, self._ingested_at)
        return (
            chunks
            | "AllTables" >> beam.Flatten()
            | "GroupByPartition" >> beam.GroupByKey()
            | "WriteParquet" >> beam.ParDo(write)
        )


class WriteTable(beam.PTransform):
    """One table's rows -> staged Parquet files (``WriteTables`` with one table)."""

    def __init__(self, table: str, output: str, run_id: str, cfg: WriteConfig, ingested_at: dt.datetime | None = None):
        super().__init__()
        self._table = table
        self._tables = WriteTables(output, run_id, cfg, ingested_at)

    def expand(self, rows):
        return {self._table: rows} | self._tables
