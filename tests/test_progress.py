"""Progress while a run works: lines on stderr (text or JSON), silent with --quiet, and final
counts that equal the run's accounting, in one process and across worker processes."""

from __future__ import annotations

import json
import re

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.cli import main
from pipeline.options import make_run
from pipeline.progress import progress_dir, read_counts, tap_progress
from tests.test_cli import write_outlet_folder

TWO_WORKERS = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
# Low enough that a run of a few seconds prints several lines; nothing asserts how many.
FAST = ["--progress-interval", "0.05"]
TEXT_LINE = re.compile(
    r"^\[newsbeam\] \d+s inputs \d+ · articles \d+ · duplicates \d+ · errors \d+ · \d+\.\d docs/s"
    r"( \(pipeline finished\))?$"
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("progress") / "in"
    write_outlet_folder(path)
    return path


def run_json(folder, out, capsys, *extra: str) -> tuple[list[dict], dict]:
    """Run with JSON logs; returns the progress records and the summary record."""
    argv = ["run", str(folder), "--output", str(out), "--no-enrich", "--log-format", "json", *FAST, *extra]
    assert main(argv) == 0
    captured = capsys.readouterr()
    # Beam's worker processes log to the inherited stderr descriptor, not to sys.stderr.
    progress = [json.loads(line) for line in captured.err.splitlines()]
    (summary,) = [json.loads(line) for line in captured.out.splitlines()]
    return progress, summary


def assert_final_counts_match(progress: list[dict], summary: dict) -> None:
    assert progress and all(r["event"] == "progress" and r["run_id"] == summary["run_id"] for r in progress)
    assert [r["done"] for r in progress] == [False] * (len(progress) - 1) + [True]
    final, accounting = progress[-1], summary["accounting"]
    assert {k: final[k] for k in ("inputs", "articles", "duplicates", "errors")} == {
        k: accounting[k] for k in ("inputs", "articles", "duplicates", "errors")
    }
    # Counts only grow.
    for key in ("inputs", "articles", "duplicates", "errors"):
        values = [r[key] for r in progress]
        assert values == sorted(values), (key, values)


def test_json_progress_lines_end_with_the_accounted_counts(folder, tmp_path, capsys):
    progress, summary = run_json(folder, tmp_path / "out", capsys)
    assert summary["event"] == "summary" and summary["accounting"]["balanced"]
    assert_final_counts_match(progress, summary)
    assert not (tmp_path / "out" / "_staging").exists()


def test_progress_is_counted_across_worker_processes(folder, tmp_path, capsys):
    progress, summary = run_json(folder, tmp_path / "out", capsys, *TWO_WORKERS)
    assert_final_counts_match(progress, summary)


def test_text_progress_lines_and_quiet(folder, tmp_path, capsys):
    assert main(["run", str(folder), "--output", str(tmp_path / "text"), "--no-enrich", *FAST]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert lines and all(TEXT_LINE.match(line) for line in lines), lines
    assert lines[-1].startswith("[newsbeam]") and lines[-1].endswith("(pipeline finished)")
    assert "inputs 9 · articles 4 · duplicates 4 · errors 1" in lines[-1]

    assert main(["run", str(folder), "--output", str(tmp_path / "quiet"), "--no-enrich", "--quiet", *FAST]) == 0
    assert capsys.readouterr() == ("", "")


def test_tap_counts_every_element_and_error_stage_on_the_multi_process_runner(tmp_path):
    run = make_run([], str(tmp_path))
    errors = [{"stage": "read"}] * 3 + [{"stage": "clean"}] * 2
    with beam.Pipeline(options=PipelineOptions(TWO_WORKERS)) as p:
        tap_progress(
            run,
            documents=p | "Documents" >> beam.Create(range(50)),
            articles=p | "Articles" >> beam.Create(range(40)),
            duplicates=p | "Duplicates" >> beam.Create(range(7)),
            errors=p | "Errors" >> beam.Create(errors),
        )
    counts = read_counts(progress_dir(run.output, run.run_id))
    assert counts == {
        "documents": 50,
        "articles": 40,
        "duplicates": 7,
        "errors": 5,
        "errors:read": 3,
        "errors:clean": 2,
    }
