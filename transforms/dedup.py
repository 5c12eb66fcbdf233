"""Deduplicate stage: group exact and near-identical copies of one story into clusters.

Method (each step a plain function below, wrapped by ``ClusterNearDuplicates``):

1. Each article's cleaned text becomes a set of word shingles (lower-cased words, typography
   ignored) and a MinHash signature (rensa, pinned so signatures never drift).
2. LSH banding proposes candidate pairs: two articles that agree on every row of any band.
3. Every candidate is *verified* on the exact shingle sets: Jaccard similarity, or containment
   of the shorter text in the longer (truncated copies), must pass the configured thresholds.
4. Verified pairs are joined transitively (union-find over the edge list: the edges, not the
   articles, travel to one worker, so it is sized by the number of copies).
5. One canonical article per cluster, chosen deterministically: earliest published, then the
   longest text, then the smallest doc_id. The others become ``duplicates`` rows pointing at it.

The result depends only on the set of verified edges and the articles' own fields, never on
bundle order, runner or worker count.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Iterator
from urllib.parse import urlsplit

import apache_beam as beam
from apache_beam.metrics import Metrics

from schemas.config import DedupConfig
from transforms.timing import StageClock

METRICS_NAMESPACE = "newsbeam"
_WORD = re.compile(r"\w+", re.UNICODE)
# Shorter texts give too few shingles for containment to mean anything.
MIN_SHINGLES_FOR_CONTAINMENT = 20


# ---------------------------------------------------------------- pure functions


def comparison_words(text: str) -> list[str]:
    """Words as compared for copy detection: case, accents and punctuation ignored."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return _WORD.findall(folded)


def shingles(text: str, size: int) -> list[str]:
    """Distinct word n-grams of ``text`` in first-seen order (the whole text if shorter)."""
    words = comparison_words(text)
    if len(words) <= size:
        return [" ".join(words)] if words else []
    seen: dict[str, None] = {}
    for i in range(len(words) - size + 1):
        seen.setdefault(" ".join(words[i : i + size]), None)
    return list(seen)


def shingle_hashes(shingle_list: Iterable[str]) -> frozenset[int]:
    """Stable 64-bit hashes of shingles (Python's ``hash`` differs between worker processes)."""
    return frozenset(
        int.from_bytes(hashlib.blake2b(s.encode("utf-8"), digest_size=8).digest(), "little") for s in shingle_list
    )


def minhash_signature(shingle_list: list[str], num_perm: int, seed: int) -> list[int]:
    from rensa import RMinHash

    minhash = RMinHash(num_perm=num_perm, seed=seed)
    minhash.update(shingle_list)
    return list(minhash.digest())


def band_keys(signature: list[int], bands: int) -> list[str]:
    """One bucket key per LSH band; two documents sharing any key are candidates."""
    if len(signature) % bands:
        raise ValueError(f"num_perm {len(signature)} is not a multiple of bands {bands}")
    rows = len(signature) // bands
    keys = []
    for band in range(bands):
        chunk = ",".join(str(v) for v in signature[band * rows : (band + 1) * rows])
        keys.append(f"{band}:{hashlib.blake2b(chunk.encode(), digest_size=8).hexdigest()}")
    return keys


def pair_similarity(a: frozenset[int], b: frozenset[int]) -> tuple[float, float]:
    """(Jaccard, containment of the smaller set in the larger)."""
    if not a or not b:
        return 0.0, 0.0
    shared = len(a & b)
    return shared / len(a | b), shared / min(len(a), len(b))


def verified_similarity(a: frozenset[int], b: frozenset[int], cfg: DedupConfig) -> float | None:
    """The similarity that justifies merging ``a`` and ``b``, or None when they are different stories."""
    jaccard, containment = pair_similarity(a, b)
    if jaccard >= cfg.similarity_threshold:
        return jaccard
    if min(len(a), len(b)) >= MIN_SHINGLES_FOR_CONTAINMENT and containment >= cfg.containment_threshold:
        return containment
    return None


def canonical_rank(article: dict) -> tuple:
    """Sort key of the canonical choice: earliest published, then longest text, then smallest doc_id."""
    published = article.get("published_at")
    timestamp = published.timestamp() if isinstance(published, dt.datetime) else float("inf")
    return (timestamp, -len(article.get("text") or ""), article["doc_id"])


