"""Enrich stage in a TestPipeline with the real spaCy model."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.config import EnrichConfig
from tests.conftest import make_article
from transforms.enrich import EnrichArticles


def counters_of(result) -> dict[str, int]:
    queried = result.metrics().query(MetricsFilter().with_namespace("newsbeam"))["counters"]
    return {c.key.metric.name: c.committed for c in queried}


def test_entities_and_numbers_point_into_the_article_text(seed_texts):
    texts = dict(sorted(seed_texts.items()))
    articles = [make_article(text, name) for name, text in texts.items()]
    by_id = {a["doc_id"]: a["text"] for a in articles}
    broken = {**make_article("x " * 30, "broken.txt"), "text": None}
    first = next(iter(texts.values()))
    # One seed repeated to 40,000 characters is over the cap set below; the real seeds are under it.
    huge = make_article((first + "\n\n") * (40_000 // len(first) + 1), "huge.txt")
    assert max(len(t) for t in texts.values()) < 20_000 < len(huge["text"])
    pipeline = TestPipeline()
    entities, numbers, errors = (
        pipeline | beam.Create(articles + [broken, huge]) | EnrichArticles(EnrichConfig(batch_size=2, max_chars=20_000))
    )

    def offsets_match(row):
        return by_id[row["doc_id"]][row["start"] : row["end"]] == row["text"]

    assert_that(
        (entities, numbers) | "AllRows" >> beam.Flatten() | "OffsetsOk" >> beam.Map(offsets_match) | beam.Distinct(),
        equal_to([True]),
        label="OffsetsIntoText",
    )
    assert_that(
        numbers
        | "Killed" >> beam.Filter(lambda r: r["verb"] == "kill" and r["value"] >= 4)
        | beam.Map(lambda r: (r["value"], r["qualifier"], r["counted"])),
        equal_to([(2300.0, "at_least", "people"), (4.0, "exact", "people")]),
        label="KillCounts",
    )
    assert_that(
        entities
        | "People" >> beam.Filter(lambda r: r["label"] == "PERSON" and "Vereshchuk" in r["text"])
        | beam.Map(lambda r: r["canonical"])
        | "DistinctPeople" >> beam.Distinct(),
        equal_to(["Iryna Vereshchuk", "Irina Vereshchuk"]),
        label="CanonicalPeople",
    )
    assert_that(
        errors | beam.Map(lambda e: (e["source"], e["stage"], e["error_type"])),
        equal_to([("broken.txt", "enrich", "invalid_text"), ("huge.txt", "enrich", "text_too_long")]),
        label="BadAndHugeArticlesAreErrorRows",
    )
    result = pipeline.run()
    result.wait_until_finish()
    counters = counters_of(result)
    assert counters["enrich_articles"] == 5
    assert counters["enrich_skipped"] == 2
