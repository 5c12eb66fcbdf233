"""Deduplicate stage: pure functions, then the Beam transform on real seed text."""

from __future__ import annotations

import datetime as dt
import random

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.config import DedupConfig
from tests.conftest import make_article
from transforms.dedup import (
    ClusterNearDuplicates,
    canonical_rank,
    resolve_clusters,
    shingle_hashes,
    shingles,
    verified_similarity,
)

CFG = DedupConfig()
UTC = dt.timezone.utc


def sets(text: str) -> frozenset[int]:
    return shingle_hashes(shingles(text, CFG.shingle_words))


def wire_copy(text: str) -> str:
    """What syndication does: curly quotes straightened, a word changed, a promo line added."""
    edited = text.replace("“", '"').replace("”", '"').replace("’", "'").replace("Monday", "monday", 1)
    return "Sign up for our newsletter\n" + edited


def truncated(text: str, share: float = 0.6) -> str:
    words = text.split(" ")
    return " ".join(words[: int(len(words) * share)])


def test_shingles_ignore_case_punctuation_and_typography():
    assert shingles("“Lay down your arms,” he said.", 3) == shingles('"lay down YOUR arms" he said', 3)


def test_wire_copy_and_truncated_copy_verify_but_different_seeds_do_not(seed_texts):
    texts = list(seed_texts.values())
    original = texts[0]
    assert verified_similarity(sets(original), sets(wire_copy(original)), CFG) is not None
    assert verified_similarity(sets(original), sets(truncated(original)), CFG) is not None
    # Five write-ups of one event share quotes and names but are different articles.
    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            assert verified_similarity(sets(texts[i]), sets(texts[j]), CFG) is None, (i, j)


def test_canonical_is_earliest_then_longest_then_smallest_id():
    early = {"doc_id": "b", "published_at": dt.datetime(2022, 3, 20, tzinfo=UTC), "text": "short"}
    late = {"doc_id": "a", "published_at": dt.datetime(2022, 3, 21, tzinfo=UTC), "text": "much longer text"}
    undated_long = {"doc_id": "c", "published_at": None, "text": "the longest text of them all"}
    ranks = {d["doc_id"]: {"rank": canonical_rank(d), "outlet": d["doc_id"]} for d in (early, late, undated_long)}
    result = resolve_clusters([("a", "b", 0.9), ("a", "c", 0.95)], ranks)
    assert {m["canonical"] for m in result.values()} == {"b"}
    assert result["a"]["copies"] == 3
    # Same date: the longer text wins; same length too: the smaller id.
    tie = {
        "x": {"rank": (1.0, -10, "x"), "outlet": "o1"},
        "y": {"rank": (1.0, -20, "y"), "outlet": "o2"},
        "z": {"rank": (1.0, -20, "w"), "outlet": "o3"},
    }
    assert resolve_clusters([("x", "y", 0.9)], tie)["x"]["canonical"] == "y"


def test_clusters_do_not_depend_on_edge_order():
    edges = [(f"d{i}", f"d{i + 1}", 0.9) for i in range(20)] + [("e1", "e2", 0.95), ("e2", "e3", 0.85)]
    info = {n: {"rank": (float(hash(n) % 7), 0, n), "outlet": n} for e in edges for n in e[:2]}
    expected = resolve_clusters(edges, info)
    for seed in range(5):
        shuffled = edges[:]
        random.Random(seed).shuffle(shuffled)
        assert resolve_clusters(shuffled, info) == expected


@pytest.fixture()
def corpus(seed_texts):
    texts = list(seed_texts.values())
    day = dt.datetime(2022, 3, 21, tzinfo=UTC)
    originals = [
        make_article(text, f"seed{i}.txt", published=day + dt.timedelta(hours=i), outlet=f"Outlet {i}")
        for i, text in enumerate(texts)
    ]
    copies = [
        make_article(wire_copy(texts[0]), "copy-edited.txt", published=day + dt.timedelta(days=1), outlet="Copier A"),
        make_article(truncated(texts[0]), "copy-truncated.txt", published=None, outlet="Copier B"),
        # An exact copy with the same text (and so the same doc_id) from another file.
        make_article(texts[2], "seed2-again.txt", published=day + dt.timedelta(days=2), outlet="Copier C"),
    ]
    return originals, copies


def test_transform_keeps_one_canonical_per_story_and_points_copies_at_it(corpus):
    originals, copies = corpus
    pipeline = TestPipeline()
    articles, duplicates = pipeline | beam.Create(originals + copies) | ClusterNearDuplicates(CFG)
    expected_articles = [(a["doc_id"], a["source"]) for a in originals]
    assert_that(
        articles | "ArticleIds" >> beam.Map(lambda a: (a["doc_id"], a["source"])),
        equal_to(expected_articles),
        label="CanonicalArticles",
    )
    assert_that(
        articles | "Copies" >> beam.Map(lambda a: (a["source"], a["copies"], tuple(a["outlets"]))),
        equal_to(
            [
                ("seed0.txt", 3, ("Copier A", "Copier B", "Outlet 0")),
                ("seed1.txt", 1, ("Outlet 1",)),
                ("seed2.txt", 2, ("Copier C", "Outlet 2")),
                ("seed3.txt", 1, ("Outlet 3",)),
                ("seed4.txt", 1, ("Outlet 4",)),
            ]
        ),
        label="ClusterSizesAndOutlets",
    )
    assert_that(
        duplicates | "DupTargets" >> beam.Map(lambda d: (d["source"], d["duplicate_of"], d["similarity"] > 0.8)),
        equal_to(
            [
                ("copy-edited.txt", originals[0]["doc_id"], True),
                ("copy-truncated.txt", originals[0]["doc_id"], True),
                ("seed2-again.txt", originals[2]["doc_id"], True),
            ]
        ),
        label="DuplicatesPointAtCanonical",
    )
    result = pipeline.run()
    result.wait_until_finish()
    counters = {
        c.key.metric.name: c.committed
        for c in result.metrics().query(MetricsFilter().with_namespace("newsbeam"))["counters"]
    }
    assert counters["dedup_kept"] == 5
    assert counters["dedup_duplicate"] == 3