def outlet_name(article: dict) -> str:
    """Who carried the article: its outlet, else the URL's host, else its source path."""
    if article.get("outlet"):
        return article["outlet"]
    url = article.get("url")
    if url:
        host = urlsplit(url).hostname
        if host:
            return host.removeprefix("www.")
    return article["source"]


def resolve_clusters(edges: Iterable[tuple[str, str, float]], info: dict[str, dict]) -> dict[str, dict]:
    """Union-find over verified edges ``(a, b, similarity)``; ``info[doc_id]`` has ``rank``
    (see ``canonical_rank``) and ``outlet``. Returns, for every article in a cluster of two or
    more, ``{"cluster_id", "canonical", "similarity", "copies", "outlets"}``; ``similarity`` is
    the article's verified similarity to the canonical one when that pair was verified, else
    its strongest edge.
    """
    parent: dict[str, str] = {}

    def find(node: str) -> str:
        parent.setdefault(node, node)
        root = node
        while parent[root] != root:
            root = parent[root]
        while parent[node] != root:
            parent[node], node = root, parent[node]
        return root

    scores: dict[tuple[str, str], float] = {}
    strongest: dict[str, float] = {}
    for a, b, score in edges:
        key = (a, b) if a < b else (b, a)
        scores[key] = max(score, scores.get(key, 0.0))
        strongest[a] = max(score, strongest.get(a, 0.0))
        strongest[b] = max(score, strongest.get(b, 0.0))
        root_a, root_b = find(a), find(b)
        if root_a != root_b:
            # Deterministic union: the smaller id becomes the root.
            parent[max(root_a, root_b)] = min(root_a, root_b)

    groups: dict[str, list[str]] = {}
    for node in sorted(parent):
        groups.setdefault(find(node), []).append(node)

    assignments: dict[str, dict] = {}
    for members in groups.values():
        canonical = min(members, key=lambda m: info[m]["rank"])
        outlets = sorted({info[m]["outlet"] for m in members})
        for member in members:
            pair = (member, canonical) if member < canonical else (canonical, member)
            similarity = 1.0 if member == canonical else scores.get(pair, strongest[member])
            assignments[member] = {
                "cluster_id": canonical,
                "canonical": canonical,
                "similarity": similarity,
                "copies": len(members),
                "outlets": outlets,
            }
    return assignments


def candidate_pairs(doc_ids: Iterable[str]) -> Iterator[tuple[str, str]]:
    """All unordered pairs in one LSH bucket, smaller id first."""
    ordered = sorted(set(doc_ids))
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            yield a, b


def duplicate_row(article: dict, canonical_id: str, similarity: float) -> dict:
    return {
        "doc_id": article["doc_id"],
        "duplicate_of": canonical_id,
        "cluster_id": canonical_id,
        "similarity": round(float(similarity), 6),
        "source": article["source"],
        "outlet": article.get("outlet"),
        "url": article.get("url"),
        "published_at": article.get("published_at"),
        "date": article["date"],
    }


# ---------------------------------------------------------------- Beam wrappers


def _disambiguate(doc_id: str, articles: Iterable[dict]) -> Iterator[dict]:
    """Two inputs with the same doc_id (same URL, or same text and no URL) must stay two rows:
    the one that would be canonical keeps the id, the others get one derived from their source."""
    ordered = sorted(articles, key=lambda a: (canonical_rank(a), a["source"]))
    yield ordered[0]
    for article in ordered[1:]:
        derived = hashlib.sha256(f"{doc_id}\x00{article['source']}".encode()).hexdigest()[:16]
        yield {**article, "doc_id": derived}


class _SketchFn(beam.DoFn):
    def __init__(self, cfg: DedupConfig):
        self._cfg = cfg
        self._clock = StageClock("dedup")

    def process(self, article: dict):
        with self._clock.timing():
            shingle_list = shingles(article["text"], self._cfg.shingle_words)
            signature = minhash_signature(shingle_list, self._cfg.num_perm, self._cfg.seed)
            doc_id = article["doc_id"]
            sketch = {
                "hashes": shingle_hashes(shingle_list),
                "rank": canonical_rank(article),
                "outlet": outlet_name(article),
            }
        yield beam.pvalue.TaggedOutput("sketches", (doc_id, sketch))
        for key in band_keys(signature, self._cfg.bands):
            yield (key, doc_id)


