"""Deduplicate stage: group exact and near-identical copies of one story into clusters.

Method (each step a plain function below, wrapped by ``ClusterNearDuplicates``):

1. Each article's cleaned text becomes a set of word shingles (lower-cased words, typography
   ignored) and a MinHash signature (rensa, pinned so signatures never drift).
2. LSH banding proposes candidate pairs: two articles that agree on every row of any band.
3. Every candidate is *verified* on the exact shingle sets: Jaccard similarity, or containment
   of the shorter text in the longer (truncated copies), must pass the configured thresholds.
   A copy that holds a passage of another story mid-text (a round-up, a composite) is not a
   copy: the pair is recorded as reuse (``resolve_clusters``).
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
import struct
import unicodedata
import zlib
from collections.abc import Iterable, Iterator
from urllib.parse import urlsplit

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from schemas.config import DedupConfig
from transforms.timing import StageClock

METRICS_NAMESPACE = "newsbeam"
_WORD = re.compile(r"\w+", re.UNICODE)
# Shorter texts give too few shingles for containment to mean anything.
MIN_SHINGLES_FOR_CONTAINMENT = 20
# Word order is compared only for pairs whose shingles overlap at least this much.
MIN_CONTAINMENT_FOR_WORD_ORDER = 0.5
# A line is prose when it ends like a sentence or is long; shorter unpunctuated lines are
# headlines, labels and captions.
_PROSE_ENDINGS = (".", "!", "?", "…", '"', "”", "’", "'", ")", ":")
MIN_PROSE_WORDS = 12
# Lines after the prose that two copies share (a list, a table): a few, not one stray label.
MIN_SHARED_TRAILING_LINES = 3
# Shared shingles in a row (5 + 4 words) that count as shared text around an inserted passage.
MIN_CONTEXT_SHINGLES = 5


# ---------------------------------------------------------------- pure functions


def _is_prose(line: str) -> bool:
    return line.rstrip().endswith(_PROSE_ENDINGS) or len(line.split()) >= MIN_PROSE_WORDS


def prose_lines(text: str) -> str:
    """The lines that carry the story: sentences, not headlines, labels or captions.

    Outlets rewrite headlines and add short furniture lines ("Image: Getty Images") that the
    cleaner cannot know; comparing only prose lines makes a copy with a new headline match.
    Falls back to the whole text when no line looks like prose.
    """
    kept = [line for line in text.split("\n") if _is_prose(line)]
    return "\n".join(kept) if kept else text


def _fold(word: str) -> str:
    folded = unicodedata.normalize("NFKD", word.casefold())
    return "".join(ch for ch in folded if not unicodedata.combining(ch))


def comparison_tokens(text: str) -> list[tuple[str, int, int]]:
    """Words of the prose lines as compared for copy detection (case, accents and punctuation
    ignored), each with its character span in ``text``."""
    lines, offset = [], 0
    for line in text.split("\n"):
        lines.append((line, offset))
        offset += len(line) + 1
    prose = [(line, start) for line, start in lines if _is_prose(line)] or lines
    tokens = []
    for line, start in prose:
        for match in _WORD.finditer(line):
            word, begin, end = match.group(0), start + match.start(), start + match.end()
            if word.isascii():  # nearly every word: folding only lowers the case (and is 5x dearer)
                tokens.append((word.lower(), begin, end))
                continue
            for part in _WORD.findall(_fold(word)):
                tokens.append((part, begin, end))
    return tokens


def comparison_words(text: str) -> list[str]:
    """Words as compared for copy detection: case, accents and punctuation ignored.

    The words of ``comparison_tokens`` without their spans, a line at a time: an ASCII line is
    lower-cased whole and split once (the same words: lowering ASCII moves no word boundary),
    three times faster than word by word.
    """
    lines = text.split("\n")
    prose = [line for line in lines if _is_prose(line)] or lines
    words: list[str] = []
    for line in prose:
        if line.isascii():
            words += _WORD.findall(line.lower())
            continue
        for word in _WORD.findall(line):
            if word.isascii():
                words.append(word.lower())
            else:
                words += _WORD.findall(_fold(word))
    return words


def shingles(text: str, size: int) -> list[str]:
    """Distinct word n-grams of the prose of ``text`` in first-seen order (the whole text if shorter)."""
    return word_shingles(comparison_words(text), size)


def word_shingles(words: list[str], size: int) -> list[str]:
    """Distinct n-grams of compared words, in first-seen order (all the words if fewer)."""
    return list(dict.fromkeys(shingle_sequence(words, size)))


def shingle_sequence(words: list[str], size: int) -> list[str]:
    """Every n-gram of compared words in text order, repeats included (all the words if fewer).
    A paragraph printed twice stays twice: where text sits matters to ``interior_insertion``."""
    if len(words) <= size:
        return [" ".join(words)] if words else []
    return [" ".join(words[i : i + size]) for i in range(len(words) - size + 1)]


def trailing_lines(text: str) -> list[int]:
    """Hashes of the lines after the last prose line (a list, a table, labels), in order.

    Comparison skips such lines, so a paragraph followed only by them looks appended; the
    same list following it in another copy shows it was inserted mid-story.
    """
    lines = [line for line in text.split("\n") if line.strip()]
    last_prose = max((i for i, line in enumerate(lines) if _is_prose(line)), default=len(lines) - 1)
    return hash_words([" ".join(comparison_words(line)) for line in lines[last_prose + 1 :]])


def comparison_sketch(text: str, cfg: DedupConfig) -> dict:
    """What copy detection compares of one text, as hash lists in text order: ``seq`` (shingles,
    repeats kept), ``words`` and ``trail`` (``trailing_lines``); plus ``distinct``, the
    distinct shingles the MinHash signature is made of."""
    words = comparison_words(text)
    sequence = shingle_sequence(words, cfg.shingle_words)
    return {
        "seq": shingle_hash_list(sequence),
        "words": hash_words(words),
        "trail": trailing_lines(text),
        "distinct": list(dict.fromkeys(sequence)),
    }


def shingle_hash_list(shingle_list: Iterable[str]) -> list[int]:
    """Stable 64-bit hashes of shingles, in order (Python's ``hash`` differs between worker
    processes). The one definition of a shingle's hash: the signature index keeps these across
    runs. One comprehension for all, as a sketch hashes ~600 shingles."""
    blake2b, from_bytes = hashlib.blake2b, int.from_bytes
    return [from_bytes(blake2b(s.encode("utf-8"), digest_size=8).digest(), "little") for s in shingle_list]


def shingle_hash(shingle: str) -> int:
    """``shingle_hash_list`` of one shingle."""
    return shingle_hash_list((shingle,))[0]


def pack_hashes(hashes: Iterable[int]) -> bytes:
    """64-bit hashes as 8 little-endian bytes each: how sketches travel between workers and
    sit in streaming state (a list of Python ints costs a coder call per int, at every shuffle)."""
    values = list(hashes)
    return struct.pack(f"<{len(values)}Q", *values)


def unpack_hashes(packed: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(packed) // 8}Q", packed))


def pack_words(word_hashes: list[int]) -> bytes:
    """``hash_words`` values (CRC-32, below 2**32) as 4 little-endian bytes each: half the
    size of ``pack_hashes``, in a sketch every worker holds for every article."""
    return struct.pack(f"<{len(word_hashes)}I", *word_hashes)


def unpack_words(packed: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(packed) // 4}I", packed))


def passage_spans(text: str, shared: frozenset[int], size: int) -> list[tuple[int, int]]:
    """Character spans of ``text`` covered by shingles in ``shared``, merged."""
    tokens = comparison_tokens(text)
    starts = range(max(0, len(tokens) - size + 1))
    hashes = shingle_hash_list(" ".join(t for t, _s, _e in tokens[i : i + size]) for i in starts)
    spans: list[tuple[int, int]] = []
    for i, shingle in zip(starts, hashes):
        if shingle in shared:
            start, end = tokens[i][1], tokens[i + size - 1][2]
            if spans and start <= spans[-1][1]:
                spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
            else:
                spans.append((start, end))
    return spans


def shingle_hashes(shingle_list: Iterable[str]) -> frozenset[int]:
    """Stable 64-bit hashes of shingles."""
    return frozenset(shingle_hash_list(shingle_list))


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
    return similarity_of_sizes(len(a & b) if a and b else 0, len(a), len(b))


def similarity_of_sizes(shared: int, size_a: int, size_b: int) -> tuple[float, float]:
    """``pair_similarity`` of two sets of these sizes sharing ``shared`` members."""
    if not size_a or not size_b:
        return 0.0, 0.0
    # |a ∪ b| counted, not built: most candidate pairs are rejected on this alone.
    return shared / (size_a + size_b - shared), shared / min(size_a, size_b)


def shared_count(sorted_a: np.ndarray, sorted_b: np.ndarray) -> int:
    """How many values two sorted arrays of distinct values have in common."""
    if len(sorted_a) > len(sorted_b):
        sorted_a, sorted_b = sorted_b, sorted_a
    if not len(sorted_a):
        return 0
    found = np.searchsorted(sorted_b, sorted_a)
    found[found == len(sorted_b)] = len(sorted_b) - 1
    return int(np.count_nonzero(sorted_b[found] == sorted_a))


def surely_unrelated(sorted_a: np.ndarray, sorted_b: np.ndarray, cfg: DedupConfig) -> bool:
    """True when ``classify_pair`` of two sketches (neither sampled) is sure to return None: it
    decides from the sizes of the two shingle sets and of their intersection, which sorted
    arrays of the distinct shingles give without building either set (9 candidate pairs in 10
    are rejected, and building the sets was most of their cost)."""
    shared = shared_count(sorted_a, sorted_b)
    if shared >= cfg.min_reuse_shingles:
        return False  # reuse at least
    if similarity_from_sizes(shared, len(sorted_a), len(sorted_b), cfg) is not None:
        return False  # a copy by shingles
    _jaccard, containment = similarity_of_sizes(shared, len(sorted_a), len(sorted_b))
    return containment < MIN_CONTAINMENT_FOR_WORD_ORDER  # else possibly a copy by word order


def verified_similarity(a: frozenset[int], b: frozenset[int], cfg: DedupConfig, scale: int = 1) -> float | None:
    """The similarity that justifies merging ``a`` and ``b``, or None when they are different stories.

    ``scale`` > 1 when the sets are anchor samples (1 in ``scale`` shingles), as for articles
    of earlier runs kept in the signature index.
    """
    return similarity_from_sizes(len(a & b) if a and b else 0, len(a), len(b), cfg, scale)


def similarity_from_sizes(shared: int, size_a: int, size_b: int, cfg: DedupConfig, scale: int = 1) -> float | None:
    """``verified_similarity`` of two sets of these sizes sharing ``shared`` members."""
    jaccard, containment = similarity_of_sizes(shared, size_a, size_b)
    if jaccard >= cfg.similarity_threshold:
        return jaccard
    if min(size_a, size_b) * scale >= MIN_SHINGLES_FOR_CONTAINMENT and containment >= cfg.containment_threshold:
        return containment
    return None


def anchors(hashes: Iterable[int], modulus: int) -> list[int]:
    """Content-defined sample of a document's shingles (the same shingles are sampled in every
    document), used to find documents that share passages without comparing all pairs."""
    return sorted({h for h in hashes if h % modulus == 0})


def anchor_bucket(anchor: int, buckets: int) -> int:
    """Which of ``buckets`` groups an anchor is shuffled in. Anchors are multiples of the
    anchor modulus, so their low bits are not spread: the bucket comes from higher bits."""
    return (anchor >> 32) % buckets


def anchors_by_bucket(anchor_list: Iterable[int], buckets: int) -> dict[int, list[int]]:
    grouped: dict[int, list[int]] = {}
    for anchor in anchor_list:
        grouped.setdefault(anchor_bucket(anchor, buckets), []).append(anchor)
    return grouped


def shared_anchor_counts(entries: Iterable[tuple[str, bytes]], limit: int) -> tuple[dict[tuple[str, str], int], int]:
    """One bucket's documents with their anchors -> (for each pair of documents sharing an
    anchor held by at most ``limit`` documents, how many such anchors they share; the number of
    anchor entries read). The same pairs and counts as grouping each anchor on its own."""
    doc_ids: list[str] = []
    arrays = []
    for doc_id, packed in entries:
        doc_ids.append(doc_id)
        arrays.append(np.frombuffer(packed, dtype="<u8"))
    if not arrays:
        return {}, 0
    values = np.concatenate(arrays)
    owners = np.repeat(np.arange(len(arrays), dtype=np.int64), [len(a) for a in arrays])
    counts: dict[tuple[str, str], int] = {}
    for positions in same_key_runs(values, most=limit):
        for pair in candidate_pairs(doc_ids[i] for i in owners[positions]):
            counts[pair] = counts.get(pair, 0) + 1
    return counts, len(values)


def word_hashes(text: str) -> list[int]:
    """The compared words of ``text`` as small stable integers, in order."""
    return hash_words(comparison_words(text))


def hash_words(words: list[str]) -> list[int]:
    return [zlib.crc32(word.encode("utf-8")) for word in words]


def word_order_similarity(
    words_a: list[int], words_b: list[int], set_a: frozenset[int], set_b: frozenset[int], cfg: DedupConfig
) -> float | None:
    """Copy-edited copies: the share of the shorter text's words that the longer has in the
    same order (longest common subsequence). Each changed word breaks five shingles but only
    one word of the subsequence, so this tolerates edits that shingle overlap does not.
    Checked only when the shingles already overlap substantially (the LCS costs more).
    """
    _jaccard, containment = pair_similarity(set_a, set_b)
    shorter = min(len(words_a), len(words_b))
    if containment < MIN_CONTAINMENT_FOR_WORD_ORDER or shorter < MIN_SHINGLES_FOR_CONTAINMENT:
        return None
    from rapidfuzz.distance import LCSseq

    in_order = LCSseq.similarity(words_a, words_b) / shorter
    return in_order if in_order >= cfg.word_order_threshold else None


def anchor_sequence(sequence: list[int], modulus: int) -> list[int]:
    """The anchors of a shingle sequence, in text order."""
    return [h for h in sequence if h % modulus == 0]


def interior_insertion(sequence: list[int], other: frozenset[int], followed: bool = False) -> list[int]:
    """The longest run of ``sequence`` (a document's shingles in text order) absent from
    ``other`` with shared text both before and after it: a passage inserted mid-story.

    Syndication cuts the end of a story and appends local paragraphs; a passage inserted
    between shared paragraphs is what a rewrite or a round-up does. Whether it makes a
    different article depends on where the passage comes from (see ``resolve_clusters``).
    ``followed``: shared text the sequence does not hold (``trailing_lines``) comes after its
    end, so a passage running to the end is inserted too.
    """
    best: tuple[int, int] = (0, 0)
    previous_shared = None
    for i, is_context in enumerate(_shared_context(sequence, other)):
        if is_context:
            if previous_shared is not None and i - previous_shared - 1 > best[1] - best[0]:
                best = (previous_shared + 1, i)
            previous_shared = i
    if followed and previous_shared is not None and len(sequence) - previous_shared - 1 > best[1] - best[0]:
        best = (previous_shared + 1, len(sequence))
    return sequence[best[0] : best[1]]


def _shared_context(sequence: list[int], other: frozenset[int]) -> list[bool]:
    """Which shingles are shared text that places a passage: those in a stretch of at least
    ``MIN_CONTEXT_SHINGLES`` shared in a row. A lone shared shingle is a stock phrase (or a
    repeat of one) that can sit anywhere, and would turn a dropped tail into an insertion."""
    shared = [h in other for h in sequence]
    context = [False] * len(sequence)
    start = 0
    for i in range(len(sequence) + 1):
        if i == len(sequence) or not shared[i]:
            if i - start >= MIN_CONTEXT_SHINGLES:
                context[start:i] = [True] * (i - start)
            start = i + 1
    return context


def classify_pair(a: dict, b: dict, cfg: DedupConfig) -> dict | None:
    """Compare two sketches (``seq``: shingle hashes in text order).

    Returns None when they share too little; else ``{"kind": "copy"|"reuse", "similarity",
    "shared": shared hash set, "inserted": {side: anchors of a passage it inserts mid-story},
    "only": {side: anchors of all it has that the other lacks}}`` (sides "a" and "b").
    """
    seq_a, seq_b, scale = a["seq"], b["seq"], 1
    if a.get("sampled") or b.get("sampled"):
        # An article of an earlier run is indexed by its anchors only; anchors sample every
        # text the same way, so compare anchor to anchor and scale the length thresholds.
        scale = cfg.anchor_modulus
        seq_a, seq_b = anchor_sequence(seq_a, scale), anchor_sequence(seq_b, scale)
    set_a, set_b = frozenset(seq_a), frozenset(seq_b)
    shared = set_a & set_b
    similarity = verified_similarity(set_a, set_b, cfg, scale)
    if similarity is None and scale == 1 and a.get("words") and b.get("words"):
        similarity = word_order_similarity(a["words"], b["words"], set_a, set_b, cfg)
    if len(shared) * scale < cfg.min_reuse_shingles and similarity is None:
        return None
    shares = {"a": len(shared) / max(1, len(set_a)), "b": len(shared) / max(1, len(set_b))}
    if similarity is None:
        jaccard, _ = pair_similarity(set_a, set_b)
        return {"kind": "reuse", "similarity": jaccard, "shared": shared, "shares": shares, "inserted": {}, "only": {}}
    inserted, only = {}, {}
    trails = {"a": frozenset(a.get("trail") or ()), "b": frozenset(b.get("trail") or ())}
    followed = len(trails["a"] & trails["b"]) >= MIN_SHARED_TRAILING_LINES
    for side, sequence, own, other in (("a", seq_a, set_a, set_b), ("b", seq_b, set_b, set_a)):
        run = interior_insertion(sequence, other, followed)
        if len(run) * scale >= cfg.insertion_min_shingles:
            inserted[side] = anchors(run, cfg.anchor_modulus)
        only[side] = anchors(own - other, cfg.anchor_modulus)
    return {
        "kind": "copy",
        "similarity": similarity,
        "shared": shared,
        "shares": shares,
        "inserted": inserted,
        "only": only,
    }


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


def resolve_clusters(
    edges: Iterable[tuple], info: dict[str, dict], reuse: Iterable[tuple[str, str, list[int]]] = ()
) -> dict[str, dict]:
    """Clusters of copies, as ``{doc_id: {"cluster_id", "canonical", "similarity", "copies", "outlets"}}``
    for every article in a cluster of two or more.

    ``edges`` are verified copy pairs ``(a, b, similarity)`` or ``(a, b, similarity, inserted,
    only)``: ``inserted`` maps a side ("a"/"b") to the anchors of a passage that side inserts
    mid-story, ``only`` to the anchors of everything it has that the other lacks.
    ``reuse`` lists partial overlaps ``(x, y, shared anchors)`` between different stories.

    An article whose inserted passage is (mostly) shared with a third article through a reuse
    relation took text from another story: it is a *composite*, a different article, and none
    of its copy edges to texts lacking that passage stand (they stay as reuse). A passage
    found nowhere else (a local addition), a dropped tail (truncation) or an appended
    paragraph leaves the copy standing. ``info[doc_id]`` has ``rank`` (see ``canonical_rank``) and ``outlet``.
    """
    reuse_anchors: dict[str, list[tuple[str, frozenset[int]]]] = {}
    for x, y, shared_anchors in reuse:
        anchor_set = frozenset(shared_anchors)
        reuse_anchors.setdefault(x, []).append((y, anchor_set))
        reuse_anchors.setdefault(y, []).append((x, anchor_set))

    def is_composite(doc: str, partner: str, inserted: list[int]) -> bool:
        """The passage is (mostly) what ``doc`` shares with a third article: taken from another
        story. A third article sharing much more than the passage is another version of this
        story (edited beyond the copy thresholds), which proves nothing about the passage."""
        passage = frozenset(inserted)
        for other, anchor_set in reuse_anchors.get(doc, ()):
            in_passage = len(passage & anchor_set)
            if other != partner and in_passage * 2 >= max(1, len(passage)) and in_passage * 2 >= len(anchor_set):
                return True
        return False

    edges = [(e[0], e[1], e[2], e[3] if len(e) > 3 else {}, e[4] if len(e) > 4 else {}) for e in edges]
    foreign: dict[str, list[frozenset[int]]] = {}
    for a, b, _score, inserted, _only in edges:
        for doc, partner, side in ((a, b, "a"), (b, a, "b")):
            if side in inserted and is_composite(doc, partner, inserted[side]):
                foreign.setdefault(doc, []).append(frozenset(inserted[side]))

    def lacks_foreign(doc: str, only_doc: list[int]) -> bool:
        """The partner lacks one of ``doc``'s foreign passages (they are in ``doc`` only)."""
        own_only = frozenset(only_doc)
        return any(len(passage & own_only) * 2 >= max(1, len(passage)) for passage in foreign.get(doc, ()))

    kept: list[tuple[str, str, float]] = []
    for a, b, score, _inserted, only in edges:
        if lacks_foreign(a, only.get("a", [])) or lacks_foreign(b, only.get("b", [])):
            continue
        kept.append((a, b, score))

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
    for a, b, score in kept:
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
        indexed = [m for m in members if info[m].get("indexed")]
        if indexed:
            # A story published by an earlier run keeps its canonical article: new copies
            # point at it and it is not rewritten, even if a new copy is older.
            canonical = info[min(indexed, key=lambda m: info[m]["rank"])]["cluster_id"]
        else:
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


def dedup_losses(counters: dict[str, int], bands: int) -> list[str]:
    """Elements lost between the batch dedup stage's Beam steps, from its counters; [] when none.

    Each step counts what it receives, so every candidate pair must reach classification and
    every article its LSH bands and anchors. A loss here is the runner's, not the data's: Beam 2.77's
    multi-process DirectRunner was seen to drop part of the join inputs, nondeterministically,
    in single runs of 200,000 documents (copies then go unrecognised). The launcher reruns.
    """

    def count(name: str) -> int:
        return int(counters.get(f"dedup_{name}", 0))

    new_pairs, index_pairs = count("candidate_pairs"), count("index_pairs")
    checks = [
        ("LSH band entries", count("sketched") * bands, count("band_entries")),
        ("anchor entries", count("anchors_emitted"), count("anchor_entries")),
        ("candidate pairs reaching classification", new_pairs + index_pairs, count("pairs_keyed")),
        ("pair ends given their sketch", 2 * new_pairs + index_pairs, count("pair_ends")),
        ("pairs with both sketches", count("pairs_keyed"), count("pairs_joined")),
        ("pairs classified", count("pairs_joined"), count("pairs_compared")),
        ("relations resolved", count("relations"), count("relations_resolved")),
    ]
    problems = [f"{what}: {expected:,} expected, {seen:,} seen" for what, expected, seen in checks if expected != seen]
    if count("end_without_sketch"):
        problems.append(f"candidate pairs whose article sketch was missing: {count('end_without_sketch'):,}")
    return problems


# ---------------------------------------------------------------- Beam wrappers


def _disambiguate(doc_id: str, articles: Iterable[dict]) -> Iterator[dict]:
    """Two inputs with the same doc_id (same URL, or same text and no URL) must stay two rows:
    the one that would be canonical keeps the id, the others get one derived from their source."""
    ordered = sorted(articles, key=lambda a: (canonical_rank(a), a["source"]))
    yield ordered[0]
    for article in ordered[1:]:
        yield {**article, "doc_id": derived_doc_id(doc_id, article["source"])}


def derived_doc_id(doc_id: str, source: str) -> str:
    return hashlib.sha256(f"{doc_id}\x00{source}".encode()).hexdigest()[:16]


class _KeepIndexedIdsFn(beam.DoFn):
    """A text without a URL whose doc_id (its text's hash) an earlier run (or pass) committed
    for *another* source is another input, not a rerun: it gets an id derived from its source,
    so committing it cannot replace the earlier article (it is then matched against it like any
    copy). The same source again is a rerun, and a URL is an article's identity: the same URL
    from anywhere is its newer version, and its rows replace the old ones."""

    def __init__(self, index_files: list[str]):
        self._index_files = index_files

    def setup(self):
        from transforms.write import read_parquet_file

        self._sources: dict[str, str] = {}
        for path in self._index_files:
            table = read_parquet_file(path, ["doc_id", "source"])
            self._sources.update(zip(table.column("doc_id").to_pylist(), table.column("source").to_pylist()))

    def process(self, article: dict):
        indexed_source = self._sources.get(article["doc_id"])
        if indexed_source is not None and indexed_source != article["source"] and not article.get("url"):
            yield {**article, "doc_id": derived_doc_id(article["doc_id"], article["source"])}
        else:
            yield article


class _SketchFn(beam.DoFn):
    """An article -> its sketch, index entry and probe (tagged outputs); and, once per bundle,
    its articles' LSH band keys and anchors gathered by band and by anchor bucket (main output).

    Gathered per bundle rather than emitted per article: an article has 32 band keys and up to
    16 anchor buckets, and each element through a grouping costs the runner and both ends some
    microseconds (~100,000 elements for 2,000 articles; now 48 per bundle).
    """

    def __init__(self, cfg: DedupConfig):
        self._cfg = cfg
        self._clock = StageClock("dedup")
        self._sketched = Metrics.counter(METRICS_NAMESPACE, "dedup_sketched")
        self._anchors = Metrics.counter(METRICS_NAMESPACE, "dedup_anchors_emitted")
        self._bands: list[tuple[list[str], list[int]]] = []
        self._buckets: dict[int, list[tuple[str, bytes]]] = {}

    def start_bundle(self):
        self._bands = [([], []) for _ in range(self._cfg.bands)]  # per band: doc ids, band keys
        self._buckets = {}  # per anchor bucket: (doc id, packed anchors)

    def finish_bundle(self):
        for band, (doc_ids, keys) in enumerate(self._bands):
            if doc_ids:
                packed = np.array(keys, dtype=np.uint64).tobytes()
                yield WindowedValue(((_BAND, band), (doc_ids, packed)), MIN_TIMESTAMP, _GLOBAL_WINDOW)
        for bucket, entries in self._buckets.items():
            yield WindowedValue(((_ANCHOR_BUCKET, bucket), entries), MIN_TIMESTAMP, _GLOBAL_WINDOW)
        self._bands, self._buckets = [], {}

    def process(self, article: dict):
        cfg = self._cfg
        self._sketched.inc()
        with self._clock.timing():
            compared = comparison_sketch(article["text"], cfg)
            signature = minhash_signature(compared["distinct"], cfg.num_perm, cfg.seed)
            sequence = compared["seq"]
            doc_id = article["doc_id"]
            rank, outlet = canonical_rank(article), outlet_name(article)
            bands = band_keys(signature, cfg.bands)
            anchor_list = anchors(sequence, cfg.anchor_modulus)
            entry = index_entry(article, sequence, rank, outlet, bands, cfg.anchor_modulus)
            # Packed for the trip to the writer (transforms/write.py, PACKED_HASH_COLUMNS).
            entry["anchors"] = pack_hashes(entry["anchors"])
            # Packed: every worker holds the pass's sketches as a side input (8 bytes per shingle
            # hash, 4 per word hash).
            sketch = {
                "seq": pack_hashes(sequence),
                "words": pack_words(compared["words"]),
                "trail": pack_hashes(compared["trail"]),
                "rank": rank,
                "outlet": outlet,
            }
        yield beam.pvalue.TaggedOutput("sketches", (doc_id, sketch))
        yield beam.pvalue.TaggedOutput("index", entry)
        yield beam.pvalue.TaggedOutput("probes", (doc_id, bands, pack_hashes(anchor_list)))
        for (doc_ids, keys), key in zip(self._bands, bands):
            doc_ids.append(doc_id)
            keys.append(band_key64(key))
        self._anchors.inc(len(anchor_list))
        for bucket, bucket_anchors in anchors_by_bucket(anchor_list, cfg.anchor_buckets).items():
            self._buckets.setdefault(bucket, []).append((doc_id, pack_hashes(bucket_anchors)))


def index_entry(article: dict, sequence: list[int], rank: tuple, outlet: str, bands: list[str], modulus: int) -> dict:
    """What later runs need to recognise a copy of this article: anchors and LSH bands, not text."""
    timestamp = rank[0]
    return {
        "doc_id": article["doc_id"],
        "cluster_id": article["doc_id"],
        "source": article["source"],
        "outlet": outlet,
        "published_ts": None if timestamp == float("inf") else timestamp,
        "text_chars": -rank[1],
        "anchors": anchor_sequence(sequence, modulus),
        "bands": bands,
        "date": article["ingested_at"].strftime("%Y-%m-%d"),
    }


def indexed_sketch(entry: dict) -> dict:
    """An index row as a sketch: sampled (anchors only), with the cluster it was published in."""
    timestamp = entry["published_ts"] if entry["published_ts"] is not None else float("inf")
    return {
        "seq": pack_hashes(entry["anchors"]),
        "rank": (timestamp, -int(entry["text_chars"]), entry["doc_id"]),
        "outlet": entry["outlet"],
        "sampled": True,
        "cluster_id": entry["cluster_id"],
    }


_GOLDEN = 0x9E3779B97F4A7C15
_MASK64 = (1 << 64) - 1
_BAND_SLICE = 1 << 16


def band_key64(key: str) -> int:
    """A band key ("<band>:<16 hex digits>") as one 64-bit number, for sorted-array lookups."""
    band, digest = key.split(":", 1)
    return int(digest, 16) ^ ((int(band) * _GOLDEN) & _MASK64)


def _band_keys64(keys) -> np.ndarray:
    """``band_key64`` of an Arrow array of band keys, vectorised, in slices (a Python string
    per key at once would cost more memory than the index itself)."""
    import pyarrow.compute as pc

    parts = []
    for start in range(0, len(keys), _BAND_SLICE):
        split = pc.split_pattern(keys.slice(start, _BAND_SLICE), ":")
        numbers = pc.list_element(split, 0).cast("uint64").to_numpy()
        digests = "".join(pc.list_element(split, 1).to_pylist())
        values = np.frombuffer(bytes.fromhex(digests), dtype=">u8").astype(np.uint64)
        parts.append(values ^ (numbers * np.uint64(_GOLDEN)))  # wraps mod 2**64, as band_key64
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.uint64)


