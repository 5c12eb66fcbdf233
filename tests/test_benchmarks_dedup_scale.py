"""The dedup scale benchmark: its synthetic corpus, and its vectorised dedup path checked against
the pipeline's own functions. Timings are measured by ``benchmarks/dedup_scale.py``, never here.

Also issue 3, point 5: cluster membership does not depend on the number of worker processes.
"""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest

from benchmarks.dedup_scale import (
    COPY,
    COPY_KINDS,
    MAX_WORDS,
    MIN_WORDS,
    PLAIN,
    QUOTE,
    SyntheticCorpus,
    TextRenderer,
    check_against_pipeline,
    measure,
    shingle_id_rows,
)
from schemas.config import DedupConfig
from transforms.dedup import classify_pair, comparison_words, pair_similarity, shingle_hash, shingles, word_hashes

CFG = DedupConfig()


@pytest.fixture(scope="module")
def renderer() -> TextRenderer:
    return TextRenderer()


@pytest.fixture(scope="module")
def equivalence() -> dict:
    return check_against_pipeline(1_000)


def text_shingle_sets(corpus: SyntheticCorpus, renderer: TextRenderer, docs) -> list[frozenset[int]]:
    return [frozenset(map(shingle_hash, shingles(renderer.render(r), CFG.shingle_words))) for r in corpus.tokens(docs)]


def text_sketch(text: str) -> dict:
    """A sketch as the pipeline's Sketch step makes it, for ``classify_pair``."""
    return {"seq": [shingle_hash(s) for s in shingles(text, CFG.shingle_words)], "words": word_hashes(text)}


def test_vectorised_path_gives_the_pipeline_functions_results_on_1000_documents(equivalence):
    # Batch rensa, integer band keys and anchors grouped by sorting, numpy pair generation and
    # anchor counting against the pipeline's functions applied one document and one group at a time.
    assert equivalence["same_signatures"], "signatures"
    assert equivalence["same_band_buckets"], "band buckets"
    assert equivalence["same_lsh_pairs"], "LSH candidate pairs"
    assert equivalence["same_anchor_pairs"], "anchor candidate pairs"
    assert equivalence["same_copy_relations"], "copy relations"
    assert equivalence["same_reuse_relations"], "reuse relations"
    assert equivalence["same_clusters"], "clusters"
    # The sample exercises every step: copies merge, quoting stories are found as reuse only.
    assert equivalence["planted_copies"] >= 80
    assert equivalence["copies_found"] == equivalence["planted_copies"]
    assert equivalence["quotes_found_as_reuse"] == equivalence["quoting_stories"] >= 20
    assert equivalence["reuse_relations"] >= equivalence["quoting_stories"]
    assert equivalence["false_merges"] == 0


def test_shingle_id_mode_clusters_as_the_text_does(equivalence):
    assert equivalence["ids_mode_same_shingle_counts"]
    assert equivalence["ids_mode_same_clusters"]
    assert equivalence["ids_mode_same_reuse_pairs"]


def test_shingle_ids_give_the_same_jaccard_and_containment_as_text_shingles(renderer):
    corpus = SyntheticCorpus(300, seed=4)
    related = [(int(corpus.source[d]), d) for d in np.flatnonzero(corpus.role != PLAIN).tolist()]
    assert len(related) >= 20
    docs = sorted({d for pair in related for d in pair})
    text_sets = dict(zip(docs, text_shingle_sets(corpus, renderer, docs)))
    ids, offsets = shingle_id_rows(corpus.tokens(docs), CFG.shingle_words)
    id_sets = {d: frozenset(ids[offsets[k] : offsets[k + 1]].tolist()) for k, d in enumerate(docs)}
    for source, copy in related:
        assert pair_similarity(id_sets[source], id_sets[copy]) == pair_similarity(text_sets[source], text_sets[copy])


def test_corpus_is_a_pure_function_of_seed_and_index(renderer):
    big, small, other = SyntheticCorpus(300, seed=5), SyntheticCorpus(60, seed=5), SyntheticCorpus(300, seed=6)

    def texts(corpus, docs):
        return [renderer.render(r) for r in corpus.tokens(docs)]

    assert texts(big, range(60)) == texts(small, range(60))  # a corpus's prefix is the smaller corpus
    assert texts(big, [41, 7]) == texts(big, [41]) + texts(big, [7])  # any document alone, in any order
    assert texts(big, range(60)) != texts(other, range(60))
    plain = np.flatnonzero(big.role == PLAIN).tolist()
    for text in texts(big, plain):
        assert MIN_WORDS <= len(comparison_words(text)) <= MAX_WORDS
    assert all(big.source[d] < d and big.role[big.source[d]] == PLAIN for d in np.flatnonzero(big.role != PLAIN))


