"""Throughput of a whole newsbeam run, and of the plain script a user would write instead.

Run from the repository root::

    python benchmarks/throughput.py --generate 2000 --workers 1 2 --compare-script --scrapinghub --repeat 3
    python benchmarks/throughput.py --generate 2000 --workers 1 2
    python benchmarks/throughput.py --generate 200 --copies 0.10 --workers 1 2 --no-enrich --keep /tmp/bench
    python benchmarks/throughput.py --input ~/news --workers 1

``--generate N`` writes N realistic news pages with 10 % planted wire copies (see
``benchmarks/corpus.py``); ``--input DIR`` benchmarks an existing folder (and scores the
duplicates too when ``DIR/../truth.json`` is a generated corpus's truth). Every run is a
process of its own, into a fresh output folder, so that its wall time, CPU seconds and peak
memory (of the whole process tree) can be measured: newsbeam with 1 worker is the plain
DirectRunner, more use ``--direct_running_mode=multi_processing --direct_num_workers=N``.

newsbeam runs once per worker count. ``--compare-script`` runs ``benchmarks/baseline_script.py``
(the same libraries in a ``multiprocessing.Pool`` script, no Beam) right after each newsbeam
run on the same pages, then both again without enrichment at the largest worker count, and
both on one page of the corpus (what any run costs, whatever its size: start-up, model loads,
stages, writing).
``--scrapinghub`` compares both on ``../shared/eval/extraction_scrapinghub``'s 181 real pages
(skipped, with a message, when that folder is absent). ``--repeat K`` goes through all runs K
times in turn; figures are medians, ratios medians of the ratios within one repetition.

Printed, and written to ``benchmarks/results/throughput-<N>[-no-enrich].json`` with the
machine and the command line: per run, inputs per second of the run itself (``wall_seconds``
from the run's own clock) and end to end (the whole process, interpreter start-up and imports
included), busy seconds and documents per busy second of each newsbeam stage (the stages'
``<stage>_usecs`` counters, summed over workers), the accounting, planted copies found and
false merges, peak memory and CPU seconds; then the figures with their targets, each marked
met or NOT met: docs/s with enrichment (>= 40) and without (>= 300), speed-up over one worker
(>= 1.7x), peak RSS (< 3 GB), and newsbeam over the script end to end (>= 0.9), on the
generated pages and on the real ones; without a target, each tool's one-page time and the
ratio on the real pages once that fixed cost is taken off both sides.

Timings depend on the machine and on what else runs on it: the load average is recorded,
and a busy machine is warned about. Timing belongs here, never in the tests.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.corpus import (  # noqa: E402
    DEFAULT_SEED,
    EVAL_DIR,
    PAGES_DIR,
    TRUTH_FILE,
    generate_corpus,
    load_truth,
)

RESULTS_DIR = REPO / "benchmarks" / "results"
BASELINE_SCRIPT = REPO / "benchmarks" / "baseline_script.py"
SCRAPINGHUB_PAGES = EVAL_DIR / "extraction_scrapinghub" / "html"
RSS_SAMPLE_SECONDS = 0.25
STAGES = ("read", "clean", "dedup", "enrich", "write")


# ---------------------------------------------------------------- one measured run


def beam_args_for(workers: int) -> list[str]:
    """Beam options for a worker count: the plain DirectRunner for one, its process pool for more."""
    if workers <= 1:
        return []
    return ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]


def _process_tree_rss(root: int) -> int:
    """Resident bytes of ``root`` and all its descendants now (Linux ``/proc``; 0 elsewhere)."""
    parents: dict[int, int] = {}
    rss_pages: dict[int, int] = {}
    for entry in os.scandir("/proc") if os.path.isdir("/proc") else ():
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read().decode("ascii", "replace")
            with open(f"/proc/{entry.name}/statm", "rb") as handle:
                statm = handle.read().split()
        except OSError:
            continue  # the process ended between listing and reading
        # The command name may hold spaces and parentheses; the fields after its last ")" do not.
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
        rss_pages[int(entry.name)] = int(statm[1])
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in tree:
                tree.add(pid)
                frontier.append(pid)
    return sum(rss_pages.get(pid, 0) for pid in tree) * os.sysconf("SC_PAGE_SIZE")


def measure_child(command: list[str], log_path: Path, cwd: Path, timeout: float | None = None) -> dict:
    """Run ``command`` to the end; its wall seconds, exit code, CPU seconds and peak memory.

    After ``timeout`` seconds the child's process group (it and its workers) is stopped and
    ``timed_out`` is set.

    ``max_rss_mb`` is the largest single process (the kernel's maxrss over the child and the
    descendants it waited for); ``peak_tree_rss_mb`` is the largest sum over the whole process
    tree, sampled every ``RSS_SAMPLE_SECONDS`` (what the run needs from the machine when it
    has several worker processes).
    """
    started = time.perf_counter()
    peak_tree = 0
    timed_out = False
    with open(log_path, "wb") as log:
        # A session of its own, so that a timeout stops the run's worker processes too.
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True)
        while True:
            # wait4 rather than Popen.wait: it returns the child's resource usage.
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            peak_tree = max(peak_tree, _process_tree_rss(child.pid))
            if timeout and not timed_out and time.perf_counter() - started > timeout:
                timed_out = True
                _stop_group(child.pid)
            time.sleep(RSS_SAMPLE_SECONDS)
    child.returncode = os.waitstatus_to_exitcode(status)
    return {
        "returncode": child.returncode,
        "timed_out": timed_out,
        "process_seconds": round(time.perf_counter() - started, 2),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "max_rss_mb": round(usage.ru_maxrss / 1024, 1),  # kilobytes on Linux
        "peak_tree_rss_mb": round(peak_tree / 2**20, 1) or None,
    }


def _stop_group(pgid: int) -> None:
    """SIGTERM the run's process group, then SIGKILL what is left after a grace period."""
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.perf_counter() + grace
        while time.perf_counter() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