class IndexLookup:
    """The signature index of earlier runs, held as sorted numpy arrays (1.7 KB of arrays per
    indexed article: its band keys, its anchors, a few strings; ~3 KB of process memory
    measured, 3 s to build per 100,000 articles), probed one new article at a time. Earlier
    articles never go through the run's shuffles: a run's memory grows with its own input,
    and with the retained index only by this compact table.

    ``candidates`` applies the rules of the in-run grouping: a shared band key, or at least
    ``min_shared_anchors`` shared anchors, not counting anchors that more than
    ``anchor_max_docs`` indexed articles hold (boilerplate).
    """

    def __init__(self, table, cfg: DedupConfig):
        self._cfg = cfg
        self.size = table.num_rows
        # Strings stay Arrow arrays (a Python str per row would triple the size).
        self._strings = {name: table.column(name).combine_chunks() for name in ("doc_id", "cluster_id", "source")}
        self._outlet = table.column("outlet").combine_chunks()
        self._published = table.column("published_ts").to_numpy()
        self._text_chars = table.column("text_chars").to_numpy()
        anchor_lists = table.column("anchors").combine_chunks()
        self._anchor_offsets = anchor_lists.offsets.to_numpy()
        self._anchor_values = anchor_lists.flatten().to_numpy(zero_copy_only=False).astype(np.uint64)
        owners = np.repeat(np.arange(self.size, dtype=np.int32), np.diff(self._anchor_offsets))
        self._anchor_keys, self._anchor_owners = self._distinct_pairs(self._anchor_values, owners)
        keys, counts = np.unique(self._anchor_keys, return_counts=True)
        keep = ~np.isin(self._anchor_keys, keys[counts > cfg.anchor_max_docs])
        self._anchor_keys, self._anchor_owners = self._anchor_keys[keep], self._anchor_owners[keep]
        band_lists = table.column("bands").combine_chunks()
        band_keys = _band_keys64(band_lists.flatten())
        band_owners = np.repeat(np.arange(self.size, dtype=np.int32), np.diff(band_lists.offsets.to_numpy()))
        self._band_keys, self._band_owners = self._distinct_pairs(band_keys, band_owners)

    def _distinct_pairs(self, keys, owners):
        order = np.lexsort((owners, keys))
        keys, owners = keys[order], owners[order]
        first = np.ones(len(keys), dtype=bool)
        first[1:] = (keys[1:] != keys[:-1]) | (owners[1:] != owners[:-1])
        return keys[first], owners[first]

    def _owners_of(self, sorted_keys, owners, queries):
        queries = np.asarray(queries, dtype=np.uint64)
        left = np.searchsorted(sorted_keys, queries, side="left")
        right = np.searchsorted(sorted_keys, queries, side="right")
        if not len(queries) or not (right - left).any():
            return np.empty(0, dtype=np.int64)
        return np.concatenate([owners[lo:hi] for lo, hi in zip(left, right) if hi > lo])

    def candidates(self, bands: list[str], anchor_list: list[int]) -> list[int]:
        """Positions of the indexed articles that are candidates for an article with these
        band keys and (distinct) anchors."""
        by_band = self._owners_of(self._band_keys, self._band_owners, [band_key64(k) for k in bands])
        by_anchor = self._owners_of(self._anchor_keys, self._anchor_owners, anchor_list)
        owners, shared = np.unique(by_anchor, return_counts=True)
        found = np.union1d(by_band, owners[shared >= self._cfg.min_shared_anchors])
        return found.tolist()

    def doc_id(self, position: int) -> str:
        return self._strings["doc_id"][position].as_py()

    def source(self, position: int) -> str:
        return self._strings["source"][position].as_py()

    def sketch(self, position: int) -> dict:
        """The indexed article as ``indexed_sketch`` makes it from its index row."""
        lo, hi = self._anchor_offsets[position], self._anchor_offsets[position + 1]
        published = self._published[position]
        return indexed_sketch(
            {
                "doc_id": self.doc_id(position),
                "cluster_id": self._strings["cluster_id"][position].as_py(),
                "outlet": self._outlet[position].as_py(),
                "published_ts": None if np.isnan(published) else float(published),
                "text_chars": int(self._text_chars[position]),
                "anchors": self._anchor_values[lo:hi].tolist(),
            }
        )


