"""Scale of the dedup stage: time and peak memory for 10k, 100k and 1M synthetic documents.

Run from the repository root::

    python benchmarks/dedup_scale.py --sizes 10000 100000 1000000 [--full-text-max 100000] [--repeat 2]

The method is the pipeline's (``transforms/dedup.py``, ``ClusterNearDuplicates``), step by
step, with the same ``DedupConfig`` defaults. Each (size, mode) runs in a fresh process, so
its peak RSS (``ru_maxrss`` from ``os.wait4``) is its own. Timed per phase, wall and CPU:

* ``shingle``: every document's distinct 5-word shingles and their 64-bit hashes (the
  pipeline's sketch ``seq``);
* ``minhash``: rensa MinHash signatures (num_perm 128, seed 42), a ``uint32`` matrix per chunk;
* ``bands``: one 64-bit integer key per LSH band and document (32 bands), grouped by sorting
  each band;
* ``anchors``: the 1-in-``anchor_modulus`` shingles every document is also keyed by, grouped
  by sorting (in hash partitions, so the sort's working set stays small); anchors in more than
  ``anchor_max_docs`` documents are skipped, and documents sharing at least
  ``min_shared_anchors`` become candidates, as in the pipeline's partial-reuse search;
* ``pairs``: candidate pairs from the shared LSH buckets, joined with the anchor pairs, distinct;
* ``verify``: every candidate compared by the pipeline's ``classify_pair`` (Jaccard,
  containment, word-order LCS; copy, reuse or nothing). The sketches of the documents in a
  candidate pair (shingle hashes in text order and word hashes) are computed here, so only
  about a quarter of the documents' sketches are ever held (as numpy arrays, ~6 kB a
  document); the pipeline's Sketch computes them for every document instead;
* ``cluster``: the pipeline's ``resolve_clusters`` over copy and reuse relations (union-find,
  composites kept apart).

Generating the synthetic documents is timed apart (``generate``) and is not in the total.

Two ways in, both from the same synthetic documents:

* ``text`` (sizes up to ``--full-text-max``): documents are rendered to text (sentences,
  paragraphs, capitals, accented words) and go through the pipeline's ``shingles``,
  ``shingle_hash`` and ``word_hashes``;
* ``ids`` (every size; issue 3 allows "signatures and band grouping; full text optional at
  1M"): the documents as word-id arrays whose 5-word shingles are hashed to 64-bit ids with
  numpy. Distinct text shingles are exactly distinct word-id 5-grams (the vocabulary folds to
  distinct words), so set sizes, Jaccard, containment and word order are those of the text.

The vectorised steps (batch rensa, integer band keys, sort grouping, numpy pair generation and
anchor counting) stand in for the pipeline's per-document functions and Beam groupings;
``check_against_pipeline`` shows on 1,000 documents that they give the same signatures, band
buckets, LSH and anchor pairs, relations and clusters as the pipeline's functions applied one
document and one group at a time. It runs before anything is timed and is kept as a test.

The corpus (``SyntheticCorpus``): Zipf-distributed words from a 50,000-word vocabulary,
400-600 words per document; 10 % planted copies of an earlier document (exact, typography,
a few word edits, truncated, a paragraph appended, truncated and edited, copy-edited with 4-7 %
of the words changed) that must merge, and 3 % different stories that quote one or two
passages (40-120 words) of an earlier one: anchor candidates that must become reuse, not
copies. Reported as a sanity check: planted copies found / planted, quoting stories found as
reuse, and false merges (articles in a cluster whose canonical is another story).

Printed as a table and written to ``benchmarks/results/dedup_scale.json``. Timings depend on
the machine and its load (recorded; ``--repeat`` keeps the fastest of several runs); timing
belongs here, never in the tests.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import chain
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from schemas.config import DedupConfig  # noqa: E402

RESULTS_PATH = REPO / "benchmarks" / "results" / "dedup_scale.json"
DEFAULT_SEED = 20261123
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
CHECK_DOCS = 1_000
CHUNK_DOCS = 4_096
TEXT_CHUNK_DOCS = 1_024  # a text chunk's shingle strings take about 75 kB a document
ANCHOR_PARTITION_ENTRIES = 250_000  # anchors are sorted one cache-sized hash partition at a time
ANCHOR_FLUSH_ENTRIES = 1_000_000  # small enough for the partition split to stay in cache
MEMORY_BUDGET_MB = 4_096
LINEAR_GROWTH_LIMIT = 12.0  # t(10 N) / t(N)
DEDUP_PHASES = ("shingle", "minhash", "bands", "anchors", "pairs", "verify", "cluster")

# ---- the synthetic corpus
VOCAB_SIZE = 50_000  # below 2**16: shingle ids pack four word ids into 64 bits
ZIPF_EXPONENT = 1.0
ZIPF_SHIFT = 2.7  # Zipf-Mandelbrot: the commonest word is about 3.5 % of running text
WORD_TABLE_BITS = 22  # a 4M-entry lookup table samples the Zipf law; every word gets several entries
MIN_WORDS, MAX_WORDS = 400, 600
COPY_SHARE, QUOTE_SHARE = 0.10, 0.03
PLAIN, COPY, QUOTE = 0, 1, 2
COPY_KINDS = ("exact", "typography", "small_edits", "truncated", "appended", "truncated_edited", "copy_edited")
COPY_KIND_WEIGHTS = (0.10, 0.10, 0.25, 0.15, 0.15, 0.15, 0.10)
COPY_EDITED_SHARE_OF_WORDS = (0.04, 0.07)  # shingle containment ~0.7-0.8, words in order ~0.93-0.96
QUOTE_WORDS = (40, 120)  # one passage; a second one in 30 % of quoting stories
# Tokens are ``word << 3 | fold << 2 | punct``; punct: 0 " ", 1 ", ", 2 ". ", 3 end of paragraph.
FOLD_BIT = 4
PUNCT_MASK = 3
_PUNCT_SUFFIX = (" ", ", ", ". ", ".\n\n")
_CONSONANTS = "bcdfghjklmnprstvwz"
_VOWELS = "aeiou"
_ACCENTED = {"e": "é", "a": "á", "o": "ö", "u": "ü", "i": "í"}
# Hash streams: independent draws per document from one seed.
_STREAM_ROLE, _STREAM_TARGET, _STREAM_KIND, _STREAM_LENGTH, _STREAM_WORDS, _STREAM_EDITS = range(1, 7)

_U64 = np.uint64


# ---------------------------------------------------------------- hashing and sampling


def mix64(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on a uint64 array: a cheap, well-mixed 64-bit hash (wraps mod 2**64)."""
    x = np.asarray(values).astype(_U64)  # a copy, then updated in place
    x += _U64(0x9E3779B97F4A7C15)
    x ^= x >> _U64(30)
    x *= _U64(0xBF58476D1CE4E5B9)
    x ^= x >> _U64(27)
    x *= _U64(0x94D049BB133111EB)
    x ^= x >> _U64(31)
    return x


def _stream_key(seed: int, stream: int) -> np.uint64:
    return mix64(np.array([seed * 1_000_003 + stream], dtype=_U64))[0]