def run_once(
    inputs: str,
    output: Path,
    workers: int,
    enrich: bool,
    config: str | None,
    work_dir: Path,
    timeout: float | None = None,
    label: str | None = None,
) -> dict:
    """One pipeline run in a child process; the pipeline's summary plus the measurements.

    ``label`` names the run's spec, summary and log files in ``work_dir`` (default ``w<workers>``).
    """
    label = label or f"w{workers}"
    spec = {
        "inputs": [inputs],
        "output": str(output),
        "config": config,
        "beam_args": beam_args_for(workers),
        "enrich": enrich,
        "summary_path": str(work_dir / f"summary-{label}.json"),
    }
    spec_path = work_dir / f"spec-{label}.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    log_path = work_dir / f"run-{label}.log"
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(spec_path)]
    measured = measure_child(command, log_path, REPO, timeout)
    result = {
        "tool": "newsbeam",
        "workers": workers,
        "beam_args": spec["beam_args"],
        "enrich": enrich,
        "output": str(output),
        **measured,
    }
    summary_path = Path(spec["summary_path"])
    if measured["returncode"] != 0 or not summary_path.is_file():
        result["failed"] = True
        result["log_tail"] = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        return result
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    result.update(
        {
            "run_id": summary["run_id"],
            "wall_seconds": summary["wall_seconds"],
            "accounting": summary["accounting"],
            "counters": summary["counters"],
            "stage_seconds": summary.get("stage_seconds") or stage_seconds_from_counters(summary["counters"]),
        }
    )
    inputs_count = summary["accounting"]["inputs"]
    result.update(rates(inputs_count, summary["wall_seconds"], measured["process_seconds"]))
    result["stage_docs_per_busy_second"] = stage_rates(result["stage_seconds"], summary["accounting"])
    return result


def run_script_once(
    inputs: str, output: Path, workers: int, enrich: bool, work_dir: Path, label: str, timeout: float | None = None
) -> dict:
    """One run of ``benchmarks/baseline_script.py`` in a child process, measured as ``run_once`` measures."""
    summary_path = work_dir / f"summary-{label}.json"
    command = [
        sys.executable,
        str(BASELINE_SCRIPT),
        inputs,
        "--output",
        str(output),
        "--workers",
        str(workers),
        "--summary",
        str(summary_path),
        *([] if enrich else ["--no-enrich"]),
    ]
    log_path = work_dir / f"run-{label}.log"
    measured = measure_child(command, log_path, REPO, timeout)
    result = {"tool": "script", "workers": workers, "enrich": enrich, "output": str(output), **measured}
    if measured["returncode"] != 0 or not summary_path.is_file():
        result["failed"] = True
        result["log_tail"] = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        return result
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    result["wall_seconds"] = summary["wall_seconds"]
    result["counts"] = {k: summary[k] for k in ("inputs", "articles", "duplicates", "failed", "entities", "numbers")}
    result.update(rates(summary["inputs"], summary["wall_seconds"], measured["process_seconds"]))
    return result


def rates(inputs: int, wall_seconds: float, process_seconds: float) -> dict:
    """Inputs per second of the run itself and of its whole process (start-up and imports included)."""
    return {
        "docs_per_second": round(inputs / wall_seconds, 2) if wall_seconds else None,
        "docs_per_process_second": round(inputs / process_seconds, 2) if process_seconds else None,
    }