_INDEX_COLUMNS = ("doc_id", "cluster_id", "source", "outlet", "published_ts", "text_chars", "anchors", "bands")


def load_index(index_files: list[str], cfg: DedupConfig) -> IndexLookup:
    import pyarrow as pa

    from schemas.tables import INDEX
    from transforms.write import read_parquet_file  # Beam's filesystems: the index may be on gs://

    schema = pa.schema([INDEX.field(name) for name in _INDEX_COLUMNS])  # ``date`` is the partition
    tables = [read_parquet_file(path, list(_INDEX_COLUMNS)).cast(schema) for path in index_files]
    return IndexLookup(pa.concat_tables(tables) if tables else schema.empty_table(), cfg)


class _ProbeIndexFn(beam.DoFn):
    """A new article -> (candidate pair, the indexed end's sketch) for each earlier-run article
    it may copy or reuse. The index is loaded once per worker; an indexed article this run
    brings again (same doc_id or source: a rerun) is skipped, the new version replaces it."""

    def __init__(self, index_files: list[str], cfg: DedupConfig):
        self._index_files = index_files
        self._cfg = cfg
        self._clock = StageClock("dedup")

    def setup(self):
        self._index = load_index(self._index_files, self._cfg)

    def process(self, probe: tuple[str, list[str], bytes], new_ids: dict, new_sources: dict):
        doc_id, bands, packed_anchors = probe
        with self._clock.timing():
            positions = self._index.candidates(bands, unpack_hashes(packed_anchors))
        for position in positions:
            indexed_id = self._index.doc_id(position)
            if indexed_id in new_ids or self._index.source(position) in new_sources:
                continue
            sketch = self._index.sketch(position)
            Metrics.counter(METRICS_NAMESPACE, "dedup_index_pairs").inc()
            if indexed_id < doc_id:
                yield (indexed_id, doc_id), {"a": sketch}
            else:
                yield (doc_id, indexed_id), {"b": sketch}


