"""RecordCoder: the coder newsbeam's dict records travel with between workers."""

from __future__ import annotations

import datetime as dt
import typing
import zoneinfo

import apache_beam as beam
from apache_beam.coders import typecoders
from apache_beam.testing.util import assert_that
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.coders import DatetimeOrPickleCoder, RecordCoder

ZONES = st.sampled_from(
    [None, dt.timezone.utc, dt.timezone(dt.timedelta(hours=5, minutes=30)), zoneinfo.ZoneInfo("Europe/Kyiv")]
)
MOMENTS = st.builds(
    lambda moment, zone, fold: moment.replace(tzinfo=zone, fold=fold),
    st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31)),
    ZONES,
    st.sampled_from([0, 0, 0, 1]),
)
VALUES = st.one_of(MOMENTS, st.none(), st.integers(), st.text(max_size=20), st.dates(), st.floats(allow_nan=False))


@settings(max_examples=300, deadline=None, database=None)
@given(st.dictionaries(st.text(max_size=10), st.one_of(VALUES, st.lists(VALUES, max_size=4)), max_size=6))
def test_records_come_back_exactly_as_they_went(record):
    back = RecordCoder().decode(RecordCoder().encode(record))
    assert back == record
    for key, value in record.items():
        for sent, got in zip(
            value if isinstance(value, list) else [value], back[key] if isinstance(value, list) else [back[key]]
        ):
            assert type(got) is type(sent)
            if isinstance(sent, dt.datetime):  # equal instants are not enough: same zone, same fold
                assert (got.tzinfo, got.fold, got.utcoffset()) == (sent.tzinfo, sent.fold, sent.utcoffset())


def test_utc_and_naive_datetimes_and_unsigned_hashes_take_nine_bytes():
    coder = DatetimeOrPickleCoder()
    assert len(coder.encode(dt.datetime(2024, 3, 5, 12, 0, tzinfo=dt.timezone.utc))) == 9
    assert len(coder.encode(dt.datetime(2024, 3, 5, 12, 0))) == 9
    assert len(coder.encode(dt.datetime(2024, 3, 5, 12, 0, tzinfo=zoneinfo.ZoneInfo("Europe/Kyiv")))) > 9
    # 64-bit hashes past the signed range (half of them) likewise; bigger numbers are pickled.
    for number in (2**63, 2**64 - 1, 2**64, -(2**63) - 1):
        assert coder.decode(coder.encode(number)) == number
    assert len(coder.encode(2**64 - 1)) == 9 and len(coder.encode(2**64)) > 9


def test_the_graph_gives_untyped_records_the_record_coder(tmp_path):
    from pipeline import graph
    from pipeline.options import make_run
    from schemas.config import NewsbeamConfig
    from tests.conftest import SEEDS

    with beam.Pipeline() as p:
        tables = graph.build(p, NewsbeamConfig(), make_run([str(SEEDS)], str(tmp_path / "out")), write=False)
        assert isinstance(typecoders.registry.get_coder(typing.Any), RecordCoder)
        # Real pages through the real runner: the articles' datetimes arrive as they left.
        published = tables["articles"] | beam.Map(lambda a: (a["doc_id"], a["published_at"], a["ingested_at"]))

        def all_aware_utc(rows):
            rows = list(rows)
            assert len(rows) == 5
            for _doc_id, published_at, ingested_at in rows:
                assert ingested_at.tzinfo is dt.timezone.utc
                assert published_at is None or published_at.tzinfo is dt.timezone.utc

        assert_that(published, all_aware_utc)