def child_main(spec_path: str) -> NoReturn:
    """Inside the measured process: run the pipeline as the CLI does, save its summary, and end
    the process as the CLI does."""
    import logging

    logging.basicConfig(level=logging.ERROR)
    from pipeline.cli import exit_without_teardown
    from pipeline.workers import WarmPool

    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    # As `newsbeam run` does: the warm worker pool starts before pipeline.run imports Beam.
    with WarmPool.for_run(spec["beam_args"]) as warm_pool:
        from pipeline.run import run

        summary = run(
            spec["inputs"],
            spec["output"],
            config_path=spec["config"],
            beam_args=spec["beam_args"],
            enrich=spec["enrich"],
            warm_pool=warm_pool,
        )
    summary.pop("text", None)
    with open(spec["summary_path"], "w", encoding="utf-8") as handle:
        json.dump(summary, handle, default=str)
    exit_without_teardown(0)  # as `newsbeam` ends


# ---------------------------------------------------------------- figures


def stage_seconds_from_counters(counters: dict[str, int]) -> dict[str, float]:
    """Busy seconds per stage from the ``<stage>_usecs`` (or older ``<stage>_msecs``) counters."""
    seconds = {}
    for stage in STAGES:
        if f"{stage}_usecs" in counters:
            seconds[stage] = round(counters[f"{stage}_usecs"] / 1e6, 3)
        elif f"{stage}_msecs" in counters:
            seconds[stage] = round(counters[f"{stage}_msecs"] / 1e3, 3)
    return seconds


def stage_rates(seconds: dict[str, float], accounting: dict) -> dict[str, float]:
    """Documents per busy second of each stage, counting the documents that reach it.

    read and write see every input; clean every input that was read; dedup every article
    that came out of clean; enrich only the canonical articles (duplicates are not enriched).
    """
    rejected_by = accounting.get("errors_by_stage", {})
    inputs = accounting["inputs"]
    reaching = {
        "read": inputs,
        "clean": inputs - rejected_by.get("read", 0),
        "dedup": accounting["articles"] + accounting["duplicates"],
        "enrich": accounting["articles"],
        "write": inputs,
    }
    return {
        stage: round(reaching[stage] / busy, 1) for stage, busy in seconds.items() if busy > 0 and stage in reaching
    }


def score_duplicates(output: str | Path, truth: dict) -> dict:
    """Planted copies found in the run's tables, and merges of pages that are different stories.

    A planted copy is *found* when it sits in the same cluster as its original; *in duplicates*
    when it is a ``duplicates`` row (the original, published earlier, should be the canonical).
    A *false merge* is a ``duplicates`` row whose page and canonical are different stories.
    """
    from transforms.write import read_table

    columns = ["doc_id", "source", "cluster_id"]
    articles = read_table(str(output), "articles").select(columns).to_pylist()
    duplicates = read_table(str(output), "duplicates").select([*columns, "duplicate_of"]).to_pylist()
    story_of = {page["file"]: page["story"] for page in truth["pages"]}
    copies = {page["file"]: page["copy_of"] for page in truth["pages"] if page["copy_of"]}
    file_of_doc = {row["doc_id"]: os.path.basename(row["source"]) for row in articles + duplicates}
    cluster_of = {os.path.basename(row["source"]): row["cluster_id"] for row in articles + duplicates}
    duplicate_files = {os.path.basename(row["source"]) for row in duplicates}
    found = [c for c, o in copies.items() if cluster_of.get(c) is not None and cluster_of.get(c) == cluster_of.get(o)]
    false_merges = [
        {"page": os.path.basename(row["source"]), "merged_into": file_of_doc.get(row["duplicate_of"])}
        for row in duplicates
        if story_of.get(os.path.basename(row["source"])) != story_of.get(file_of_doc.get(row["duplicate_of"]))
    ]
    return {
        "planted_copies": len(copies),
        "copies_found": len(found),
        "copies_in_duplicates": sum(1 for c in copies if c in duplicate_files),
        "copies_missed": sorted(set(copies) - set(found))[:20],
        "duplicates_rows": len(duplicates),
        "false_merges": len(false_merges),
        "false_merge_examples": false_merges[:10],
    }


# ---------------------------------------------------------------- plan and figures

MAIN, SCRAPINGHUB, ONE_PAGE = "generated", "scrapinghub", "one-page"


