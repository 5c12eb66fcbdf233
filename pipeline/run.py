"""Launch one batch run: validate, build the graph, run it, commit the output, account.

This is the launcher half of the CLI, importable by tests and benchmarks:
``run(paths, output, ...)`` returns the summary as a dict.
"""

from __future__ import annotations

import datetime as dt
import os
import time

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from pydantic import ValidationError

from pipeline.graph import build, state_dir
from pipeline.options import RunContext, make_run
from pipeline.summary import account, format_summary, library_versions, metric_counters, stage_seconds
from schemas.config import NewsbeamConfig, load_config
from schemas.tables import SCHEMA_VERSION, TABLES
from transforms.write import commit_run, expire_index, index_files, read_table, staging_root, write_manifest

LOCK_FILE = "_lock"


class UsageError(Exception):
    """A problem the user can fix (bad path, bad config, busy output): one line, exit code 2."""


def load_checked_config(config_path: str | None, enrich: bool) -> NewsbeamConfig:
    try:
        cfg = load_config(config_path)
    except FileNotFoundError as exc:
        raise UsageError(f"config file not found: {config_path}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UsageError(f"bad config {config_path}: {where}: {first['msg']}") from exc
    if not enrich:
        cfg = cfg.model_copy(update={"enrich": cfg.enrich.model_copy(update={"enabled": False})})
    return cfg


class _OutputLock:
    """One run at a time per output folder; a second one stops with a clear message."""

    def __init__(self, output: str, run_id: str):
        self._path = os.path.join(output, LOCK_FILE)
        self._run_id = run_id

    def __enter__(self):
        os.makedirs(os.path.dirname(self._path), exist_ok=True)
        try:
            fd = os.open(self._path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError as exc:
            with open(self._path, encoding="utf-8", errors="replace") as handle:
                holder = handle.read().strip()
            raise UsageError(
                f"output {os.path.dirname(self._path)} is in use by run {holder or '?'}; "
                f"wait for it, or delete {self._path} if that run is dead"
            ) from exc
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{self._run_id} pid={os.getpid()}\n")
        return self

    def __exit__(self, *exc_info):
        try:
            os.remove(self._path)
        except FileNotFoundError:
            pass


def run(
    paths: list[str],
    output: str = "./out",
    config_path: str | None = None,
    beam_args: list[str] | None = None,
    enrich: bool = True,
    run_ctx: RunContext | None = None,
    feeds: list[str] = (),
    allow_hosts: list[str] = (),
) -> dict:
    for path in paths:
        if not os.path.lexists(path):
            raise UsageError(f"input path does not exist: {path}")
    cfg = load_checked_config(config_path, enrich)
    if not paths and not feeds and not cfg.feeds.sources:
        raise UsageError("nothing to read: give input paths, --feeds, or feeds.sources in the config")
    today = dt.datetime.now(dt.timezone.utc).date()
    run_ctx = run_ctx or make_run(
        paths,
        output,
        index_files(os.path.abspath(output), cfg.dedup.index_retention_days, today),
        feeds,
        allow_hosts,
    )
    options = PipelineOptions(beam_args or [])
    started = time.perf_counter()
    with _OutputLock(run_ctx.output, run_ctx.run_id):
        pipeline = beam.Pipeline(options=options)
        build(pipeline, cfg, run_ctx)
        result = pipeline.run()
        result.wait_until_finish()
        counters = metric_counters(result)
        staged = {table: read_table(staging_root(run_ctx.output, run_ctx.run_id), table) for table in TABLES}
        replaced = commit_run(run_ctx.output, run_ctx.run_id)
        if run_ctx.feeds or cfg.feeds.sources:
            from transforms.http import commit_validator_state

            commit_validator_state(state_dir(run_ctx.output), run_ctx.run_id)
        expired = expire_index(run_ctx.output, cfg.dedup.index_retention_days, today)
    wall = time.perf_counter() - started
    return _finish(
        run_ctx,
        cfg,
        options,
        staged,
        counters,
        wall,
        {
            "mode": "batch",
            "inputs": list(run_ctx.inputs),
            "replaced_rows": replaced,
            "index_files_read": len(run_ctx.index_files),
            "index_files_expired": expired,
        },
    )


def run_streaming(
    feeds: list[str],
    output: str = "./out",
    config_path: str | None = None,
    beam_args: list[str] | None = None,
    enrich: bool = True,
    allow_hosts: list[str] = (),
    poll_interval: float = 300.0,
    max_polls: int | None = None,
) -> dict:
    """Poll feeds until ``max_polls`` (or Ctrl-C), writing windowed files as it goes."""
    from apache_beam.options.pipeline_options import StandardOptions

    from pipeline.streaming import build_streaming

    cfg = load_checked_config(config_path, enrich)
    if not feeds and not cfg.feeds.sources:
        raise UsageError("--streaming needs feeds: give --feeds or feeds.sources in the config")
    if poll_interval <= 0:
        raise UsageError("--poll-interval must be positive")
    run_ctx = make_run([], output, feeds=feeds, allow_hosts=allow_hosts)
    options = PipelineOptions(beam_args or [])
    options.view_as(StandardOptions).streaming = True
    started = time.perf_counter()
    with _OutputLock(run_ctx.output, run_ctx.run_id):
        pipeline = beam.Pipeline(options=options)
        build_streaming(pipeline, cfg, run_ctx, poll_interval, max_polls)
        result = pipeline.run()
        try:
            result.wait_until_finish()
        except KeyboardInterrupt:
            result.cancel()
        counters = metric_counters(result)
    wall = time.perf_counter() - started
    written = {table: _rows_of_run(run_ctx.output, table, run_ctx.run_id) for table in TABLES}
    return _finish(
        run_ctx,
        cfg,
        options,
        written,
        counters,
        wall,
        {"mode": "streaming", "poll_interval": poll_interval, "max_polls": max_polls},
    )


def _finish(run_ctx, cfg, options, tables: dict, counters: dict, wall: float, extra: dict) -> dict:
    """Account for a finished run, write its manifest, and format the summary."""
    accounting = account(tables, counters)
    seconds = stage_seconds(counters)
    manifest = {
        "run_id": run_ctx.run_id,
        "schema_version": SCHEMA_VERSION,
        "ingested_at": run_ctx.ingested_at.isoformat(),
        "feeds": list(run_ctx.feeds),
        "output": run_ctx.output,
        "beam_options": options.get_all_options(drop_default=True),
        "config": cfg.model_dump(),
        "versions": library_versions(),
        "accounting": accounting,
        "counters": counters,
        "stage_seconds": seconds,
        "wall_seconds": round(wall, 3),
        **extra,
    }
    manifest_path = write_manifest(run_ctx.output, run_ctx.run_id, manifest)
    text = format_summary(run_ctx.run_id, run_ctx.output, accounting, seconds, wall)
    return {**manifest, "manifest_path": manifest_path, "text": text}


def _rows_of_run(output: str, table: str, run_id: str):
    """The rows one streaming run wrote (its files carry the run id in their names)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from transforms.write import table_files

    parts = [pq.read_table(p) for p in table_files(output, table) if f"part-{run_id}-" in os.path.basename(p)]
    return pa.concat_tables(parts) if parts else TABLES[table].empty_table()
