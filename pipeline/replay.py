"""Replay: run the inputs behind an output's error rows again, after a fix or an outage.

    newsbeam replay OUT [--config FILE] [--no-enrich] [--allow-host HOST] [Beam options]

Each error row's ``source`` names its input, and that input is read again:

* a file (``/data/a.txt``) -> the file (with its ``.meta.json`` sidecar, if it has one);
* a JSONL line (``/data/a.jsonl#L7``) or a JSON array item (``/data/a.json#3``) -> the whole file;
  its other records are read again too and replace their own rows, so nothing doubles;
* an orphan sidecar (``a.meta.json``) -> the sidecar, and its document if one appeared;
* a feed entry (``<feed>#<entry>``) or a feed that failed as a whole -> the feed, polled again;
* a derived row that could not be written (``doc:<doc_id>``) -> the input of that document.

Not replayed, and kept as they are (the summary says why): a file that no longer exists, a
relative path that does not exist from the current folder (replay from the folder the run was
started in), and rows about run-level aggregates (``entity_index``, ``claims``).

A replay is an ordinary run of those inputs into the same output: it takes the output's lock,
commits atomically, and its commit replaces the earlier rows of every input it read (an
error row whose input now succeeds is gone; one that still fails is replaced by this run's
row). A feed entry that left the feed, or a feed that answers 304 Not Modified, is not read
again: its row stays, counted as "not read again".
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import yaml

from pipeline.options import UsageError, load_checked_config, require_output_folder
from pipeline.run import run
from pipeline.summary import account, rejects_input
from schemas.tables import TABLES
from transforms.read import SIDECAR_PARTNERS, SIDECAR_SUFFIX
from transforms.write import (
    AGGREGATE_KEYS,
    DOC_SOURCE_PREFIX,
    RUNS_DIR,
    OutputError,
    OutputLock,
    read_table,
    record_file,
)

_REMOTE_SCHEMES = ("http", "https")


@dataclass
class ReplayPlan:
    """What a replay reads again, and the error rows it cannot replay (source -> reason)."""

    files: list[str] = field(default_factory=list)
    feeds: list[str] = field(default_factory=list)
    sources: set[str] = field(default_factory=set)  # error sources whose input is read again
    skipped: dict[str, str] = field(default_factory=dict)
    runs: set[str] = field(default_factory=set)  # runs that wrote the replayed error rows


def _manifests(output: str) -> list[dict]:
    folder = os.path.join(output, RUNS_DIR)
    manifests = []
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        if name.endswith(".json"):
            with open(os.path.join(folder, name), encoding="utf-8") as handle:
                manifests.append(json.load(handle))
    return manifests


def _feed_location(given: str) -> str:
    from transforms.feeds import source_spec

    return source_spec(given)["location"]


def _sidecar_partner(path: str) -> str | None:
    stem = path[: -len(SIDECAR_SUFFIX)]
    return next((stem + ext for ext in SIDECAR_PARTNERS if os.path.isfile(stem + ext)), None)


def _missing_reason(path: str) -> str:
    if not os.path.isabs(path):
        return f"{path} does not exist from {os.getcwd()}: replay from the folder the run was started in"
    return f"{path} no longer exists"


def input_of(source: str, feeds: list[str], article_sources: dict[str, str]) -> tuple[str, str]:
    """``(kind, what)`` for one error source: ``("file", path)``, ``("feed", location)``, or
    ``("skip", reason)``. ``feeds`` are the feed locations earlier runs read (longest first);
    ``article_sources`` maps doc_id -> source for ``doc:<doc_id>`` rows."""
    if source.startswith(DOC_SOURCE_PREFIX):
        doc_id = source[len(DOC_SOURCE_PREFIX) :]
        if doc_id not in article_sources:
            return "skip", f"document {doc_id} is no longer in the output"
        return input_of(article_sources[doc_id], feeds, {})
    table = source.split(":", 1)[0]
    if table in AGGREGATE_KEYS and not os.path.lexists(source):
        return "skip", f"a row of the run-level {table} table, rebuilt by every run"
    for feed in feeds:
        if source == feed or source.startswith(feed + "#"):
            return "feed", feed
    if urlsplit(source).scheme.lower() in _REMOTE_SCHEMES:
        return "feed", source.split("#", 1)[0]
    if os.path.lexists(source):
        return "file", source
    whole = record_file(source)
    if whole is not None:
        return ("file", whole) if os.path.lexists(whole) else ("skip", _missing_reason(whole))
    return "skip", _missing_reason(source)


def plan_replay(output: str) -> ReplayPlan:
    """Read the output's error rows and decide what to read again."""
    errors = read_table(output, "errors").select(["source", "run_id"]).to_pylist()
    manifests = _manifests(output)
    given_feeds = {feed for manifest in manifests for feed in manifest.get("feeds") or []}
    feeds = sorted({_feed_location(f) for f in given_feeds}, key=len, reverse=True)
    article_sources = {}
    if any((row["source"] or "").startswith(DOC_SOURCE_PREFIX) for row in errors):
        articles = read_table(output, "articles").select(["doc_id", "source"]).to_pylist()
        article_sources = {row["doc_id"]: row["source"] for row in articles}
    plan = ReplayPlan()
    files, feed_set = set(), set()
    for row in errors:
        source = row["source"] or ""
        kind, what = input_of(source, feeds, article_sources)
        if kind == "skip":
            plan.skipped[source] = what
            continue
        plan.sources.add(source)
        plan.runs.add(row["run_id"])
        if kind == "feed":
            feed_set.add(what)
            continue
        files.add(what)
        if what.lower().endswith(SIDECAR_SUFFIX):
            partner = _sidecar_partner(what)
            if partner is not None:
                files.add(partner)
    plan.files, plan.feeds = sorted(files), sorted(feed_set)
    return plan