@dataclass(frozen=True)
class Variant:
    """One configuration to measure: which corpus, which program, how many workers, enrichment or not."""

    corpus: str
    tool: str  # "newsbeam" or "script" (benchmarks/baseline_script.py)
    workers: int
    enrich: bool

    @property
    def label(self) -> str:
        return f"{self.corpus}-{self.tool}-{'full' if self.enrich else 'no-enrich'}-w{self.workers}"

    def matches(self, run: dict) -> bool:
        return (run["corpus"], run["tool"], run["workers"], run["enrich"]) == (
            self.corpus,
            self.tool,
            self.workers,
            self.enrich,
        )


def plan_variants(workers: list[int], enrich: bool, compare_script: bool, scrapinghub: bool) -> list[Variant]:
    """The runs of one repetition, newsbeam and the script alternating.

    newsbeam at every worker count (and the script beside it with ``compare_script``); with
    ``compare_script`` and enrichment on, both again without enrichment at the largest worker
    count, and both on a single page at the largest worker count (what a run costs whatever
    its size); with ``scrapinghub``, both on the real pages at the largest worker count.
    """
    top = max(workers)
    variants = []
    for count in workers:
        variants.append(Variant(MAIN, "newsbeam", count, enrich))
        if compare_script:
            variants.append(Variant(MAIN, "script", count, enrich))
    if compare_script and enrich:
        variants += [Variant(MAIN, "newsbeam", top, False), Variant(MAIN, "script", top, False)]
    if compare_script:
        variants += [Variant(ONE_PAGE, "newsbeam", top, enrich), Variant(ONE_PAGE, "script", top, enrich)]
    if scrapinghub:
        variants += [Variant(SCRAPINGHUB, "newsbeam", top, enrich), Variant(SCRAPINGHUB, "script", top, enrich)]
    return variants


def _by_repetition(runs: list[dict], variant: Variant) -> dict[int, dict]:
    return {run["rep"]: run for run in runs if variant.matches(run) and not run.get("failed")}


def aggregate(runs: list[dict], variant: Variant, metric: str, combine=statistics.median) -> float | None:
    """``metric`` of ``variant``'s finished runs, combined over repetitions (median by default)."""
    values = [run[metric] for run in _by_repetition(runs, variant).values() if run.get(metric) is not None]
    return round(combine(values), 2) if values else None


def paired_ratio(runs: list[dict], numerator: Variant, denominator: Variant, metric: str) -> float | None:
    """Median over repetitions of ``metric(numerator) / metric(denominator)`` measured in the same repetition
    (so a load change between repetitions cancels out instead of biasing one side)."""
    top, bottom = _by_repetition(runs, numerator), _by_repetition(runs, denominator)
    ratios = [
        top[rep][metric] / bottom[rep][metric]
        for rep in top.keys() & bottom.keys()
        if top[rep].get(metric) and bottom[rep].get(metric)
    ]
    return round(statistics.median(ratios), 2) if ratios else None


def paired_ratio_beyond_fixed(runs: list[dict], numerator: Variant, denominator: Variant, seconds: str) -> float | None:
    """Like ``paired_ratio`` of docs per second, after each tool's one-page run (its fixed cost per
    run) is taken off its time (the ``seconds`` metric): how the per-page work compares, start-up aside."""
    fixed = {
        v.tool: _by_repetition(runs, Variant(ONE_PAGE, v.tool, v.workers, v.enrich)) for v in (numerator, denominator)
    }
    top, bottom = _by_repetition(runs, numerator), _by_repetition(runs, denominator)
    ratios = []
    for rep in top.keys() & bottom.keys() & fixed[numerator.tool].keys() & fixed[denominator.tool].keys():
        top_work = top[rep][seconds] - fixed[numerator.tool][rep][seconds]
        bottom_work = bottom[rep][seconds] - fixed[denominator.tool][rep][seconds]
        if top_work > 0 and bottom_work > 0:
            ratios.append(bottom_work / top_work)
    return round(statistics.median(ratios), 2) if ratios else None


