"""What one run is (its id, clock, inputs and output, fixed once at launch), and the checks
that turn a user's mistake into one clear message before any graph is built."""

from __future__ import annotations

import datetime as dt
import difflib
import importlib
import os
import uuid
from dataclasses import dataclass, field

import yaml
from pydantic import ValidationError

from schemas.config import NewsbeamConfig, load_config

# Remote filesystems and the Beam extra (and the module that extra brings) each one needs.
_FILESYSTEM_EXTRAS = {
    "gs": ("apache_beam.io.gcp.gcsfilesystem", "gcp"),
    "s3": ("boto3", "aws"),
    "azfs": ("azure.storage.blob", "azure"),
    "hdfs": ("hdfs", "hadoop"),
}
# The runners the README documents, offered when --runner names none Beam knows.
_SUGGESTED_RUNNERS = ("DirectRunner", "PrismRunner", "PortableRunner", "FlinkRunner", "SparkRunner", "DataflowRunner")


class UsageError(Exception):
    """A problem the user can fix (bad path, bad config, busy output): one line, exit code 2.

    The message says what is wrong, then after "; " what to do about it.
    """


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
        # Workers read the inputs, and a portable runner's SDK workers need not share the
        # launcher's working folder: relative paths are resolved here, at launch.
        inputs=tuple(path if path_scheme(path) else os.path.abspath(path) for path in inputs),
        output=output if path_scheme(output) else os.path.abspath(output),
        index_files=tuple(index_files),
        feeds=tuple(feeds),
        allow_hosts=tuple(allow_hosts),
    )


# ---------------------------------------------------------------- validation at launch


def validate_options(
    paths: list[str],
    output: str,
    config_path: str | None,
    beam_args: list[str],
    enrich: bool = True,
    feeds: list[str] = (),
    streaming: bool = False,
):
    """Everything a user can get wrong, checked before the graph is built.

    Returns ``(config, PipelineOptions)``; raises ``UsageError`` on the first problem found.
    """
    options = validate_beam_args(beam_args)
    for path in paths:
        _check_input(path)
    cfg = load_checked_config(config_path, enrich)
    if streaming and not feeds and not cfg.feeds.sources:
        raise UsageError("--streaming needs feeds; give --feeds URL... or feeds.sources in the config")
    if not streaming and not paths and not feeds and not cfg.feeds.sources:
        raise UsageError("nothing to read; give input paths, --feeds, or feeds.sources in the config")
    _check_output(output)
    return cfg, options


def validate_beam_args(beam_args: list[str]):
    """Beam pipeline options: no unknown (misspelt) option, a runner that exists and can load."""
    from apache_beam.options.pipeline_options import StandardOptions

    from pipeline.run_options import RunOptions

    options = RunOptions(list(beam_args))
    known = options.get_all_options()
    unknown = [name for name in options.get_all_options(retain_unknown_options=True) if name not in known]
    if unknown:
        flag = "--" + unknown[0]
        close = difflib.get_close_matches(unknown[0], list(known), n=1)
        hint = f"did you mean --{close[0]}?" if close else "newsbeam run --help lists newsbeam's options"
        raise UsageError(f"unknown option {flag} (neither newsbeam's nor Beam's); {hint}")
    runner = options.view_as(StandardOptions).runner
    if runner:
        _check_runner(runner, StandardOptions.ALL_KNOWN_RUNNERS)
    return options


# What ``--runner`` may say (or leave out) for Beam's DirectRunner.
_DIRECT_RUNNER_NAMES = {"", "direct", "directrunner", "switchingdirectrunner"}


def runs_on_direct_runner(options) -> bool:
    """Whether ``--runner`` names Beam's DirectRunner (or is left out)."""
    from apache_beam.options.pipeline_options import StandardOptions

    name = (options.view_as(StandardOptions).runner or "").rsplit(".", 1)[-1].lower()
    return name in _DIRECT_RUNNER_NAMES


def forks_worker_processes(options) -> bool:
    """Whether the run's DirectRunner starts worker processes (``--direct_running_mode=multi_processing``)."""
    from apache_beam.options.pipeline_options import DirectOptions

    return runs_on_direct_runner(options) and options.view_as(DirectOptions).direct_running_mode == "multi_processing"


def direct_runner_for(options, warm_pool: str | None = None):
    """The runner object for a run on Beam's DirectRunner; None when another runner is asked for.

    Beam 2.77's DirectRunner first tries Prism, which it downloads from GitHub when no copy is
    cached, and falls back to the FnApiRunner only when that fails: a machine with internet
    access would fetch a binary at run time and run newsbeam on a different runner (one that
    ignores ``--direct_running_mode``). Here the choice is made up front, as the DirectRunner's
    own fallback makes it for newsbeam's graphs (no TestStream, Pub/Sub or real-time timers):
    the FnApiRunner, in-memory or multi-process, with the pipeline options handed to its
    workers (started quietly: ``pipeline/workers.py``). That holds for ``--streaming`` too: its
    polls are a bounded PeriodicImpulse. ``warm_pool`` is the address of a ``WarmPool`` that
    forks the multi-process workers.
    """
    if not runs_on_direct_runner(options):
        return None
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    from pipeline.workers import fn_api_runner

    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    provision = fn_runner.ExtendedProvisionInfo(beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded))
    return fn_api_runner(provision, warm_pool)


