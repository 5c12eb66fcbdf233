"""Claims: the same count reported by several articles of a run, counted once.

A claim is one (event, counted object, value, upper value) as the ``numbers`` table reads it,
e.g. (kill, "people", 2300, None) or (evacuate, "people", 7000, None). The ``claims`` table has
one row per claim with how many articles and distinct outlets made it and which came first,
so "2,300 killed" repeated by six outlets is one claim with six outlets, not six counts.

Rules a reader of the table needs to know:

- Only rows of kind ``count`` with an ``event`` are claims (a percent or a sum of money is
  not a number of people something happened to). Number rows come from canonical articles
  only, so wire copies clustered by dedup are already out.
- The key is exact: "more than 7,000" and "7,000" are one claim (the qualifier is how it was
  hedged, not what was claimed); ``qualifier`` is the most common one among the mentions
  (ties go to the first in ``schemas.tables.QUALIFIERS``). "7,000" and "7,500" are two.
- ``articles`` counts distinct articles (one article repeating a number counts once);
  ``outlets`` counts distinct non-empty outlets of those articles.
- The first article is the earliest by ``published_at`` (articles without one come last),
  then by ``doc_id``; ``first_published`` and ``date`` (the partition) are its own.

:func:`group_claims` is the whole logic on a list of rows; :class:`GroupClaims` does the
same in Beam, one ``GroupByKey`` group per claim, so no worker holds the whole run.
Input rows are ``numbers`` rows plus their article's ``outlet`` and ``published_at``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from collections.abc import Iterable

import apache_beam as beam

from schemas.tables import QUALIFIERS

# The fields of a number row a claim needs; the rest (context, offsets) stays behind.
CLAIM_INPUT_KEYS = (
    "doc_id", "outlet", "published_at", "date", "qualifier", "event", "counted", "value", "value_max",
)  # fmt: skip

ClaimKey = tuple[str, str | None, float, float | None]


def claim_key(row: dict) -> ClaimKey | None:
    """(event, counted, value, value_max) of a number row that makes a claim, else None."""
    if row.get("kind") != "count" or not row.get("event") or row.get("value") is None:
        return None
    value_max = row.get("value_max")
    return row["event"], row.get("counted"), float(row["value"]), None if value_max is None else float(value_max)


def claim_id(key: ClaimKey) -> str:
    """A stable id for a claim: the same key gives the same id in every run and process."""
    return hashlib.sha256(json.dumps(list(key)).encode()).hexdigest()[:16]


def _first_order(row: dict) -> tuple:
    published = row.get("published_at")
    return (published is None, published or dt.datetime.min.replace(tzinfo=dt.timezone.utc), row["doc_id"])


def claim_row(key: ClaimKey, rows: Iterable[dict]) -> dict:
    """The ``claims`` row for one claim from the number rows that make it."""
    rows = list(rows)
    event, counted, value, value_max = key
    qualifiers = Counter(row.get("qualifier") or "exact" for row in rows)
    qualifier = min(
        qualifiers,
        key=lambda name: (-qualifiers[name], QUALIFIERS.index(name) if name in QUALIFIERS else len(QUALIFIERS)),
    )
    first = min(rows, key=_first_order)
    doc_ids = sorted({row["doc_id"] for row in rows})
    return {
        "claim_id": claim_id(key),
        "event": event,
        "counted": counted,
        "value": value,
        "value_max": value_max,
        "qualifier": qualifier,
        "articles": len(doc_ids),
        "outlets": len({row["outlet"] for row in rows if row.get("outlet")}),
        "doc_ids": doc_ids,
        "first_doc_id": first["doc_id"],
        "first_published": first.get("published_at"),
        "date": first["date"],
    }


def group_claims(rows: Iterable[dict]) -> list[dict]:
    """``claims`` rows for number rows of a run's canonical articles, ordered by claim_id."""
    groups: dict[ClaimKey, list[dict]] = {}
    for row in rows:
        key = claim_key(row)
        if key is not None:
            groups.setdefault(key, []).append(row)
    return sorted((claim_row(key, members) for key, members in groups.items()), key=lambda claim: claim["claim_id"])


def _keyed_by_claim(row: dict) -> list[tuple[str, dict]]:
    key = claim_key(row)
    if key is None:
        return []
    return [(claim_id(key), {name: row.get(name) for name in (*CLAIM_INPUT_KEYS, "kind")})]


def _claim_from_group(_: str, rows: Iterable[dict]) -> dict:
    rows = list(rows)
    return claim_row(claim_key(rows[0]), rows)


class GroupClaims(beam.PTransform):
    """number rows (with ``outlet`` and ``published_at``) -> claims rows, one group per claim."""

    def expand(self, numbers):
        return (
            numbers
            | "KeyByClaim" >> beam.FlatMap(_keyed_by_claim)
            | "GroupByClaim" >> beam.GroupByKey()
            | "ClaimRow" >> beam.MapTuple(_claim_from_group)
        )
