"""Streaming deduplication: the band and resolver steps as plain functions, then the transform
on a TestStream of real seed text (DirectRunner, streaming mode), on a PeriodicImpulse as the
feed poller drives it, and against the batch stage."""

from __future__ import annotations

import datetime as dt
import json
import time

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.periodicsequence import PeriodicImpulse
from apache_beam.transforms.window import TimestampedValue

from schemas.config import DedupConfig
from tests.conftest import make_article
from transforms.dedup import ClusterNearDuplicates
from transforms.dedup_streaming import (
    MICROS,
    StreamingNearDuplicates,
    derived_doc_id,
    match_in_band,
    resolve_decisions,
    stream_sketch,
)

CFG = DedupConfig()
UTC = dt.timezone.utc
DAY = dt.datetime(2022, 3, 21, tzinfo=UTC)
T0 = int(DAY.timestamp())  # stream time of the first poll, in seconds
HOUR = 3600


def edited_copy(text: str) -> str:
    """What a syndicating site does: straight quotes, a promo line on top."""
    straight = text.replace("“", '"').replace("”", '"').replace("’", "'").replace("‘", "'")
    return "Get the latest headlines: sign up for our daily newsletter\n" + straight


def truncated_copy(text: str, share: float = 0.6) -> str:
    words = text.split(" ")
    return " ".join(words[: int(len(words) * share)])


@pytest.fixture(scope="module")
def seeds(seed_texts) -> list[str]:
    return list(seed_texts.values())


def stream_options() -> PipelineOptions:
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    return options


def polled_stream(polls: list[tuple[int, list[dict]]]) -> TestStream:
    """Each poll: the watermark moves to its time, then its articles arrive stamped with it."""
    stream = TestStream()
    for at, articles in polls:
        stream = stream.advance_watermark_to(at).add_elements([TimestampedValue(a, at) for a in articles])
    return stream.advance_watermark_to_infinity()


def run_stream(polls, ttl_seconds: int, check) -> None:
    with TestPipeline(options=stream_options()) as pipeline:
        articles, duplicates = pipeline | polled_stream(polls) | StreamingNearDuplicates(CFG, ttl_seconds)
        check(articles, duplicates)


def article_view(a: dict) -> tuple:
    return a["source"], a["cluster_id"] == a["doc_id"], a["copies"], tuple(a["outlets"]), a["wire_share"]


# ---------------------------------------------------------------- plain functions


def sketch_at(article: dict, seconds: int) -> dict:
    sketch, _bands = stream_sketch(article, CFG, seconds * MICROS)
    return sketch


def test_band_step_compares_in_precedence_order_within_the_ttl(seeds):
    original = make_article(seeds[0], "original.txt", published=DAY)
    copy = make_article(edited_copy(seeds[0]), "copy.txt", published=DAY + dt.timedelta(hours=2))
    other = make_article(seeds[1], "other.txt", published=DAY)
    ttl = HOUR * MICROS
    # Same poll, copy first: precedence (event time, then publication) still makes the original first.
    verdicts, stored = match_in_band(
        [sketch_at(copy, T0), sketch_at(other, T0), sketch_at(original, T0)], [], CFG, ttl, T0 * MICROS
    )
    by_source = {arrival["uid"].split("|")[1]: matches for arrival, matches in verdicts}
    assert by_source["original.txt"] == [] and by_source["other.txt"] == []
    [(target, similarity, _precedence)] = by_source["copy.txt"]
    assert target == sketch_at(original, T0)["uid"] and similarity > 0.8
    assert all("article" not in s for s in stored) and len(stored) == 3

    # An hour later the original has expired: the same copy is a new story.
    late_copy = sketch_at(copy, T0 + HOUR)
    verdicts, stored = match_in_band([late_copy], stored, CFG, ttl, (T0 + HOUR) * MICROS)
    assert verdicts == [(late_copy, [])] and [s["uid"] for s in stored] == [late_copy["uid"]]

    # A redelivered input (same article, source and time) gets no second verdict.
    verdicts, _ = match_in_band([late_copy], stored, CFG, ttl, (T0 + HOUR) * MICROS)
    assert verdicts == []


def decision(uid: str, doc_id: str, at: int, matches: list[tuple] = ()) -> dict:
    article = {"doc_id": doc_id, "source": f"{uid}.txt", "outlet": None, "url": None, "published_at": None}
    article["date"] = "2022-03-21"
    return {"uid": uid, "ts": at, "precedence": (at,), "article": article, "matches": list(matches)}


