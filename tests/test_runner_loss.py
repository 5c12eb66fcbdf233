"""A runner that loses elements inside the dedup step must not cost copies silently.

Beam 2.77's multi-process DirectRunner was seen to drop part of a join's inputs in single runs
of 200,000 documents (benchmarks/soak.py --max-documents-per-pass 0), nondeterministically: the
copies those pairs stood for were then written as articles. The dedup step counts what each of
its steps receives; the launcher checks those counts before committing and reruns the run.
The loss itself cannot be provoked in a test, so the check is tested on real counters with a
loss written into them, and the rerun with the check reporting a loss that did not happen."""

from __future__ import annotations

import shutil

import duckdb
import pytest

import pipeline.run as launcher
from pipeline.run import RUNNER_LOSS_ATTEMPTS, RunnerLostData, run
from schemas.config import DedupConfig
from tests.conftest import SEEDS
from tests.test_incremental import write_copy
from transforms.dedup import dedup_losses
from transforms.write import read_table

BANDS = DedupConfig().bands


@pytest.fixture(scope="module")
def folder_with_copies(tmp_path_factory):
    """The five seeds and two edited copies of them: candidate pairs through every join."""
    folder = tmp_path_factory.mktemp("loss") / "in"
    folder.mkdir()
    seeds = sorted(SEEDS.glob("*.txt"))
    for seed in seeds:
        shutil.copy(seed, folder / seed.name)
    write_copy(seeds[0].read_text(encoding="utf-8"), folder / "copy0.txt", prefix="New Headline Here\n")
    write_copy(seeds[3].read_text(encoding="utf-8"), folder / "copy3.txt", share=0.7)
    return folder


@pytest.fixture(scope="module")
def clean_run(folder_with_copies, tmp_path_factory):
    out = tmp_path_factory.mktemp("loss-out") / "out"
    return run([str(folder_with_copies)], output=str(out), enrich=False)


def dedup_counters(summary: dict) -> dict:
    return {k: v for k, v in summary["counters"].items() if k.startswith("dedup_")}


def test_a_real_runs_dedup_counters_balance(clean_run):
    counters = dedup_counters(clean_run)
    assert clean_run["accounting"]["duplicates"] == 2
    assert counters["dedup_sketched"] == 7 and counters["dedup_band_entries"] == 7 * BANDS
    assert counters["dedup_anchor_entries"] == counters["dedup_anchors_emitted"] > 7 * 20
    assert counters["dedup_candidate_pairs"] >= 2 and counters["dedup_pairs_compared"] >= 2
    assert dedup_losses(counters, BANDS) == []


@pytest.mark.parametrize(
    ("counter", "step"),
    [
        ("dedup_band_entries", "LSH band entries"),
        ("dedup_anchor_entries", "anchor entries"),
        ("dedup_pairs_keyed", "candidate pairs reaching classification"),
        ("dedup_pair_ends", "pair ends given their sketch"),
        ("dedup_pairs_joined", "pairs with both sketches"),
        ("dedup_pairs_compared", "pairs classified"),
    ],
)
def test_a_loss_between_steps_is_named(clean_run, counter, step):
    counters = dedup_counters(clean_run)
    counters[counter] -= 1
    problems = dedup_losses(counters, BANDS)
    assert problems and problems[0].startswith(step)


def test_a_missing_sketch_is_a_loss(clean_run):
    counters = dedup_counters(clean_run)
    counters["dedup_end_without_sketch"] = 1
    counters["dedup_pairs_compared"] -= 1
    assert dedup_losses(counters, BANDS)[-1] == "candidate pairs whose article sketch was missing: 1"


def losses_on_first_attempts(monkeypatch, failing: int) -> list[int]:
    """The check reports a loss on the first ``failing`` runs, then the real check."""
    calls: list[int] = []

    def check(counters, bands):
        calls.append(1)
        return (
            ["pair ends out of the join: 5 expected, 3 seen"]
            if len(calls) <= failing
            else dedup_losses(counters, bands)
        )

    monkeypatch.setattr(launcher, "dedup_losses", check)
    return calls


def test_a_run_with_a_loss_is_rerun_and_committed_once(folder_with_copies, clean_run, tmp_path, monkeypatch, capsys):
    calls = losses_on_first_attempts(monkeypatch, failing=1)
    out = tmp_path / "out"
    summary = run([str(folder_with_copies)], output=str(out), enrich=False)
    assert len(calls) == 2
    assert "lost elements inside the dedup step" in capsys.readouterr().err
    assert summary["accounting"] == clean_run["accounting"]
    # One run's rows, not two: the failed attempt's staged files were dropped.
    articles = read_table(str(out), "articles")
    assert articles.num_rows == summary["accounting"]["articles"] == len(set(articles.column("doc_id").to_pylist()))
    assert duckdb.sql(f"select count(*) from read_parquet('{out}/duplicates/**/*.parquet')").fetchall() == [(2,)]
    assert len(list((out / "_runs").glob("*.json"))) == 1
    assert not list(out.glob("_staging/*/*"))


def test_losses_in_every_attempt_fail_the_run_and_commit_nothing(folder_with_copies, tmp_path, monkeypatch):
    calls = losses_on_first_attempts(monkeypatch, failing=RUNNER_LOSS_ATTEMPTS)
    out = tmp_path / "out"
    with pytest.raises(RunnerLostData, match="nothing was committed"):
        run([str(folder_with_copies)], output=str(out), enrich=False)
    assert len(calls) == RUNNER_LOSS_ATTEMPTS
    assert not list(out.glob("articles/**/*.parquet")) and not list(out.glob("_runs/*.json"))
    # The lock is released: the next run goes through.
    monkeypatch.setattr(launcher, "dedup_losses", dedup_losses)
    assert run([str(folder_with_copies)], output=str(out), enrich=False)["accounting"]["duplicates"] == 2