def _enrich_of_runs(output: str, run_ids: set[str]) -> bool:
    """Whether the runs that wrote the replayed rows enriched their articles (any of them did)."""
    configs = [m.get("config") or {} for m in _manifests(output) if m.get("run_id") in run_ids]
    return any((c.get("enrich") or {}).get("enabled", True) for c in configs) if configs else True


def _config_without_feed_sources(config_path: str | None, enrich: bool) -> str | None:
    """A copy of the profile without ``feeds.sources``: a replay reads only the failed inputs.
    None when the profile lists no feeds (it is used as it is)."""
    cfg = load_checked_config(config_path, enrich)
    if not cfg.feeds.sources:
        return None
    data = cfg.model_dump(mode="json")
    data["feeds"]["sources"] = []
    handle = tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="newsbeam-replay-", delete=False)
    with handle:
        yaml.safe_dump(data, handle)
    return handle.name


def output_accounting(output: str) -> dict:
    """The whole output's outcome per input: every input source once, as an article, a
    duplicate or a rejecting error row (errors that annotate a kept article do not count)."""
    outcomes: Counter = Counter()
    counts = {}
    for table in ("articles", "duplicates"):
        sources = read_table(output, table).column("source").to_pylist()
        counts[table] = len(sources)
        outcomes.update(sources)
    errors = read_table(output, "errors").select(["source", "stage", "error_type"]).to_pylist()
    rejected = [e["source"] for e in errors if rejects_input(e["stage"], e["error_type"])]
    counts["rejected"] = len(rejected)
    outcomes.update(rejected)
    doubled = sorted(s for s, n in outcomes.items() if n > 1)
    return {"inputs": len(outcomes), **counts, "doubled": len(doubled), "balanced": not doubled}