def test_resolver_points_a_copy_of_a_copy_at_the_first_article_whatever_the_arrival_order():
    first = decision("x", "x-id", 1)
    # d copies x; e copies d only (a truncated copy of d's extended text, say).
    copy = decision("d", "d-id", 2, [("x", 0.9, (1,))])
    copy_of_copy = decision("e", "e-id", 3, [("d", 0.95, (2,))])
    resolved, waiting = resolve_decisions([copy_of_copy, copy], {})
    assert resolved == [] and len(waiting) == 2  # both wait for x

    resolved, waiting = resolve_decisions([first, *waiting], {})
    assert waiting == []
    rows = {uid: (kind, row) for kind, row, uid, _entry in resolved}
    assert rows["x"][0] == "article" and rows["x"][1]["cluster_id"] == "x-id"
    assert rows["d"][1]["duplicate_of"] == "x-id" and rows["d"][1]["similarity"] == 0.9
    assert rows["e"][0] == "duplicate" and rows["e"][1]["duplicate_of"] == "x-id"
    # e was not compared with x: its similarity is the one to the copy it matched.
    assert rows["e"][1]["similarity"] == 0.95


def test_resolver_gives_a_second_input_with_a_used_doc_id_a_derived_one():
    registry = {"x": {"doc_id": "same", "cluster_id": "same", "canonical_uid": "x", "ts": 1}}
    repost = decision("y", "same", 2, [("x", 1.0, (1,))])
    [(kind, row, _uid, entry)] = resolve_decisions([repost], registry)[0]
    assert kind == "duplicate" and row["duplicate_of"] == "same"
    assert row["doc_id"] == entry["doc_id"] == derived_doc_id("same", "y.txt") != "same"


# ---------------------------------------------------------------- the transform on a TestStream


@pytest.mark.parametrize("arrival", ["staggered", "one_poll_reversed"])
def test_copies_become_duplicates_of_the_first_article(seeds, arrival):
    original = make_article(seeds[0], "original.txt", published=DAY, outlet="Wire")
    edited = make_article(edited_copy(seeds[0]), "edited.txt", published=DAY + dt.timedelta(hours=1), outlet="A")
    truncated = make_article(truncated_copy(seeds[0]), "truncated.txt", outlet="B")
    unrelated = make_article(seeds[1], "unrelated.txt", published=DAY, outlet="C")
    if arrival == "staggered":
        polls = [(T0, [original]), (T0 + 60, [edited, truncated]), (T0 + 120, [unrelated])]
    else:
        # One poll brings everything, copies first: publication dates decide, not arrival order.
        polls = [(T0, [unrelated, truncated, edited, original])]

    def check(articles, duplicates):
        assert_that(
            articles | beam.Map(article_view),
            equal_to([("original.txt", True, 1, ("Wire",), 0.0), ("unrelated.txt", True, 1, ("C",), 0.0)]),
            label="Articles",
        )
        assert_that(
            duplicates | beam.Map(lambda d: (d["source"], d["duplicate_of"], d["cluster_id"], d["similarity"] > 0.8)),
            equal_to(
                [
                    ("edited.txt", original["doc_id"], original["doc_id"], True),
                    ("truncated.txt", original["doc_id"], original["doc_id"], True),
                ]
            ),
            label="Duplicates",
        )

    run_stream(polls, ttl_seconds=HOUR, check=check)


def test_a_copy_arriving_after_the_ttl_is_a_new_article(seeds):
    original = make_article(seeds[0], "original.txt", published=DAY)
    late_copy = make_article(edited_copy(seeds[0]), "late-copy.txt", published=DAY + dt.timedelta(days=1))
    # The watermark passes the original's expiry before the copy arrives.
    polls = [(T0, [original]), (T0 + HOUR + 1, []), (T0 + HOUR + 60, [late_copy])]

    def check(articles, duplicates):
        assert_that(
            articles | beam.Map(lambda a: (a["source"], a["cluster_id"])),
            equal_to([("original.txt", original["doc_id"]), ("late-copy.txt", late_copy["doc_id"])]),
            label="BothAreArticles",
        )
        assert_that(duplicates, equal_to([]), label="NoDuplicates")

    run_stream(polls, ttl_seconds=HOUR, check=check)


def test_five_write_ups_of_one_event_stay_five_articles(seeds):
    polls = [(T0 + 60 * i, [make_article(text, f"seed{i}.txt", published=DAY)]) for i, text in enumerate(seeds)]

    def check(articles, duplicates):
        assert_that(
            articles | beam.Map(lambda a: a["source"]), equal_to([f"seed{i}.txt" for i in range(5)]), label="Five"
        )
        assert_that(duplicates, equal_to([]), label="NoDuplicates")

    run_stream(polls, ttl_seconds=HOUR, check=check)