def draw_bits(seed: int, stream: int, docs: np.ndarray, positions: np.ndarray | int = 0) -> np.ndarray:
    """64 random bits per (document, position), a pure function of the seed: any document can be
    regenerated alone, in any order, which is what lets the benchmark stream the corpus."""
    counter = (np.asarray(docs, dtype=_U64) << _U64(24)) | np.asarray(positions, dtype=_U64)
    return mix64(counter ^ _stream_key(seed, stream))


def draw_unit(seed: int, stream: int, docs: np.ndarray) -> np.ndarray:
    """One uniform draw in [0, 1) per document."""
    return (draw_bits(seed, stream, docs) >> _U64(11)).astype(np.float64) / float(1 << 53)


def zipf_word_table(vocab_size: int = VOCAB_SIZE, table_bits: int = WORD_TABLE_BITS) -> np.ndarray:
    """word id per table slot, so that ``table[random >> (64 - table_bits)]`` is Zipf-distributed."""
    weights = 1.0 / (np.arange(vocab_size) + ZIPF_SHIFT) ** ZIPF_EXPONENT
    cdf = np.cumsum(weights / weights.sum())
    slots = (np.arange(1 << table_bits) + 0.5) / (1 << table_bits)
    return np.minimum(np.searchsorted(cdf, slots), vocab_size - 1).astype(np.uint32)


def vocabulary(vocab_size: int = VOCAB_SIZE) -> tuple[list[str], list[str]]:
    """(ascii words, printed words): pseudo-words by frequency rank, short ones commonest.

    Words are consonant-vowel syllables in bijective base 90, so they are all distinct; about one
    in nineteen is printed with an accent, which the pipeline's comparison folds away (and a
    "typography" copy prints without it), so the folded vocabulary stays distinct too.
    """
    syllables = [c + v for c in _CONSONANTS for v in _VOWELS]
    base = len(syllables)
    ascii_words, printed = [], []
    for rank in range(vocab_size):
        number, parts = rank + 1, []
        while number:
            number, digit = divmod(number - 1, base)
            parts.append(syllables[digit])
        word = "".join(reversed(parts))
        ascii_words.append(word)
        accented = word
        if rank % 19 == 5:
            vowel = next(ch for ch in word if ch in _ACCENTED)
            accented = word.replace(vowel, _ACCENTED[vowel], 1)
        printed.append(accented)
    return ascii_words, printed


class TextRenderer:
    """Token arrays -> text: sentences with capitals, commas, full stops and paragraphs."""

    def __init__(self, vocab_size: int = VOCAB_SIZE):
        ascii_words, printed = vocabulary(vocab_size)
        table = np.empty(vocab_size * 16, dtype=object)
        for word_id, (plain, accented) in enumerate(zip(ascii_words, printed)):
            for fold in (0, 1):
                word = plain if fold else accented
                for punct, suffix in enumerate(_PUNCT_SUFFIX):
                    token = (word_id << 3) | (fold << 2) | punct
                    table[token << 1] = word + suffix
                    table[(token << 1) | 1] = word[0].upper() + word[1:] + suffix
        self._table = table

    def render(self, tokens: np.ndarray) -> str:
        capital = np.empty(len(tokens), dtype=np.int64)
        capital[:1] = 1
        capital[1:] = (tokens[:-1] & PUNCT_MASK) >= 2
        return "".join(self._table[(tokens.astype(np.int64) << 1) | capital].tolist()).rstrip()