def _pair_with_sketches(item: tuple[tuple[str, str], dict], sketches: dict) -> tuple[tuple[str, str], dict] | None:
    """A candidate pair -> the pair with both ends' sketches (an earlier run's article comes
    with its sketch already, from ``IndexLookup``); None when an end's sketch is missing."""
    pair, known = item
    Metrics.counter(METRICS_NAMESPACE, "dedup_pairs_keyed").inc()
    found = dict(known)
    for doc_id, side in zip(pair, "ab"):
        if side in known:
            continue
        sketch = sketches.get(doc_id)
        if sketch is None:  # never expected: counted so that a lost sketch cannot hide
            Metrics.counter(METRICS_NAMESPACE, "dedup_end_without_sketch").inc()
            return None
        Metrics.counter(METRICS_NAMESPACE, "dedup_pair_ends").inc()
        found[side] = sketch
    Metrics.counter(METRICS_NAMESPACE, "dedup_pairs_joined").inc()
    return pair, found


def _with_cluster(entry: dict, assignments: dict) -> dict:
    assignment = assignments.get(entry["doc_id"])
    return {**entry, "cluster_id": assignment["cluster_id"]} if assignment else entry


# Sorted shingle arrays a classifying worker keeps (~5 KB each): every article of a pass of
# up to this many, the oldest dropped beyond.
_SORTED_SHINGLES_KEPT = 4096


