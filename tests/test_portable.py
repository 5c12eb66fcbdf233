"""Beyond the DirectRunner: Beam's portable path, and the cloud profiles and Flex Template kept in the repo.

The portable test runs the pipeline as Dataflow, Flink and Spark run Python: a job service
hands the job to SDK worker processes started by a worker pool, over the Fn API. Both
services are Beam's own Python ones (nothing is downloaded: no job-server jar, no Docker,
no Prism binary), started here on 127.0.0.1 in a folder of their own, so the workers share
neither the launcher's process nor its working folder.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from pipeline.cli import build_parser
from schemas.config import load_config
from schemas.tables import TABLES
from tests.conftest import REPO, SEEDS
from tests.test_end_to_end import newsbeam

FLEX_TEMPLATE = REPO / "templates" / "dataflow"
# Columns that say which run wrote a row, not what the row is.
RUN_COLUMNS = ("run_id", "ingested_at")
SERVICE_START_SECONDS = 60


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_listening(process: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + SERVICE_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.2)
    pytest.fail(f"{process.args} did not listen on 127.0.0.1:{port} within {SERVICE_START_SECONDS} s")


def _stop(process: subprocess.Popen) -> None:
    """Stop a service and the SDK workers it started: its whole process group."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@contextlib.contextmanager
