"""Busy time per stage, as Beam counters, so the run summary can say where time went.

Work is timed before its outputs are yielded: in a fused Beam stage a ``yield`` runs the
downstream steps, whose time must not be billed to this one.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from apache_beam.metrics import Metrics

METRICS_NAMESPACE = "newsbeam"


class StageClock:
    """Accumulates one stage's busy microseconds in the counter ``<stage>_usecs``."""

    def __init__(self, stage: str):
        self._counter = Metrics.counter(METRICS_NAMESPACE, f"{stage}_usecs")

    @contextmanager
    def timing(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self._counter.inc(int((time.perf_counter() - started) * 1_000_000))