class _ClassifyFn(beam.DoFn):
    """A candidate pair with both sketches -> a relation (copy or reuse), or nothing."""

    def __init__(self, cfg: DedupConfig):
        self._cfg = cfg
        self._clock = StageClock("dedup")
        self._related = Metrics.counter(METRICS_NAMESPACE, "dedup_relations")
        self._compared = Metrics.counter(METRICS_NAMESPACE, "dedup_pairs_compared")
        self._sorted: dict[str, np.ndarray] = {}

    def _sorted_shingles(self, doc_id: str, sketch: dict) -> np.ndarray | None:
        """The article's distinct shingles, sorted; None for an earlier run's (sampled) article.

        Made here, once per article and worker, rather than shipped in the sketch: every worker
        holds all sketches as a side input, and Beam keeps several copies of it (a sorted copy
        in each sketch cost ~100 MB per process on the 2,000-page benchmark; these ~10 MB)."""
        if sketch.get("sampled"):
            return None
        found = self._sorted.get(doc_id)
        if found is None:
            found = np.unique(np.frombuffer(sketch["seq"], dtype="<u8"))
            if len(self._sorted) >= _SORTED_SHINGLES_KEPT:
                del self._sorted[next(iter(self._sorted))]  # the oldest: pairs come in no order
            self._sorted[doc_id] = found
        return found

    def process(self, candidate: tuple[tuple[str, str], dict], sketches_by_id: dict):
        pair_with_sketches = _pair_with_sketches(candidate, sketches_by_id)
        if pair_with_sketches is None:
            return
        (a, b), sketches = pair_with_sketches
        self._compared.inc()
        with self._clock.timing():
            sorted_a, sorted_b = self._sorted_shingles(a, sketches["a"]), self._sorted_shingles(b, sketches["b"])
            if sorted_a is not None and sorted_b is not None and surely_unrelated(sorted_a, sorted_b, self._cfg):
                return
            relation = classify_pair(unpacked(sketches["a"]), unpacked(sketches["b"]), self._cfg)
        if relation is None:
            return
        self._related.inc()
        ends = {a: _slim(sketches["a"]), b: _slim(sketches["b"])}
        yield {"a": a, "b": b, **relation, "ends": ends}


