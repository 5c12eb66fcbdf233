"""Deduplicate stage: pure functions, then the Beam transform on real seed text."""

from __future__ import annotations

import datetime as dt
import random

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.config import DedupConfig
from tests.conftest import make_article
from transforms.dedup import (
    ClusterNearDuplicates,
    canonical_rank,
    classify_pair,
    comparison_sketch,
    hash_words,
    interior_insertion,
    pack_words,
    resolve_clusters,
    same_key_runs,
    shared_count,
    shingle_hashes,
    shingles,
    surely_unrelated,
    unpack_words,
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
    articles, duplicates, _reuse, _index = pipeline | beam.Create(originals + copies) | ClusterNearDuplicates(CFG)
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


def test_interior_insertion_finds_a_passage_between_shared_text_only():
    shared = frozenset(range(100))
    inserted_mid = list(range(50)) + [1000 + i for i in range(30)] + list(range(50, 100))
    appended = list(range(100)) + [1000 + i for i in range(30)]
    assert interior_insertion(inserted_mid, shared) == [1000 + i for i in range(30)]
    assert interior_insertion(appended, shared) == []
    # One shared shingle after the passage is a stock phrase, not the story going on.
    assert interior_insertion(appended + [7], shared) == []
    assert interior_insertion(appended + list(range(7, 12)), shared) == [1000 + i for i in range(30)]


def paragraphs(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.strip()]


def test_composite_of_two_stories_is_reuse_not_a_copy_but_an_appended_paragraph_is_a_copy(seed_texts):
    texts = list(seed_texts.values())
    story_x, story_y = paragraphs(texts[0]), paragraphs(texts[3])
    day = dt.datetime(2022, 3, 21, tzinfo=UTC)
    x = make_article("\n".join(story_x), "x.txt", published=day, outlet="Wire")
    y = make_article("\n".join(story_y), "y.txt", published=day, outlet="Other wire")
    # A round-up: all of story X with two paragraphs of story Y inserted in the middle.
    middle = len(story_x) // 2
    composite_text = "\n".join(story_x[:middle] + story_y[4:6] + story_x[middle:])
    composite = make_article(composite_text, "roundup.txt", published=day + dt.timedelta(hours=5), outlet="Roundup")
    # A syndicated copy of X with a local paragraph appended at the end.
    local = "Local officials in Springfield said they would hold a vigil for the victims on Friday evening."
    local_copy = make_article("\n".join(story_x + [local]), "local.txt", published=day + dt.timedelta(hours=2))

    pipeline = TestPipeline()
    articles, duplicates, reuse, _index = (
        pipeline | beam.Create([x, y, composite, local_copy]) | ClusterNearDuplicates(CFG)
    )
    assert_that(
        articles | "Sources" >> beam.Map(lambda a: (a["source"], a["copies"])),
        equal_to([("x.txt", 2), ("y.txt", 1), ("roundup.txt", 1)]),
        label="CompositeStandsAlone",
    )
    assert_that(
        duplicates | "DupSources" >> beam.Map(lambda d: (d["source"], d["duplicate_of"])),
        equal_to([("local.txt", x["doc_id"])]),
        label="LocalParagraphCopyIsADuplicate",
    )

    def reuse_summary(row):
        spans_text = " ".join(composite_text[p["start"] : p["end"]] for p in row["passages"])
        return (row["doc_id"], row["source_doc_id"], row["share"] > 0.05, story_y[4][:40] in spans_text)

    assert_that(
        reuse | "ReuseRows" >> beam.Filter(lambda r: r["source_doc_id"] == y["doc_id"]) | beam.Map(reuse_summary),
        equal_to([(composite["doc_id"], y["doc_id"], True, True)]),
        label="CompositeReusesStoryY",
    )
    assert_that(
        articles
        | "RoundupShare" >> beam.Filter(lambda a: a["source"] == "roundup.txt")
        | beam.Map(lambda a: a["wire_share"] > 0.5),
        equal_to([True]),
        label="WireShareOfRoundup",
    )
    pipeline.run().wait_until_finish()


TABLE_WORDS = ("first", "second", "third", "fourth", "fifth", "sixth")


@pytest.mark.parametrize("shape", ["repeated paragraphs", "list after the prose"])
def test_paragraphs_of_another_story_followed_by_more_of_this_one_make_a_composite(seed_texts, shape):
    """Two real shapes of the wire-copy set's hard negatives: the inserted paragraphs look
    appended to the prose, but the story goes on after them."""
    texts = list(seed_texts.values())
    story_x, story_y = paragraphs(texts[0]), paragraphs(texts[3])
    table = [f"Item {n}: {word} appearance" for n, word in enumerate(TABLE_WORDS)]
    x_text = "\n".join(story_x + (table if shape == "list after the prose" else []))
    day = dt.datetime(2022, 3, 21, tzinfo=UTC)
    x = make_article(x_text, "x.txt", published=day, outlet="Wire")
    y = make_article("\n".join(story_y), "y.txt", published=day, outlet="Other wire")
    # Two paragraphs of Y after all of X's prose, then more of X: the table, or two of X's
    # paragraphs printed again (both seen in real syndication).
    after = table if shape == "list after the prose" else story_x[2:4]
    composite_text = "\n".join(story_x + story_y[4:6] + after)
    composite = make_article(composite_text, "roundup.txt", published=day + dt.timedelta(hours=5), outlet="Roundup")

    pipeline = TestPipeline()
    articles, duplicates, _reuse, _index = pipeline | beam.Create([x, y, composite]) | ClusterNearDuplicates(CFG)
    assert_that(
        articles | beam.Map(lambda a: (a["source"], a["copies"])),
        equal_to([("x.txt", 1), ("y.txt", 1), ("roundup.txt", 1)]),
    )
    assert_that(duplicates, equal_to([]), label="NoDuplicates")
    pipeline.run().wait_until_finish()


def test_truncated_copy_stays_a_copy_when_a_rewrite_of_the_story_holds_what_it_dropped(seed_texts):
    """The original has a paragraph the truncated copy dropped mid-story; a heavily rewritten
    version of the same story (too edited to be a copy) also has it. That is the same story
    told again, not a passage taken from another one: the copy must stand."""
    story = paragraphs(list(seed_texts.values())[1])
    kept = 3
    day = dt.datetime(2022, 3, 21, tzinfo=UTC)
    original = make_article("\n".join(story), "original.txt", published=day, outlet="Wire")
    cut = story[:kept] + story[kept + 1 : int(len(story) * 0.8)]
    copy = make_article("\n".join(cut), "copy.txt", published=day + dt.timedelta(hours=1), outlet="Copy")

    def rewritten(paragraph: str) -> str:
        words = paragraph.split(" ")
        return " ".join("indeed" if i % 6 == 5 else w for i, w in enumerate(words))

    rewrite_paragraphs = [p if i == kept else rewritten(p) for i, p in enumerate(story)][::-1]
    rewrite = make_article(
        "\n".join(rewrite_paragraphs), "rewrite.txt", published=day + dt.timedelta(hours=2), outlet="Rewrite"
    )

    pipeline = TestPipeline()
    _articles, duplicates, reuse, _index = (
        pipeline | beam.Create([original, copy, rewrite]) | ClusterNearDuplicates(CFG)
    )
    assert_that(
        duplicates | beam.Map(lambda d: (d["source"], d["duplicate_of"])),
        equal_to([("copy.txt", original["doc_id"])]),
    )
    assert_that(
        reuse | beam.Map(lambda r: r["doc_id"]) | beam.Filter(lambda d: d == rewrite["doc_id"]),
        equal_to([rewrite["doc_id"]]),
        label="RewriteIsReuse",
    )
    pipeline.run().wait_until_finish()


def test_wire_copy_set_hard_negatives_stay_apart_and_each_story_is_one_cluster(tmp_path, eval_dir):
    """The labelled wire-copy set through the real CLI: no hard negative (another story that
    shares paragraphs with one) joins a cluster, and all copies of one story are one cluster
    (truncated, re-headlined, copy-edited, with a local paragraph). The scores themselves are
    ``benchmarks/dedup_quality.py``'s to print."""
    import csv

    from tests.test_end_to_end import newsbeam, query, table_sql

    data = eval_dir / "wirecopy_dev"
    out = tmp_path / "out"
    result = newsbeam("run", str(data / "docs"), "--output", str(out), "--no-enrich", "--quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    with open(data / "labels.csv", encoding="utf-8", newline="") as handle:
        labels = {row["file"]: row["cluster"] for row in csv.DictReader(handle)}
    rows = query(
        f"select source, cluster_id from {table_sql(out, 'articles')} "
        f"union all select source, cluster_id from {table_sql(out, 'duplicates')}"
    )
    predicted = {source.rsplit("/", 1)[-1]: cluster for source, cluster in rows}
    assert set(predicted) == set(labels)
    members: dict[str, set[str]] = {}
    for name, cluster in predicted.items():
        members.setdefault(cluster, set()).add(labels[name])
    merged = {cluster: stories for cluster, stories in members.items() if len(stories) > 1}
    assert merged == {}, "files of different stories share a cluster"
    clusters_per_story: dict[str, set[str]] = {}
    for name, cluster in predicted.items():
        clusters_per_story.setdefault(labels[name], set()).add(cluster)
    assert {story for story, clusters in clusters_per_story.items() if len(clusters) > 1} == set()


@pytest.mark.parametrize("buckets", [1, 3, 16])
def test_anchor_buckets_find_the_pairs_and_counts_of_one_group_per_anchor(buckets):
    """Anchors travel in buckets (one element per article and bucket, not per anchor); the pairs
    and shared-anchor counts must be exactly those of grouping every anchor on its own,
    including the cap that skips anchors held by more than ``limit`` articles."""
    import random
    from collections import Counter, defaultdict

    from transforms.dedup import anchors_by_bucket, candidate_pairs, pack_hashes, shared_anchor_counts

    rng, limit = random.Random(buckets), 5
    pool = [rng.getrandbits(64) & ~3 for _ in range(60)]  # multiples of 4, as anchors are
    docs = {f"d{n:02d}": sorted(set(rng.sample(pool, rng.randint(0, 12)))) for n in range(40)}

    holders = defaultdict(list)
    for doc_id, doc_anchors in docs.items():
        for anchor in doc_anchors:
            holders[anchor].append(doc_id)
    expected = Counter(pair for ids in holders.values() if len(ids) <= limit for pair in candidate_pairs(ids))

    by_bucket = defaultdict(list)
    for doc_id, doc_anchors in docs.items():
        for bucket, values in anchors_by_bucket(doc_anchors, buckets).items():
            by_bucket[bucket].append((doc_id, pack_hashes(values)))
    found, read = Counter(), 0
    for entries in by_bucket.values():
        counts, entries_read = shared_anchor_counts(entries, limit)
        found.update(counts)
        read += entries_read
    assert found == expected and sum(expected.values()) > 20
    assert read == sum(len(a) for a in docs.values())
    if buckets == 16:
        assert len(by_bucket) > 8  # anchors, all multiples of 4, still spread over the buckets


@pytest.mark.parametrize("cfg", [CFG, DedupConfig(containment_threshold=0.4)], ids=["default", "low-containment"])
def test_pairs_rejected_from_set_sizes_alone_are_exactly_pairs_classification_rejects(seed_texts, cfg):
    """The shortcut that rejects unrelated candidate pairs before classification must never
    reject a pair that classification would keep (as a copy or as reuse)."""
    texts = [paragraphs(t) for t in seed_texts.values()]
    rng = random.Random(7)
    variants = []
    for i, story in enumerate(texts):
        other = texts[(i + 1) % len(texts)]
        variants.append("\n".join(story))
        for share in (0.3, 0.5, 0.7, 0.9):  # cut copies: containment, not Jaccard
            variants.append("\n".join(story[: max(1, int(len(story) * share))]))
        for borrowed in (1, 2, 4):  # another story's paragraphs inside this one: reuse
            mixed = list(story)
            for paragraph in rng.sample(other, min(borrowed, len(other))):
                mixed.insert(rng.randrange(len(mixed) + 1), paragraph)
            variants.append("\n".join(mixed))
        variants.append("\n".join(s.replace(" the ", " a ") for s in story))  # copy-edited throughout
        # Short copy-edited snippets: too few shingles shared to be reuse, a copy by word order only.
        words = " ".join(story).split()[:24]
        variants.append(" ".join(words) + ".")
        for every in (8, 10, 12, 16, 20):
            edited = [f"{w}x" if k % every == every // 2 else w for k, w in enumerate(words)]
            variants.append(" ".join(edited) + ".")
    sketches = []
    for text in variants:
        compared = comparison_sketch(text, cfg)
        sorted_distinct = np.unique(np.array(compared["seq"], dtype=np.uint64))
        sketches.append(
            ({"seq": compared["seq"], "words": compared["words"], "trail": compared["trail"]}, sorted_distinct)
        )
    rejected = kept = 0
    for i in range(len(sketches)):
        for j in range(i + 1, len(sketches)):
            (a, sorted_a), (b, sorted_b) = sketches[i], sketches[j]
            relation = classify_pair(a, b, cfg)
            if surely_unrelated(sorted_a, sorted_b, cfg):
                assert relation is None, (i, j)
                rejected += 1
            kept += relation is not None
    assert rejected > 50 and kept > 50  # both sides of the shortcut are exercised


@settings(max_examples=200, deadline=None, database=None)
@given(st.sets(st.integers(0, 2**64 - 1), max_size=60), st.sets(st.integers(0, 2**64 - 1), max_size=60), st.data())
def test_shared_count_of_sorted_arrays_is_the_size_of_the_intersection(a, b, data):
    common = data.draw(st.sets(st.integers(0, 2**64 - 1), max_size=20))
    a, b = a | common, b | common
    as_sorted = lambda values: np.array(sorted(values), dtype=np.uint64)  # noqa: E731
    assert shared_count(as_sorted(a), as_sorted(b)) == len(a & b)


@settings(max_examples=200, deadline=None, database=None)
@given(
    st.lists(st.integers(0, 2**64 - 1) | st.sampled_from([0, 1, 2**63, 2**64 - 1]), max_size=80),
    st.none() | st.integers(2, 6),
)
def test_same_key_runs_are_the_groups_of_a_repeated_key(keys, most):
    """How one band's keys from all bundles (and a bucket's anchors, capped at ``most``) become
    candidate groups: every key held by two or more entries, and no more than ``most``, gives
    the positions holding it, and no other group comes out."""
    expected: dict[int, list[int]] = {}
    for position, key in enumerate(keys):
        expected.setdefault(key, []).append(position)
    runs = [sorted(run.tolist()) for run in same_key_runs(np.array(keys, dtype=np.uint64), most)]
    wanted = [p for p in expected.values() if len(p) >= 2 and (most is None or len(p) <= most)]
    assert sorted(runs) == sorted(wanted)


@settings(max_examples=100, deadline=None, database=None)
@given(st.lists(st.text(max_size=12), max_size=50))
def test_word_hashes_survive_packing_at_four_bytes_each(words):
    hashes = hash_words(words)
    packed = pack_words(hashes)
    assert len(packed) == 4 * len(words) and unpack_words(packed) == hashes
