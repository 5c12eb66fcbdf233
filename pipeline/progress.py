"""Progress of a running pipeline on any runner, printed by the launcher every few seconds.

Beam's DirectRunner reports its counters only when a run ends, so progress has its own
channel: ``tap_progress`` adds a counting step at four stage boundaries (documents read,
articles, duplicates, error rows). Each counting step (one per worker process and step)
keeps a cumulative count in ``<output>/_staging/<run_id>/_progress/<pid>-<id>.json``,
rewritten at most once a second and at the end of every bundle. The launcher's
``report_progress`` thread sums those files and prints

    [newsbeam] 12s inputs 340 · articles 250 · duplicates 30 · errors 5 · 27.5 docs/s

to stderr, or one JSON object per line with ``log_format="json"``. When the pipeline has
finished, one last line (``"done": true``) carries the final counts, which equal the run's
accounting. A bundle that a runner retries is counted again: progress is a guide, the
summary is the record.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO

import apache_beam as beam

from pipeline.options import RunContext, path_scheme
from transforms.write import staging_root

PROGRESS_DIR = "_progress"
DEFAULT_INTERVAL_SECONDS = 5.0
# How often one counting step may rewrite its file: often enough for a 5 s display, rarely
# enough that a fast step spends its time on work, not on writing counts.
FLUSH_SECONDS = 1.0
LOG_FORMATS = ("text", "json")


def progress_dir(output: str, run_id: str) -> str:
    return os.path.join(staging_root(output, run_id), PROGRESS_DIR)


# ---------------------------------------------------------------- inside the pipeline


class CountProgressFn(beam.DoFn):
    """Counts the elements of one PCollection (and, with ``split_by``, per value of that field)."""

    def __init__(self, folder: str, stream: str, split_by: str | None = None):
        self._folder = folder
        self._stream = stream
        self._split_by = split_by

    def setup(self):
        self._path = os.path.join(self._folder, f"{os.getpid()}-{uuid.uuid4().hex[:12]}.json")
        self._counts: Counter = Counter()
        self._flushed_at = 0.0
        self._unflushed = False

    def process(self, element) -> Iterator:
        self._counts[self._stream] += 1
        if self._split_by:
            self._counts[f"{self._stream}:{element.get(self._split_by)}"] += 1
        self._unflushed = True
        if time.monotonic() - self._flushed_at >= FLUSH_SECONDS:
            self._flush()
        return iter(())

    def finish_bundle(self):
        if self._unflushed:
            self._flush()

    def _flush(self) -> None:
        os.makedirs(self._folder, exist_ok=True)
        temporary = f"{self._path}.tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(self._counts, handle)
        os.replace(temporary, self._path)
        self._flushed_at = time.monotonic()
        self._unflushed = False


def tap_progress(
    run: RunContext,
    documents: beam.PCollection,
    articles: beam.PCollection,
    duplicates: beam.PCollection,
    errors: beam.PCollection,
) -> None:
    """Count the four stage boundaries into the run's progress folder (local outputs only:
    the launcher must be able to read what the workers write)."""
    if path_scheme(run.output):
        return
    folder = progress_dir(run.output, run.run_id)
    taps = {"documents": documents, "articles": articles, "duplicates": duplicates, "errors": errors}
    for stream, rows in taps.items():
        split_by = "stage" if stream == "errors" else None
        _ = rows | f"Progress{stream.capitalize()}" >> beam.ParDo(CountProgressFn(folder, stream, split_by))


# ---------------------------------------------------------------- in the launcher


@dataclass(frozen=True)
class ProgressSettings:
    """How the launcher reports: every ``interval`` seconds, as text or JSON lines, to ``stream``
    (stderr when None, looked up when printing so that a redirected stderr is honoured)."""

    interval: float = DEFAULT_INTERVAL_SECONDS
    log_format: str = "text"
    stream: TextIO | None = None


def read_counts(folder: str) -> Counter:
    """The counting steps' files summed. Each file is replaced atomically, so it is whole."""
    totals: Counter = Counter()
    for path in glob.glob(os.path.join(folder, "*.json")):
        with open(path, encoding="utf-8") as handle:
            totals.update(json.load(handle))
    return totals


def progress_record(totals: Counter, elapsed: float) -> dict:
    """Counts as the summary accounts them: an input is a document read or a read-stage error."""
    inputs = totals["documents"] + totals["errors:read"]
    return {
        "elapsed_s": round(elapsed, 1),
        "inputs": inputs,
        "articles": totals["articles"],
        "duplicates": totals["duplicates"],
        "errors": totals["errors"],
        "docs_per_s": round(inputs / elapsed, 1) if elapsed > 0 else 0.0,
    }


def format_progress(record: dict) -> str:
    line = (
        f"[newsbeam] {record['elapsed_s']:.0f}s inputs {record['inputs']} · articles {record['articles']}"
        f" · duplicates {record['duplicates']} · errors {record['errors']} · {record['docs_per_s']:.1f} docs/s"
    )
    return line + (" (pipeline finished)" if record.get("done") else "")


def emit(record: dict, settings: ProgressSettings) -> None:
    """One progress or summary record as a text line or a JSON line."""
    stream = settings.stream or sys.stderr
    text = json.dumps(record, default=str) if settings.log_format == "json" else format_progress(record)
    print(text, file=stream, flush=True)


@contextmanager
def report_progress(settings: ProgressSettings | None, output: str, run_id: str) -> Iterator[None]:
    """Around ``pipeline.run()`` and its wait: print progress until the block ends, then the final
    counts (unless the block failed); remove the progress folder either way."""
    folder = progress_dir(output, run_id)
    started = time.monotonic()
    stop = threading.Event()

    def record(done: bool) -> dict:
        counts = progress_record(read_counts(folder), time.monotonic() - started)
        return {"event": "progress", "run_id": run_id, **counts, "done": done}

    def loop() -> None:
        while not stop.wait(settings.interval):
            emit(record(done=False), settings)

    thread = threading.Thread(target=loop, name="newsbeam-progress", daemon=True) if settings else None
    if thread is not None:
        thread.start()
    succeeded = False
    try:
        yield
        succeeded = True
    finally:
        stop.set()
        if thread is not None:
            thread.join()
        if settings and succeeded:
            emit(record(done=True), settings)
        _remove_progress_folder(folder)


def _remove_progress_folder(folder: str) -> None:
    """Batch runs commit (and delete) their staging folder later; streaming runs have nothing
    else in it, so empty parents go too."""
    shutil.rmtree(folder, ignore_errors=True)
    for parent in (os.path.dirname(folder), os.path.dirname(os.path.dirname(folder))):
        if os.path.isdir(parent) and not os.listdir(parent):
            os.rmdir(parent)