class SyntheticCorpus:
    """``size`` documents, each a pure function of (seed, index); a corpus's first n documents
    are the corpus of size n.

    ``role[i]`` is PLAIN, COPY or QUOTE; ``source[i]`` the plain document a copy is made from or
    a quoting story quotes (itself for a plain one, always an earlier index); ``story[i]`` what
    a perfect dedup clusters on (a copy has its source's story; a quoting story is its own).
    """

    def __init__(
        self, size: int, seed: int = DEFAULT_SEED, copy_share: float = COPY_SHARE, quote_share: float = QUOTE_SHARE
    ):
        if size < 1:
            raise ValueError("a corpus needs at least one document")
        self.size, self.seed = size, seed
        self.word_table = zipf_word_table()
        index = np.arange(size, dtype=np.int64)
        role_draw = draw_unit(seed, _STREAM_ROLE, index)
        role = np.full(size, PLAIN, dtype=np.int8)
        role[role_draw < copy_share + quote_share] = QUOTE
        role[role_draw < copy_share] = COPY
        role[0] = PLAIN
        plain = np.flatnonzero(role == PLAIN)
        earlier_plain = np.searchsorted(plain, index)  # plain documents before each index
        pick = (draw_unit(seed, _STREAM_TARGET, index) * earlier_plain).astype(np.int64)
        self.role = role
        self.source = np.where(role == PLAIN, index, plain[np.minimum(pick, len(plain) - 1)])
        self.story = np.where(role == COPY, self.source, index)
        kind_draw = draw_unit(seed, _STREAM_KIND, index)
        kind = np.searchsorted(np.cumsum(COPY_KIND_WEIGHTS), kind_draw, side="right")
        self.copy_kind = np.where(role == COPY, np.minimum(kind, len(COPY_KINDS) - 1), -1).astype(np.int8)
        span = MAX_WORDS - MIN_WORDS + 1
        self.length = (MIN_WORDS + draw_bits(seed, _STREAM_LENGTH, index) % _U64(span)).astype(np.int64)

    # -- tokens

    def _plain_tokens(self, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Own tokens of documents ``docs`` (vectorised): a flat array and row offsets."""
        lengths = self.length[docs]
        offsets = np.zeros(len(docs) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        positions = np.arange(offsets[-1], dtype=np.int64) - np.repeat(offsets[:-1], lengths)
        bits = draw_bits(self.seed, _STREAM_WORDS, np.repeat(docs, lengths), positions)
        words = self.word_table[(bits >> _U64(64 - WORD_TABLE_BITS)).astype(np.int64)].astype(np.uint32)
        draw = ((bits >> _U64(8)) & _U64(0xFF)).astype(np.uint32)
        punct = np.zeros(len(words), dtype=np.uint32)
        punct[draw < 37] = 1  # a comma about every 12 words
        sentence_end = draw < 16  # a full stop about every 16
        punct[sentence_end] = 2
        punct[sentence_end & (((bits >> _U64(16)) % _U64(3)) == 0)] = 3  # about 3 sentences a paragraph
        punct[offsets[1:] - 1] = 2
        return (words << 3) | punct, offsets

    def _new_tokens(self, rng: np.random.Generator, count: int) -> np.ndarray:
        words = self.word_table[rng.integers(0, 1 << WORD_TABLE_BITS, count)].astype(np.uint32)
        return (words << 3) | (rng.random(count) < 1 / 12).astype(np.uint32)

    def _replace_words(self, rng: np.random.Generator, tokens: np.ndarray, count: int) -> np.ndarray:
        positions = rng.choice(len(tokens), size=min(count, len(tokens)), replace=False)
        fresh = self._new_tokens(rng, len(positions))
        tokens[positions] = (fresh & ~np.uint32(PUNCT_MASK)) | (tokens[positions] & np.uint32(PUNCT_MASK))
        return tokens

    def _small_edits(self, rng: np.random.Generator, tokens: np.ndarray, count: int) -> np.ndarray:
        for _ in range(count):
            where = int(rng.integers(1, len(tokens) - 1))
            operation = rng.integers(3)
            if operation == 0:
                tokens = self._replace_words(rng, tokens, 1)
            elif operation == 1:
                tokens = np.delete(tokens, where)
            else:
                tokens = np.insert(tokens, where, self._new_tokens(rng, 1))
        return tokens

    def _copy(self, doc: int, base: np.ndarray) -> np.ndarray:
        """A copy of ``base`` (its source's tokens), edited as ``doc``'s draws say."""
        rng = np.random.default_rng([self.seed, _STREAM_EDITS, doc])
        tokens = base.copy()
        kind = COPY_KINDS[self.copy_kind[doc]]
        if kind == "typography":
            # Accents dropped on some words and commas moved: a different text, the same shingles.
            tokens[rng.random(len(tokens)) < 0.3] |= np.uint32(FOLD_BIT)
            commas = rng.choice(len(tokens) - 1, size=3, replace=False)
            tokens[commas] ^= (tokens[commas] & np.uint32(PUNCT_MASK) < 2).astype(np.uint32)
        elif kind == "small_edits":
            tokens = self._small_edits(rng, tokens, int(rng.integers(1, 5)))
        elif kind == "truncated":
            tokens = tokens[: round(len(tokens) * rng.uniform(0.65, 0.95))].copy()
        elif kind == "appended":
            tokens[-1] = (tokens[-1] & ~np.uint32(PUNCT_MASK)) | np.uint32(3)
            tokens = np.concatenate([tokens, self._new_tokens(rng, int(rng.integers(30, 81)))])
        elif kind == "truncated_edited":
            tokens = tokens[: round(len(tokens) * rng.uniform(0.7, 0.95))].copy()
            tokens = self._small_edits(rng, tokens, int(rng.integers(1, 3)))
        elif kind == "copy_edited":
            low, high = COPY_EDITED_SHARE_OF_WORDS
            tokens = self._replace_words(rng, tokens, round(len(tokens) * rng.uniform(low, high)))
        tokens[-1] = (tokens[-1] & ~np.uint32(PUNCT_MASK)) | np.uint32(2)
        return tokens

    def _quoting(self, doc: int, own: np.ndarray, quoted: np.ndarray) -> np.ndarray:
        """A story of its own (``own``) that quotes one or two passages of ``quoted``, each set
        as its own paragraph between two of its sentences."""
        rng = np.random.default_rng([self.seed, _STREAM_EDITS, doc])
        tokens = own.copy()
        for _ in range(1 if rng.random() < 0.7 else 2):
            length = int(rng.integers(QUOTE_WORDS[0], QUOTE_WORDS[1] + 1))
            start = int(rng.integers(0, len(quoted) - length + 1))
            passage = quoted[start : start + length].copy()
            passage[-1] = (passage[-1] & ~np.uint32(PUNCT_MASK)) | np.uint32(3)
            ends = np.flatnonzero((tokens[:-1] & np.uint32(PUNCT_MASK)) >= 2)
            after = int(ends[rng.integers(len(ends))]) if len(ends) else len(tokens) // 2
            tokens[after] = (tokens[after] & ~np.uint32(PUNCT_MASK)) | np.uint32(3)
            tokens = np.concatenate([tokens[: after + 1], passage, tokens[after + 1 :]])
        return tokens

    def tokens(self, docs: Sequence[int] | np.ndarray) -> list[np.ndarray]:
        """Token arrays of documents ``docs`` (any indices, any order)."""
        docs = np.asarray(docs, dtype=np.int64)
        roles = self.role[docs]
        # A copy starts from its source's words; a plain or quoting story from its own.
        flat, offsets = self._plain_tokens(np.where(roles == COPY, self.source[docs], docs))
        quoting = np.flatnonzero(roles == QUOTE)
        quoted_flat, quoted_offsets = self._plain_tokens(self.source[docs[quoting]])
        quoted_row = dict(zip(quoting.tolist(), range(len(quoting))))
        rows = []
        for k, doc in enumerate(docs.tolist()):
            row = flat[offsets[k] : offsets[k + 1]]
            if roles[k] == COPY:
                row = self._copy(doc, row)
            elif roles[k] == QUOTE:
                q = quoted_row[k]
                row = self._quoting(doc, row, quoted_flat[quoted_offsets[q] : quoted_offsets[q + 1]])
            rows.append(row)
        return rows


def doc_id(index: int) -> str:
    # Zero-padded, so the pipeline's string order of ids is the documents' order.
    return f"{index:08d}"


def shingle_id_rows(rows: Sequence[np.ndarray], size: int) -> tuple[np.ndarray, np.ndarray]:
    """64-bit ids of every document's word ``size``-grams in text order, repeats kept: a flat
    array and row offsets. The word ids of a gram are packed four to a 64-bit word (exact), then
    mixed, so two grams get the same id only by a 64-bit hash collision."""
    if VOCAB_SIZE > 1 << 16:
        raise ValueError("shingle ids pack word ids in 16 bits")
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    if len(rows) and lengths.min() < size:
        raise ValueError(f"documents need at least {size} words")
    words = (np.concatenate(rows) >> np.uint32(3)).astype(_U64) if rows else np.empty(0, dtype=_U64)
    windows = lengths - size + 1
    out_offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(windows, out=out_offsets[1:])
    in_starts = np.zeros(len(rows), dtype=np.int64)
    np.cumsum(lengths[:-1], out=in_starts[1:])
    # start of each window in the flat word array: its row's start plus its place in the row
    starts = np.arange(out_offsets[-1], dtype=np.int64) + np.repeat(in_starts - out_offsets[:-1], windows)
    ids = np.zeros(len(starts), dtype=_U64)
    packed = np.zeros(len(starts), dtype=_U64)
    for j in range(size):
        packed = (packed << _U64(16)) | words[starts + j]
        if j % 4 == 3 or j == size - 1:
            ids = mix64(ids ^ packed)
            packed[:] = 0
    return ids, out_offsets


def first_occurrences(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Mask of the first occurrence of each value within its row (as ``shingles`` keeps the
    distinct shingles in first-seen order). Vectorised: rows are told apart by their index in
    the low bits of the sort key, values by their high bits (and confirmed on the full value;
    two values of one row that differ only in their low bits would be missed, a 2**-50 event)."""
    rows = np.repeat(np.arange(len(offsets) - 1, dtype=_U64), np.diff(offsets))
    row_bits = max(1, int(len(offsets) - 1).bit_length())
    key = ((values >> _U64(row_bits)) << _U64(row_bits)) | rows
    order = np.argsort(key)
    ordered_key, ordered_value = key[order], values[order]
    new_run = np.ones(len(values), dtype=bool)
    new_run[1:] = (ordered_key[1:] != ordered_key[:-1]) | (ordered_value[1:] != ordered_value[:-1])
    first = np.ones(len(values), dtype=bool)
    if new_run.all():  # the usual case: no value repeats within a row
        return first
    starts = np.flatnonzero(new_run)
    first[:] = False
    first[np.minimum.reduceat(order, starts)] = True  # the earliest position of each run
    return first


# ---------------------------------------------------------------- the measured dedup path


class PhaseClock:
    """Wall and CPU seconds accumulated per named phase."""

    def __init__(self):
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall[phase] += time.perf_counter() - wall
            self.cpu[phase] += time.process_time() - cpu


def _chunks(docs: np.ndarray, chunk_docs: int) -> Iterator[np.ndarray]:
    for start in range(0, len(docs), chunk_docs):
        yield docs[start : start + chunk_docs]


def band_keys_of(signatures: np.ndarray, bands: int) -> np.ndarray:
    """One uint64 key per (document, band): the band's rows read two to a 64-bit word, mixed.

    Equal rows give equal keys; different rows collide only with 64-bit-hash odds, as the
    pipeline's ``band_keys`` (a 64-bit blake2b of the rows) does.
    """
    count, num_perm = signatures.shape
    if num_perm % bands:
        raise ValueError(f"num_perm {num_perm} is not a multiple of bands {bands}")
    block = signatures.reshape(count, bands, num_perm // bands)
    if block.shape[2] % 2:  # an odd row count is padded so that the rows pair up into 64-bit words
        block = np.concatenate([block, np.zeros((count, bands, 1), dtype=np.uint32)], axis=2)
    words = np.ascontiguousarray(block, dtype=np.uint32).view(_U64)  # (docs, bands, rows / 2), exact
    key = mix64(words[:, :, 0])
    for word in range(1, words.shape[2]):
        key ^= words[:, :, word]
        key = mix64(key)
    return key


class AnchorStore:
    """(anchor, document) entries, kept in hash partitions so each can be sorted on its own:
    the benchmark's stand-in for the pipeline's GroupByKey on anchors. The partitions grow in
    number, not in size, with the corpus, so sorting them costs the same per entry at any size."""

    def __init__(self, expected_entries: int):
        wanted = max(1, expected_entries // ANCHOR_PARTITION_ENTRIES)
        bits = min(12, max(3, (wanted - 1).bit_length()))
        self.shift = _U64(64 - bits)
        self.parts: list[list[tuple[np.ndarray, np.ndarray]] | None] = [[] for _ in range(1 << bits)]
        self.entries = 0
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._pending_entries = 0

    def add(self, anchors: np.ndarray, docs: np.ndarray) -> None:
        # Chunks are split into partitions a few million entries at a time: one numpy split
        # per partition and flush, not per partition and chunk.
        self._pending.append((anchors, docs.astype(np.uint32)))
        self._pending_entries += len(anchors)
        self.entries += len(anchors)
        if self._pending_entries >= ANCHOR_FLUSH_ENTRIES:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        anchors = np.concatenate([a for a, _ in self._pending])
        docs = np.concatenate([d for _, d in self._pending])
        self._pending, self._pending_entries = [], 0
        part = (anchors >> self.shift).astype(np.uint16)
        order = np.argsort(part, kind="stable")  # a radix sort on 16 bits
        bounds = np.searchsorted(part[order], np.arange(len(self.parts) + 1)).tolist()
        anchors, docs = anchors[order], docs[order]
        for p, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
            if hi > lo:
                self.parts[p].append((anchors[lo:hi], docs[lo:hi]))

    def take(self, p: int) -> tuple[np.ndarray, np.ndarray]:
        """Partition ``p``'s entries, released from the store."""
        self._flush()
        pieces, self.parts[p] = self.parts[p], None
        if not pieces:
            return np.empty(0, dtype=_U64), np.empty(0, dtype=np.uint32)
        return np.concatenate([a for a, _ in pieces]), np.concatenate([d for _, d in pieces])


def is_anchor(hashes: np.ndarray, modulus: int) -> np.ndarray:
    """The pipeline's ``h % modulus == 0``, as a bit mask when the modulus is a power of two."""
    if modulus & (modulus - 1) == 0:
        return (hashes & _U64(modulus - 1)) == 0
    return hashes % _U64(modulus) == 0


def sorted_runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions sorted by value, and the start and length of each run of equal values."""
    order = np.argsort(values)  # not stable, and need not be: each run's members are sorted later
    ordered = values[order]
    new_run = np.ones(len(ordered), dtype=bool)
    np.not_equal(ordered[1:], ordered[:-1], out=new_run[1:])
    starts = np.flatnonzero(new_run)
    return order, starts, np.diff(np.append(starts, len(ordered)))


def pair_codes_of_runs(members_in_order: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
    """All pairs (a < b) within each run, as ``a << 32 | b`` codes (``candidate_pairs`` per group)."""
    parts = []
    for size in np.unique(lengths).tolist():
        members = np.sort(members_in_order[starts[lengths == size][:, None] + np.arange(size)], axis=1)
        members = members.astype(_U64)
        first, second = np.triu_indices(size, 1)
        parts.append(((members[:, first] << _U64(32)) | members[:, second]).ravel())
    return parts


def distinct_codes(parts: list[np.ndarray]) -> np.ndarray:
    if not parts:
        return np.empty(0, dtype=_U64)
    codes = np.sort(np.concatenate(parts))
    return codes[np.concatenate(([True], codes[1:] != codes[:-1]))]


def lsh_pair_codes(keys: np.ndarray, clock: PhaseClock) -> np.ndarray:
    """Distinct pairs of documents sharing a key in any band (``keys``: bands x documents)."""
    parts = []
    for band in range(keys.shape[0]):
        with clock("bands"):
            order, starts, lengths = sorted_runs(keys[band])
        with clock("pairs"):
            shared = lengths >= 2  # most buckets hold one document
            parts.extend(pair_codes_of_runs(order, starts[shared], lengths[shared]))
    with clock("pairs"):
        return distinct_codes(parts)


def anchor_pair_codes(store: AnchorStore, cfg: DedupConfig, clock: PhaseClock) -> np.ndarray:
    """Pairs sharing at least ``min_shared_anchors`` anchors, each in at most ``anchor_max_docs``
    documents: the anchor half of the pipeline's GroupByBandOrAnchorBucket, PairsSharingKeys,
    CountSharedAnchors, EnoughShared."""
    with clock("anchors"):
        parts = []
        for p in range(len(store.parts)):
            anchors, docs = store.take(p)
            order, starts, lengths = sorted_runs(anchors)
            shared = (lengths >= 2) & (lengths <= cfg.anchor_max_docs)
            parts.extend(pair_codes_of_runs(docs[order], starts[shared], lengths[shared]))
            del anchors, docs, order
        if not parts:
            return np.empty(0, dtype=_U64)
        codes = np.sort(np.concatenate(parts))
        del parts
        new_run = np.ones(len(codes), dtype=bool)
        np.not_equal(codes[1:], codes[:-1], out=new_run[1:])
        starts = np.flatnonzero(new_run)
        counts = np.diff(np.append(starts, len(codes)))
        return codes[starts[counts >= cfg.min_shared_anchors]]


def _row_counts(mask: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Offsets of the rows of ``values[mask]``, given the rows' offsets in ``values``."""
    kept = np.zeros(len(offsets), dtype=np.int64)
    if len(mask):
        np.cumsum(np.add.reduceat(mask.astype(np.int64), offsets[:-1]), out=kept[1:])
    return kept


def sketch_pass(
    corpus: SyntheticCorpus,
    mode: str,
    cfg: DedupConfig,
    clock: PhaseClock,
    renderer: TextRenderer | None = None,
    keep_signatures: bool = False,
) -> tuple[np.ndarray, AnchorStore, np.ndarray | None]:
    """Every document once, in chunks: LSH band keys (bands x documents, uint64), the anchor
    store, and (with ``keep_signatures``) the signature matrix."""
    from rensa import RMinHash

    from transforms.dedup import shingle_hash, shingles

    keys = np.empty((cfg.bands, corpus.size), dtype=_U64)
    mean_shingles = (MIN_WORDS + MAX_WORDS) // 2
    store = AnchorStore(corpus.size * mean_shingles // cfg.anchor_modulus)
    signatures = np.empty((corpus.size, cfg.num_perm), dtype=np.uint32) if keep_signatures else None
    chunk_docs = TEXT_CHUNK_DOCS if mode == "text" else CHUNK_DOCS
    for docs in _chunks(np.arange(corpus.size), chunk_docs):
        with clock("generate"):
            rows = corpus.tokens(docs)
            texts = [renderer.render(r) for r in rows] if mode == "text" else None
        if mode == "text":
            with clock("shingle"):
                shingle_lists = [shingles(text, cfg.shingle_words) for text in texts]
                sequences = [[shingle_hash(s) for s in shingle_list] for shingle_list in shingle_lists]
            with clock("minhash"):
                # Same digests as the pipeline's per-document ``minhash_signature`` (checked).
                matrix = RMinHash.digest_matrix_from_token_sets(shingle_lists, cfg.num_perm, cfg.seed)
                chunk_signatures = np.array(matrix.to_rows(), dtype=np.uint32)
            with clock("anchors"):
                counts = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
                hashes = np.fromiter(chain.from_iterable(sequences), dtype=_U64, count=int(counts.sum()))
                owners = np.repeat(docs, counts)
                selected = is_anchor(hashes, cfg.anchor_modulus)
                store.add(hashes[selected], owners[selected])
        else:
            with clock("shingle"):
                ids, offsets = shingle_id_rows(rows, cfg.shingle_words)
            with clock("minhash"):
                matrix = RMinHash.digest_matrix_from_flat_token_hashes(ids, offsets, cfg.num_perm, cfg.seed)
                chunk_signatures = np.array(matrix.to_rows(), dtype=np.uint32)
            with clock("anchors"):
                selected = is_anchor(ids, cfg.anchor_modulus)
                anchor_offsets = _row_counts(selected, offsets)
                anchors = ids[selected]
                # A gram repeated in a text is one shingle: each document gives an anchor once.
                once = first_occurrences(anchors, anchor_offsets)
                store.add(anchors[once], np.repeat(docs, np.diff(anchor_offsets))[once])
        with clock("bands"):
            keys[:, docs[0] : docs[-1] + 1] = band_keys_of(chunk_signatures, cfg.bands).T
        if signatures is not None:
            signatures[docs[0] : docs[-1] + 1] = chunk_signatures
    return keys, store, signatures


def candidate_sketches(
    corpus: SyntheticCorpus,
    docs: np.ndarray,
    mode: str,
    cfg: DedupConfig,
    clock: PhaseClock,
    renderer: TextRenderer | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(shingle hashes in text order, word hashes) of each of ``docs``: what the pipeline's
    sketch carries to ``classify_pair`` as ``seq`` and ``words``, kept as numpy arrays."""
    from transforms.dedup import shingle_hash, shingles, word_hashes

    sketches: list[tuple[np.ndarray, np.ndarray]] = []
    chunk_docs = TEXT_CHUNK_DOCS if mode == "text" else CHUNK_DOCS
    for chunk in _chunks(docs, chunk_docs):
        with clock("generate"):
            rows = corpus.tokens(chunk)
            texts = [renderer.render(r) for r in rows] if mode == "text" else None
        with clock("verify"):
            if mode == "text":
                for text in texts:
                    sequence = np.array([shingle_hash(s) for s in shingles(text, cfg.shingle_words)], dtype=_U64)
                    sketches.append((sequence, np.array(word_hashes(text), dtype=np.uint32)))
            else:
                ids, offsets = shingle_id_rows(rows, cfg.shingle_words)
                first = first_occurrences(ids, offsets)
                sequences, bounds = ids[first], _row_counts(first, offsets).tolist()
                for k, row in enumerate(rows):
                    sketches.append((sequences[bounds[k] : bounds[k + 1]], row >> np.uint32(3)))
    return sketches


def classify_candidates(
    corpus: SyntheticCorpus,
    codes: np.ndarray,
    mode: str,
    cfg: DedupConfig,
    clock: PhaseClock,
    renderer: TextRenderer | None = None,
) -> tuple[list[tuple], list[tuple]]:
    """The pipeline's ``classify_pair`` on every candidate: (copy relations ``(a, b, similarity,
    inserted, only)``, reuse relations ``(a, b, shared anchors)``), as its ``_compact`` keeps them."""
    from transforms.dedup import anchors, classify_pair

    with clock("verify"):
        firsts = (codes >> _U64(32)).astype(np.int64)
        seconds = (codes & _U64(0xFFFFFFFF)).astype(np.int64)
        docs = np.unique(np.concatenate([firsts, seconds]))
    sketches = candidate_sketches(corpus, docs, mode, cfg, clock, renderer)
    copies, reuse = [], []
    with clock("verify"):

        def as_sketch(row: int) -> dict:
            sequence, words = sketches[row]
            return {"seq": sequence.tolist(), "words": words.tolist()}

        rows_a = np.searchsorted(docs, firsts).tolist()
        rows_b = np.searchsorted(docs, seconds).tolist()
        cached_row, cached = -1, {}
        for a, b, row_a, row_b in zip(firsts.tolist(), seconds.tolist(), rows_a, rows_b):
            if row_a != cached_row:  # pairs are sorted by their first document
                cached_row, cached = row_a, as_sketch(row_a)
            relation = classify_pair(cached, as_sketch(row_b), cfg)
            if relation is None:
                continue
            if relation["kind"] == "copy":
                copies.append((doc_id(a), doc_id(b), relation["similarity"], relation["inserted"], relation["only"]))
            else:
                reuse.append((doc_id(a), doc_id(b), anchors(relation["shared"], cfg.anchor_modulus)))
    return copies, reuse


def cluster_relations(copies: list[tuple], reuse: list[tuple]) -> dict[str, dict]:
    """The pipeline's ``resolve_clusters``; the canonical of a cluster is its earliest document."""
    from transforms.dedup import resolve_clusters

    info = {}
    for relation in chain(copies, reuse):
        for end in relation[:2]:
            if end not in info:
                index = int(end)
                info[end] = {"rank": (index, 0, end), "outlet": f"outlet-{index % 97}"}
    return resolve_clusters(sorted(copies, key=lambda r: r[:2]), info, sorted(reuse, key=lambda r: r[:2]))


def fast_dedup(
    corpus: SyntheticCorpus, mode: str, cfg: DedupConfig, clock: PhaseClock | None = None, keep: bool = False
) -> dict:
    """The benchmarked dedup of the whole corpus; with ``keep`` also its intermediate results
    (for the equivalence check on small corpora)."""
    clock = clock or PhaseClock()
    renderer = None
    if mode == "text":
        with clock("generate"):
            renderer = TextRenderer()
    keys, store, signatures = sketch_pass(corpus, mode, cfg, clock, renderer, keep_signatures=keep)
    anchor_entries = store.entries
    lsh_codes = lsh_pair_codes(keys, clock)
    result: dict = {"signatures": signatures, "keys": keys} if keep else {}
    del keys  # the band keys are not needed past grouping: frees bands * 8 bytes a document
    anchor_codes = anchor_pair_codes(store, cfg, clock)
    with clock("pairs"):
        codes = np.union1d(lsh_codes, anchor_codes)
    copies, reuse = classify_candidates(corpus, codes, mode, cfg, clock, renderer)
    with clock("cluster"):
        assignments = cluster_relations(copies, reuse)
    result.update(
        {
            "lsh_codes": lsh_codes,
            "anchor_codes": anchor_codes,
            "pair_codes": codes,
            "anchor_entries": anchor_entries,
            "copies": copies,
            "reuse": reuse,
            "assignments": assignments,
        }
    )
    return result


# ---------------------------------------------------------------- the pipeline's own functions, per document


def pipeline_reference(corpus: SyntheticCorpus, cfg: DedupConfig) -> dict:
    """The same dedup done the pipeline's way, one document and one group at a time: the
    sketch of ``_SketchFn``, dict buckets of string band keys, anchors in their shuffle buckets,
    ``candidate_pairs`` per group, shared anchors counted per bucket (``shared_anchor_counts``),
    ``classify_pair``, ``resolve_clusters``: the yardstick."""
    from transforms.dedup import (
        anchors,
        anchors_by_bucket,
        band_keys,
        candidate_pairs,
        classify_pair,
        comparison_sketch,
        minhash_signature,
        pack_hashes,
        shared_anchor_counts,
    )

    renderer = TextRenderer()
    texts = [renderer.render(r) for r in corpus.tokens(np.arange(corpus.size))]
    signatures, sketches = [], {}
    buckets: dict[str, list[str]] = defaultdict(list)
    anchor_buckets: dict[int, list[tuple[str, bytes]]] = defaultdict(list)
    for index, text in enumerate(texts):
        name = doc_id(index)
        sketch = comparison_sketch(text, cfg)
        signature = minhash_signature(sketch["distinct"], cfg.num_perm, cfg.seed)
        signatures.append(signature)
        sequence = sketch["seq"]
        sketches[name] = sketch
        for key in band_keys(signature, cfg.bands):
            buckets[key].append(name)
        for bucket, values in anchors_by_bucket(anchors(sequence, cfg.anchor_modulus), cfg.anchor_buckets).items():
            anchor_buckets[bucket].append((name, pack_hashes(values)))
    lsh_pairs = set()
    for ids in buckets.values():
        lsh_pairs.update(candidate_pairs(ids))
    shared_anchors: Counter = Counter()
    for entries in anchor_buckets.values():
        shared_anchors.update(shared_anchor_counts(entries, cfg.anchor_max_docs)[0])
    anchor_pairs = {pair for pair, count in shared_anchors.items() if count >= cfg.min_shared_anchors}
    copies, reuse = [], []
    for a, b in sorted(lsh_pairs | anchor_pairs):
        relation = classify_pair(sketches[a], sketches[b], cfg)
        if relation is None:
            continue
        if relation["kind"] == "copy":
            copies.append((a, b, relation["similarity"], relation["inserted"], relation["only"]))
        else:
            reuse.append((a, b, anchors(relation["shared"], cfg.anchor_modulus)))
    return {
        "signatures": np.array(signatures, dtype=np.uint32),
        "buckets": buckets,
        "lsh_pairs": sorted(lsh_pairs),
        "anchor_pairs": sorted(anchor_pairs),
        "copies": copies,
        "reuse": reuse,
        "assignments": cluster_relations(copies, reuse),
        "shingle_counts": [len(sketches[doc_id(i)]["distinct"]) for i in range(corpus.size)],
    }


def band_partitions_from_keys(keys: np.ndarray) -> list[set[frozenset[int]]]:
    """Per band, the documents grouped by equal key (``keys``: bands x documents)."""
    partitions = []
    for band in range(keys.shape[0]):
        order, starts, lengths = sorted_runs(keys[band])
        partitions.append({frozenset(order[s : s + n].tolist()) for s, n in zip(starts.tolist(), lengths.tolist())})
    return partitions


def band_partitions_from_buckets(buckets: dict[str, list[str]], bands: int) -> list[set[frozenset[int]]]:
    partitions: list[set[frozenset[int]]] = [set() for _ in range(bands)]
    for key, ids in buckets.items():
        partitions[int(key.split(":", 1)[0])].add(frozenset(int(i) for i in ids))
    return partitions


def decode_pairs(codes: np.ndarray) -> list[tuple[str, str]]:
    return [(doc_id(int(c) >> 32), doc_id(int(c) & 0xFFFFFFFF)) for c in codes.tolist()]


def check_against_pipeline(docs: int = CHECK_DOCS, seed: int = DEFAULT_SEED, cfg: DedupConfig | None = None) -> dict:
    """The vectorised path against the pipeline's per-document functions on ``docs`` documents.

    Each ``same_*`` is True when the two agree exactly; the ``ids_mode_*`` entries compare the
    synthetic shingle-id mode (used at 1M) with the text.
    """
    cfg = cfg or DedupConfig()
    corpus = SyntheticCorpus(docs, seed)
    reference = pipeline_reference(corpus, cfg)
    fast = fast_dedup(corpus, "text", cfg, keep=True)
    ids = fast_dedup(corpus, "ids", cfg, keep=True)
    id_rows = corpus.tokens(np.arange(docs))
    id_flat, id_offsets = shingle_id_rows(id_rows, cfg.shingle_words)
    id_counts = [len(np.unique(id_flat[id_offsets[k] : id_offsets[k + 1]])) for k in range(docs)]
    score = score_clusters(corpus, fast["assignments"], fast["reuse"])
    return {
        "documents": docs,
        "same_signatures": bool(np.array_equal(reference["signatures"], fast["signatures"])),
        "same_band_buckets": band_partitions_from_keys(fast["keys"])
        == band_partitions_from_buckets(reference["buckets"], cfg.bands),
        "same_lsh_pairs": decode_pairs(fast["lsh_codes"]) == reference["lsh_pairs"],
        "same_anchor_pairs": decode_pairs(fast["anchor_codes"]) == reference["anchor_pairs"],
        "same_copy_relations": fast["copies"] == reference["copies"],
        "same_reuse_relations": fast["reuse"] == reference["reuse"],
        "same_clusters": fast["assignments"] == reference["assignments"],
        "ids_mode_same_shingle_counts": id_counts == reference["shingle_counts"],
        "ids_mode_same_clusters": cluster_membership(ids["assignments"]) == cluster_membership(fast["assignments"]),
        "ids_mode_same_reuse_pairs": [r[:2] for r in ids["reuse"]] == [r[:2] for r in fast["reuse"]],
        "lsh_pairs": len(reference["lsh_pairs"]),
        "anchor_pairs": len(reference["anchor_pairs"]),
        "copy_relations": len(reference["copies"]),
        "reuse_relations": len(reference["reuse"]),
        **{
            k: score[k]
            for k in ("planted_copies", "copies_found", "quoting_stories", "quotes_found_as_reuse", "false_merges")
        },
    }


# ---------------------------------------------------------------- sanity figures


def cluster_membership(assignments: dict[str, dict]) -> set[frozenset[str]]:
    groups: dict[str, set[str]] = defaultdict(set)
    for member, assignment in assignments.items():
        groups[assignment["cluster_id"]].add(member)
    return {frozenset(members) for members in groups.values()}


def score_clusters(corpus: SyntheticCorpus, assignments: dict[str, dict], reuse: list[tuple] = ()) -> dict:
    """Planted copies found (in their source's cluster), quoting stories found as reuse of the
    story they quote, and false merges (articles whose cluster's canonical is another story)."""
    cluster_of = {int(member): a["cluster_id"] for member, a in assignments.items()}
    copies = np.flatnonzero(corpus.role == COPY).tolist()
    missed = [c for c in copies if cluster_of.get(c) is None or cluster_of[c] != cluster_of.get(int(corpus.source[c]))]
    false_merges = [
        int(member)
        for member, a in assignments.items()
        if corpus.story[int(member)] != corpus.story[int(a["canonical"])]
    ]
    quoting = np.flatnonzero(corpus.role == QUOTE).tolist()
    reuse_pairs = {(int(a), int(b)) for a, b, *_ in reuse}
    merged = set(false_merges)
    return {
        "planted_copies": len(copies),
        "copies_found": len(copies) - len(missed),
        "missed_by_kind": dict(Counter(COPY_KINDS[corpus.copy_kind[c]] for c in missed)),
        "quoting_stories": len(quoting),
        "quotes_found_as_reuse": sum(1 for q in quoting if (int(corpus.source[q]), q) in reuse_pairs),
        "quoting_stories_merged": sum(1 for q in quoting if q in merged),
        "false_merges": len(false_merges),
        "clusters": len({a["cluster_id"] for a in assignments.values()}),
        "documents_in_clusters": len(assignments),
    }


# ---------------------------------------------------------------- one measured run (a child process)


def measure(size: int, mode: str, seed: int = DEFAULT_SEED) -> dict:
    """Dedup of ``size`` synthetic documents in ``mode``: seconds per phase and sanity figures."""
    from transforms import dedup  # noqa: F401  (imported before the baseline: Beam's share of RSS)

    baseline_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cfg = DedupConfig()
    clock = PhaseClock()
    with clock("generate"):
        corpus = SyntheticCorpus(size, seed)
    result = fast_dedup(corpus, mode, cfg, clock)
    score = score_clusters(corpus, result["assignments"], result["reuse"])
    total = sum(clock.wall[p] for p in DEDUP_PHASES)
    return {
        "size": size,
        "mode": mode,
        "seed": seed,
        "seconds": {p: round(clock.wall[p], 3) for p in (*DEDUP_PHASES, "generate")},
        "cpu_seconds": {p: round(clock.cpu[p], 3) for p in (*DEDUP_PHASES, "generate")},
        "total_seconds": round(total, 3),
        "total_cpu_seconds": round(sum(clock.cpu[p] for p in DEDUP_PHASES), 3),
        "docs_per_second": round(size / total, 1) if total else None,
        "anchor_entries": int(result["anchor_entries"]),
        "lsh_pairs": int(len(result["lsh_codes"])),
        "anchor_pairs": int(len(result["anchor_codes"])),
        "candidate_pairs": int(len(result["pair_codes"])),
        "copy_relations": len(result["copies"]),
        "reuse_relations": len(result["reuse"]),
        "rejected_candidates": int(len(result["pair_codes"])) - len(result["copies"]) - len(result["reuse"]),
        "rss_after_imports_mb": round(baseline_mb, 1),
        "self_max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        **score,
    }


def run_child(size: int, mode: str, seed: int, timeout: float) -> dict:
    """``measure`` in a fresh process; its peak RSS from the kernel (``wait4``)."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        result_path = handle.name
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        str(size),
        mode,
        "--seed",
        str(seed),
        "--child-result",
        result_path,
    ]
    load_before = round(os.getloadavg()[0], 2)
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    timed_out = False
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() - started > timeout:
            child.kill()  # the child we started, by its pid
            timed_out = True
            pid, status, usage = os.wait4(child.pid, 0)
            break
        time.sleep(0.2)
    log = child.stdout.read().decode("utf-8", "replace")
    child.stdout.close()
    measured = {
        "process_seconds": round(time.perf_counter() - started, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # kilobytes on Linux
        "process_cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "load_average_before": load_before,
        "load_average_after": round(os.getloadavg()[0], 2),
    }
    try:
        result = json.loads(Path(result_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        result = {
            "size": size,
            "mode": mode,
            "failed": True,
            "timed_out": timed_out,
            "exit_code": os.waitstatus_to_exitcode(status),
            "log_tail": log[-3000:],
        }
    finally:
        Path(result_path).unlink(missing_ok=True)
    return {**result, **measured}


# ---------------------------------------------------------------- report


def best_attempt(attempts: list[dict]) -> dict:
    """The least disturbed of repeated runs (shortest wall time: other load only ever adds
    time), with the highest peak RSS of them all and every attempt's figures."""
    finished = [a for a in attempts if not a.get("failed")]
    if len(finished) < len(attempts) or not finished:
        return attempts[-1]
    best = dict(min(finished, key=lambda a: a["total_seconds"]))
    best["peak_rss_mb"] = max(a["peak_rss_mb"] for a in finished)
    if len(finished) > 1:
        keys = ("total_seconds", "total_cpu_seconds", "peak_rss_mb", "load_average_before", "load_average_after")
        best["attempts"] = [{k: a[k] for k in keys} for a in finished]
    return best


def add_growth(runs: list[dict]) -> None:
    """Each run's total (wall, and CPU) over the previous size's, within its mode."""
    previous: dict[str, dict] = {}
    for run in sorted(runs, key=lambda r: (r["mode"], r["size"])):
        before = previous.get(run["mode"])
        if before and not run.get("failed") and not before.get("failed") and before["total_seconds"]:
            run["ratio_to_previous"] = round(run["total_seconds"] / before["total_seconds"], 2)
            run["cpu_ratio_to_previous"] = round(run["total_cpu_seconds"] / before["total_cpu_seconds"], 2)
            run["size_ratio_to_previous"] = round(run["size"] / before["size"], 2)
        previous[run["mode"]] = run


def format_table(runs: list[dict]) -> str:
    header = (
        f"{'size':>9} {'mode':>4} | "
        + " ".join(f"{p:>8}" for p in DEDUP_PHASES)
        + f" | {'total s':>8} {'cpu s':>7} {'peak MB':>8} {'docs/s':>8} {'ratio':>6} {'cpu r.':>6} | {'gen s':>6}"
        + f" {'copies found':>14} {'quotes':>11} {'false':>5} {'cand.':>8} {'copy':>7} {'reuse':>6}"
    )
    lines = [header, "-" * len(header)]
    for run in sorted(runs, key=lambda r: (r["mode"], r["size"])):
        if run.get("failed"):
            reason = "timed out" if run.get("timed_out") else f"failed (exit {run.get('exit_code')})"
            lines.append(
                f"{run['size']:>9} {run['mode']:>4} | {reason} after {run['process_seconds']} s,"
                f" peak {run['peak_rss_mb']:.0f} MB"
            )
            continue
        ratio = f"{run['ratio_to_previous']:.2f}" if run.get("ratio_to_previous") else "-"
        cpu_ratio = f"{run['cpu_ratio_to_previous']:.2f}" if run.get("cpu_ratio_to_previous") else "-"
        found = f"{run['copies_found']}/{run['planted_copies']}"
        quotes = f"{run['quotes_found_as_reuse']}/{run['quoting_stories']}"
        lines.append(
            f"{run['size']:>9} {run['mode']:>4} | "
            + " ".join(f"{run['seconds'][p]:>8.2f}" for p in DEDUP_PHASES)
            + f" | {run['total_seconds']:>8.2f} {run['total_cpu_seconds']:>7.1f} {run['peak_rss_mb']:>8.0f}"
            + f" {run['docs_per_second']:>8.0f} {ratio:>6} {cpu_ratio:>6} | {run['seconds']['generate']:>6.1f}"
            + f" {found:>14} {quotes:>11} {run['false_merges']:>5} {run['candidate_pairs']:>8}"
            + f" {run['copy_relations']:>7} {run['reuse_relations']:>6}"
        )
    return "\n".join(lines)


def growth_checks(runs: list[dict]) -> list[dict]:
    """t(10 N)/t(N) against the linear-growth limit, and peak RSS against the budget."""
    checks = []
    for run in runs:
        if run.get("ratio_to_previous") and run.get("size_ratio_to_previous") == 10:
            for clock, key in (("wall", "ratio_to_previous"), ("CPU", "cpu_ratio_to_previous")):
                checks.append(
                    {
                        "check": f"{run['mode']} t({run['size']:,})/t({run['size'] // 10:,}), {clock}",
                        "value": run[key],
                        "limit": LINEAR_GROWTH_LIMIT,
                        "ok": run[key] <= LINEAR_GROWTH_LIMIT,
                    }
                )
        if not run.get("failed"):
            checks.append(
                {
                    "check": f"{run['mode']} peak RSS MB at {run['size']:,}",
                    "value": run["peak_rss_mb"],
                    "limit": MEMORY_BUDGET_MB,
                    "ok": run["peak_rss_mb"] < MEMORY_BUDGET_MB,
                }
            )
    return checks


def machine_info() -> dict:
    cpu_model = None
    if os.path.isfile("/proc/cpuinfo"):
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            cpu_model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), None)
    import rensa

    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gb": round(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "rensa": getattr(rensa, "__version__", None) or _version("rensa"),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _version(name: str) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


# ---------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Time and peak memory of newsbeam's dedup at 10k-1M documents.")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), help="corpus sizes")
    parser.add_argument(
        "--full-text-max",
        type=int,
        default=100_000,
        help="largest size also run from rendered text (every size runs from shingle ids)",
    )
    parser.add_argument("--modes", nargs="+", choices=("text", "ids"), default=["text", "ids"])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="corpus seed (same seed, same documents)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per size; the fastest is reported (busy machines)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds before a size's run is stopped")
    parser.add_argument("--skip-check", action="store_true", help="skip the 1,000-document equivalence check")
    parser.add_argument("--results", default=str(RESULTS_PATH), help="JSON result file")
    parser.add_argument("--child", nargs=2, metavar=("SIZE", "MODE"), help=argparse.SUPPRESS)
    parser.add_argument("--child-result", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.child:
        result = measure(int(args.child[0]), args.child[1], args.seed)
        Path(args.child_result).write_text(json.dumps(result), encoding="utf-8")
        return 0
    if args.repeat < 1:
        print("dedup_scale: --repeat must be at least 1", file=sys.stderr)
        return 2
    if any(size < 1 or size >= 1 << 32 for size in args.sizes):
        print("dedup_scale: sizes must be between 1 and 2**32 - 1", file=sys.stderr)
        return 2
    machine = machine_info()
    if machine["load_average_at_start"][0] > 0.5 * machine["nproc"]:
        print(
            f"warning: load average {machine['load_average_at_start'][0]} on {machine['nproc']} CPUs;"
            " wall times will be pessimistic (CPU seconds are shown too)",
            file=sys.stderr,
        )
    cfg = DedupConfig()
    check = None
    if not args.skip_check:
        started = time.perf_counter()
        check = check_against_pipeline(CHECK_DOCS, args.seed, cfg)
        agree = all(v for k, v in check.items() if k.startswith(("same_", "ids_mode_")))
        print(
            f"equivalence check on {CHECK_DOCS:,} documents ({time.perf_counter() - started:.1f} s): "
            + ("vectorised path == pipeline functions" if agree else "MISMATCH")
            + f" (signatures, band buckets, {check['lsh_pairs']} LSH and {check['anchor_pairs']} anchor pairs,"
            f" {check['copy_relations']} copy and {check['reuse_relations']} reuse relations, clusters;"
            " ids mode clusters and reuse too)",
            flush=True,
        )
        if not agree:
            print(json.dumps(check, indent=2), file=sys.stderr)
            return 1
    runs = []
    for mode in args.modes:
        for size in sorted(args.sizes):
            if mode == "text" and size > args.full_text_max:
                continue
            attempts = []
            for attempt in range(args.repeat):
                print(f"running {size:,} documents, {mode} ({attempt + 1}/{args.repeat}) ...", flush=True)
                run = run_child(size, mode, args.seed, args.timeout)
                attempts.append(run)
                if run.get("failed"):
                    print(f"  failed: {run.get('log_tail', '')[-1500:]}", flush=True)
                    break
                print(
                    f"  {run['total_seconds']:.1f} s dedup ({run['total_cpu_seconds']:.1f} s CPU),"
                    f" peak {run['peak_rss_mb']:.0f} MB, load {run['load_average_before']}-{run['load_average_after']},"
                    f" copies found {run['copies_found']}/{run['planted_copies']}, false merges {run['false_merges']}",
                    flush=True,
                )
            runs.append(best_attempt(attempts))
    add_growth(runs)
    print()
    print(format_table(runs))
    checks = growth_checks(runs)
    for item in checks:
        print(f"{item['check']}: {item['value']} (limit {item['limit']}) {'ok' if item['ok'] else 'OVER'}")
    result = {
        "command": "python " + shlex.join(["benchmarks/dedup_scale.py", *(sys.argv[1:] if argv is None else argv)]),
        "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine,
        "dedup_config": cfg.model_dump(),
        "corpus": {
            "seed": args.seed,
            "vocab_size": VOCAB_SIZE,
            "zipf_exponent": ZIPF_EXPONENT,
            "zipf_shift": ZIPF_SHIFT,
            "words": [MIN_WORDS, MAX_WORDS],
            "copy_share": COPY_SHARE,
            "quote_share": QUOTE_SHARE,
            "quote_words": list(QUOTE_WORDS),
            "copy_kinds": dict(zip(COPY_KINDS, COPY_KIND_WEIGHTS)),
        },
        "phases": list(DEDUP_PHASES),
        "equivalence_check": check,
        "runs": sorted(runs, key=lambda r: (r["mode"], r["size"])),
        "checks": checks,
    }
    results_path = Path(args.results)
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written {results_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
