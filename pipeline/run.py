"""Launch one run: validate, build the graph, run it (reporting progress), commit the output, account.

This is the launcher half of the CLI, importable by tests and benchmarks:
``run(paths, output, ...)`` returns the summary as a dict; pass ``progress=ProgressSettings()``
to print progress lines while it runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import time

import apache_beam as beam

from pipeline.graph import build, state_dir
from pipeline.options import RunContext, UsageError, make_run, validate_options
from pipeline.progress import ProgressSettings, report_progress
from pipeline.summary import (
    account,
    format_summary,
    largest_clusters,
    library_versions,
    metric_counters,
    stage_rows,
    stage_seconds,
    top_outlets,
)
from schemas.tables import SCHEMA_VERSION, TABLES
from transforms.write import (
    OutputError,
    OutputLock,
    check_output_schema,
    commit_run,
    expire_index,
    index_files,
    read_table,
    staging_root,
    write_manifest,
)


@contextlib.contextmanager
def _output_lock(output: str, run_id: str):
    """Hold the output folder for one run: the lock (a dead run's commit finished or undone)
    and its tables checked to be of this schema version, before anything is built."""
    try:
        with OutputLock(output, run_id):
            check_output_schema(output)
            yield
    except OutputError as exc:
        raise UsageError(str(exc)) from exc


def run(
    paths: list[str],
    output: str = "./out",
    config_path: str | None = None,
    beam_args: list[str] | None = None,
    enrich: bool = True,
    run_ctx: RunContext | None = None,
    feeds: list[str] = (),
    allow_hosts: list[str] = (),
    progress: ProgressSettings | None = None,
) -> dict:
    cfg, options = validate_options(paths, output, config_path, beam_args or [], enrich, feeds)
    today = dt.datetime.now(dt.timezone.utc).date()
    run_ctx = run_ctx or make_run(paths, output, (), feeds, allow_hosts)
    started = time.perf_counter()
    with _output_lock(run_ctx.output, run_ctx.run_id):
        # Listed under the lock: taking it may have finished a dead run's commit.
        if not run_ctx.index_files:
            listed = index_files(run_ctx.output, cfg.dedup.index_retention_days, today)
            run_ctx = dataclasses.replace(run_ctx, index_files=tuple(listed))
        pipeline = beam.Pipeline(options=options)
        build(pipeline, cfg, run_ctx)
        with report_progress(progress, run_ctx.output, run_ctx.run_id):
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
    progress: ProgressSettings | None = None,
) -> dict:
    """Poll feeds until ``max_polls`` (or Ctrl-C), writing windowed files as it goes."""
    from apache_beam.options.pipeline_options import StandardOptions

    from pipeline.streaming import build_streaming

    if poll_interval <= 0:
        raise UsageError("--poll-interval must be positive; give the seconds between polls")
    cfg, options = validate_options([], output, config_path, beam_args or [], enrich, feeds, streaming=True)
    run_ctx = make_run([], output, feeds=feeds, allow_hosts=allow_hosts)
    options.view_as(StandardOptions).streaming = True
    started = time.perf_counter()
    with _output_lock(run_ctx.output, run_ctx.run_id):
        pipeline = beam.Pipeline(options=options)
        build_streaming(pipeline, cfg, run_ctx, poll_interval, max_polls)
        with report_progress(progress, run_ctx.output, run_ctx.run_id):
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
    stages = stage_rows(accounting, seconds, cfg.enrich.enabled)
    outlets = top_outlets(tables["articles"], tables["duplicates"])
    clusters = largest_clusters(tables["articles"], tables["duplicates"])
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
        "stages": stages,
        "top_outlets": outlets,
        "largest_clusters": clusters,
        "wall_seconds": round(wall, 3),
        **extra,
    }
    manifest_path = write_manifest(run_ctx.output, run_ctx.run_id, manifest)
    text = format_summary(run_ctx.run_id, run_ctx.output, accounting, stages, outlets, clusters, wall)
    return {**manifest, "manifest_path": manifest_path, "text": text}


def _rows_of_run(output: str, table: str, run_id: str):
    """The rows one streaming run wrote (its files carry the run id in their names)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from transforms.write import table_files

    parts = [pq.read_table(p) for p in table_files(output, table) if f"part-{run_id}-" in os.path.basename(p)]
    return pa.concat_tables(parts) if parts else TABLES[table].empty_table()