def _attach_sketch(keyed: tuple[str, dict], side: str) -> Iterator[tuple]:
    """Join step: each pair keyed by one of its ends picks up that end's sketch."""
    _doc_id, grouped = keyed
    if not grouped["sketch"]:
        return
    sketch = grouped["sketch"][0]
    for pair, known in grouped["pair"]:
        yield pair, {**known, side: sketch}


def _verify(pair_with_sketches: tuple[tuple[str, str], dict], cfg: DedupConfig) -> Iterator[tuple]:
    (a, b), sketches = pair_with_sketches
    similarity = verified_similarity(sketches["a"]["hashes"], sketches["b"]["hashes"], cfg)
    if similarity is not None:
        info = {a: _slim(sketches["a"]), b: _slim(sketches["b"])}
        yield (a, b, similarity, info)


def _slim(sketch: dict) -> dict:
    return {"rank": sketch["rank"], "outlet": sketch["outlet"]}


def _resolve(edges: list[tuple]) -> Iterator[tuple[str, dict]]:
    info: dict[str, dict] = {}
    for _a, _b, _score, ends in edges:
        info.update(ends)
    plain = sorted((a, b, score) for a, b, score, _ends in edges)
    yield from resolve_clusters(plain, info).items()


class _ApplyClustersFn(beam.DoFn):
    def __init__(self):
        self._kept = Metrics.counter(METRICS_NAMESPACE, "dedup_kept")
        self._duplicates = Metrics.counter(METRICS_NAMESPACE, "dedup_duplicate")

    def process(self, article: dict, assignments: dict):
        assignment = assignments.get(article["doc_id"])
        if assignment is None:
            self._kept.inc()
            yield {**article, "cluster_id": article["doc_id"], "copies": 1, "outlets": [outlet_name(article)]}
        elif assignment["canonical"] == article["doc_id"]:
            self._kept.inc()
            yield {
                **article,
                "cluster_id": assignment["cluster_id"],
                "copies": assignment["copies"],
                "outlets": assignment["outlets"],
            }
        else:
            self._duplicates.inc()
            yield beam.pvalue.TaggedOutput(
                "duplicates", duplicate_row(article, assignment["canonical"], assignment["similarity"])
            )


class ClusterNearDuplicates(beam.PTransform):
    """articles -> (canonical articles with cluster_id/copies/outlets, duplicates rows)."""

    def __init__(self, cfg: DedupConfig):
        super().__init__()
        self._cfg = cfg

    def expand(self, articles):
        cfg = self._cfg
        unique = (
            articles
            | "KeyByDocId" >> beam.Map(lambda a: (a["doc_id"], a))
            | "GroupByDocId" >> beam.GroupByKey()
            | "DisambiguateDocIds" >> beam.FlatMapTuple(_disambiguate)
        )
        sketched = unique | "Sketch" >> beam.ParDo(_SketchFn(cfg)).with_outputs("sketches", main="bands")
        sketches = sketched.sketches
        pairs = (
            sketched.bands
            | "GroupByBand" >> beam.GroupByKey()
            | "CandidatePairs" >> beam.FlatMapTuple(lambda _key, ids: candidate_pairs(ids))
            | "DistinctPairs" >> beam.Distinct()
        )
        # Both ends' sketches reach each candidate pair through two keyed joins: each sketch
        # travels once per pair it is in, not once per LSH band.
        with_a = (
            {"pair": pairs | "KeyByA" >> beam.Map(lambda p: (p[0], (p, {}))), "sketch": sketches}
            | "JoinA" >> beam.CoGroupByKey()
            | "AttachA" >> beam.FlatMap(_attach_sketch, "a")
        )
        edges = (
            {"pair": with_a | "KeyByB" >> beam.Map(lambda item: (item[0][1], item)), "sketch": sketches}
            | "JoinB" >> beam.CoGroupByKey()
            | "AttachB" >> beam.FlatMap(_attach_sketch, "b")
            | "VerifyPairs" >> beam.FlatMap(_verify, cfg)
        )
        # Sized by the number of verified copy pairs, not by the number of articles.
        assignments = edges | "AllEdges" >> beam.combiners.ToList() | "ResolveClusters" >> beam.FlatMap(_resolve)
        result = unique | "ApplyClusters" >> beam.ParDo(
            _ApplyClustersFn(), beam.pvalue.AsDict(assignments)
        ).with_outputs("duplicates", main="articles")
        return result.articles, result.duplicates