# How each packed hash list of a sketch is unpacked.
_UNPACK = {"seq": unpack_hashes, "words": unpack_words, "trail": unpack_hashes}


class _UnpackedSketch(dict):
    """A sketch as ``classify_pair`` reads it: its packed hash lists come back as lists when
    first read. Nine candidate pairs in ten are rejected on the shingles alone (``seq``), and
    unpacking the words and trailing lines too cost a fifth of their classification."""

    def __getitem__(self, key):
        value = super().__getitem__(key)
        if key in _UNPACK and isinstance(value, bytes):
            value = _UNPACK[key](value)
            self[key] = value
        return value

    def get(self, key, default=None):
        return self[key] if key in self else default


def unpacked(sketch: dict) -> dict:
    """A sketch as ``classify_pair`` reads it: hash lists instead of packed bytes (unpacked on
    first read)."""
    return _UnpackedSketch(sketch)


def _slim(sketch: dict) -> dict:
    slim = {"rank": sketch["rank"], "outlet": sketch["outlet"]}
    if sketch.get("sampled"):
        slim.update(indexed=True, cluster_id=sketch["cluster_id"])
    return slim


# The two kinds of group the sketch step emits, once per bundle: (_BAND, band) with the
# bundle's doc ids and their keys in that band (packed 64-bit), and (_ANCHOR_BUCKET, bucket)
# with (doc id, packed anchors) for each of the bundle's articles with anchors in it.
_BAND, _ANCHOR_BUCKET = "band", "anchors"
_GLOBAL_WINDOW = (GlobalWindow(),)


