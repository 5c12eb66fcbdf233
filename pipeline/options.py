"""What one run is: its id, clock, inputs and output, fixed once at launch."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RunContext:
    """Plain values every stage may need; passed explicitly, never read from globals."""

    inputs: tuple[str, ...]
    output: str
    # Signature index files of earlier runs to deduplicate against (listed at launch).
    index_files: tuple[str, ...] = ()
    # Feed URLs, local feed files and OPML lists; hosts let through the address checks.
    feeds: tuple[str, ...] = ()
    allow_hosts: tuple[str, ...] = ()
    run_id: str = field(default_factory=lambda: new_run_id())
    # One ingestion time per run, so that every row of a run agrees on it.
    ingested_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).replace(microsecond=0))


def new_run_id(now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def make_run(
    inputs: list[str],
    output: str,
    index_files: list[str] = (),
    feeds: list[str] = (),
    allow_hosts: list[str] = (),
) -> RunContext:
    return RunContext(
        inputs=tuple(inputs),
        output=os.path.abspath(output),
        index_files=tuple(index_files),
        feeds=tuple(feeds),
        allow_hosts=tuple(allow_hosts),
    )