def _check_runner(name: str, known_paths: tuple[str, ...]) -> None:
    by_name = {path.rsplit(".", 1)[-1].lower(): path for path in known_paths}
    path = by_name.get(name.lower()) or by_name.get(name.lower() + "runner") or name
    if "." not in path:
        close = difflib.get_close_matches(name, _SUGGESTED_RUNNERS, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise UsageError(
            f"unknown runner {name!r}; {hint}use one of {', '.join(_SUGGESTED_RUNNERS)} "
            "or the module.Class path of a Beam runner"
        )
    if "dataflow" in path.lower():
        _require_extra("gs", "--runner=DataflowRunner")
    module, cls = path.rsplit(".", 1)
    try:
        found = hasattr(importlib.import_module(module), cls)
    except ImportError as exc:
        raise UsageError(
            f"runner {name} cannot be loaded ({exc}); check the module.Class path, or install the Beam extra it needs"
        ) from exc
    if not found:
        raise UsageError(f"runner {name}: {module} has no {cls}; check the module.Class path")


def path_scheme(path: str) -> str | None:
    """``gs`` for ``gs://bucket/x``; None for a local path."""
    head, sep, _ = path.partition("://")
    return head.lower() if sep and head.isalpha() else None


def _require_extra(scheme: str, what: str) -> None:
    module, extra = _FILESYSTEM_EXTRAS[scheme]
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise UsageError(
            f"{what} needs Beam's {scheme}:// support, which is not installed; "
            f"install it with: pip install 'apache-beam[{extra}]'"
        ) from exc


def _check_remote(path: str, what: str) -> None:
    scheme = path_scheme(path)
    if scheme in _FILESYSTEM_EXTRAS:
        _require_extra(scheme, f"{what} {path}")
        return
    from apache_beam.io.filesystems import FileSystems

    try:  # a filesystem registered with Beam (hdfs://, or a plug-in) is as good as a built-in one
        FileSystems.get_filesystem(path)
        return
    except ValueError:
        pass
    raise UsageError(
        f"{what} {path}: Beam has no {scheme}:// filesystem; use a local path or "
        f"one of {', '.join(s + '://' for s in _FILESYSTEM_EXTRAS)}"
    )


def _check_input(path: str) -> None:
    if path_scheme(path):
        # Outputs go through Beam's filesystems; input discovery and reading are local so far.
        raise UsageError(
            f"input {path}: reading input files from {path_scheme(path)}:// is not supported yet; "
            "copy them to a local or mounted folder (e.g. gcsfuse), or read feeds with --feeds"
        )
    if not os.path.lexists(path):
        # A value written "--option value" lands among the paths; Beam wants "--option=value".
        hint = "" if os.sep in path else " (write Beam options as --name=value)"
        raise UsageError(f"input path does not exist: {path}; check the path{hint}")


def _check_output(output: str) -> None:
    """The output folder exists (or is created) and a file can be written in it."""
    if path_scheme(output):
        _check_remote(output, "output")
        return
    try:
        os.makedirs(output, exist_ok=True)
        probe = os.path.join(output, f".newsbeam-write-test-{uuid.uuid4().hex[:8]}")
        with open(probe, "w", encoding="utf-8") as handle:
            handle.write("ok")
        os.remove(probe)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UsageError(f"cannot write to output folder {output} ({reason}); choose another --output") from exc


def load_checked_config(config_path: str | None, enrich: bool) -> NewsbeamConfig:
    try:
        cfg = load_config(config_path)
    except FileNotFoundError as exc:
        raise UsageError(f"config file not found: {config_path}; check the --config path") from exc
    except (IsADirectoryError, yaml.YAMLError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"config {config_path} is not a YAML file ({first_line}); see configs/local.yaml") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise UsageError(
            f"bad config {config_path}: {where}: {first['msg']}; configs/local.yaml lists every key with its default"
        ) from exc
    if not enrich:
        cfg = cfg.model_copy(update={"enrich": cfg.enrich.model_copy(update={"enabled": False})})
    return cfg


def require_output_folder(output: str, command: str) -> str:
    """``query``/``report``/``replay`` read a folder a run wrote; anything else is a usage error."""
    from pipeline.views import output_folder_problem

    if path_scheme(output):
        raise UsageError(f"{command} reads a local output folder, not {output}; copy it locally first")
    problem = output_folder_problem(output)
    if problem:
        raise UsageError(problem)
    return os.path.abspath(output)