def _pairs_sharing_key(group: tuple[tuple[str, int], Iterable], cfg: DedupConfig) -> Iterator[tuple]:
    """One group -> (pair, weight): pairs sharing a band key weigh ``min_shared_anchors`` (one
    shared band makes a candidate), an anchor bucket's pairs the number of anchors they share."""
    (kind, _number), parts = group
    if kind == _BAND:
        doc_ids: list[str] = []
        arrays = []
        for part_ids, packed in parts:
            doc_ids += part_ids
            arrays.append(np.frombuffer(packed, dtype=np.uint64))
        # documents x bands, exactly: a band entry lost between Beam steps shows here.
        Metrics.counter(METRICS_NAMESPACE, "dedup_band_entries").inc(len(doc_ids))
        for members in same_key_runs(np.concatenate(arrays)):
            for pair in candidate_pairs(doc_ids[i] for i in members):
                yield pair, cfg.min_shared_anchors
        return
    counts, read = shared_anchor_counts((entry for part in parts for entry in part), cfg.anchor_max_docs)
    Metrics.counter(METRICS_NAMESPACE, "dedup_anchor_entries").inc(read)
    yield from counts.items()


def same_key_runs(keys: np.ndarray, most: int | None = None) -> Iterator[np.ndarray]:
    """Positions of ``keys`` holding the same key, for each key held more than once (and by at
    most ``most`` positions, when given)."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    sizes = np.diff(np.append(starts, len(ordered)))
    kept = (sizes >= 2) if most is None else (sizes >= 2) & (sizes <= most)
    for start, size in zip(starts[kept], sizes[kept]):
        yield order[start : start + size]


def _unclassified(pair: tuple[str, str]) -> tuple[tuple[str, str], dict]:
    Metrics.counter(METRICS_NAMESPACE, "dedup_candidate_pairs").inc()
    return pair, {}


def _compact(relation: dict, cfg: DedupConfig) -> tuple:
    """What the global clustering step needs of a relation: no full shingle sets."""
    if relation["kind"] == "copy":
        return (
            "copy",
            relation["a"],
            relation["b"],
            relation["similarity"],
            relation["inserted"],
            relation["only"],
            relation["ends"],
        )
    shared_anchors = anchors(relation["shared"], cfg.anchor_modulus)
    return ("reuse", relation["a"], relation["b"], shared_anchors, relation["ends"])


def _resolve(relations: list[tuple]) -> Iterator[tuple[str, dict]]:
    Metrics.counter(METRICS_NAMESPACE, "dedup_relations_resolved").inc(len(relations))
    info: dict[str, dict] = {}
    copies, reuse = [], []
    for relation in sorted(relations, key=lambda r: (r[1], r[2])):
        info.update(relation[-1])
        if relation[0] == "copy":
            copies.append(relation[1:6])
        else:
            reuse.append(relation[1:4])
    yield from resolve_clusters(copies, info, reuse).items()


def reuse_direction(relation: dict, assignments: dict) -> tuple[str, str, float] | None:
    """(taker, source, share) for two articles of different clusters, taker = the later one.

    Both ends are named by their cluster's canonical article (copies are in ``duplicates``);
    None when they are copies of one story, or when the taker is not itself canonical.
    """
    a, b, ends = relation["a"], relation["b"], relation["ends"]

    def cluster(doc: str) -> str:
        return assignments[doc]["cluster_id"] if doc in assignments else doc

    if cluster(a) == cluster(b):
        return None
    # Earlier publication is the source; unknown dates and ties fall back to the doc_id.
    order = sorted((a, b), key=lambda d: (ends[d]["rank"][0], d))
    taker, source = order[1], order[0]
    if cluster(taker) != taker or ends[taker].get("indexed"):
        return None
    share = relation["shares"]["a" if taker == a else "b"]
    return taker, cluster(source), share


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


def _attach_reuse(keyed: tuple[str, dict], size: int) -> Iterator:
    """A canonical article and the passages it took from other stories -> the article with
    ``wire_share`` (main) and its ``reuse`` rows (tagged)."""
    _doc_id, grouped = keyed
    if not grouped["article"]:
        return
    article = grouped["article"][0]
    by_source: dict[str, tuple[float, frozenset[int]]] = {}
    for source, share, shared in grouped["reuse"]:
        if share > by_source.get(source, (-1.0, frozenset()))[0]:
            by_source[source] = (share, shared)
    wire_share = 0.0
    for source in sorted(by_source):
        share, shared = by_source[source]
        wire_share = max(wire_share, share)
        spans = passage_spans(article["text"], shared, size)
        yield beam.pvalue.TaggedOutput(
            "reuse",
            {
                "doc_id": article["doc_id"],
                "source_doc_id": source,
                "share": round(share, 6),
                "shared_shingles": len(shared),
                "passages": [{"start": start, "end": end} for start, end in spans],
                "date": article["date"],
            },
        )
    yield {**article, "wire_share": round(wire_share, 6)}


class ClusterNearDuplicates(beam.PTransform):
    """articles -> (canonical articles with cluster_id/copies/outlets/wire_share, duplicates rows,
    reuse rows, signature index rows for later runs).

    ``index_files`` are Parquet files of the signature index written by earlier runs: their
    articles are matched against, never rewritten.
    """

    def __init__(self, cfg: DedupConfig, index_files: list[str] = ()):
        super().__init__()
        self._cfg = cfg
        self._index_files = sorted(index_files)

    def expand(self, articles):
        cfg = self._cfg
        unique = (
            articles
            | "KeyByDocId" >> beam.Map(lambda a: (a["doc_id"], a))
            | "GroupByDocId" >> beam.GroupByKey()
            | "DisambiguateDocIds" >> beam.FlatMapTuple(_disambiguate)
        )
        if self._index_files:
            unique = unique | "KeepIndexedIds" >> beam.ParDo(_KeepIndexedIdsFn(self._index_files))
        sketched = unique | "Sketch" >> beam.ParDo(_SketchFn(cfg)).with_outputs(
            "sketches", "index", "probes", main="keyed"
        )
        sketches = sketched.sketches
        # Candidates: articles sharing an LSH band, and (passages shared between different
        # stories rarely make a band agree) articles sharing enough anchors; anchors in very
        # many articles are boilerplate and skipped. Bands and anchor buckets go through one
        # grouping, and one sum per pair both counts shared anchors and makes the pairs
        # distinct: a band weighs as much as the anchors a pair needs. (Two groupings, a
        # flatten and a distinct before: each step of the runner costs ~0.1 s however small.)
        new_pairs = (
            sketched.keyed
            | "GroupByBandOrAnchorBucket" >> beam.GroupByKey()
            | "PairsSharingKeys" >> beam.FlatMap(_pairs_sharing_key, cfg)
            | "CountSharedAnchors" >> beam.CombinePerKey(sum)
            | "EnoughShared" >> beam.Filter(lambda item, least: item[1] >= least, cfg.min_shared_anchors)
            | "NothingKnown" >> beam.Map(lambda item: _unclassified(item[0]))
        )
        pair_parts = [new_pairs]
        if self._index_files:
            # Earlier runs' articles: probed in a compact per-worker table, never shuffled.
            new_ids = unique | "NewIds" >> beam.Map(lambda a: (a["doc_id"], True))
            new_sources = unique | "NewSources" >> beam.Map(lambda a: (a["source"], True))
            pair_parts.append(
                sketched.probes
                | "ProbeIndex"
                >> beam.ParDo(
                    _ProbeIndexFn(self._index_files, cfg),
                    beam.pvalue.AsDict(new_ids),
                    beam.pvalue.AsDict(new_sources),
                )
            )
        pairs = pair_parts | "AllPairs" >> beam.Flatten(pipeline=articles.pipeline)
        # Each pair reads its two sketches from a per-worker table of the pass's sketches
        # (a side input: ~10 KB per article), instead of shuffling them: through joins, a sketch
        # travelled once per pair it is in, ~20 KB per candidate pair, and candidates outnumber
        # articles several times (11,783 pairs for 2,000 articles in the throughput benchmark).
        # This also replaces the keyed joins that lost pairs on Beam 2.77's multi-process
        # DirectRunner in runs of 200,000 documents.
        relations = pairs | "ClassifyPairs" >> beam.ParDo(_ClassifyFn(cfg), beam.pvalue.AsDict(sketches))
        # One worker sees the relations (not the articles): sized by copies and reuse pairs.
        assignments = (
            relations
            | "CompactRelations" >> beam.Map(_compact, cfg)
            # Without defaults: no relation means no list at all rather than an empty one (the
            # same clusters: none), and the runner skips the stage that would make the default.
            | "AllRelations" >> beam.CombineGlobally(beam.combiners.ToListCombineFn()).without_defaults()
            | "ResolveClusters" >> beam.FlatMap(_resolve)
        )
        applied = unique | "ApplyClusters" >> beam.ParDo(
            _ApplyClustersFn(), beam.pvalue.AsDict(assignments)
        ).with_outputs("duplicates", main="articles")
        reuse_by_taker = relations | "ReuseDirection" >> beam.FlatMap(
            lambda rel, assigned: [
                (found[0], (found[1], found[2], rel["shared"]))
                for found in [reuse_direction(rel, assigned)]
                if found is not None
            ],
            beam.pvalue.AsDict(assignments),
        )
        with_reuse = (
            {
                "article": applied.articles | "KeyArticles" >> beam.Map(lambda a: (a["doc_id"], a)),
                "reuse": reuse_by_taker,
            }
            | "JoinReuse" >> beam.CoGroupByKey()
            | "AttachReuse" >> beam.FlatMap(_attach_reuse, cfg.shingle_words).with_outputs("reuse", main="articles")
        )
        index_rows = sketched.index | "IndexClusters" >> beam.Map(_with_cluster, beam.pvalue.AsDict(assignments))
        return with_reuse.articles, applied.duplicates, with_reuse.reuse, index_rows