def test_planted_copies_classify_as_copies_and_quoting_stories_as_reuse(renderer):
    corpus = SyntheticCorpus(600, seed=9)
    copies = np.flatnonzero(corpus.role == COPY).tolist()
    quoting = np.flatnonzero(corpus.role == QUOTE).tolist()
    assert {COPY_KINDS[corpus.copy_kind[c]] for c in copies} == set(COPY_KINDS)
    assert len(quoting) >= 8
    docs = sorted(set(copies + quoting + corpus.source[copies + quoting].tolist()))
    texts = dict(zip(docs, (renderer.render(r) for r in corpus.tokens(docs))))
    sketches = {d: text_sketch(text) for d, text in texts.items()}
    for copy in copies:
        source = int(corpus.source[copy])
        kind = COPY_KINDS[corpus.copy_kind[copy]]
        assert (texts[copy] == texts[source]) == (kind == "exact"), kind
        relation = classify_pair(sketches[source], sketches[copy], CFG)
        assert relation is not None and relation["kind"] == "copy", kind
    for story in quoting:
        relation = classify_pair(sketches[int(corpus.source[story])], sketches[story], CFG)
        assert relation is not None and relation["kind"] == "reuse"
        assert 0.05 <= relation["shares"]["b"] <= 0.4, relation["shares"]
    plain = np.flatnonzero(corpus.role == PLAIN)[:40].tolist()
    plain_sets = text_shingle_sets(corpus, renderer, plain)
    assert max(pair_similarity(a, b)[1] for a, b in itertools.combinations(plain_sets, 2)) < 0.05


def test_a_small_measured_run_finds_every_planted_copy_and_quote_and_merges_no_stories():
    result = measure(3_000, "ids")
    assert result["copies_found"] == result["planted_copies"] > 250
    assert result["quotes_found_as_reuse"] == result["quoting_stories"] > 50
    assert result["false_merges"] == 0 and result["quoting_stories_merged"] == 0
    assert result["anchor_pairs"] > result["lsh_pairs"]  # quoting stories are found by anchors, not bands
    assert set(result["seconds"]) >= {"shingle", "minhash", "bands", "anchors", "pairs", "verify", "cluster"}


def test_cluster_membership_is_the_same_with_one_and_two_workers(tmp_path, renderer):
    from pipeline.run import run
    from transforms.write import read_table

    corpus = SyntheticCorpus(200, seed=13)
    inputs = tmp_path / "in"
    inputs.mkdir()
    for index, tokens in enumerate(corpus.tokens(range(corpus.size))):
        (inputs / f"{index:04d}.txt").write_text(renderer.render(tokens), encoding="utf-8")
    clusters, reuse = {}, {}
    for workers, beam_args in ((1, []), (2, ["--direct_running_mode=multi_processing", "--direct_num_workers=2"])):
        out = tmp_path / f"out{workers}"
        run([str(inputs)], str(out), beam_args=beam_args, enrich=False)
        cluster_of = {}
        for table in ("articles", "duplicates"):
            rows = read_table(str(out), table).select(["source", "cluster_id"]).to_pylist()
            cluster_of.update({os.path.basename(r["source"]): r["cluster_id"] for r in rows})
        clusters[workers] = cluster_of
        rows = read_table(str(out), "reuse").select(["doc_id", "source_doc_id", "share"]).to_pylist()
        reuse[workers] = sorted((r["doc_id"], r["source_doc_id"], r["share"]) for r in rows)
    assert clusters[1] == clusters[2]
    assert reuse[1] == reuse[2] and len(reuse[1]) >= np.count_nonzero(corpus.role == QUOTE) > 0

    members: dict[str, set[int]] = {}
    for name, cluster_id in clusters[1].items():
        members.setdefault(cluster_id, set()).add(int(name.removesuffix(".txt")))
    stories: dict[int, set[int]] = {}
    for index, story in enumerate(corpus.story.tolist()):
        stories.setdefault(story, set()).add(index)
    assert len(clusters[1]) == corpus.size
    assert sum(1 for m in members.values() if len(m) > 1) >= 10  # the comparison is not between singletons
    assert sorted(map(sorted, members.values())) == sorted(map(sorted, stories.values()))
