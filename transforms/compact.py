"""Rows in the form that crosses a Beam shuffle cheaply: plain tuples, strings and integers.

Beam's default coder (``FastPrimitivesCoder``) encodes str, int, float, bytes, tuples, lists
and dicts of them natively; anything else, a ``datetime`` or a ``NamedTuple`` included, falls
back to pickle. Measured here per encode + decode: an entity row as a dict holding its
``published_at`` 7.4 µs, the same row packed by ``pack_row`` 1.5 µs (4.2 µs with packing and
unpacking); a datetime alone 6.2 µs, its integer microseconds 0.5 µs; a small NamedTuple
3.0 µs, the plain tuple 0.6 µs. Entity rows are 35 per article and cross several shuffles.
"""

from __future__ import annotations

import datetime as dt

_UTC = dt.timezone.utc
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=_UTC)
_NAIVE_EPOCH = dt.datetime(1970, 1, 1)
_MICROSECOND = dt.timedelta(microseconds=1)


def to_micros(moment: dt.datetime) -> int:
    """Microseconds since the epoch; a naive datetime is read as UTC (as the tables store it)."""
    if moment.tzinfo is None:
        return (moment - _NAIVE_EPOCH) // _MICROSECOND
    return (moment - _EPOCH) // _MICROSECOND


def from_micros(micros: int) -> dt.datetime:
    """The aware UTC datetime of ``to_micros``."""
    return _EPOCH + dt.timedelta(microseconds=micros)


PackedRow = tuple[tuple[str, ...], tuple, int, int]


def pack_row(row: dict) -> PackedRow:
    """``row`` as (field names, values, aware mask, naive mask): datetimes become integer
    microseconds, and bit i of a mask says value i was an aware (UTC after unpacking) or a
    naive datetime. Other values are kept as they are."""
    values, aware, naive = [], 0, 0
    for i, value in enumerate(row.values()):
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                naive |= 1 << i
            else:
                aware |= 1 << i
            value = to_micros(value)
        values.append(value)
    return tuple(row), tuple(values), aware, naive


def unpack_row(packed: PackedRow) -> dict:
    """The row ``pack_row`` packed: same fields in the same order, equal values (an aware
    datetime comes back in UTC: the same instant)."""
    names, values, aware, naive = packed
    row = dict(zip(names, values))
    if aware or naive:
        for i, name in enumerate(names):
            if aware >> i & 1:
                row[name] = from_micros(row[name])
            elif naive >> i & 1:
                row[name] = _NAIVE_EPOCH + dt.timedelta(microseconds=row[name])
    return row
