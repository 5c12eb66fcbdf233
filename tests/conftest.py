"""Shared fixtures: the bundled seed articles and the evaluation data beside the repo."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest
from apache_beam.testing.test_pipeline import TestPipeline

# TestPipelines built without explicit options run on the runner `newsbeam run` uses
# (pipeline/options.py, direct_runner_for): Beam's DirectRunner would first try Prism, which it
# downloads when the machine is online, and the tests would then check another runner.
TestPipeline.pytest_test_pipeline_options = "--runner=FnApiRunner"

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "samples" / "seeds"
EVAL = REPO.parent / "shared" / "eval"


@pytest.fixture(scope="session")
def seed_paths() -> list[Path]:
    return sorted(SEEDS.glob("*.txt"))


@pytest.fixture(scope="session")
def seed_texts(seed_paths) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in seed_paths}


@pytest.fixture(scope="session")
def eval_dir() -> Path:
    if not EVAL.is_dir():
        pytest.skip(f"evaluation data not found at {EVAL} (it lives in ../shared/eval beside the repo)")
    return EVAL


def make_article(text: str, source: str, published: dt.datetime | None = None, outlet: str | None = None) -> dict:
    """An article record as the clean stage emits it, for stage tests downstream of clean."""
    doc_id = hashlib.sha256(text.encode()).hexdigest()[:16]
    date = (published or dt.datetime(2026, 11, 23, tzinfo=dt.timezone.utc)).strftime("%Y-%m-%d")
    return {
        "doc_id": doc_id,
        "url": None,
        "source": source,
        "outlet": outlet,
        "title": None,
        "authors": [],
        "published_at": published,
        "date_source": "sidecar" if published else "ingestion",
        "ingested_at": dt.datetime(2026, 11, 23, tzinfo=dt.timezone.utc),
        "language": "en",
        "text": text,
        "word_count": len(text.split()),
        "content_hash": hashlib.sha256(text.encode()).hexdigest(),
        "wire_credits": [],
        "removed_lines": 0,
        "run_id": "test-run",
        "date": date,
    }