@dataclass(frozen=True)
class Figure:
    """A reported figure: one variant's metric over repetitions, or the ratio of two variants' metrics."""

    name: str
    what: str
    unit: str
    metric: str
    variants: tuple[Variant, ...]  # one: its value; two: numerator / denominator; none: not measurable
    target: tuple[str, float] | None  # (">=" or "<", bound)
    hint: str  # what it takes to measure it
    combine: Callable = statistics.median
    beyond_fixed: bool = False  # a ratio of the time beyond each tool's one-page run

    def measure(self, runs: list[dict]) -> dict:
        if len(self.variants) == 2 and self.beyond_fixed:
            value = paired_ratio_beyond_fixed(runs, *self.variants, self.metric)
        elif len(self.variants) == 2:
            value = paired_ratio(runs, *self.variants, self.metric)
        else:
            value = aggregate(runs, self.variants[0], self.metric, self.combine) if self.variants else None
        met = None
        if value is not None and self.target is not None:
            op, bound = self.target
            met = value >= bound if op == ">=" else value < bound
        failed = any(v.matches(r) and r.get("failed") for r in runs for v in self.variants)
        return {
            "name": self.name,
            "what": self.what,
            "value": value,
            "unit": self.unit,
            "target": f"{self.target[0]} {self.target[1]:g}" if self.target else None,
            "met": met,
            "missing": None if value is not None else ("a run it needs failed" if failed else self.hint),
        }


def figures(runs: list[dict], workers: list[int], enrich: bool, scrapinghub_note: str | None) -> list[dict]:
    """The issue's figures, each with its target: speed, scaling, memory, and newsbeam over the plain script."""
    top = max(workers)
    mode = "full" if enrich else "--no-enrich"

    def newsbeam(count: int, enriched: bool = enrich, corpus: str = MAIN) -> Variant:
        return Variant(corpus, "newsbeam", count, enriched)

    def script(count: int, enriched: bool = enrich, corpus: str = MAIN) -> Variant:
        return Variant(corpus, "script", count, enriched)

    needs_script = "needs --compare-script"
    scaling = top > 1  # a speed-up needs a second worker count
    found = [
        Figure(
            "docs_per_second_full",
            f"newsbeam with entities and numbers, {top} workers",
            "docs/s",
            "docs_per_second",
            (newsbeam(top, True),),
            (">=", 40),
            "needs a run with enrichment (drop --no-enrich)",
        ),
        Figure(
            "docs_per_second_no_enrich",
            f"newsbeam --no-enrich, {top} workers",
            "docs/s",
            "docs_per_second",
            (newsbeam(top, False),),
            (">=", 300),
            "needs --no-enrich or --compare-script",
        ),
        Figure(
            "speedup",
            f"newsbeam {mode}, {top} workers over 1 (docs/s)",
            "x",
            "docs_per_second",
            (newsbeam(top), newsbeam(1)) if scaling else (),
            (">=", 1.7),
            "needs --workers 1 2",
        ),
        Figure(
            "peak_rss_mb",
            f"newsbeam {mode}, {top} workers: peak RSS of the process tree (largest of the repetitions)",
            "MB",
            "peak_tree_rss_mb",
            (newsbeam(top),),
            ("<", 3072),
            "no finished run",
            combine=max,
        ),
        Figure(
            "newsbeam_over_script",
            f"newsbeam / script {mode}, {top} workers, end to end (process docs/s)",
            "x",
            "docs_per_process_second",
            (newsbeam(top), script(top)),
            (">=", 0.9),
            needs_script,
        ),
        Figure(
            "newsbeam_over_script_in_run",
            f"newsbeam / script {mode}, {top} workers, in-run (imports and start-up excluded)",
            "x",
            "docs_per_second",
            (newsbeam(top), script(top)),
            None,
            needs_script,
        ),
        Figure(
            "newsbeam_over_script_no_enrich",
            f"newsbeam / script --no-enrich, {top} workers, end to end",
            "x",
            "docs_per_process_second",
            (newsbeam(top, False), script(top, False)),
            None,
            needs_script,
        ),
        Figure(
            "script_speedup",
            f"script {mode}, {top} workers over 1 (docs/s)",
            "x",
            "docs_per_second",
            (script(top), script(1)) if scaling else (),
            None,
            f"{needs_script} and --workers 1 2",
        ),
        Figure(
            "scrapinghub_newsbeam_over_script",
            f"newsbeam / script {mode} on the real scrapinghub pages, {top} workers, end to end",
            "x",
            "docs_per_process_second",
            (newsbeam(top, corpus=SCRAPINGHUB), script(top, corpus=SCRAPINGHUB)),
            (">=", 0.9),
            scrapinghub_note or "needs --scrapinghub",
        ),
        Figure(
            "fixed_seconds_newsbeam",
            f"newsbeam {mode} on one page, {top} workers, end to end: what any run costs",
            "s",
            "process_seconds",
            (newsbeam(top, corpus=ONE_PAGE),),
            None,
            needs_script,
        ),
        Figure(
            "fixed_seconds_script",
            f"script {mode} on one page, {top} workers, end to end: what any run costs",
            "s",
            "process_seconds",
            (script(top, corpus=ONE_PAGE),),
            None,
            needs_script,
        ),
        Figure(
            "scrapinghub_newsbeam_over_script_beyond_fixed",
            f"newsbeam / script {mode} on the scrapinghub pages, {top} workers, each tool's one-page time taken off",
            "x",
            "process_seconds",
            (newsbeam(top, corpus=SCRAPINGHUB), script(top, corpus=SCRAPINGHUB)),
            None,
            scrapinghub_note or "needs --scrapinghub and --compare-script",
            beyond_fixed=True,
        ),
    ]
    return [item.measure(runs) for item in found]


