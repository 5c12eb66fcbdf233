"""Multi-process runs whose workers are forked from the warm pool (pipeline/workers.py)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from pipeline.run import run
from pipeline.workers import SERVE_POOL_FLAG, WarmPool
from tests.conftest import SEEDS
from transforms.write import read_table

pytestmark = pytest.mark.skipif(
    not WarmPool.available(), reason="the warm pool runs on Linux only, and NEWSBEAM_WARM_POOL=0 turns it off"
)

TWO_WORKERS = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
# What tells one run's output from another's, whatever the run: left out of the comparison
# (the seeds state no publication time, so a claim's first_published is its run's ingest time).
RUN_COLUMNS = {"run_id", "ingested_at", "batch", "first_published"}


def rows(output: Path, table: str) -> list[tuple]:
    found = read_table(str(output), table).to_pylist()
    return sorted(tuple(sorted((k, repr(v)) for k, v in row.items() if k not in RUN_COLUMNS)) for row in found)


def processes_mentioning(text: str) -> list[int]:
    """Processes whose command line holds ``text`` (forked workers keep the pool's)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in command:
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def one_process_output(tmp_path_factory):
    out = tmp_path_factory.mktemp("one-process") / "out"
    run([str(SEEDS)], str(out))
    return out


def test_workers_forked_from_the_pool_give_the_same_entities_and_numbers(tmp_path, one_process_output):
    """The pool loads the spaCy model once and the forked workers use it: every table the same as
    a one-process run's, entities and numbers included."""
    pool = WarmPool.start(TWO_WORKERS)
    assert pool is not None
    try:
        summary = run([str(SEEDS)], str(tmp_path / "out"), beam_args=TWO_WORKERS, warm_pool=pool)
    finally:
        pool.close()
    assert summary["accounting"]["balanced"]
    for table in ("articles", "entities", "numbers", "claims"):
        assert rows(tmp_path / "out", table) == rows(one_process_output, table), table
    assert rows(tmp_path / "out", "entities")  # the seeds do name people and places


def test_workers_start_on_their_own_when_the_pool_has_died(tmp_path, one_process_output):
    pool = WarmPool.start(TWO_WORKERS)
    pool._process.kill()
    pool._process.wait()
    try:
        summary = run([str(SEEDS)], str(tmp_path / "out"), beam_args=TWO_WORKERS, warm_pool=pool)
    finally:
        pool.close()
    assert summary["accounting"]["balanced"]
    assert rows(tmp_path / "out", "entities") == rows(one_process_output, "entities")


def test_a_run_leaves_no_pool_or_worker_process_and_no_socket_behind(tmp_path):
    pool = WarmPool.start(TWO_WORKERS)
    address = pool.address
    assert processes_mentioning(address)  # the pool is running
    run([str(SEEDS)], str(tmp_path / "out"), beam_args=TWO_WORKERS, enrich=False, warm_pool=pool)
    pool.close()
    deadline = time.monotonic() + 10
    while processes_mentioning(address) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_mentioning(address) == []
    assert not os.path.exists(os.path.dirname(address))


@pytest.mark.parametrize(
    ("beam_args", "starts"),
    [
        (TWO_WORKERS, True),
        (["--direct_running_mode", "multi_processing"], True),
        ([], False),
        (["--direct_running_mode=in_memory"], False),
        (["--direct_num_workers=2"], False),
    ],
)
def test_the_pool_starts_only_for_runs_that_ask_for_worker_processes(beam_args, starts):
    pool = WarmPool.start(beam_args)
    try:
        assert (pool is not None) == starts
    finally:
        if pool is not None:
            pool.close()


def test_a_pool_the_run_does_not_need_ends_at_once(tmp_path):
    """Started on the raw arguments' word (multi_processing) for a run on another runner mode:
    the run closes it before building its graph."""
    pool = WarmPool.start(TWO_WORKERS)
    in_memory = ["--direct_running_mode=in_memory"]
    run([str(SEEDS)], str(tmp_path / "out"), beam_args=in_memory, enrich=False, warm_pool=pool)
    assert pool._process.poll() is not None
    assert processes_mentioning(f"{SERVE_POOL_FLAG} {pool.address}") == []


def test_the_pool_can_be_switched_off(monkeypatch, tmp_path):
    monkeypatch.setenv("NEWSBEAM_WARM_POOL", "0")
    assert WarmPool.start(TWO_WORKERS) is None
    summary = run([str(SEEDS)], str(tmp_path / "out"), beam_args=TWO_WORKERS, enrich=False)
    assert summary["accounting"]["balanced"] and summary["accounting"]["articles"] == 5


def test_a_caller_that_leaves_without_asking_does_not_end_the_pool(tmp_path):
    import socket

    pool = WarmPool.start(TWO_WORKERS)
    try:
        pool.configure(None, "numpy")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as caller:
            deadline = time.monotonic() + 30
            while True:  # the pool binds its address as it starts
                try:
                    caller.connect(pool.address)
                    break
                except OSError:
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
        summary = run([str(SEEDS)], str(tmp_path / "out"), beam_args=TWO_WORKERS, enrich=False, warm_pool=pool)
        assert summary["accounting"]["balanced"]
        assert pool._process.poll() is None  # still serving after the run's own workers
    finally:
        pool.close()
