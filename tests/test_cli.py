"""The command line as a user meets it: one-line errors with exit code 2, help that shows every
default, and a run summary whose outlets and clusters match the tables it wrote."""

from __future__ import annotations

import argparse
import importlib
import json
import re
from pathlib import Path

import duckdb
import pytest

from pipeline.cli import build_parser, main
from pipeline.options import UsageError
from tests.conftest import SEEDS
from tests.test_end_to_end import newsbeam, table_sql


def write_outlet_folder(folder: Path) -> dict[str, int]:
    """Seed stories as JSON from named outlets: one agency story carried by three outlets, one by
    one, two unique stories, and a broken file. Returns the expected accounting."""
    texts = [p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))]
    folder.mkdir(parents=True)

    def article(name: str, text: str, outlet: str, day: int, title: str) -> None:
        record = {"text": text, "outlet": outlet, "title": title, "published": f"2022-03-{day:02d}T08:00:00+00:00"}
        (folder / name).write_text(json.dumps(record), encoding="utf-8")

    article("agency-0.json", texts[0], "Agency Wire", 20, "Mariupol deadline passes")
    for i, outlet in enumerate(("Daily Planet", "Gazette", "Herald")):
        article(f"copy-0-{i}.json", "Sign up for our newsletter\n" + texts[0], outlet, 21, f"Copy {i}")
    article("agency-1.json", texts[1], "Agency Wire", 20, "Evacuation corridors")
    article("copy-1.json", texts[1], "Gazette", 22, "Corridors, again")
    article("planet-2.json", texts[2], "Daily Planet", 20, "Ultimatum")
    article("herald-3.json", texts[3], "Herald", 20, "Sanctions")
    (folder / "broken.json").write_text("{not json", encoding="utf-8")
    return {"inputs": 9, "articles": 4, "duplicates": 4, "rejected": 1}


@pytest.fixture(scope="module")
def outlet_run(tmp_path_factory):
    """One run of the outlet folder through the CLI, with its JSON summary and output folder."""
    root = tmp_path_factory.mktemp("outlets")
    expected = write_outlet_folder(root / "in")
    out = root / "out"
    result = newsbeam("run", str(root / "in"), "--output", str(out), "--no-enrich", "--log-format", "json")
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout), out, expected


def gcs_support_installed() -> bool:
    try:
        importlib.import_module("apache_beam.io.gcp.gcsfilesystem")
    except ImportError:
        return False
    return True