def format_figures(found: list[dict], repeat: int) -> str:
    how = f"median of {repeat} alternating repetitions" if repeat > 1 else "one repetition"
    lines = [f"figures ({how}):"]
    for item in found:
        if item["value"] is None:
            lines.append(f"  {item['what']}: not measured ({item['missing']})")
            continue
        verdict = f"target {item['target']}: {'met' if item['met'] else 'NOT met'}" if item["target"] else "no target"
        lines.append(f"  {item['what']}: {item['value']:g} {item['unit']}  ({verdict})")
    return "\n".join(lines)


def machine_info() -> dict:
    def version(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    cpu_model = None
    if os.path.isfile("/proc/cpuinfo"):
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            cpu_model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), None)
    memory_gb = None
    if hasattr(os, "sysconf") and "SC_PHYS_PAGES" in os.sysconf_names:
        memory_gb = round(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30, 1)
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gb": memory_gb,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "apache_beam": version("apache-beam"),
        "spacy": version("spacy"),
        "trafilatura": version("trafilatura"),
        # The BLAS kernels decide ~10 % of the enrich stage's time: what the environment asked
        # OpenBLAS for, if anything (newsbeam leaves it as it finds it; README, Runners → Local).
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }


def format_run(run: dict, score: dict | None) -> str:
    if run.get("failed"):
        why = "timed out" if run.get("timed_out") else f"exit {run['returncode']}"
        return (
            f"workers {run['workers']}: FAILED ({why} after {run['process_seconds']:.0f} s)\n{run.get('log_tail', '')}"
        )
    if run["tool"] == "script":
        return format_script_run(run, score)
    a = run["accounting"]
    lines = [
        f"workers {run['workers']} {' '.join(run['beam_args']) or '(DirectRunner, one process)'}",
        _rate_line(a["inputs"], run),
        f"  accounting: articles {a['articles']} + duplicates {a['duplicates']} + rejected {a['rejected']}"
        f" = {a['articles'] + a['duplicates'] + a['rejected']} ({'balanced' if a['balanced'] else 'NOT balanced'});"
        f" entities {a['entities']}, numbers {a['numbers']}, error rows {a['errors']}"
        + (f", reuse rows {a['reuse']}" if "reuse" in a else ""),
    ]
    if a.get("error_reasons"):
        lines.append("  error reasons: " + ", ".join(f"{k} {v}" for k, v in list(a["error_reasons"].items())[:8]))
    if run["stage_seconds"]:
        per_stage = run["stage_docs_per_busy_second"]
        lines.append(
            "  busy seconds per stage (summed over workers): "
            + ", ".join(f"{s} {t:.2f} s ({per_stage.get(s, 0):.1f} docs/s)" for s, t in run["stage_seconds"].items())
        )
    else:
        lines.append("  busy seconds per stage: none reported (no <stage>_usecs counters)")
    lines += _memory_and_score_lines(run, score)
    return "\n".join(lines)


def format_script_run(run: dict, score: dict | None) -> str:
    c = run["counts"]
    lines = [
        f"workers {run['workers']} (multiprocessing.Pool)",
        _rate_line(c["inputs"], run),
        f"  articles {c['articles']}, duplicates {c['duplicates']}, failed files {c['failed']};"
        f" entities {c['entities']}, numbers {c['numbers']}",
        *_memory_and_score_lines(run, score),
    ]
    return "\n".join(lines)


def _rate_line(inputs: int, run: dict) -> str:
    return (
        f"  {inputs} inputs in {run['wall_seconds']:.1f} s = {run['docs_per_second']:.2f} docs/s"
        f"  (process {run['process_seconds']:.1f} s = {run['docs_per_process_second']:.2f} docs/s end to end,"
        f" CPU {run['cpu_seconds']:.1f} s)"
    )


