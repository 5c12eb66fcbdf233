"""Near-duplicate quality on a labelled wire-copy set, against a plain MinHash baseline.

    python benchmarks/dedup_quality.py [--data ../shared/eval/wirecopy_dev] [--workers 1]

Runs the real pipeline (``--no-enrich``) over ``docs/``, maps every input file to the cluster
of its article or duplicate row, and compares with ``labels.csv`` (file,cluster): adjusted
Rand index and pairwise precision / recall / F1. The baseline is what a user would write
first: MinHash LSH at threshold 0.7 on 5-word shingles of the extracted text, connected
components. Prints both and writes ``benchmarks/results/dedup_quality.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
from collections import Counter
from itertools import combinations
from math import comb
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DEFAULT_DATA = REPO.parent / "shared" / "eval" / "wirecopy_dev"


def adjusted_rand_index(truth: list[str], predicted: list[str]) -> float:
    """ARI of two labelings of the same items (Hubert & Arabie)."""
    n = len(truth)
    contingency = Counter(zip(truth, predicted))
    sum_cells = sum(comb(c, 2) for c in contingency.values())
    sum_truth = sum(comb(c, 2) for c in Counter(truth).values())
    sum_pred = sum(comb(c, 2) for c in Counter(predicted).values())
    expected = sum_truth * sum_pred / comb(n, 2)
    maximum = (sum_truth + sum_pred) / 2
    return 1.0 if maximum == expected else (sum_cells - expected) / (maximum - expected)


def pairwise_scores(truth: list[str], predicted: list[str]) -> dict[str, float]:
    """Precision/recall/F1 over pairs of items put in the same cluster."""
    true_pairs = {pair for pair in combinations(range(len(truth)), 2) if truth[pair[0]] == truth[pair[1]]}
    pred_pairs = {pair for pair in combinations(range(len(truth)), 2) if predicted[pair[0]] == predicted[pair[1]]}
    hits = len(true_pairs & pred_pairs)
    precision = hits / len(pred_pairs) if pred_pairs else 1.0
    recall = hits / len(true_pairs) if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "true_pairs": len(true_pairs),
        "pred_pairs": len(pred_pairs),
    }


def load_labels(data: Path) -> dict[str, str]:
    with open(data / "labels.csv", newline="", encoding="utf-8") as handle:
        return {row["file"]: row["cluster"] for row in csv.DictReader(handle)}


def newsbeam_clusters(data: Path, beam_args: list[str]) -> tuple[dict[str, str], dict]:
    import pyarrow.compute as pc

    from pipeline.run import run
    from transforms.write import read_table

    with tempfile.TemporaryDirectory() as out:
        summary = run([str(data / "docs")], output=out, beam_args=beam_args, enrich=False)
        articles = read_table(out, "articles")
        duplicates = read_table(out, "duplicates")
        errors = read_table(out, "errors")
        assignment: dict[str, str] = {}
        for table in (articles, duplicates):
            for source, cluster in zip(table.column("source").to_pylist(), table.column("cluster_id").to_pylist()):
                assignment[os.path.basename(source)] = cluster
        for source in pc.unique(errors.column("source")).to_pylist() if errors.num_rows else []:
            name = os.path.basename(source.split("#")[0])
            assignment.setdefault(name, f"error:{name}")
    return assignment, summary["accounting"]


def baseline_clusters(data: Path, threshold: float = 0.7, shingle_words: int = 5) -> dict[str, str]:
    """MinHash LSH at ``threshold`` on raw word shingles of the extracted text, connected components."""
    import trafilatura
    from rensa import RMinHash, RMinHashLSH

    texts = {}
    for path in sorted((data / "docs").iterdir()):
        raw = path.read_text(encoding="utf-8", errors="replace")
        texts[path.name] = (trafilatura.extract(raw) or "") if path.suffix == ".html" else raw
    names = list(texts)
    lsh = RMinHashLSH(threshold=threshold, num_perm=128, num_bands=16)
    hashes = []
    for i, name in enumerate(names):
        words = texts[name].lower().split()
        grams = {" ".join(words[j : j + shingle_words]) for j in range(max(1, len(words) - shingle_words + 1))}
        minhash = RMinHash(num_perm=128, seed=42)
        minhash.update(sorted(grams))
        hashes.append(minhash)
        lsh.insert(i, minhash)
    parent = list(range(len(names)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, minhash in enumerate(hashes):
        for j in lsh.query(minhash):
            if j != i and hashes[i].jaccard(hashes[j]) >= threshold:
                parent[find(i)] = find(j)
    return {name: str(find(i)) for i, name in enumerate(names)}


def score(labels: dict[str, str], predicted: dict[str, str]) -> dict[str, float]:
    files = sorted(labels)
    truth = [labels[f] for f in files]
    guess = [predicted.get(f, f"missing:{f}") for f in files]
    return {"ari": adjusted_rand_index(truth, guess), **pairwise_scores(truth, guess)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--result", type=Path, default=REPO / "benchmarks" / "results" / "dedup_quality.json")
    args = parser.parse_args(argv)
    if not (args.data / "labels.csv").exists():
        print(f"no labelled data at {args.data}", file=sys.stderr)
        return 2
    beam_args = []
    if args.workers > 1:
        beam_args = ["--direct_running_mode=multi_processing", f"--direct_num_workers={args.workers}"]
    labels = load_labels(args.data)
    predicted, accounting = newsbeam_clusters(args.data, beam_args)
    ours = score(labels, predicted)
    base = score(labels, baseline_clusters(args.data))
    print(f"wire-copy set: {args.data} ({len(labels)} files, {len(set(labels.values()))} true clusters)")
    print(f"{'method':<34} {'ARI':>7} {'precision':>10} {'recall':>8} {'F1':>7}")
    for name, s in (("newsbeam", ours), ("baseline MinHash LSH 0.7, 5-gram", base)):
        print(f"{name:<34} {s['ari']:>7.4f} {s['precision']:>10.4f} {s['recall']:>8.4f} {s['f1']:>7.4f}")
    print(f"accounting: {accounting}")
    args.result.parent.mkdir(parents=True, exist_ok=True)
    args.result.write_text(
        json.dumps({"data": str(args.data), "newsbeam": ours, "baseline": base, "accounting": accounting}, indent=2)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
