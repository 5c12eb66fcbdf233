"""Output tables: one explicit pyarrow schema per table, the Parquet contract.

Every table is written as a Hive-partitioned dataset ``<output>/<table>/date=YYYY-MM-DD/``.
The ``date`` column is the partition key: it lives in the directory name, not in the
files, and readers (DuckDB ``hive_partitioning=true``, pyarrow ``partitioning="hive"``,
Spark, polars) restore it as a column.

Change a column only together with ``SCHEMA_VERSION`` and a note in the README.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = "3"
SCHEMA_VERSION_KEY = b"newsbeam.schema_version"
PARTITION_COLUMN = "date"

TIMESTAMP = pa.timestamp("us", tz="UTC")

ARTICLES = pa.schema(
    [
        ("doc_id", pa.string()),
        ("url", pa.string()),
        ("source", pa.string()),
        ("outlet", pa.string()),
        ("title", pa.string()),
        ("authors", pa.list_(pa.string())),
        ("published_at", TIMESTAMP),
        ("date_source", pa.string()),
        ("ingested_at", TIMESTAMP),
        ("language", pa.string()),
        ("text", pa.string()),
        ("word_count", pa.int32()),
        ("content_hash", pa.string()),
        ("cluster_id", pa.string()),
        ("copies", pa.int32()),
        ("outlets", pa.list_(pa.string())),
        ("wire_share", pa.float64()),
        ("wire_credits", pa.list_(pa.string())),
        ("removed_lines", pa.int32()),
        ("run_id", pa.string()),
        ("date", pa.string()),
    ]
)

ENTITIES = pa.schema(
    [
        ("doc_id", pa.string()),
        ("text", pa.string()),
        ("label", pa.string()),
        ("canonical", pa.string()),
        ("entity_id", pa.string()),
        ("start", pa.int32()),
        ("end", pa.int32()),
        ("date", pa.string()),
    ]
)

NUMBERS = pa.schema(
    [
        ("doc_id", pa.string()),
        ("text", pa.string()),
        ("value", pa.float64()),
        ("value_max", pa.float64()),
        ("qualifier", pa.string()),
        ("kind", pa.string()),
        ("unit", pa.string()),
        ("counted", pa.string()),
        ("verb", pa.string()),
        ("event", pa.string()),
        ("is_people", pa.bool_()),
        ("resolved_date", pa.date32()),
        ("start", pa.int32()),
        ("end", pa.int32()),
        ("context", pa.string()),
        ("date", pa.string()),
    ]
)

DUPLICATES = pa.schema(
    [
        ("doc_id", pa.string()),
        ("duplicate_of", pa.string()),
        ("cluster_id", pa.string()),
        ("similarity", pa.float64()),
        ("source", pa.string()),
        ("outlet", pa.string()),
        ("url", pa.string()),
        ("published_at", TIMESTAMP),
        ("date", pa.string()),
    ]
)

REUSE = pa.schema(
    [
        ("doc_id", pa.string()),
        ("source_doc_id", pa.string()),
        ("share", pa.float64()),
        ("shared_shingles", pa.int32()),
        ("passages", pa.list_(pa.struct([("start", pa.int32()), ("end", pa.int32())]))),
        ("date", pa.string()),
    ]
)

ENTITY_INDEX = pa.schema(
    [
        ("entity_id", pa.string()),
        ("canonical", pa.string()),
        ("label", pa.string()),
        ("variants", pa.list_(pa.string())),
        ("articles", pa.int32()),
        ("mentions", pa.int32()),
        ("first_seen", TIMESTAMP),
        ("last_seen", TIMESTAMP),
        ("date", pa.string()),
    ]
)

CLAIMS = pa.schema(
    [
        ("claim_id", pa.string()),
        ("event", pa.string()),
        ("counted", pa.string()),
        ("value", pa.float64()),
        ("value_max", pa.float64()),
        ("qualifier", pa.string()),
        ("articles", pa.int32()),
        ("outlets", pa.int32()),
        ("doc_ids", pa.list_(pa.string())),
        ("first_doc_id", pa.string()),
        ("first_published", TIMESTAMP),
        ("date", pa.string()),
    ]
)

ERRORS = pa.schema(
    [
        ("source", pa.string()),
        ("stage", pa.string()),
        ("error_type", pa.string()),
        ("message", pa.string()),
        ("excerpt", pa.string()),
        ("ingested_at", TIMESTAMP),
        ("run_id", pa.string()),
        ("date", pa.string()),
    ]
)

TABLES: dict[str, pa.Schema] = {
    "articles": ARTICLES,
    "entities": ENTITIES,
    "numbers": NUMBERS,
    "duplicates": DUPLICATES,
    "reuse": REUSE,
    "entity_index": ENTITY_INDEX,
    "claims": CLAIMS,
    "errors": ERRORS,
}

# Internal: the signature index of earlier runs' articles, for deduplicating across
# scheduled runs (``<output>/_index/``). Not part of the query contract.
INDEX = pa.schema(
    [
        ("doc_id", pa.string()),
        ("cluster_id", pa.string()),
        ("source", pa.string()),
        ("outlet", pa.string()),
        ("published_ts", pa.float64()),
        ("text_chars", pa.int64()),
        ("anchors", pa.list_(pa.uint64())),
        ("bands", pa.list_(pa.string())),
        ("date", pa.string()),
    ]
)
INTERNAL_TABLES: dict[str, pa.Schema] = {"_index": INDEX}

QUALIFIERS = ("exact", "at_least", "more_than", "at_most", "less_than", "approx")
NUMBER_KINDS = ("count", "money", "percent", "quantity", "date", "time", "ordinal")
DATE_SOURCES = ("metadata", "sidecar", "json", "feed", "html", "fetch", "ingestion")
# "feed" rows are warnings about a feed as a whole (recovered malformed XML, no entries):
# they annotate, they do not stand for a lost input.
STAGES = ("read", "feed", "clean", "dedup", "enrich", "write")

EXCERPT_CHARS = 200


def file_schema(table: str) -> pa.Schema:
    """The schema of one Parquet file of ``table``: the partition column is in the path."""
    schema = TABLES[table] if table in TABLES else INTERNAL_TABLES[table]
    schema = schema.remove(schema.get_field_index(PARTITION_COLUMN))
    return schema.with_metadata({SCHEMA_VERSION_KEY: SCHEMA_VERSION.encode()})


def error_row(source: str, stage: str, error_type: str, message: str, excerpt: str = "") -> dict:
    """A dead-letter record as stages emit it; the writer adds ingested_at, run_id, date."""
    return {
        "source": source,
        "stage": stage,
        "error_type": error_type,
        "message": message[:1000],
        "excerpt": (excerpt or "")[:EXCERPT_CHARS],
    }
