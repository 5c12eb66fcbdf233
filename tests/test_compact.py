"""Rows packed for a shuffle come back equal, and what crosses the shuffle is coded natively."""

import datetime as dt

from apache_beam.coders import coders

from transforms.compact import from_micros, pack_row, to_micros, unpack_row

UTC = dt.timezone.utc


def test_row_round_trip_keeps_fields_order_and_instants():
    kyiv = dt.timezone(dt.timedelta(hours=2))
    row = {
        "doc_id": "0123456789abcdef",
        "text": "Volodymyr Zelensky",
        "start": 12,
        "published_at": dt.datetime(2024, 3, 5, 14, 30, 0, 123456, tzinfo=kyiv),
        "ingested_at": dt.datetime(2024, 3, 6, 1, 2, 3),  # naive: stays naive
        "outlet": None,
        "variants": ["a", "b"],
        "date": "2024-03-05",
    }
    back = unpack_row(pack_row(row))
    assert list(back) == list(row)
    assert back == row  # aware datetimes compare as instants
    assert back["published_at"].tzinfo == UTC
    assert back["published_at"] == dt.datetime(2024, 3, 5, 12, 30, 0, 123456, tzinfo=UTC)
    assert back["ingested_at"].tzinfo is None


def test_packed_row_needs_no_pickle():
    """Beam's default coder pickles what it cannot code natively: a datetime in a packed row
    would make the packing pointless. Encoded, a pickled value carries the pickle protocol
    marker; a packed row must not."""
    row = {"doc_id": "x", "published_at": dt.datetime(2024, 3, 5, tzinfo=UTC), "date": "2024-03-05"}
    coder = coders.FastPrimitivesCoder()
    assert b"\x80\x04" in coder.encode(row) or b"\x80\x05" in coder.encode(row)
    packed = pack_row(row)
    encoded = coder.encode(packed)
    assert b"\x80\x04" not in encoded and b"\x80\x05" not in encoded
    assert unpack_row(coder.decode(encoded)) == row


def test_micros_round_trip_and_naive_read_as_utc():
    moment = dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert from_micros(to_micros(moment)) == moment
    assert to_micros(dt.datetime(2024, 1, 1)) == to_micros(dt.datetime(2024, 1, 1, tzinfo=UTC))
