"""Throughput of a whole newsbeam run: documents per second, per stage and per worker count.

Run from the repository root::

    python benchmarks/throughput.py --generate 2000 --workers 1 2
    python benchmarks/throughput.py --generate 200 --copies 0.10 --workers 1 2 --no-enrich --keep /tmp/bench
    python benchmarks/throughput.py --input ~/news --workers 1

``--generate N`` writes N realistic news pages with 10 % planted wire copies (see
``benchmarks/corpus.py``); ``--input DIR`` benchmarks an existing folder (and scores the
duplicates too when ``DIR/../truth.json`` is a generated corpus's truth). The pipeline runs
once per worker count, each time into a fresh output folder and in its own process, so that
its peak memory can be measured: 1 worker is the plain DirectRunner, more use
``--direct_running_mode=multi_processing --direct_num_workers=N``.

Printed, and written to ``benchmarks/results/throughput-<N>[-no-enrich].json`` with the
machine and the command line: inputs per wall second, busy seconds and documents per busy
second of each stage (the stages' ``<stage>_usecs`` counters, summed over workers), the
accounting, planted copies found in the ``duplicates`` table and false merges, peak memory,
CPU seconds, and the speed-up of each worker count over one worker.

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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.corpus import DEFAULT_SEED, PAGES_DIR, TRUTH_FILE, generate_corpus, load_truth  # noqa: E402

RESULTS_DIR = REPO / "benchmarks" / "results"
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
) -> dict:
    """One pipeline run in a child process; the pipeline's summary plus the measurements."""
    spec = {
        "inputs": [inputs],
        "output": str(output),
        "config": config,
        "beam_args": beam_args_for(workers),
        "enrich": enrich,
        "summary_path": str(work_dir / f"summary-w{workers}.json"),
    }
    spec_path = work_dir / f"spec-w{workers}.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    log_path = work_dir / f"run-w{workers}.log"
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(spec_path)]
    measured = measure_child(command, log_path, REPO, timeout)
    result = {"workers": workers, "beam_args": spec["beam_args"], "enrich": enrich, "output": str(output), **measured}
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
    result["docs_per_second"] = round(inputs_count / summary["wall_seconds"], 2) if summary["wall_seconds"] else None
    result["stage_docs_per_busy_second"] = stage_rates(result["stage_seconds"], summary["accounting"])
    return result


def child_main(spec_path: str) -> int:
    """Inside the measured process: run the pipeline as the CLI does and save its summary."""
    import logging

    logging.basicConfig(level=logging.ERROR)
    from pipeline.run import run

    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    summary = run(
        spec["inputs"], spec["output"], config_path=spec["config"], beam_args=spec["beam_args"], enrich=spec["enrich"]
    )
    summary.pop("text", None)
    with open(spec["summary_path"], "w", encoding="utf-8") as handle:
        json.dump(summary, handle, default=str)
    return 0


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


def speedups(runs: list[dict]) -> dict[str, float]:
    """docs/s of each worker count over docs/s of one worker."""
    one = next((r for r in runs if r["workers"] == 1 and r.get("docs_per_second")), None)
    if one is None:
        return {}
    return {
        f"{r['workers']}_over_1": round(r["docs_per_second"] / one["docs_per_second"], 2)
        for r in runs
        if r["workers"] != 1 and r.get("docs_per_second")
    }


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
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }


def format_run(run: dict, score: dict | None) -> str:
    if run.get("failed"):
        why = "timed out" if run.get("timed_out") else f"exit {run['returncode']}"
        return (
            f"workers {run['workers']}: FAILED ({why} after {run['process_seconds']:.0f} s)\n{run.get('log_tail', '')}"
        )
    a = run["accounting"]
    lines = [
        f"workers {run['workers']} {' '.join(run['beam_args']) or '(DirectRunner, one process)'}",
        f"  {a['inputs']} inputs in {run['wall_seconds']:.1f} s = {run['docs_per_second']:.2f} docs/s"
        f"  (process {run['process_seconds']:.1f} s, CPU {run['cpu_seconds']:.1f} s)",
        f"  accounting: articles {a['articles']} + duplicates {a['duplicates']} + rejected {a['rejected']}"
        f" = {a['articles'] + a['duplicates'] + a['rejected']} ({'balanced' if a['balanced'] else 'NOT balanced'});"
        f" entities {a['entities']}, numbers {a['numbers']}, error rows {a['errors']}"
        + (f", reuse rows {a['reuse']}" if "reuse" in a else ""),
    ]
    if a.get("error_reasons"):
        lines.append("  error reasons: " + ", ".join(f"{k} {v}" for k, v in list(a["error_reasons"].items())[:8]))
    if run["stage_seconds"]:
        rates = run["stage_docs_per_busy_second"]
        lines.append(
            "  busy seconds per stage (summed over workers): "
            + ", ".join(f"{s} {t:.2f} s ({rates.get(s, 0):.1f} docs/s)" for s, t in run["stage_seconds"].items())
        )
    else:
        lines.append("  busy seconds per stage: none reported (no <stage>_usecs counters)")
    tree = f", whole process tree {run['peak_tree_rss_mb']:.0f} MB" if run.get("peak_tree_rss_mb") else ""
    lines.append(f"  peak RSS: largest process {run['max_rss_mb']:.0f} MB{tree}")
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
    return "\n".join(lines)


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
    parser.add_argument("--results", default=str(RESULTS_DIR), help="folder for the JSON result")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.child:
        return child_main(args.child)
    if any(w < 1 for w in args.workers):
        print("throughput: --workers must be positive", file=sys.stderr)
        return 2
    machine = machine_info()
    load = machine["load_average_at_start"]
    if load and load[0] > 0.5 * machine["nproc"]:
        print(
            f"warning: load average {load[0]} on {machine['nproc']} CPUs; timings will be pessimistic", file=sys.stderr
        )

    work_dir = Path(args.keep).resolve() if args.keep else Path(tempfile.mkdtemp(prefix="newsbeam-bench-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    truth = None
    try:
        if args.generate is not None:
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
        else:
            inputs = str(Path(args.input).resolve())
            if not os.path.isdir(inputs):
                print(f"throughput: no such folder: {inputs}", file=sys.stderr)
                return 2
            if (Path(inputs).parent / TRUTH_FILE).is_file():
                truth = load_truth(Path(inputs).parent)
        runs, scores = [], []
        for workers in args.workers:
            output = work_dir / f"out-w{workers}"
            if output.exists():
                print(f"throughput: output folder {output} exists; use a new --keep folder", file=sys.stderr)
                return 2
            print(f"running with {workers} worker(s) -> {output} ...", flush=True)
            run = run_once(inputs, output, workers, not args.no_enrich, args.config, work_dir, args.timeout)
            score = score_duplicates(output, truth) if truth and not run.get("failed") else None
            run["duplicates_score"] = score
            runs.append(run)
            scores.append(score)
            print(format_run(run, score), flush=True)
        gains = speedups(runs)
        for name, value in gains.items():
            workers = name.split("_")[0]
            print(f"speed-up of {workers} workers over 1: {value:.2f}x (on {machine['nproc']} CPUs)")

        finished = [r for r in runs if not r.get("failed")]
        count = truth["n"] if truth else (finished[0]["accounting"]["inputs"] if finished else 0)
        result = {
            "command": "python " + shlex.join(["benchmarks/throughput.py", *(sys.argv[1:] if argv is None else argv)]),
            "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "machine": machine,
            "inputs": inputs if args.keep or args.input else "(temporary folder)",
            "documents": count,
            "enrich": not args.no_enrich,
            "corpus": {k: v for k, v in truth.items() if k not in ("pages", "pages_dir")} if truth else None,
            "runs": runs,
            "speedup": gains,
        }
        results_dir = Path(args.results)
        results_dir.mkdir(parents=True, exist_ok=True)
        suffix = "-no-enrich" if args.no_enrich else ""
        result_path = results_dir / f"throughput-{count}{suffix}.json"
        result_path.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
        print(f"result written to {result_path}")
        return 1 if any(r.get("failed") or not r["accounting"]["balanced"] for r in runs) else 0
    finally:
        if not args.keep:
            shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