def _replay_lines(output: str, plan: ReplayPlan, resolved: int, failing: int, unread: int, whole: dict) -> list[str]:
    lines = [
        f"newsbeam replay -> {output}",
        f"  error rows replayed {len(plan.sources):>6}   ({len(plan.files)} files, {len(plan.feeds)} feeds read again)",
        f"  resolved            {resolved:>6}   (now an article or a duplicate)",
        f"  still failing       {failing:>6}   (their rows replaced by this run's)",
    ]
    if unread:
        lines.append(f"  not read again      {unread:>6}   (the entry left its feed, or the feed answered 304)")
    if plan.skipped:
        lines.append(f"  not replayable      {len(plan.skipped):>6}   (kept as they are):")
        lines.extend(f"    {source}: {reason}" for source, reason in list(plan.skipped.items())[:10])
        if len(plan.skipped) > 10:
            lines.append(f"    ... and {len(plan.skipped) - 10} more")
    check = "ok" if whole["balanced"] else f"MISMATCH: {whole['doubled']} inputs counted twice"
    lines.append(
        f"  whole output: inputs {whole['inputs']} = articles {whole['articles']} + duplicates "
        f"{whole['duplicates']} + rejected {whole['rejected']}, each once: {check}"
    )
    return lines


def replay(
    output: str,
    config_path: str | None = None,
    beam_args: list[str] | None = None,
    quiet: bool = False,
    enrich: bool | None = None,
    allow_hosts: list[str] = (),
) -> dict:
    """Replay the inputs behind ``output``'s error rows; returns the run summary (as
    ``pipeline.run.run``) with ``replayed``, ``resolved``, ``still_failing``, ``not_read_again``,
    ``not_replayable`` (source -> reason) and ``output_accounting`` added.

    ``enrich`` None: enrich when the runs that wrote the replayed rows did. ``quiet`` keeps
    the warnings about skipped rows off stderr.
    """
    output = require_output_folder(output, "replay")
    try:
        # Under the lock: a dead run's half-done commit is finished before its errors are read.
        with OutputLock(output, "replay-plan"):
            plan = plan_replay(output)
    except OutputError as exc:
        raise UsageError(str(exc)) from exc
    if not quiet:
        for source, reason in plan.skipped.items():
            print(f"newsbeam: not replayed: {source}: {reason}", file=sys.stderr)
    if enrich is None:
        enrich = _enrich_of_runs(output, plan.runs)
    if plan.files or plan.feeds:
        replay_config = _config_without_feed_sources(config_path, enrich)
        try:
            summary = run(
                paths=plan.files,
                output=output,
                config_path=replay_config or config_path,
                beam_args=beam_args,
                enrich=enrich,
                feeds=plan.feeds,
                allow_hosts=list(allow_hosts),
            )
        finally:
            if replay_config is not None:
                os.remove(replay_config)
        run_ids = set(summary.get("run_ids") or [summary["run_id"]])  # a large replay runs as passes
    else:
        empty = {table: schema.empty_table() for table, schema in TABLES.items()}
        summary = {"run_id": None, "accounting": account(empty, {}), "text": "nothing to replay"}
        run_ids = set()
    after: dict[str, set] = {}
    for row in read_table(output, "errors").select(["source", "run_id"]).to_pylist():
        after.setdefault(row["source"], set()).add(row["run_id"])
    failing = sum(1 for s in plan.sources if after.get(s, set()) & run_ids)
    unread = sum(1 for s in plan.sources if s in after and not after[s] & run_ids)
    resolved = len(plan.sources) - failing - unread
    whole = output_accounting(output)
    lines = _replay_lines(output, plan, resolved, failing, unread, whole)
    return {
        **summary,
        "replayed": len(plan.sources),
        "resolved": resolved,
        "still_failing": failing,
        "not_read_again": unread,
        "not_replayable": dict(plan.skipped),
        "replayed_files": plan.files,
        "replayed_feeds": plan.feeds,
        "output_accounting": whole,
        "text": "\n".join([summary["text"], *lines]),
    }
