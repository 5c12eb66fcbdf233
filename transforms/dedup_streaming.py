"""Streaming deduplication: the near-duplicate test of ``transforms.dedup`` applied to an
unbounded stream of articles, with Beam state keyed by LSH band and event-time expiry.

An article is a copy when ``classify_pair`` calls it one against an article that came
*earlier* (see precedence below) and less than ``ttl_seconds`` of event time before it. Rows
already emitted are never rewritten, so the first article of a story wins: later copies
become ``duplicates`` rows pointing at its cluster, and articles keep ``copies=1``, their own
outlet and ``wire_share=0.0`` (counting copies that have not arrived yet is the batch job's task).

Steps (each a plain function below, wrapped by a thin DoFn):

1. ``SketchForBands`` (stateless): an article is sketched once (shingle hashes in text order,
   packed to 8 bytes each, and its LSH band keys) and sent to each of its ``bands`` band keys.
   The band-0 message also carries the article itself, so the article travels once, through
   the same path as its verdicts, and a redelivered input is dropped with them.
2. ``MatchInBand`` (stateful, keyed by band key): arrivals wait in state until the watermark
   passes their timestamp, then are handled in *precedence* order (event time, then the batch
   stage's ``canonical_rank``, then source), each compared with the sketches stored under that
   band within the TTL, then stored. Precedence is one total order that every band agrees on,
   so two articles can never each be the other's copy, and the verdicts do not depend on the
   order in which elements reach the bands. Sketches more than a TTL older than the newest
   arrival are dropped, and an event-time timer drops a quiet band's sketches ``ttl_seconds``
   after its newest one (once the wall clock has passed that time too, see ``on_expire``), so
   state stays bounded by the articles of one TTL: 8 bytes per shingle per band, about 200 KB
   for an 800-word article with 32 bands.
3. ``CombineVerdicts`` (stateful, keyed by article): the ``bands`` verdicts of one article
   become one decision: the earlier articles it copies, or none.
4. ``ResolveClusters`` (stateful, one key): a copy joins the *cluster* of the article it
   copies best (highest similarity, then earliest precedence). That article may itself be a
   copy of an earlier one, so the answer needs its resolved cluster; a band only knows its own
   comparisons and Beam has no feedback loops, so the id -> cluster map lives in one keyed
   state. It holds ids only (about 100 bytes per article of the last ``2 * ttl`` of event
   time, pruned as newer decisions arrive, with no timer), one message per article reaches it,
   and decisions whose target is not resolved yet wait there. Exactly one row per article
   leaves this step: the article, or a duplicates row.

Event time, not processing time, decides the TTL: the element timestamp is the time the stream
source gives an article (the poll time in the feed poller), so a replay or a backlog after an
outage compares the same articles as the live run did, and tests drive expiry with the
watermark. Data later than the watermark is still handled, without the ordering guarantee.
Event times are cut to whole milliseconds, the precision of timers on portable runners.

Differences from the batch stage, by design:
- "reuse" relations (shared passages of different stories) are ignored: there is no reuse
  table and no ``wire_share`` in streaming.
- Without the reuse graph a passage inserted mid-story cannot be told apart from a passage of
  another story (a composite), so a "copy" with an interior insertion is not merged; the
  article is kept. This errs on the side of precision.
- First seen wins: a copy that arrives before its original (in event time) is the canonical.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.transforms.window import GlobalWindows, TimestampedValue
from apache_beam.utils.timestamp import Timestamp

from schemas.config import DedupConfig
from transforms.dedup import (
    METRICS_NAMESPACE,
    band_keys,
    canonical_rank,
    classify_pair,
    duplicate_row,
    minhash_signature,
    outlet_name,
    pack_hashes,
    shingle_hash_list,
    shingles,
    unpack_hashes,
)
from transforms.timing import StageClock

# The band whose message carries the article (every article has exactly one band 0 key).
CARRIER_BAND = 0
# All resolution decisions meet under this key (see step 4 in the module docstring).
RESOLVER_KEY = "clusters"
# The resolver keeps an article's cluster for this many TTLs of the newest event time it has
# seen: a copy is less than one TTL younger than its target, and the extra TTL lets decisions
# reach the resolver up to one TTL out of event-time order.
RESOLVER_RETENTION_TTLS = 2
MICROS = 1_000_000
MICROS_PER_MILLI = 1_000


# ---------------------------------------------------------------- pure functions


def stream_uid(article: dict, event_micros: int) -> str:
    """One input of the stream: the same doc_id from another source or at another time is
    another input; the same one again (an at-least-once redelivery) is not."""
    return f"{article['doc_id']}|{article['source']}|{event_micros}"


def stream_sketch(article: dict, cfg: DedupConfig, event_micros: int) -> tuple[dict, list[str]]:
    """(what the band state keeps of an article: no text; its LSH band keys)."""
    shingle_list = shingles(article["text"], cfg.shingle_words)
    signature = minhash_signature(shingle_list, cfg.num_perm, cfg.seed)
    sketch = {
        "uid": stream_uid(article, event_micros),
        "ts": event_micros,
        "precedence": (event_micros, canonical_rank(article), article["source"]),
        "seq": pack_hashes(shingle_hash_list(shingle_list)),
    }
    return sketch, band_keys(signature, cfg.bands)


def event_time_micros(timestamp: Timestamp) -> int:
    """An element's event time, cut to whole milliseconds: portable runners keep timers in
    milliseconds, and a flush timer must fire at exactly the time of the arrivals it is for."""
    return int(timestamp.micros) // MICROS_PER_MILLI * MICROS_PER_MILLI


def band_index(band_key: str) -> int:
    return int(band_key.split(":", 1)[0])


def is_streaming_copy(relation: dict | None) -> bool:
    """A verified copy with no passage inserted mid-story (see the module docstring)."""
    return relation is not None and relation["kind"] == "copy" and not relation["inserted"]


def unexpired(stored: list[dict], now_micros: int, ttl_micros: int) -> list[dict]:
    """Sketches a new article at ``now_micros`` (or later) may still be compared with."""
    return [s for s in stored if now_micros - s["ts"] < ttl_micros]


def copy_matches(new: dict, stored: Iterable[dict], cfg: DedupConfig, ttl_micros: int) -> list[tuple]:
    """``(uid, similarity, precedence)`` of each stored sketch that ``new`` copies: earlier in
    precedence, less than a TTL before it, and verified on the shingle sequences."""
    new_side = None
    matches = []
    for earlier in stored:
        if earlier["precedence"] >= new["precedence"] or new["ts"] - earlier["ts"] >= ttl_micros:
            continue
        new_side = new_side or {"seq": unpack_hashes(new["seq"])}
        relation = classify_pair(new_side, {"seq": unpack_hashes(earlier["seq"])}, cfg)
        if is_streaming_copy(relation):
            matches.append((earlier["uid"], relation["similarity"], earlier["precedence"]))
    return matches


def match_in_band(
    arrivals: list[dict], stored: list[dict], cfg: DedupConfig, ttl_micros: int, now_micros: int
) -> tuple[list[tuple[dict, list[tuple]]], list[dict]]:
    """One band's step once the watermark reached ``now_micros``: each arrival (all at or
    before ``now_micros``), in precedence order, is compared with what the band holds and then
    stored; only then are sketches too old for any later arrival dropped.

    Returns ``([(arrival, matches)], sketches to keep)``. Stored sketches carry no article; a
    redelivered input (a uid the band already holds) gets no verdict.
    """
    kept = list(stored)
    seen = {s["uid"] for s in kept}
    verdicts = []
    for arrival in sorted(arrivals, key=lambda a: a["precedence"]):
        if arrival["uid"] in seen:
            continue
        seen.add(arrival["uid"])
        verdicts.append((arrival, copy_matches(arrival, kept, cfg, ttl_micros)))
        kept.append({k: arrival[k] for k in ("uid", "ts", "precedence", "seq")})
    return verdicts, unexpired(kept, now_micros, ttl_micros)


def combine_band_verdicts(verdicts: list[tuple], bands: int) -> dict | None:
    """An article's decision once all its bands have answered, else None.

    ``verdicts`` are ``(band, matches, carrier)``, ``carrier`` (uid, ts, precedence, article)
    set on the band-0 verdict only. The decision lists each matched earlier article once, with
    its best similarity.
    """
    by_band = {band: (matches, carrier) for band, matches, carrier in verdicts}
    if len(by_band) < bands:
        return None
    best: dict[str, tuple] = {}
    for matches, _carrier in by_band.values():
        for uid, similarity, precedence in matches:
            if uid not in best or similarity > best[uid][1]:
                best[uid] = (uid, similarity, precedence)
    carrier = by_band[CARRIER_BAND][1]
    return {**carrier, "matches": sorted(best.values(), key=lambda m: m[2])}


def derived_doc_id(doc_id: str, source: str) -> str:
    """The id a second input with an already used doc_id gets (as ``dedup._disambiguate`` does)."""
    return hashlib.sha256(f"{doc_id}\x00{source}".encode()).hexdigest()[:16]


def _free_doc_id(article: dict, used: set[str]) -> str:
    doc_id = article["doc_id"]
    while doc_id in used:
        doc_id = derived_doc_id(doc_id, article["source"])
    return doc_id


def kept_article(article: dict, doc_id: str) -> dict:
    """The articles row of a new story: its own cluster, as far as this stream knows."""
    return {
        **article,
        "doc_id": doc_id,
        "cluster_id": doc_id,
        "copies": 1,
        "outlets": [outlet_name(article)],
        "wire_share": 0.0,
    }


def resolve_decision(decision: dict, registry: dict[str, dict], used: set[str]) -> tuple[str, dict, dict] | None:
    """``("article" | "duplicate", row, registry entry)``, or None while the article it copies
    best is not resolved yet.

    A copy joins its best match's cluster (highest similarity, then earliest precedence); its
    similarity is the one to the cluster's canonical article when it was compared with it,
    else to its best match (as the batch stage reports it).
    """
    article, uid = decision["article"], decision["uid"]
    if not decision["matches"]:
        doc_id = _free_doc_id(article, used)
        entry = {"doc_id": doc_id, "cluster_id": doc_id, "canonical_uid": uid, "ts": decision["ts"]}
        return "article", kept_article(article, doc_id), entry
    best_uid, best_similarity, _ = min(decision["matches"], key=lambda m: (-m[1], m[2]))
    target = registry.get(best_uid)
    if target is None:
        return None
    similarity = next((s for u, s, _p in decision["matches"] if u == target["canonical_uid"]), best_similarity)
    doc_id = _free_doc_id(article, used)
    row = duplicate_row({**article, "doc_id": doc_id}, target["cluster_id"], similarity)
    entry = {
        "doc_id": doc_id,
        "cluster_id": target["cluster_id"],
        "canonical_uid": target["canonical_uid"],
        "ts": decision["ts"],
    }
    return "duplicate", row, entry


def resolve_decisions(
    decisions: list[dict], registry: dict[str, dict]
) -> tuple[list[tuple[str, dict, str, dict]], list[dict]]:
    """Resolve every decision whose target is known, in precedence order, including those
    that wait for a decision resolved in the same call.

    Returns ``([(kind, row, uid, registry entry)], decisions still waiting)``; ``registry``
    (uid -> entry) is not modified.
    """
    known = dict(registry)
    used = {entry["doc_id"] for entry in known.values()}
    resolved = []
    waiting = sorted(decisions, key=lambda d: d["precedence"])
    progress = True
    while waiting and progress:
        progress, still_waiting = False, []
        for decision in waiting:
            outcome = resolve_decision(decision, known, used)
            if outcome is None:
                still_waiting.append(decision)
                continue
            kind, row, entry = outcome
            known[decision["uid"]] = entry
            used.add(entry["doc_id"])
            resolved.append((kind, row, decision["uid"], entry))
            progress = True
        waiting = still_waiting
    return resolved, waiting


def prune_resolver_state(
    registry: dict[str, dict], waiting: list[dict], newest_micros: int, retention_micros: int
) -> tuple[dict[str, dict], list[dict], list[dict]]:
    """(registry entries still referable, decisions still waiting, decisions to release).

    Pruning follows the newest event time seen, not a timer: a runner may fire a timer before
    decisions that are still on their way arrive, and ids are small enough to keep while idle.
    A decision still waiting after ``retention_micros`` lost its target (only when decisions
    arrive more than a TTL out of order): it is released as a new article rather than held.
    """
    kept = {uid: e for uid, e in registry.items() if newest_micros - e["ts"] < retention_micros}
    still = [d for d in waiting if newest_micros - d["ts"] < retention_micros]
    released = [{**d, "matches": []} for d in waiting if newest_micros - d["ts"] >= retention_micros]
    return kept, still, released


# ---------------------------------------------------------------- Beam wrappers


# Stateful steps are keyed by strings: a deterministic key coder.
_KEYED = beam.typehints.KV[str, Any]


def _at(micros: int) -> Timestamp:
    return Timestamp(micros=micros)


class _SketchForBandsFn(beam.DoFn):
    def __init__(self, cfg: DedupConfig):
        self._cfg = cfg
        self._clock = StageClock("dedup")

    def process(self, article: dict, timestamp=beam.DoFn.TimestampParam):
        event_micros = event_time_micros(timestamp)
        with self._clock.timing():
            sketch, keys = stream_sketch(article, self._cfg, event_micros)
        for key in keys:
            carrier = {"article": article} if band_index(key) == CARRIER_BAND else {}
            yield key, {**sketch, **carrier}


class _MatchInBandFn(beam.DoFn):
    """Keyed by LSH band key: arrivals wait for the watermark, then are compared and stored."""

    ARRIVALS = BagStateSpec("arrivals", PickleCoder())
    NEXT_FLUSH = ReadModifyWriteStateSpec("next_flush", PickleCoder())
    STORED = ReadModifyWriteStateSpec("stored", PickleCoder())
    FLUSH = TimerSpec("flush", TimeDomain.WATERMARK)
    EXPIRE = TimerSpec("expire", TimeDomain.WATERMARK)

    def __init__(self, cfg: DedupConfig, ttl_micros: int):
        self._cfg = cfg
        self._ttl = ttl_micros
        self._clock = StageClock("dedup")

    def process(
        self,
        element: tuple[str, dict],
        arrivals=beam.DoFn.StateParam(ARRIVALS),
        next_flush=beam.DoFn.StateParam(NEXT_FLUSH),
        flush=beam.DoFn.TimerParam(FLUSH),
    ):
        _key, arrival = element
        arrivals.add(arrival)
        due = next_flush.read()
        if due is None or arrival["ts"] < due:
            next_flush.write(arrival["ts"])
            flush.set(_at(arrival["ts"]))

    @on_timer(FLUSH)
    def on_flush(
        self,
        key=beam.DoFn.KeyParam,
        fired=beam.DoFn.TimestampParam,
        arrivals=beam.DoFn.StateParam(ARRIVALS),
        next_flush=beam.DoFn.StateParam(NEXT_FLUSH),
        stored=beam.DoFn.StateParam(STORED),
        flush=beam.DoFn.TimerParam(FLUSH),
        expire=beam.DoFn.TimerParam(EXPIRE),
    ):
        now = int(fired.micros)
        yield from self._advance(key, now, now, arrivals, next_flush, stored, flush, expire)

    @on_timer(EXPIRE)
    def on_expire(
        self,
        key=beam.DoFn.KeyParam,
        fired=beam.DoFn.TimestampParam,
        arrivals=beam.DoFn.StateParam(ARRIVALS),
        next_flush=beam.DoFn.StateParam(NEXT_FLUSH),
        stored=beam.DoFn.StateParam(STORED),
        flush=beam.DoFn.TimerParam(FLUSH),
        expire=beam.DoFn.TimerParam(EXPIRE),
    ):
        # Runners need not fire one key's timers in time order (the FnApiRunner does not), so
        # the arrivals already due are compared before anything expires. And the local
        # FnApiRunner moves the watermark to +infinity after each poll of a PeriodicImpulse,
        # firing every timer while later polls are still to come: a sketch is only dropped once
        # the wall clock has passed its expiry too. Where the watermark is real and event time
        # is poll time this changes nothing; on the FnApiRunner state then lives until newer
        # arrivals in the band prune it.
        now = int(fired.micros)
        prune_at = min(now, int(time.time() * MICROS) // MICROS_PER_MILLI * MICROS_PER_MILLI)
        yield from self._advance(key, now, prune_at, arrivals, next_flush, stored, flush, expire)

    def _advance(self, key: str, now: int, prune_at: int, arrivals, next_flush, stored, flush, expire):
        """The watermark reached ``now``: handle the arrivals due, then drop the sketches that
        no arrival at ``prune_at`` or later can match."""
        buffered = list(arrivals.read())
        due = [a for a in buffered if a["ts"] <= now]
        later = [a for a in buffered if a["ts"] > now]
        if due:
            arrivals.clear()
            for arrival in later:
                arrivals.add(arrival)
        if later:
            next_due = min(a["ts"] for a in later)
            next_flush.write(next_due)
            flush.set(_at(next_due))
        else:
            next_flush.clear()
        with self._clock.timing():
            verdicts, kept = match_in_band(due, stored.read() or [], self._cfg, self._ttl, prune_at)
        if kept:
            stored.write(kept)
            expiry = max(s["ts"] for s in kept) + self._ttl
            # Never re-arm at or before the time that fired: the timer would fire again at once.
            if expiry > now:
                expire.set(_at(expiry))
        else:
            stored.clear()
        band = band_index(key)
        for arrival, matches in verdicts:
            carrier = None
            if "article" in arrival:
                carrier = {k: arrival[k] for k in ("uid", "ts", "precedence", "article")}
            yield TimestampedValue((arrival["uid"], (band, matches, carrier)), _at(arrival["ts"]))


class _CombineVerdictsFn(beam.DoFn):
    """Keyed by article: its band verdicts -> one decision, sent to the resolver."""

    VERDICTS = BagStateSpec("verdicts", PickleCoder())

    def __init__(self, bands: int):
        self._bands = bands

    def process(self, element: tuple[str, tuple], verdicts=beam.DoFn.StateParam(VERDICTS)):
        _uid, verdict = element
        verdicts.add(verdict)
        decision = combine_band_verdicts(list(verdicts.read()), self._bands)
        if decision is not None:
            verdicts.clear()
            yield RESOLVER_KEY, decision


class _ResolveClustersFn(beam.DoFn):
    """One key: article uid -> cluster for the last ``2 * ttl``; decisions waiting for theirs."""

    REGISTRY = BagStateSpec("registry", PickleCoder())
    WAITING = ReadModifyWriteStateSpec("waiting", PickleCoder())

    def __init__(self, ttl_micros: int):
        self._retention = RESOLVER_RETENTION_TTLS * ttl_micros
        self._kept = Metrics.counter(METRICS_NAMESPACE, "dedup_kept")
        self._duplicates = Metrics.counter(METRICS_NAMESPACE, "dedup_duplicate")
        self._unresolved = Metrics.counter(METRICS_NAMESPACE, "dedup_unresolved_match")

    def process(
        self,
        element: tuple[str, dict],
        registry_state=beam.DoFn.StateParam(REGISTRY),
        waiting_state=beam.DoFn.StateParam(WAITING),
    ):
        _key, decision = element
        registry = dict(registry_state.read())
        newest = max([decision["ts"], *(e["ts"] for e in registry.values())])
        kept, waiting, released = prune_resolver_state(registry, waiting_state.read() or [], newest, self._retention)
        if len(kept) < len(registry):
            registry_state.clear()
            for item in kept.items():
                registry_state.add(item)
        self._unresolved.inc(len(released))
        resolved, waiting = resolve_decisions([decision, *waiting, *released], kept)
        waiting_state.write(waiting)
        for kind, row, uid, entry in resolved:
            registry_state.add((uid, entry))
            timestamp = _at(entry["ts"])
            if kind == "article":
                self._kept.inc()
                yield TimestampedValue(row, timestamp)
            else:
                self._duplicates.inc()
                yield beam.pvalue.TaggedOutput("duplicates", TimestampedValue(row, timestamp))


class StreamingNearDuplicates(beam.PTransform):
    """articles (an unbounded, timestamped stream) -> (articles with cluster_id / copies=1 /
    outlets / wire_share=0.0, duplicates rows), one row per input, in the global window.

    ``ttl_seconds``: how long, in event time, an article stays a candidate original for copies.
    """

    def __init__(self, cfg: DedupConfig, ttl_seconds: int):
        super().__init__()
        if ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be positive, got {ttl_seconds}")
        self._cfg = cfg
        self._ttl_micros = int(ttl_seconds) * MICROS

    def expand(self, articles):
        resolved = (
            articles
            # State is per key *and window*: one global window so the TTL, not the caller's
            # windowing, decides which articles are compared.
            | "IntoGlobalWindow" >> beam.WindowInto(GlobalWindows())
            | "SketchForBands" >> beam.ParDo(_SketchForBandsFn(self._cfg)).with_output_types(_KEYED)
            | "MatchInBand" >> beam.ParDo(_MatchInBandFn(self._cfg, self._ttl_micros)).with_output_types(_KEYED)
            | "CombineVerdicts" >> beam.ParDo(_CombineVerdictsFn(self._cfg.bands)).with_output_types(_KEYED)
            | "ResolveClusters"
            >> beam.ParDo(_ResolveClustersFn(self._ttl_micros)).with_outputs("duplicates", main="articles")
        )
        return resolved.articles, resolved.duplicates
