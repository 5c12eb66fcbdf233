"""Soak: many small documents through the whole pipeline on the multi-process DirectRunner,
with the peak memory of the whole process tree and the run's accounting.

    python benchmarks/soak.py                  # 200,000 documents, --no-enrich, 2 workers
    python benchmarks/soak.py --docs 20000     # a quick check
    python benchmarks/soak.py --enrich         # with entities and numbers (much slower)
    python benchmarks/soak.py --max-documents-per-pass 0   # as one pass, however large

Input, as scrapers and exports hand it over: JSONL files of ``--lines-per-file`` (1,000)
records ``{"url", "title", "outlet", "published", "text"}``, published over 30 days. Each text
has 100-300 words in sentences of English words drawn from the seed articles (so clean's
language check and dedup's prose lines see prose). ``--duplicate-share`` (5 %) of the records
are copies of an earlier one as syndication makes them (another outlet and URL, a dateline,
the last sentence dropped); ``--broken-share`` (0.5 %) of the lines are broken JSON. What
the run should report is known from the generation: articles = originals, duplicates =
copies, rejected = broken lines.

The pipeline runs as ``newsbeam run`` in a child process; psutil samples every 0.5 s the
resident memory (RSS) of that process and all its descendants (the launcher, the process of
each pass, the runner's workers), summed, and the proportional set size (PSS, shared pages
counted once). Inputs over ``read.max_documents_per_pass`` run as passes: the peak is also
taken per pass (between the launcher's "pass committed" lines), with the size of the signature
index that pass read. Prints the figures and writes ``benchmarks/results/soak.json``
(``soak-<N>[-enrich][-pass<M>].json`` for other settings).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SEEDS_DIR = REPO / "samples" / "seeds"
RESULTS = REPO / "benchmarks" / "results"
DEFAULT_DOCS = 200_000
SAMPLE_SECONDS = 0.5
FIRST_PUBLISHED = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)
PUBLISHING_DAYS = 30
WORDS = (100, 300)
SENTENCE_WORDS = (8, 24)
SENTENCES_PER_PARAGRAPH = (2, 4)
OUTLETS = ("Harbor City Herald", "The Valley Tribune", "Northern Courier", "Riverbend Daily", "Midland Post")


@dataclass
class Corpus:
    folder: Path
    files: int
    lines: int
    originals: int
    copies: int
    broken: int


def seed_vocabulary() -> list[str]:
    """Distinct lower-case words of the seed articles: real English, about 2,000 of them."""
    words = set()
    for path in sorted(SEEDS_DIR.glob("*.txt")):
        words.update(re.findall(r"[a-z]{3,}", path.read_text(encoding="utf-8").lower()))
    return sorted(words)


def synthetic_text(rng: random.Random, vocabulary: list[str], words: int) -> str:
    """``words`` words of sentences and paragraphs; no two calls share a 5-word run in practice."""
    paragraphs, sentences, written = [], [], 0
    while written < words:
        length = min(rng.randint(*SENTENCE_WORDS), words - written) or 1
        chosen = rng.choices(vocabulary, k=length)
        sentences.append(" ".join(chosen).capitalize() + ".")
        written += length
        if len(sentences) >= rng.randint(*SENTENCES_PER_PARAGRAPH):
            paragraphs.append(" ".join(sentences))
            sentences = []
    if sentences:
        paragraphs.append(" ".join(sentences))
    return "\n\n".join(paragraphs)


def synthetic_record(rng: random.Random, vocabulary: list[str], number: int) -> dict:
    published = FIRST_PUBLISHED + dt.timedelta(seconds=rng.randrange(PUBLISHING_DAYS * 86400))
    outlet = rng.choice(OUTLETS)
    return {
        "url": f"https://{outlet.lower().replace(' ', '')}.example/news/{number}",
        "title": " ".join(rng.choices(vocabulary, k=6)).capitalize(),
        "outlet": outlet,
        "published": published.isoformat(),
        "text": synthetic_text(rng, vocabulary, rng.randint(*WORDS)),
    }


def syndicated_copy(rng: random.Random, original: dict, number: int) -> dict:
    """A copy of ``original`` as another outlet runs it: dateline added, last sentence dropped."""
    text = original["text"]
    cut = text.rfind(". ", 0, len(text) - 2)
    text = text[: cut + 1] if cut > len(text) // 2 else text
    outlet = rng.choice([o for o in OUTLETS if o != original["outlet"]])
    published = dt.datetime.fromisoformat(original["published"]) + dt.timedelta(hours=rng.randint(1, 12))
    return {
        **original,
        "url": f"https://{outlet.lower().replace(' ', '')}.example/wire/{number}",
        "outlet": outlet,
        "published": published.isoformat(),
        "text": "LONDON (Wire) - " + text,
    }


def write_corpus(
    folder: Path,
    docs: int,
    lines_per_file: int = 1000,
    duplicate_share: float = 0.05,
    broken_share: float = 0.005,
    seed: int = 20240301,
) -> Corpus:
    """``docs`` JSONL lines in ``folder`` (originals, copies of earlier originals, broken lines)."""
    rng = random.Random(seed)
    vocabulary = seed_vocabulary()
    folder.mkdir(parents=True, exist_ok=True)
    originals: list[dict] = []
    counts = {"original": 0, "copy": 0, "broken": 0}
    handle = None
    for number in range(docs):
        if number % lines_per_file == 0:
            if handle is not None:
                handle.close()
            handle = open(folder / f"batch-{number // lines_per_file:05d}.jsonl", "w", encoding="utf-8")
        draw = rng.random()
        if draw < broken_share:
            counts["broken"] += 1
            handle.write('{"url": "https://broken.example/' + str(number) + '", "text": "cut off\n')
            continue
        if draw < broken_share + duplicate_share and originals:
            counts["copy"] += 1
            record = syndicated_copy(rng, rng.choice(originals[-5000:]), number)
        else:
            counts["original"] += 1
            record = synthetic_record(rng, vocabulary, number)
            originals.append(record)
        handle.write(json.dumps(record) + "\n")
    if handle is not None:
        handle.close()
    files = (docs + lines_per_file - 1) // lines_per_file
    return Corpus(folder, files, docs, counts["original"], counts["copy"], counts["broken"])


class TreeMemory:
    """Samples the summed RSS and PSS of a process and all its descendants until stopped, and
    the largest RSS of the root (the launcher; in a one-pass run, the runner, which holds the
    data between stages) and of any one descendant (a pass's runner, or a worker). ``mark()``
    ends a segment (a pass): it returns the segment's peaks and starts the next."""

    def __init__(self, pid: int, every: float = SAMPLE_SECONDS):
        import psutil

        self._root = psutil.Process(pid)
        self._every = every
        self._stop = threading.Event()
        self.peak_rss = self.peak_pss = self.peak_runner_rss = self.peak_worker_rss = 0
        self.peak_processes = 0
        self._segment = {"rss": 0, "largest_process": 0}
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def mark(self) -> dict:
        segment, self._segment = self._segment, {"rss": 0, "largest_process": 0}
        return segment

    def _sample(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                processes = [self._root, *self._root.children(recursive=True)]
            except psutil.Error:
                return
            rss = pss = largest = 0
            for process in processes:
                try:
                    info = process.memory_full_info()
                except psutil.Error:
                    continue
                rss += info.rss
                pss += getattr(info, "pss", info.rss)
                largest = max(largest, info.rss)
                if process.pid == self._root.pid:
                    self.peak_runner_rss = max(self.peak_runner_rss, info.rss)
                else:
                    self.peak_worker_rss = max(self.peak_worker_rss, info.rss)
            segment = self._segment
            segment["rss"] = max(segment["rss"], rss)
            segment["largest_process"] = max(segment["largest_process"], largest)
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_pss = max(self.peak_pss, pss)
            self.peak_processes = max(self.peak_processes, len(processes))
            self._stop.wait(self._every)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()


def newsbeam_command() -> list[str]:
    exe = shutil.which("newsbeam", path=os.path.dirname(sys.executable))
    return [exe] if exe else [sys.executable, "-m", "pipeline.cli"]


def run_soak(
    docs: int, workers: int, enrich: bool, work: Path, lines_per_file: int, max_documents_per_pass: int | None
) -> dict:
    corpus = write_corpus(work / "in", docs, lines_per_file)
    out = work / "out"
    command = [*newsbeam_command(), "run", str(corpus.folder), "--output", str(out)]
    # JSON lines: the launcher's "pass" events mark where one pass's memory ends.
    command += ["--log-format", "json", "--progress-interval", "3600"]
    if max_documents_per_pass is not None:
        config = work / "passes.yaml"
        config.write_text(f"read:\n  max_documents_per_pass: {max_documents_per_pass}\n", encoding="utf-8")
        command += ["--config", str(config)]
    if not enrich:
        command.append("--no-enrich")
    if workers > 1:
        command += ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
    started = time.perf_counter()
    summary_path = work / "summary.json"
    passes: list[dict] = []
    other_stderr: list[str] = []
    with open(summary_path, "w", encoding="utf-8") as stdout:
        child = subprocess.Popen(command, stdout=stdout, stderr=subprocess.PIPE, text=True)
        with TreeMemory(child.pid) as memory:
            for line in child.stderr:
                event = json.loads(line) if line.startswith("{") else {}
                if event.get("event") == "pass":
                    passes.append({**event, "memory": memory.mark()})
                elif not event:
                    other_stderr.append(line)
            child.wait()
    wall = time.perf_counter() - started
    if child.returncode not in (0, 1):
        raise SystemExit(f"newsbeam run failed ({child.returncode}):\n{''.join(other_stderr)[-3000:]}")
    summary = json.loads(summary_path.read_text(encoding="utf-8").strip().splitlines()[-1])
    accounting = summary["accounting"]
    mb = 1024 * 1024
    return {
        "docs": docs,
        "input_files": corpus.files,
        "lines_per_file": lines_per_file,
        "workers": workers,
        "enrich": enrich,
        "max_documents_per_pass": summary["config"]["read"]["max_documents_per_pass"],
        "expected": {"articles": corpus.originals, "duplicates": corpus.copies, "rejected": corpus.broken},
        "inputs": accounting["inputs"],
        "articles": accounting["articles"],
        "duplicates": accounting["duplicates"],
        "errors": accounting["errors"],
        "rejected": accounting["rejected"],
        "balanced": accounting["balanced"],
        "wall_s": round(wall, 1),
        "docs_per_s": round(docs / wall, 1),
        "peak_rss_mb": round(memory.peak_rss / mb),
        "peak_pss_mb": round(memory.peak_pss / mb),
        "peak_runner_rss_mb": round(memory.peak_runner_rss / mb),
        "peak_worker_rss_mb": round(memory.peak_worker_rss / mb),
        "processes": memory.peak_processes,
        "stage_seconds": summary.get("stage_seconds", {}),
        "passes": pass_figures(passes, mb),
        "command": " ".join(command[command.index("run") :]),
    }


def pass_figures(passes: list[dict], mb: int) -> list[dict]:
    """Per pass: its counts, time, the signature index it read (rows: every article and
    duplicate of the passes before it) and the peak memory while it ran."""
    figures, indexed = [], 0
    for event in passes:
        a = event["accounting"]
        figures.append(
            {
                "pass": event["pass"],
                "inputs": a["inputs"],
                "articles": a["articles"],
                "duplicates": a["duplicates"],
                "balanced": a["balanced"],
                "wall_s": round(event["wall_seconds"], 1),
                "index_rows_read": indexed,
                "peak_rss_mb": round(event["memory"]["rss"] / mb),
                "largest_process_mb": round(event["memory"]["largest_process"] / mb),
            }
        )
        indexed += a["articles"] + a["duplicates"]
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=DEFAULT_DOCS, help="documents to generate (default: 200,000)")
    parser.add_argument("--workers", type=int, default=2, help="DirectRunner worker processes (default: 2)")
    parser.add_argument("--enrich", action="store_true", help="run entities and numbers too (default: --no-enrich)")
    parser.add_argument("--lines-per-file", type=int, default=1000, help="JSONL lines per input file")
    parser.add_argument(
        "--max-documents-per-pass",
        type=int,
        default=None,
        metavar="N",
        help="read.max_documents_per_pass for the run (0: one pass; default: newsbeam's default)",
    )
    parser.add_argument("--keep", metavar="DIR", help="generate and run in DIR and keep it (default: a temp folder)")
    args = parser.parse_args(argv)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="newsbeam-soak-"))
    try:
        result = run_soak(args.docs, args.workers, args.enrich, work, args.lines_per_file, args.max_documents_per_pass)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    passes_suffix = "" if args.max_documents_per_pass is None else f"-pass{args.max_documents_per_pass}"
    name = (
        "soak.json"
        if args.docs == DEFAULT_DOCS and not args.enrich and not passes_suffix
        else f"soak-{args.docs}{'-enrich' * args.enrich}{passes_suffix}.json"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    e = result["expected"]
    passes = result["passes"]
    print(
        f"soak: {result['docs']:,} documents in {result['input_files']} JSONL files, {args.workers} workers,"
        f" {len(passes) or 1} pass(es) of at most {result['max_documents_per_pass']:,} documents"
    )
    print(
        f"  inputs {result['inputs']:,} = articles {result['articles']:,} + duplicates {result['duplicates']:,}"
        f" + rejected {result['rejected']:,}: {'ok' if result['balanced'] else 'MISMATCH'}"
    )
    print(f"  generated: {e['articles']:,} originals, {e['duplicates']:,} copies, {e['rejected']:,} broken lines")
    print(f"  wall {result['wall_s']} s, {result['docs_per_s']} docs/s")
    print(
        f"  peak memory of the process tree: RSS {result['peak_rss_mb']:,} MB summed over {result['processes']}"
        f" processes, PSS {result['peak_pss_mb']:,} MB; root process {result['peak_runner_rss_mb']:,} MB,"
        f" largest child {result['peak_worker_rss_mb']:,} MB"
    )
    for p in passes:
        print(
            f"  pass {p['pass']:>3}: inputs {p['inputs']:,}, duplicates {p['duplicates']:,}, {p['wall_s']} s,"
            f" index read {p['index_rows_read']:,} rows; peak RSS {p['peak_rss_mb']:,} MB"
            f" (largest process {p['largest_process_mb']:,} MB)"
        )
    print(f"  written to {RESULTS / name}")
    return 0 if result["balanced"] else 1


if __name__ == "__main__":
    sys.exit(main())