def user_errors(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    """Each mistake a user can make, as CLI arguments, with what the message must mention."""
    output = str(tmp_path / "out")
    seeds = str(SEEDS)
    (tmp_path / "a-file").write_text("not a folder", encoding="utf-8")
    (tmp_path / "bad.yaml").write_text("dedup:\n  shingle_word: 5\n", encoding="utf-8")
    (tmp_path / "not-output").mkdir()
    not_output = str(tmp_path / "not-output")
    return {
        "missing input": (["run", str(tmp_path / "nope"), "--output", output], "does not exist"),
        "unwritable output": (["run", seeds, "--output", str(tmp_path / "a-file" / "out")], "cannot write"),
        "bad config key": (["run", seeds, "--output", output, "--config", str(tmp_path / "bad.yaml")], "shingle_word"),
        "missing config": (["run", seeds, "--output", output, "--config", str(tmp_path / "no.yaml")], "not found"),
        "unknown runner": (["run", seeds, "--output", output, "--runner=Nope"], "unknown runner"),
        "beam option typo": (
            ["run", seeds, "--output", output, "--direct_num_worker=2"],
            "did you mean --direct_num_workers",
        ),
        "unknown format": (["query", not_output, "select 1", "--format", "xml"], "invalid choice"),
        "query not an output": (["query", not_output, "select 1"], "not a newsbeam output folder"),
        "report not an output": (["report", not_output], "not a newsbeam output folder"),
        "replay not an output": (["replay", not_output], "not a newsbeam output folder"),
        "query missing folder": (["query", str(tmp_path / "nope"), "select 1"], "not found"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing input",
        "unwritable output",
        "bad config key",
        "missing config",
        "unknown runner",
        "beam option typo",
        "unknown format",
        "query not an output",
        "report not an output",
        "replay not an output",
        "query missing folder",
    ],
)
def test_each_user_error_is_one_line_with_what_to_do_and_exit_code_2(case, tmp_path, capsys):
    argv, mention = user_errors(tmp_path)[case]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors exit from inside the parser
        code = exc.code
    captured = capsys.readouterr()
    assert code == 2, captured
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("newsbeam: ") and "; " in lines[0], lines[0]
    assert mention in lines[0]
    assert not captured.out


def test_cloud_output_without_its_beam_extra_says_which_extra_to_install(capsys):
    if gcs_support_installed():
        pytest.skip("apache-beam[gcp] is installed here, so gs:// paths are supported")
    assert main(["run", str(SEEDS), "--output", "gs://bucket/out"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install 'apache-beam[gcp]'" in err, err


def test_cloud_input_is_refused_with_what_to_do_instead(tmp_path, capsys):
    assert main(["run", "gs://bucket/in", "--output", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not supported yet" in err and "--feeds" in err, err


def test_sql_error_is_one_line_naming_the_views(outlet_run, capsys):
    _, out, _ = outlet_run
    assert main(["query", str(out), "select no_such_column from articles"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("newsbeam: query failed:"), err
    assert "no_such_column" in err and "articles" in err


def test_debug_after_the_command_shows_the_traceback(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        main(["run", str(tmp_path / "nope"), "--debug"])
    with pytest.raises(UsageError, match="does not exist"):
        main(["--debug", "run", str(tmp_path / "nope")])


def test_installed_command_exits_2_without_a_traceback(tmp_path):
    for args in (
        ["run", str(SEEDS), "--output", str(tmp_path / "out"), "--runner=Nope"],
        ["query", str(tmp_path), "x"],
    ):
        result = newsbeam(*args)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {"": parser, **commands.choices}


def help_entries(text: str) -> dict[str, str]:
    """Option string -> its help entry (argparse starts each entry on a line indented by two)."""
    entries: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        match = re.match(r"^  (-[^\s,]+(?:, --?[^\s,]+)*)", line)
        if match:
            current = match.group(1)
            entries[current] = line
        elif current and line.startswith("    "):
            entries[current] += " " + line.strip()
        else:
            current = None
    return {option: " ".join(entry.split()) for option, entry in entries.items()}


@pytest.mark.parametrize("command", ["", "run", "query", "report", "replay"])
def test_help_of_each_command_lists_every_option_with_its_default(command, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"] if command else ["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    entries = help_entries(text)
    options = [a for a in subcommands()[command]._actions if a.option_strings and a.dest != "help"]
    assert options
    for action in options:
        entry = entries.get(", ".join(action.option_strings))
        assert entry is not None, (action.option_strings, text)
        assert "default:" in entry, entry
    assert "examples:" in text or "example:" in text


def test_summary_lists_outlets_clusters_and_errors_as_the_tables_show(outlet_run):
    summary, out, expected = outlet_run
    assert {k: summary["accounting"][k] for k in expected} == expected
    assert summary["accounting"]["balanced"]

    published = duckdb.sql(
        f"select coalesce(outlet, '(unknown)') as outlet, 'articles' as kind from {table_sql(out, 'articles')} "
        f"union all select coalesce(outlet, '(unknown)'), 'duplicates' from {table_sql(out, 'duplicates')}"
    ).fetchall()
    by_outlet: dict[str, dict[str, int]] = {}
    for outlet, kind in published:
        by_outlet.setdefault(outlet, {"articles": 0, "duplicates": 0})[kind] += 1
    assert {
        o["outlet"]: {"articles": o["articles"], "duplicates": o["duplicates"]} for o in summary["top_outlets"]
    } == (by_outlet)

    clusters = duckdb.sql(
        f"select d.duplicate_of, count(*) + 1, list_sort(list_distinct(list(d.outlet) || [any_value(a.outlet)])), "
        f"any_value(a.title) from {table_sql(out, 'duplicates')} d "
        f"join {table_sql(out, 'articles')} a on a.doc_id = d.duplicate_of group by d.duplicate_of"
    ).fetchall()
    got = {c["doc_id"]: (c["copies"], c["outlets"], c["title"]) for c in summary["largest_clusters"]}
    assert got == {doc_id: (copies, outlets, title) for doc_id, copies, outlets, title in clusters}
    assert summary["largest_clusters"][0]["copies"] == 4
    assert summary["largest_clusters"][0]["outlets"] == ["Agency Wire", "Daily Planet", "Gazette", "Herald"]

    stages = {row["stage"]: row for row in summary["stages"]}
    assert stages["read"]["in"] == expected["inputs"] and stages["read"]["errors"] == expected["rejected"]
    assert stages["dedup"]["out"] == expected["articles"]
    manifest = json.loads(Path(summary["manifest_path"]).read_text())
    for key in ("stages", "top_outlets", "largest_clusters", "accounting"):
        assert manifest[key] == summary[key], key


def test_text_summary_is_a_table_with_the_clusters_and_error_reasons(tmp_path, capsys):
    folder = tmp_path / "in"
    write_outlet_folder(folder)
    assert main(["run", str(folder), "--output", str(tmp_path / "quiet"), "--no-enrich", "--quiet"]) == 0
    assert capsys.readouterr() == ("", "")
    assert main(["run", str(folder), "--output", str(tmp_path / "out"), "--no-enrich"]) == 0
    text = capsys.readouterr().out
    assert "inputs 9 = articles 4 + duplicates 4 + rejected 1: ok" in text
    assert re.search(r"^  read\s+9\s+8\s+1\s", text, re.MULTILINE), text
    assert re.search(r"^  Mariupol deadline passes\s+4\s+Agency Wire, Daily Planet, Gazette, Herald$", text, re.M), text
    assert re.search(r"^  read:\w+\s+1$", text, re.MULTILINE), text


def test_a_direct_runner_run_never_tries_prism(tmp_path, caplog):
    # Beam 2.77's DirectRunner tries Prism first, downloading it from GitHub when it can: a run
    # must neither fetch a binary nor change runner because the machine is online.
    caplog.set_level("INFO", logger="apache_beam.runners")
    assert main(["run", str(SEEDS), "--output", str(tmp_path / "out"), "--no-enrich"]) == 0
    tried = [record.getMessage() for record in caplog.records if "prism" in record.getMessage().lower()]
    assert tried == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], "FnApiRunner"),
        (["--runner=DirectRunner", "--direct_running_mode=multi_processing"], "FnApiRunner"),
        (["--runner=DirectRunner", "--streaming"], "FnApiRunner"),
        (["--runner=PortableRunner", "--job_endpoint=localhost:8099"], None),
        (["--runner=PrismRunner"], None),
    ],
)
def test_direct_runner_choice_is_made_up_front(args, expected):
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.runners.portability.fn_api_runner.fn_runner import FnApiRunner

    from pipeline.options import direct_runner_for

    runner = direct_runner_for(PipelineOptions(args))
    assert ("FnApiRunner" if isinstance(runner, FnApiRunner) else runner) == expected


def test_quiet_multi_process_run_prints_nothing(tmp_path):
    """Beam's worker processes log INFO lines of their own (and, since Beam 2.77 without the
    gcp extra, a warning at import that sends them all to stderr): none reach a --quiet run's
    terminal, while the run's output is complete."""
    out = tmp_path / "out"
    result = newsbeam(
        "run", str(SEEDS), "--output", str(out), "--no-enrich", "--quiet",
        "--direct_running_mode=multi_processing", "--direct_num_workers=2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""
    assert duckdb.sql(f"select count(*) from {table_sql(out, 'articles')}").fetchall() == [(5,)]


def test_run_options_give_the_views_beam_would_and_keep_them_in_step():
    # RunOptions hands out one view per options class instead of parsing the arguments again
    # for each request; every view must read, and change, the same values as Beam's own.
    from apache_beam.options.pipeline_options import (
        DebugOptions,
        DirectOptions,
        PipelineOptions,
        SetupOptions,
        StandardOptions,
        TypeOptions,
    )

    from pipeline.run_options import RunOptions

    args = [
        "--direct_running_mode=multi_processing",
        "--direct_num_workers=2",
        "--experiments=a",
        "--no_pipeline_type_check",
    ]
    options, plain = RunOptions(args), PipelineOptions(args)
    for view in (StandardOptions, DirectOptions, SetupOptions, TypeOptions, DebugOptions):
        assert vars(options.view_as(view)._visible_options) == vars(plain.view_as(view)._visible_options)
        assert options.view_as(view) is options.view_as(view)
    options.view_as(StandardOptions).streaming = True
    options.view_as(DebugOptions).add_experiment("b")
    assert options.get_all_options()["streaming"] is True
    assert options.view_as(DebugOptions).experiments == ["a", "b"]
    assert options.get_all_options()["experiments"] == ["a", "b"]
    assert RunOptions(args).view_as(StandardOptions).streaming is False  # views never cross objects