def portable_services(folder: Path):
    """A local job service and an SDK worker pool on free 127.0.0.1 ports; yields (job port, pool port, pool log)."""
    folder.mkdir(parents=True)
    # The pool starts each SDK worker as plain `python`: it must be this environment's.
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}
    job_port, pool_port = _free_port(), _free_port()
    commands = {
        "job_service": ["-m", "apache_beam.runners.portability.local_job_service_main", "--port", str(job_port)],
        "worker_pool": ["-m", "apache_beam.runners.worker.worker_pool_main", "--service_port", str(pool_port)],
    }
    processes = []
    try:
        for (name, args), port in zip(commands.items(), (job_port, pool_port)):
            log = folder / f"{name}.log"
            with open(log, "w") as log_handle:
                process = subprocess.Popen(
                    [sys.executable, *args],
                    cwd=folder,
                    env=env,
                    stdout=log_handle,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            processes.append(process)
            _wait_until_listening(process, port, log)
        yield job_port, pool_port, folder / "worker_pool.log"
    finally:
        for process in processes:
            _stop(process)


def write_inputs(workspace: Path) -> None:
    """The seed folder, plus what makes every table non-empty: one seed again as a feed entry
    (a duplicate across sources), and an empty file (an error row)."""
    shutil.copytree(SEEDS, workspace / "news")
    (workspace / "news" / "empty.txt").write_text("")
    seed = sorted(SEEDS.glob("*.txt"))[1].read_text(encoding="utf-8")
    body = "".join(f"<p>{html.escape(line)}</p>" for line in seed.splitlines() if line.strip())
    (workspace / "wire.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        "<title>Wire desk</title><link>https://wire.example/</link><description>Agency copy</description>"
        "<item><title>Agency copy</title><link>https://wire.example/story/1</link>"
        "<pubDate>Fri, 20 Mar 2026 08:00:00 GMT</pubDate>"
        f"<content:encoded>{html.escape(body)}</content:encoded></item>"
        "</channel></rss>\n",
        encoding="utf-8",
    )


def comparable_rows(out: Path) -> dict[str, list[str]]:
    """Every table's rows, sorted, with what differs between two runs of the same input left out:
    the run's id and ingestion time, and values taken from the ingestion time (the date and
    first-seen times of undated articles)."""
    manifest = json.loads(next((out / "_runs").glob("*.json")).read_text())
    ingested_at = dt.datetime.fromisoformat(manifest["ingested_at"])
    ingestion_date = ingested_at.strftime("%Y-%m-%d")

    def comparable(value):
        if value == ingested_at:
            return "<ingested_at>"
        if value in (ingestion_date, ingested_at.date()):
            return "<ingestion date>"
        return value

    tables = {}
    for table in TABLES:
        if not (out / table).is_dir():
            tables[table] = []
            continue
        rows = ds.dataset(out / table, format="parquet", partitioning="hive").to_table().to_pylist()
        tables[table] = sorted(
            repr(sorted((k, comparable(v)) for k, v in row.items() if k not in RUN_COLUMNS)) for row in rows
        )
    return tables


@pytest.mark.slow
def test_portable_runner_with_separate_sdk_workers_writes_what_the_direct_runner_writes(tmp_path):
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    write_inputs(workspace)
    # Relative paths, resolved against the launcher's folder, not the workers'.
    inputs = ["news", "--feeds", "wire.xml"]

    direct = newsbeam("run", *inputs, "--output", str(tmp_path / "direct"), cwd=workspace)
    assert direct.returncode == 0, direct.stderr[-3000:]
    with portable_services(tmp_path / "services") as (job_port, pool_port, pool_log):
        portable = newsbeam(
            "run",
            *inputs,
            "--output",
            str(tmp_path / "portable"),
            "--runner=PortableRunner",
            f"--job_endpoint=127.0.0.1:{job_port}",
            "--environment_type=EXTERNAL",
            f"--environment_config=127.0.0.1:{pool_port}",
            cwd=workspace,
        )
        pool_output = pool_log.read_text()
    assert portable.returncode == 0, portable.stderr[-3000:]
    # The work ran in SDK worker processes that the pool started, not in the launcher.
    assert "Starting worker with command" in pool_output, pool_output[-3000:]
    assert "inputs 7 = articles 5 + duplicates 1 + rejected 1: ok" in portable.stdout, portable.stdout

    expected, got = comparable_rows(tmp_path / "direct"), comparable_rows(tmp_path / "portable")
    assert [t for t, rows in expected.items() if not rows] == [], "every table must have rows to compare"
    for table in TABLES:
        assert got[table] == expected[table], table


def test_every_config_profile_loads_with_the_strict_loader():
    profiles = sorted((REPO / "configs").glob("*.yaml"))
    assert {p.name for p in profiles} >= {"local.yaml", "dataflow.yaml"}
    for profile in profiles:
        load_config(profile)  # raises on a misspelt key or a bad value


def test_the_local_profile_states_the_defaults():
    # configs/local.yaml is documented as "these are the defaults": users copy it to start a profile.
    from schemas.config import NewsbeamConfig

    assert load_config(REPO / "configs" / "local.yaml") == NewsbeamConfig()


def _template_entry_point():
    spec = importlib.util.spec_from_file_location("flex_template_main", FLEX_TEMPLATE / "main.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# A value for every template parameter, as a scheduler would send it.
TEMPLATE_EXAMPLES = {
    "feeds": "https://feeds.bbci.co.uk/news/world/rss.xml https://www.theguardian.com/world/rss",
    "output": "gs://news-bucket/newsbeam",
    "config": "/template/configs/dataflow.yaml",
    "no_enrich": "true",
}


def test_flex_template_parameters_reach_the_cli_as_its_options():
    metadata = json.loads((FLEX_TEMPLATE / "metadata.json").read_text())
    parameters = {p["name"]: p for p in metadata["parameters"]}
    assert metadata["name"] and metadata["description"]
    assert len(parameters) == len(metadata["parameters"]) and set(parameters) == set(TEMPLATE_EXAMPLES)
    for name, parameter in parameters.items():
        assert parameter["label"] and parameter["helpText"], name
        for regex in parameter.get("regexes", []):
            assert re.fullmatch(regex, TEMPLATE_EXAMPLES[name]), (name, regex)
    assert {name for name, p in parameters.items() if not p.get("isOptional", False)} == {"output"}

    # What Dataflow's launcher runs: the entry point with --name=value per parameter, then the
    # launch's own Beam options, which must reach Beam untouched.
    launcher_args = [f"--{name}={value}" for name, value in TEMPLATE_EXAMPLES.items()] + ["--runner=DataflowRunner"]
    args, beam_args = build_parser().parse_known_args(_template_entry_point().cli_args(launcher_args))
    assert beam_args == ["--runner=DataflowRunner"]
    assert args.command == "run"
    assert args.feeds == TEMPLATE_EXAMPLES["feeds"].split()
    assert (args.output, args.config) == (TEMPLATE_EXAMPLES["output"], TEMPLATE_EXAMPLES["config"])
    assert args.no_enrich is True