def test_a_copy_in_a_later_poll_of_a_periodic_impulse_is_a_duplicate(seeds):
    """The feed poller's shape: PeriodicImpulse on the default local runner, which (offline, as
    the FnApiRunner) fires every event-time timer after each poll, before the next one."""
    original = make_article(seeds[0], "original.txt", published=DAY, outlet="Wire")
    unrelated = make_article(seeds[1], "unrelated.txt", published=DAY, outlet="C")
    copy = make_article(edited_copy(seeds[0]), "copy.txt", published=DAY + dt.timedelta(hours=1), outlet="A")
    start = time.time()

    def poll(tick: float) -> list[dict]:
        return [original, unrelated] if tick < start + 0.5 else [copy]

    pipeline = TestPipeline(options=stream_options())
    ticks = pipeline | PeriodicImpulse(
        start_timestamp=start, stop_timestamp=start + 1.5, fire_interval=1, apply_windowing=False
    )
    articles, duplicates = ticks | beam.FlatMap(poll) | StreamingNearDuplicates(CFG, ttl_seconds=HOUR)
    assert_that(
        articles | beam.Map(lambda a: a["source"]), equal_to(["original.txt", "unrelated.txt"]), label="Articles"
    )
    assert_that(
        duplicates | beam.Map(lambda d: (d["source"], d["duplicate_of"])),
        equal_to([("copy.txt", original["doc_id"])]),
        label="Duplicates",
    )
    result = pipeline.run()
    result.wait_until_finish()
    # This runner reports counters in streaming mode (the TestStream one, BundleBasedDirectRunner,
    # loses those of all but the first bundle of a step, so the tests above cannot check them).
    counters = {
        c.key.metric.name: c.committed
        for c in result.metrics().query(MetricsFilter().with_namespace("newsbeam"))["counters"]
    }
    assert (counters["dedup_kept"], counters["dedup_duplicate"]) == (2, 1)


# ---------------------------------------------------------------- same verdicts as the batch stage


def parity_corpus(seeds) -> tuple[list[dict], list[dict]]:
    originals = [
        make_article(text, f"seed{i}.txt", published=DAY + dt.timedelta(hours=i), outlet=f"Outlet {i}")
        for i, text in enumerate(seeds)
    ]
    local = (
        "\nCouncillors in the city said on Tuesday that a collection for families of those trapped in "
        "Mariupol would be held at the town hall this weekend, and that donations of food were welcome."
    )
    later = DAY + dt.timedelta(days=1)
    copies = [
        make_article(edited_copy(seeds[0]), "copy0-edited.txt", published=later, outlet="Copier A"),
        make_article(truncated_copy(seeds[1]), "copy1-truncated.txt", outlet="Copier B"),
        make_article(seeds[2] + local, "copy2-local-paragraph.txt", published=later, outlet="Copier C"),
        # The same text from another outlet: the same doc_id.
        make_article(seeds[3], "copy3-repost.txt", published=later, outlet="Copier D"),
        make_article(
            "Mariupol defiant as deadline passes\nImage: Reuters\n" + seeds[4] + "\nReporting by staff",
            "copy4-headline.txt",
            published=later,
            outlet="Copier E",
        ),
    ]
    return originals, copies


def duplicate_view(d: dict) -> tuple:
    return d["doc_id"], d["duplicate_of"], d["cluster_id"], d["similarity"], d["source"]


def test_streaming_finds_the_same_duplicates_as_the_batch_stage(seeds, tmp_path):
    originals, copies = parity_corpus(seeds)
    with TestPipeline() as batch:
        articles, duplicates, _reuse, _index = batch | beam.Create(originals + copies) | ClusterNearDuplicates(CFG)
        for name, pcoll, view in (
            ("articles", articles, lambda a: (a["doc_id"], a["cluster_id"])),
            ("duplicates", duplicates, duplicate_view),
        ):
            _ = (
                pcoll
                | f"View{name}" >> beam.Map(lambda row, v=view: json.dumps(v(row)))
                | f"Write{name}" >> beam.io.WriteToText(str(tmp_path / name))
            )
    expected = {
        name: [tuple(json.loads(line)) for path in tmp_path.glob(f"{name}-*") for line in path.read_text().splitlines()]
        for name in ("articles", "duplicates")
    }
    assert len(expected["articles"]) == 5 and len(expected["duplicates"]) == 5

    # Each original arrives first (one poll a minute), the copies an hour later.
    polls = [(T0 + 60 * i, [a]) for i, a in enumerate(originals)]
    polls += [(T0 + HOUR + 60 * i, [c]) for i, c in enumerate(copies)]

    def check(articles, duplicates):
        assert_that(
            articles | beam.Map(lambda a: (a["doc_id"], a["cluster_id"])),
            equal_to(expected["articles"]),
            label="SameArticles",
        )
        assert_that(duplicates | beam.Map(duplicate_view), equal_to(expected["duplicates"]), label="SameDuplicates")

    run_stream(polls, ttl_seconds=2 * 24 * HOUR, check=check)
