"""The streaming graph: poll feeds on a clock, keep only entries not seen before, and write
windowed Parquet files into the same date partitions as batch runs.

    newsbeam run --streaming --feeds URL... --poll-interval 300 [--max-polls N]

Each poll reads every feed (conditional GET, so unchanged feeds cost a 304); entries are
deduplicated across polls by their id/link (Beam state, one key per entry) before their pages
are fetched; near-duplicate copies are caught by the streaming dedup stage, which keeps LSH
band state for ``dedup.stream_ttl_hours``. Every window of ``poll_interval`` seconds
writes its rows as new files (written under a temporary name, then renamed), so readers see
whole files only. ``--max-polls`` bounds the run (tests, cron-like use); without it the job
runs until stopped (Ctrl-C, or the runner's cancel).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import apache_beam as beam
from apache_beam.coders import BooleanCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms import window
from apache_beam.transforms.periodicsequence import PeriodicImpulse
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec

from pipeline.options import RunContext
from pipeline.progress import tap_progress
from schemas.config import NewsbeamConfig
from schemas.feeds_config import FeedConfig
from transforms.clean import CleanDocuments
from transforms.feeds import FetchingDoFn
from transforms.write import complete_error_row, write_windowed_group

METRICS_NAMESPACE = "newsbeam"
# A stream that never stops is bounded by this many polls when --max-polls is not given.
FOREVER_POLLS = 10**9


class PollFeedsFn(FetchingDoFn):
    """One clock tick -> every feed read once: ``(entry key, ("document"|"page", value))`` and
    error rows (tagged "errors"). Validators live in this worker and in ``<output>/_state``."""

    def __init__(self, sources: list[str], cfg: FeedConfig, allow_hosts: tuple[str, ...], state_dir: str):
        from transforms.feeds import launch_specs

        super().__init__(cfg, allow_hosts)
        self._specs = launch_specs([*sources, *cfg.sources])
        self._state_dir = state_dir
        self._polls = Metrics.counter(METRICS_NAMESPACE, "feed_polls")

    def setup(self):
        from transforms.http import load_validator_state

        super().setup()
        self._validators = load_validator_state(self._state_dir)

    def process(self, _tick) -> Iterator:
        from transforms.feeds import entry_source, read_feed_source
        from transforms.http import save_validator_state

        self._polls.inc()
        queue = list(self._specs)
        seen_locations: set[str] = set()
        while queue:
            spec = queue.pop(0)
            if spec["location"] in seen_locations:
                continue
            seen_locations.add(spec["location"])
            for kind, value in read_feed_source(spec, self._client, self._cfg, self._validators, True):
                if kind == "document":
                    yield (value["source"], ("document", value))
                elif kind == "page":
                    yield (entry_source(value["feed_url"], value["entry"]), ("page", value))
                elif kind in ("error", "note"):
                    yield beam.pvalue.TaggedOutput("errors", (kind, value))
                elif kind == "listed":
                    queue.append(value)
                elif kind == "validators":
                    url, record = value
                    self._validators[url] = record
        save_validator_state(self._state_dir, self._validators)


class FirstSightingFn(beam.DoFn):
    """Keyed by entry: pass an entry the first time any poll sees it, drop it afterwards.

    A feed lists the same entries poll after poll; they are one input, not one per poll.
    """

    SEEN = ReadModifyWriteStateSpec("seen", BooleanCoder())

    def __init__(self):
        self._inputs = Metrics.counter(METRICS_NAMESPACE, "read_inputs")
        self._repeats = Metrics.counter(METRICS_NAMESPACE, "feed_entries_seen_before")

    def process(self, keyed, seen=beam.DoFn.StateParam(SEEN)) -> Iterator:
        _key, item = keyed
        if seen.read():
            self._repeats.inc()
            return
        seen.write(True)
        self._inputs.inc()
        yield item


class FetchPagesFn(FetchingDoFn):
    """``("document", raw)`` passes; ``("page", request)`` is fetched into a raw document or an error row."""

    def process(self, item) -> Iterator:
        from transforms.feeds import fetch_entry_page

        kind, value = item
        if kind == "document":
            yield value
            return
        outcome, record, _retryable = fetch_entry_page(value, self._client, self._cfg)
        if outcome == "document":
            yield record
        else:
            yield beam.pvalue.TaggedOutput("errors", record)


def _source_error(tagged: tuple[str, dict]) -> Iterator[dict]:
    kind, row = tagged
    if kind == "error":
        # A whole feed failing on this poll is an input that ended as an error.
        Metrics.counter(METRICS_NAMESPACE, "read_inputs").inc()
    yield row


def build_streaming(
    p: beam.Pipeline, cfg: NewsbeamConfig, run: RunContext, poll_interval: float, max_polls: int | None
) -> dict[str, beam.PCollection]:
    """Add the streaming stages to ``p`` (which must run with ``--streaming``)."""
    from pipeline.graph import state_dir
    from transforms.dedup_streaming import StreamingNearDuplicates

    polls = max_polls or FOREVER_POLLS
    start = time.time()
    ticks = p | "PollClock" >> PeriodicImpulse(
        start_timestamp=start,
        stop_timestamp=start + poll_interval * (polls - 1) + poll_interval / 2,
        fire_interval=poll_interval,
        apply_windowing=False,
    )
    polled = ticks | "PollFeeds" >> beam.ParDo(
        PollFeedsFn(list(run.feeds), cfg.feeds, run.allow_hosts, state_dir(run.output))
    ).with_outputs("errors", main="entries")
    fetched = (
        polled.entries
        | "FirstSighting" >> beam.ParDo(FirstSightingFn())
        | "FetchPages" >> beam.ParDo(FetchPagesFn(cfg.feeds, run.allow_hosts)).with_outputs("errors", main="documents")
    )
    articles, clean_errors = fetched.documents | "Clean" >> CleanDocuments(cfg.clean, run.run_id, run.ingested_at)
    ttl = int(cfg.dedup.stream_ttl_hours * 3600)
    canonical, duplicates = articles | "Deduplicate" >> StreamingNearDuplicates(cfg.dedup, ttl)
    error_parts = [polled.errors | "SourceErrors" >> beam.FlatMap(_source_error), fetched.errors, clean_errors]
    if cfg.enrich.enabled:
        from transforms.enrich import EnrichArticles

        entities, numbers, enrich_errors = canonical | "Enrich" >> EnrichArticles(cfg.enrich)
        error_parts.append(enrich_errors)
    else:
        entities = p | "NoEntities" >> beam.Create([])
        numbers = p | "NoNumbers" >> beam.Create([])
    errors = (
        error_parts
        | "AllErrors" >> beam.Flatten()
        | "CompleteErrors" >> beam.Map(complete_error_row, run.run_id, run.ingested_at)
    )
    tap_progress(run, fetched.documents, canonical, duplicates, errors)
    tables = {
        "articles": canonical | "NoReuseInStreaming" >> beam.Map(lambda a: {"wire_share": 0.0, **a}),
        "entities": entities,
        "numbers": numbers,
        "duplicates": duplicates,
        "errors": errors,
    }
    for name, rows in tables.items():
        _ = (
            rows
            | f"Window{name.capitalize()}" >> beam.WindowInto(window.FixedWindows(poll_interval))
            | f"KeyByDate{name.capitalize()}" >> beam.Map(lambda r: (r["date"], r))
            | f"Group{name.capitalize()}" >> beam.GroupByKey()
            | f"Write{name.capitalize()}"
            >> beam.ParDo(_WriteWindowFn(name, run.output, run.run_id, cfg.write.compression))
        )
    return tables


class _WriteWindowFn(beam.DoFn):
    def __init__(self, table: str, output: str, run_id: str, compression: str):
        self._table = table
        self._output = output
        self._run_id = run_id
        self._compression = compression

    def process(self, element, window_=beam.DoFn.WindowParam) -> Iterator[str]:
        date, rows = element
        start = int(window_.start.micros // 1_000_000) if hasattr(window_, "start") else 0
        yield write_windowed_group(
            self._output, self._table, date, list(rows), f"{self._run_id}-w{start}", self._compression
        )