def _memory_and_score_lines(run: dict, score: dict | None) -> list[str]:
    tree = f", whole process tree {run['peak_tree_rss_mb']:.0f} MB" if run.get("peak_tree_rss_mb") else ""
    lines = [f"  peak RSS: largest process {run['max_rss_mb']:.0f} MB{tree}"]
    if score:
        lines.append(
            f"  planted copies found: {score['copies_found']}/{score['planted_copies']}"
            f" ({score['copies_in_duplicates']} as duplicates rows); false merges: {score['false_merges']}"
            f" of {score['duplicates_rows']} duplicates rows"
        )
        if score["copies_missed"]:
            lines.append(
                f"  missed copies (first {len(score['copies_missed'])}): {', '.join(score['copies_missed'][:5])}"
            )
        for example in score["false_merge_examples"][:3]:
            lines.append(f"  false merge: {example['page']} -> {example['merged_into']}")
    return lines


# ---------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Benchmark newsbeam's throughput on generated or given news pages.",
        epilog="Results go to benchmarks/results/throughput-<N>[-no-enrich].json.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--generate", type=int, metavar="N", help="generate N pages (planted copies included)")
    source.add_argument("--input", metavar="DIR", help="benchmark an existing folder of inputs")
    source.add_argument("--child", metavar="SPEC", help=argparse.SUPPRESS)  # the measured process
    parser.add_argument("--copies", type=float, default=0.10, help="share of generated pages that are copies")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="corpus seed (same seed, same pages)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1], help="worker counts to run (default: 1)")
    parser.add_argument("--no-enrich", action="store_true", help="skip the enrich stage (entities, numbers)")
    parser.add_argument("--config", default=None, help="YAML profile passed to the pipeline")
    parser.add_argument("--keep", metavar="DIR", help="keep pages, truth and outputs in DIR (default: a temp dir)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=3600,
        help="seconds before a run is stopped and reported failed (default: 3600)",
    )
    parser.add_argument(
        "--compare-script",
        action="store_true",
        help="also run benchmarks/baseline_script.py beside every newsbeam run, and both without enrichment"
        " at the largest worker count",
    )
    parser.add_argument(
        "--scrapinghub",
        action="store_true",
        help="also compare newsbeam and the script on ../shared/eval/extraction_scrapinghub's real pages",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, metavar="K", help="alternate all runs K times; figures are medians"
    )
    parser.add_argument("--results", default=str(RESULTS_DIR), help="folder for the JSON result")
    return parser


def prepare_corpus(args: argparse.Namespace, work_dir: Path) -> tuple[str, dict | None]:
    """The input folder (generated into ``work_dir`` or given) and its truth when there is one."""
    if args.generate is None:
        inputs = str(Path(args.input).resolve())
        if not os.path.isdir(inputs):
            raise SystemExit(f"throughput: no such folder: {inputs}")
        return inputs, load_truth(Path(inputs).parent) if (Path(inputs).parent / TRUTH_FILE).is_file() else None
    started = time.perf_counter()
    truth = generate_corpus(args.generate, work_dir, args.copies, args.seed)
    inputs = str(work_dir / PAGES_DIR)
    print(
        f"generated {truth['n']} pages ({truth['originals']} originals, {len(truth['copies'])} planted copies)"
        f" in {time.perf_counter() - started:.1f} s -> {inputs}"
    )
    print(
        f"  prose: {truth['pool_sentences']} distinct sentences from {truth['sources']};"
        f" {truth['verbatim_sentences']} used verbatim, {truth['respun_sentences']} respun"
    )
    return inputs, truth


def scrapinghub_pages() -> tuple[int, str | None]:
    """How many real pages the scrapinghub set holds here, and why it is skipped when it holds none."""
    pages = len(list(SCRAPINGHUB_PAGES.glob("*.html*"))) if SCRAPINGHUB_PAGES.is_dir() else 0
    if pages:
        return pages, None
    return 0, f"skipped: no pages in {SCRAPINGHUB_PAGES} (../shared/eval is not beside the repository)"


def one_page_folder(inputs: str, work_dir: Path) -> str:
    """A folder holding only the first page of ``inputs``: the runs on it measure a run's fixed cost.

    The page is the first file the script reads too (HTML or text), so both tools get one input.
    """
    from benchmarks.baseline_script import input_files

    pages = input_files(inputs)
    if not pages:
        raise SystemExit(f"throughput: no .html/.txt page in {inputs} for the one-page runs")
    first = Path(pages[0])
    folder = work_dir / "one-page"
    folder.mkdir(exist_ok=True)
    shutil.copy(first, folder / first.name)
    return str(folder)


