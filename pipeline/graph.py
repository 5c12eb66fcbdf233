"""The pipeline graph: read -> clean -> deduplicate -> enrich -> write.

``build(p, cfg, run)`` adds every stage to a Beam pipeline and returns the output tables as
PCollections, so tests can assert on them and the CLI can run them on any runner.
"""

from __future__ import annotations

import os

import apache_beam as beam

from pipeline.coders import use_record_coder
from pipeline.options import RunContext
from pipeline.progress import tap_progress
from schemas.config import NewsbeamConfig
from transforms.clean import CleanDocuments
from transforms.dedup import ClusterNearDuplicates
from transforms.read import ReadDocuments
from transforms.write import INDEX_TABLE, WriteTables, complete_error_row

STATE_DIR = "_state"


def state_dir(output: str) -> str:
    """Where feed validators (ETag/Last-Modified) live between scheduled runs."""
    return os.path.join(output, STATE_DIR)


def build(p: beam.Pipeline, cfg: NewsbeamConfig, run: RunContext, write: bool = True) -> dict[str, beam.PCollection]:
    """Add the newsbeam stages to ``p``; returns the tables (and, with ``write``, stages them as Parquet)."""
    use_record_coder()
    document_parts, error_parts = [], []
    if run.inputs:
        documents, read_errors = p | "Read" >> ReadDocuments(list(run.inputs), cfg.read)
        document_parts.append(documents)
        error_parts.append(read_errors)
    if run.feeds or cfg.feeds.sources:
        from transforms.feeds import ReadFeeds

        entries, feed_errors = p | "ReadFeeds" >> ReadFeeds(
            list(run.feeds), cfg.feeds, run.allow_hosts, state_dir=state_dir(run.output), run_id=run.run_id
        )
        document_parts.append(entries)
        error_parts.append(feed_errors)
    documents = document_parts | "AllDocuments" >> beam.Flatten(pipeline=p)
    articles, clean_errors = documents | "Clean" >> CleanDocuments(cfg.clean, run.run_id, run.ingested_at)
    canonical, duplicates, reuse, index_rows = articles | "Deduplicate" >> ClusterNearDuplicates(
        cfg.dedup, list(run.index_files)
    )
    error_parts.append(clean_errors)
    if cfg.enrich.enabled:
        from transforms.claims import GroupClaims
        from transforms.enrich import EnrichArticles
        from transforms.entity_linking import LinkEntities

        mentions, numbers, enrich_errors = canonical | "Enrich" >> EnrichArticles(cfg.enrich)
        entities, entity_index = mentions | "LinkEntities" >> LinkEntities()
        claims = numbers | "GroupClaims" >> GroupClaims()
        error_parts.append(enrich_errors)
    else:
        # One empty collection for the four tables: each Create is a stage of its own (~20 ms).
        entities = numbers = entity_index = claims = p | "NoEnrichment" >> beam.Create([])
    errors = (
        error_parts
        | "AllErrors" >> beam.Flatten()
        | "CompleteErrors" >> beam.Map(complete_error_row, run.run_id, run.ingested_at)
    )
    tables = {
        "articles": canonical,
        "entities": entities,
        "numbers": numbers,
        "duplicates": duplicates,
        "reuse": reuse,
        "entity_index": entity_index,
        "claims": claims,
        "errors": errors,
    }
    if write:
        tap_progress(run, documents, canonical, duplicates, errors)
        _ = {**tables, INDEX_TABLE: index_rows} | "Write" >> WriteTables(
            run.output, run.run_id, cfg.write, run.ingested_at
        )
    return tables
