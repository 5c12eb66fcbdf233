"""Launch a run: validate, build the graph, run it (reporting progress), commit the output, account.

This is the launcher half of the CLI, importable by tests and benchmarks:
``run(paths, output, ...)`` returns the summary as a dict; pass ``progress=ProgressSettings()``
to print progress lines while it runs.

Large inputs run as passes. The FnApiRunner behind Beam's DirectRunner holds the data
between stages in memory, so one run's memory grows with its input (about 40 KB per small
document). When the input files hold more than ``read.max_documents_per_pass`` documents,
``run`` splits them into successive passes of whole files, in sorted order, each an ordinary
run into the same output (its own run id, lock, commit and manifest); a later pass
deduplicates against the earlier ones through the signature index, as tomorrow's scheduled
run does against today's. Each pass runs in a fresh process: a process that has run a pass
keeps much of its heap (about 1 GB after a 20,000-document pass), and it would grow pass by pass.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import datetime as dt
import functools
import gzip
import json
import logging
import multiprocessing
import os
import sys
import time
import zlib
from collections import Counter

import apache_beam as beam

from pipeline.graph import build, state_dir
from pipeline.options import (
    RunContext,
    UsageError,
    direct_runner_for,
    forks_worker_processes,
    make_run,
    new_run_id,
    validate_options,
)
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
from pipeline.workers import WarmPool
from schemas.config import ReadConfig
from schemas.tables import SCHEMA_VERSION, TABLES
from transforms.dedup import dedup_losses
from transforms.read import READERS, discover_inputs, file_type, source_name
from transforms.write import (
    AGGREGATE_KEYS,
    OutputError,
    OutputLock,
    check_output_schema,
    commit_run,
    delete_path,
    expire_index,
    index_files,
    path_exists,
    read_table,
    staging_root,
    write_manifest,
)

# Documents per byte of an archive, where counting them would mean parsing it: about one
# HTML response record per 100 KB of WARC, or 25 KB of WARC gzipped record by record.
WARC_BYTES_PER_DOCUMENT = {False: 100_000, True: 25_000}
# Items per byte of a JSON array file: a short article's record. Longer records are
# overestimated, which only makes passes smaller.
JSON_ARRAY_BYTES_PER_ITEM = 1_000
_SCAN_CHUNK_BYTES = 1 << 20
# What may come before the "[" of a JSON array: a byte order mark, UTF-16's zero bytes, blanks.
_JSON_LEADING_BYTES = b"\xef\xbb\xbf\xff\xfe\x00 \t\r\n"


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
    warm_pool: WarmPool | None = None,
) -> dict:
    """Read ``paths`` and ``feeds`` into ``output``; returns the summary (the run's manifest).

    Inputs of more than ``read.max_documents_per_pass`` documents run as passes, each in a
    child process; the summary is then the passes' combined (see ``combine_passes``).
    Either way it has ``accounting``, ``counters``, ``stage_seconds``, ``wall_seconds``,
    ``run_ids`` (every run it made) and ``text``.

    ``warm_pool``, started before this call (``WarmPool.start``), serves the worker processes
    of a multi-process run; without one, such a run starts its own. The caller closes it.
    """
    cfg, options = validate_options(paths, output, config_path, beam_args or [], enrich, feeds)
    named = [os.path.abspath(path) for path in paths]
    passes = plan_passes(named, cfg.read) if run_ctx is None else []
    batch_id = new_run_id()
    if len(passes) > 1:
        if warm_pool is not None:
            warm_pool.close()  # each pass runs in a process of its own, with a pool of its own
        settings = {
            "output": output,
            "config_path": config_path,
            "beam_args": list(beam_args or []),
            "enrich": enrich,
            "feeds": list(feeds),
            "allow_hosts": list(allow_hosts),
        }
        return _run_passes(passes, batch_id, named, settings, cfg, progress)
    run_ctx = run_ctx or make_run(paths, output, (), feeds, allow_hosts)
    only = passes[0] if passes else Pass((), None)
    return _run_one(cfg, options, run_ctx, progress, named, _batch_field(batch_id, 1, 1, only), warm_pool)


# What the summary (pipeline/summary.py) and the commit read of a run's staged tables; of the
# other tables only the row count. Reading every column of every staged file took 0.1 s of a
# run of the 181 real scrapinghub pages (207 files), and the commit then read its keys again.
STAGED_COLUMNS = {
    "articles": ["doc_id", "source", "outlet", "title"],
    "duplicates": ["doc_id", "source", "outlet", "duplicate_of"],
    "errors": ["source", "stage", "error_type"],
    **{table: [key] for table, key in AGGREGATE_KEYS.items()},
}


def _run_one(
    cfg, options, run_ctx: RunContext, progress, named: list[str], batch: dict, warm_pool: WarmPool | None = None
) -> dict:
    """One run under the output's lock: build, run, commit, account."""
    today = dt.datetime.now(dt.timezone.utc).date()
    started = time.perf_counter()
    with _output_lock(run_ctx.output, run_ctx.run_id):
        # Listed under the lock: taking it may have finished a dead run's commit.
        if not run_ctx.index_files:
            listed = index_files(run_ctx.output, cfg.dedup.index_retention_days, today)
            run_ctx = dataclasses.replace(run_ctx, index_files=tuple(listed))
        counters = _run_pipeline_checked(cfg, options, run_ctx, progress, warm_pool)
        staged_root = staging_root(run_ctx.output, run_ctx.run_id)
        staged = {table: read_table(staged_root, table, STAGED_COLUMNS.get(table, [])) for table in TABLES}
        replaced = commit_run(run_ctx.output, run_ctx.run_id, staged)
        if run_ctx.feeds or cfg.feeds.sources:
            from transforms.http import commit_validator_state

            commit_validator_state(state_dir(run_ctx.output), run_ctx.run_id)
        expired = expire_index(run_ctx.output, cfg.dedup.index_retention_days, today)
    wall = time.perf_counter() - started
    summary = _finish(
        run_ctx,
        cfg,
        options,
        staged,
        counters,
        wall,
        {
            "mode": "batch",
            "inputs": named,
            "batch": batch,
            "replaced_rows": replaced,
            "index_files_read": len(run_ctx.index_files),
            "index_files_expired": expired,
        },
    )
    return {**summary, "run_ids": [run_ctx.run_id]}


# A run whose dedup counters show the runner lost elements is rerun (from scratch: nothing of
# it is committed yet) this many times before it fails.
RUNNER_LOSS_ATTEMPTS = 3


class RunnerLostData(RuntimeError):
    """The runner dropped elements inside a stage (seen by the stage's own counters)."""


def _run_pipeline_checked(cfg, options, run_ctx: RunContext, progress, started_pool: WarmPool | None = None) -> dict:
    """Build and run the graph; its counters. Reruns when the dedup step's counters show that
    the runner lost elements between its steps (see ``dedup_losses``), so a loss becomes a
    rerun, or after ``RUNNER_LOSS_ATTEMPTS`` a failed run, never copies silently missed."""
    with _warm_pool(cfg, options, started_pool) as warm_pool:
        for attempt in range(1, RUNNER_LOSS_ATTEMPTS + 1):
            pipeline = beam.Pipeline(runner=direct_runner_for(options, warm_pool), options=options)
            build(pipeline, cfg, run_ctx)
            with report_progress(progress, run_ctx.output, run_ctx.run_id):
                result = pipeline.run()
                result.wait_until_finish()
            counters = metric_counters(result)
            losses = dedup_losses(counters, cfg.dedup.bands)
            if not losses:
                return counters
            # Staged files of the failed attempt go; the next attempt stages the run again.
            staged = staging_root(run_ctx.output, run_ctx.run_id)
            if path_exists(staged):
                delete_path(staged)
            what = "; ".join(losses)
            if attempt == RUNNER_LOSS_ATTEMPTS:
                raise RunnerLostData(
                    f"the Beam runner lost elements inside the dedup step in {attempt} attempts ({what}); "
                    "nothing was committed. Split the input into smaller passes (read.max_documents_per_pass) "
                    "or use another runner"
                )
            print(
                f"[newsbeam] the Beam runner lost elements inside the dedup step ({what}); "
                f"nothing was committed, running again (attempt {attempt + 1} of {RUNNER_LOSS_ATTEMPTS})",
                file=sys.stderr,
                flush=True,
            )
    raise AssertionError("unreachable")


@contextlib.contextmanager
def _warm_pool(cfg, options, started: WarmPool | None):
    """The address of a warm worker pool (``pipeline/workers.py``) when the run's DirectRunner
    forks worker processes, else None; ``started`` if the caller started one."""
    if not forks_worker_processes(options) or not WarmPool.available():
        if started is not None:
            started.close()  # started on the raw arguments' word, not needed after all
        yield None
        return
    pool = started or WarmPool()
    pool.configure(cfg.enrich.spacy_model if cfg.enrich.enabled else None, cfg.enrich.matmul)
    try:
        yield pool.address
    finally:
        if started is None:
            pool.close()


# ---------------------------------------------------------------- passes


@dataclasses.dataclass(frozen=True)
class Pass:
    """Whole input files run together, and the documents they are estimated to hold."""

    files: tuple[str, ...]
    estimated_documents: int | None  # None: not estimated (passes switched off)


def estimate_documents(path: str, cfg: ReadConfig) -> int:
    """The inputs a file will give, estimated cheaply (never parsed): a JSONL file's lines
    (newlines counted, streamed, decompressed for ``.gz``), a WARC/ARC file's size over
    ``WARC_BYTES_PER_DOCUMENT``, a JSON array file's size over ``JSON_ARRAY_BYTES_PER_ITEM``,
    and 1 for anything else (a page, a text, a JSON object, a file that will be an error row)."""
    ext, gzipped = file_type(path)
    kind = READERS.get(ext) if ext in {e.lower() for e in cfg.extensions} else None
    try:
        size = os.stat(path).st_size
        if kind == "warc":
            return max(1, size // WARC_BYTES_PER_DOCUMENT[gzipped])
        if kind not in ("jsonl", "json") or size > cfg.max_file_bytes:
            return 1
        content_bytes, newlines, head, ends_with_newline = _scan(path, gzipped, cfg.max_file_bytes)
    except (OSError, EOFError, zlib.error):  # unreadable or corrupt: one error row
        return 1
    if content_bytes > cfg.max_file_bytes:  # a gzip that decompresses past the cap: one error row
        return 1
    if kind == "jsonl":
        return max(1, newlines + (0 if ends_with_newline or not content_bytes else 1))
    if head.lstrip(_JSON_LEADING_BYTES).startswith(b"["):
        return max(1, content_bytes // JSON_ARRAY_BYTES_PER_ITEM)
    return 1


def _scan(path: str, gzipped: bool, cap: int) -> tuple[int, int, bytes, bool]:
    """(content bytes, newlines, first chunk, ends with a newline?) of at most ``cap + 1`` bytes
    of the file, decompressed in chunks when ``gzipped``."""
    content_bytes = newlines = 0
    head, last = b"", b""
    with open(path, "rb") as raw:
        stream = gzip.GzipFile(fileobj=raw) if gzipped else raw
        while content_bytes <= cap:
            chunk = stream.read(_SCAN_CHUNK_BYTES)
            if not chunk:
                break
            head = head or chunk
            content_bytes += len(chunk)
            newlines += chunk.count(b"\n")
            last = chunk[-1:]
    return content_bytes, newlines, head, last == b"\n"


def group_into_passes(estimates: list[tuple[str, int]], limit: int) -> list[Pass]:
    """Consecutive files, in the order given, into passes of at most ``limit`` estimated
    documents; a file over the limit is a pass of its own. ``limit`` 0: one pass."""
    passes: list[Pass] = []
    files: list[str] = []
    documents = 0
    for path, estimate in estimates:
        if files and limit and documents + estimate > limit:
            passes.append(Pass(tuple(files), documents))
            files, documents = [], 0
        files.append(path)
        documents += estimate
    if files:
        passes.append(Pass(tuple(files), documents))
    return passes


def plan_passes(paths: list[str], cfg: ReadConfig) -> list[Pass]:
    """The input files of ``paths`` (as ``discover_inputs`` lists them, sorted) as passes; a
    sidecar travels with its document. No estimate is made when passes are switched off."""
    inputs = [item["path"] for item in discover_inputs(paths, cfg.extensions)]
    if not cfg.max_documents_per_pass:
        return [Pass(tuple(inputs), None)] if inputs else []
    return group_into_passes([(path, estimate_documents(path, cfg)) for path in inputs], cfg.max_documents_per_pass)


def _batch_field(batch_id: str, number: int, total: int, one: Pass) -> dict:
    """What a manifest says of the invocation it belongs to. Passes take consecutive files of
    the sorted listing, so the first and last file name a pass's files."""
    return {
        "id": batch_id,
        "pass": number,
        "passes": total,
        "files": len(one.files),
        "first_file": source_name(one.files[0]) if one.files else None,
        "last_file": source_name(one.files[-1]) if one.files else None,
        "estimated_documents": one.estimated_documents,
    }


def _run_passes(
    passes: list[Pass], batch_id: str, named: list[str], settings: dict, cfg, progress: ProgressSettings | None
) -> dict:
    started = time.perf_counter()
    limit = cfg.read.max_documents_per_pass
    estimated = sum(one.estimated_documents for one in passes)
    files = sum(len(one.files) for one in passes)
    planned = {"passes": len(passes), "files": files, "estimated_documents": estimated, "max_documents_per_pass": limit}
    _print_batch_event(
        progress,
        {"event": "passes", "batch_id": batch_id, **planned},
        f"[newsbeam] {files} files, about {estimated} inputs: {len(passes)} passes of at most {limit}"
        " (read.max_documents_per_pass), each committed when it ends",
    )
    # A child process cannot print to a stream object of this one; its progress goes to stderr.
    child_progress = dataclasses.replace(progress, stream=None) if progress else None
    summaries = []
    for number, one in enumerate(passes, start=1):
        batch = _batch_field(batch_id, number, len(passes), one)
        try:
            summary = _in_fresh_process(_run_pass, one.files, settings, number == 1, named, batch, child_progress)
        except Exception as exc:
            if number == 1:
                raise
            committed = (
                f"passes 1-{number - 1} of {len(passes)} are committed; run the same command again to finish"
                " (inputs already committed are replaced, not doubled)"
            )
            if isinstance(exc, UsageError):
                raise UsageError(f"pass {number}: {exc} ({committed})") from exc
            raise PassFailed(
                f"pass {number} of {len(passes)} failed ({type(exc).__name__}: {exc}); {committed}"
            ) from exc
        summaries.append(summary)
        done = _pass_record(summary)
        _print_batch_event(
            progress,
            {"event": "pass", "batch_id": batch_id, "passes": len(passes), **done},
            f"[newsbeam] pass {number}/{len(passes)} committed (run {done['run_id']}, {done['wall_seconds']:.0f} s):"
            f" {_accounting_line(done['accounting'])}",
        )
    return combine_passes(batch_id, summaries, time.perf_counter() - started, cfg.enrich.enabled)


class PassFailed(RuntimeError):
    """A pass after the first failed; the passes before it are committed."""


def _in_fresh_process(function, *args):
    """``function(*args)`` in a new Python process (spawned, not forked: the launcher may
    hold threads), which exits when it returns, giving its memory back."""
    context = multiprocessing.get_context("spawn")
    # Logging as here, set before the child imports Beam (which logs warnings at import).
    same_logging = functools.partial(logging.basicConfig, level=logging.getLogger().getEffectiveLevel())
    try:
        with concurrent.futures.ProcessPoolExecutor(1, context, same_logging) as pool:
            return pool.submit(function, *args).result()
    except concurrent.futures.process.BrokenProcessPool as exc:
        raise RuntimeError("its process died (killed, or out of memory)") from exc


def _run_pass(
    files: tuple[str, ...],
    settings: dict,
    with_feeds: bool,
    named: list[str],
    batch: dict,
    progress: ProgressSettings | None,
) -> dict:
    """One pass, in its own process: the files, and the feeds in the first pass only."""
    feeds = settings["feeds"] if with_feeds else []
    cfg, options = validate_options(
        list(files), settings["output"], settings["config_path"], settings["beam_args"], settings["enrich"], feeds
    )
    if not with_feeds:
        cfg = cfg.model_copy(update={"feeds": cfg.feeds.model_copy(update={"sources": []})})
    run_ctx = make_run(list(files), settings["output"], (), feeds, settings["allow_hosts"])
    return _run_one(cfg, options, run_ctx, progress, named, batch)


def _print_batch_event(progress: ProgressSettings | None, record: dict, line: str) -> None:
    if progress is not None:
        stream = progress.stream or sys.stderr
        print(json.dumps(record) if progress.log_format == "json" else line, file=stream, flush=True)


_SUMMED_ACCOUNTING = (
    "inputs", "articles", "duplicates", "rejected", "errors", "entities", "numbers", "reuse", "entity_index", "claims"
)  # fmt: skip
_PASS_ACCOUNTING = ("inputs", "articles", "duplicates", "rejected", "balanced")


def _pass_record(summary: dict) -> dict:
    """What the combined summary keeps of one pass."""
    batch = summary["batch"]
    return {
        "pass": batch["pass"],
        "run_id": summary["run_id"],
        "manifest_path": summary["manifest_path"],
        "files": batch["files"],
        "estimated_documents": batch["estimated_documents"],
        "index_files_read": summary["index_files_read"],
        "wall_seconds": summary["wall_seconds"],
        "accounting": {key: summary["accounting"][key] for key in _PASS_ACCOUNTING},
    }


def _accounting_line(a: dict) -> str:
    return (
        f"inputs {a['inputs']} = articles {a['articles']} + duplicates {a['duplicates']}"
        f" + rejected {a['rejected']}: {'ok' if a['balanced'] else 'MISMATCH'}"
    )


def combine_passes(batch_id: str, summaries: list[dict], wall: float, enriched: bool) -> dict:
    """The summary of a run made of passes: counts and counters summed; balanced only when
    every pass balanced and the sums do. (``entity_index`` and ``claims`` count the rows each
    pass wrote: a later pass's row for the same entity or claim replaces an earlier one.)"""
    accountings = [s["accounting"] for s in summaries]
    accounting: dict = {key: sum(a[key] for a in accountings) for key in _SUMMED_ACCOUNTING}
    by_stage = sum((Counter(a["errors_by_stage"]) for a in accountings), Counter())
    reasons = sum((Counter(a["error_reasons"]) for a in accountings), Counter())
    accounting["errors_by_stage"] = dict(sorted(by_stage.items()))
    accounting["error_reasons"] = dict(reasons.most_common())
    accounting["balanced"] = all(a["balanced"] for a in accountings) and accounting["inputs"] == (
        accounting["articles"] + accounting["duplicates"] + accounting["rejected"]
    )
    counters = dict(sum((Counter(s["counters"]) for s in summaries), Counter()))
    seconds = stage_seconds(counters)
    stages = stage_rows(accounting, seconds, enriched)
    passes = [_pass_record(s) for s in summaries]
    first = summaries[0]
    limit = first["config"]["read"]["max_documents_per_pass"]
    lines = [
        f"newsbeam run {batch_id} -> {first['output']}: {len(passes)} passes of at most {limit} documents",
        *(f"  pass {p['pass']:>3}  {p['run_id']}  {_accounting_line(p['accounting'])}" for p in passes),
    ]
    # The one-run summary without its first line (which names one run).
    body = format_summary(batch_id, first["output"], accounting, stages, [], [], wall).split("\n", 1)[1]
    return {
        "run_id": batch_id,
        "run_ids": [p["run_id"] for p in passes],
        "batch": {"id": batch_id, "passes": len(passes), "max_documents_per_pass": limit},
        "mode": "batch",
        "output": first["output"],
        "inputs": first["inputs"],
        "feeds": first["feeds"],
        "config": first["config"],
        "accounting": accounting,
        "counters": counters,
        "stage_seconds": seconds,
        "stages": stages,
        "wall_seconds": round(wall, 3),
        "passes": passes,
        "text": "\n".join([*lines, body]),
    }


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
        pipeline = beam.Pipeline(runner=direct_runner_for(options), options=options)
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