def measure(variant: Variant, inputs: str, output: Path, args: argparse.Namespace, work_dir: Path, label: str) -> dict:
    if variant.tool == "newsbeam":
        run = run_once(inputs, output, variant.workers, variant.enrich, args.config, work_dir, args.timeout, label)
    else:
        run = run_script_once(inputs, output, variant.workers, variant.enrich, work_dir, label, args.timeout)
    run.update(corpus=variant.corpus, inputs=inputs)
    return run


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.child:
        return child_main(args.child)
    if any(w < 1 for w in args.workers) or args.repeat < 1:
        print("throughput: --workers and --repeat must be positive", file=sys.stderr)
        return 2
    machine = machine_info()
    load = machine["load_average_at_start"]
    if load and load[0] > 0.5 * machine["nproc"]:
        print(
            f"warning: load average {load[0]} on {machine['nproc']} CPUs; timings will be pessimistic", file=sys.stderr
        )

    work_dir = Path(args.keep).resolve() if args.keep else Path(tempfile.mkdtemp(prefix="newsbeam-bench-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    enrich = not args.no_enrich
    try:
        inputs, truth = prepare_corpus(args, work_dir)
        corpora = {MAIN: inputs}
        scrapinghub_note = None
        if args.scrapinghub:
            pages, scrapinghub_note = scrapinghub_pages()
            if pages:
                corpora[SCRAPINGHUB] = str(SCRAPINGHUB_PAGES)
                print(f"scrapinghub: {pages} real pages in {SCRAPINGHUB_PAGES}")
            else:
                print(f"scrapinghub comparison {scrapinghub_note}")
        if args.compare_script:
            corpora[ONE_PAGE] = one_page_folder(inputs, work_dir)
        variants = plan_variants(args.workers, enrich, args.compare_script, SCRAPINGHUB in corpora)
        runs = []
        for rep in range(1, args.repeat + 1):
            for variant in variants:
                label = variant.label + (f"-r{rep}" if args.repeat > 1 else "")
                output = work_dir / f"out-{label}"
                if output.exists():
                    print(f"throughput: output folder {output} exists; use a new --keep folder", file=sys.stderr)
                    return 2
                print(
                    f"[{rep}/{args.repeat}] {variant.corpus}: {variant.tool}{'' if variant.enrich else ' --no-enrich'}"
                    f" with {variant.workers} worker(s) -> {output} ...",
                    flush=True,
                )
                run = measure(variant, corpora[variant.corpus], output, args, work_dir, label)
                run["rep"] = rep
                found_truth = truth if variant.corpus == MAIN and not run.get("failed") else None
                run["duplicates_score"] = score_duplicates(output, found_truth) if found_truth else None
                runs.append(run)
                print(format_run(run, run["duplicates_score"]), flush=True)

        gains = {
            f"{count}_over_1": paired_ratio(
                runs, Variant(MAIN, "newsbeam", count, enrich), Variant(MAIN, "newsbeam", 1, enrich), "docs_per_second"
            )
            for count in args.workers
            if count != 1 and 1 in args.workers
        }
        for name, value in gains.items():
            if value is not None:
                print(f"speed-up of {name.split('_')[0]} workers over 1: {value:.2f}x (on {machine['nproc']} CPUs)")
        found = figures(runs, args.workers, enrich, scrapinghub_note)
        print(format_figures(found, args.repeat))

        newsbeam_runs = [r for r in runs if r["tool"] == "newsbeam" and r["corpus"] == MAIN and not r.get("failed")]
        count = truth["n"] if truth else (newsbeam_runs[0]["accounting"]["inputs"] if newsbeam_runs else 0)
        result = {
            "command": "python " + shlex.join(["benchmarks/throughput.py", *(sys.argv[1:] if argv is None else argv)]),
            "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "machine": machine,
            "inputs": inputs if args.keep or args.input else "(temporary folder)",
            "documents": count,
            "enrich": enrich,
            "repeat": args.repeat,
            "corpus": {k: v for k, v in truth.items() if k not in ("pages", "pages_dir")} if truth else None,
            "scrapinghub": {"pages": str(SCRAPINGHUB_PAGES), "skipped": scrapinghub_note} if args.scrapinghub else None,
            "figures": found,
            "runs": runs,
            "speedup": gains,
        }
        results_dir = Path(args.results)
        results_dir.mkdir(parents=True, exist_ok=True)
        suffix = "-no-enrich" if args.no_enrich else ""
        result_path = results_dir / f"throughput-{count}{suffix}.json"
        result_path.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
        print(f"result written to {result_path}")
        broken = [r for r in runs if r.get("failed") or (r["tool"] == "newsbeam" and not r["accounting"]["balanced"])]
        return 1 if broken else 0
    finally:
        if not args.keep:
            shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
