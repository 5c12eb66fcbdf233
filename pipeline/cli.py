"""The ``newsbeam`` command: run the pipeline, then query, report on or replay its output.

    newsbeam run PATH... [--output DIR] [--config FILE] [--no-enrich] [Beam pipeline options]
    newsbeam query OUT "SQL" [--format table|csv|json]
    newsbeam report OUT [--html FILE]
    newsbeam replay OUT [--config FILE] [Beam pipeline options]

``run`` uses Beam's DirectRunner unless a ``--runner`` is given; any other Beam option
(``--direct_running_mode=multi_processing --direct_num_workers=2``, ``--runner=DataflowRunner``,
…) passes through unchanged. A mistake the user can fix prints one line,
``newsbeam: <what is wrong>; <what to do>``, and exits with code 2; ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import NoReturn

# Exit codes: 0 done, 1 the run failed or its accounting does not balance, 2 a usage error.
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

EPILOG = """\
examples:
  newsbeam run samples/seeds --output out
  newsbeam run ~/news --output out --direct_running_mode=multi_processing --direct_num_workers=2
  newsbeam run --feeds https://www.theguardian.com/world/rss --output out
  newsbeam query out "select outlet, count(*) as articles from articles group by all order by 2 desc"
  newsbeam report out --html report.html
  newsbeam replay out --config configs/local.yaml

A mistake you can fix prints one line "newsbeam: <what is wrong>; <what to do>" and exits with
code 2. Each command's --help lists its options and their defaults."""

RUN_EPILOG = """\
examples:
  newsbeam run samples/seeds                                        # DirectRunner, output in ./out
  newsbeam run ~/news --direct_running_mode=multi_processing --direct_num_workers=2
  newsbeam run ~/news --config configs/local.yaml --no-enrich       # clean + dedup only, fast
  newsbeam run ~/news --log-format json --progress-interval 30      # for schedulers
  newsbeam run --streaming --feeds subscriptions.opml --poll-interval 300

Any option newsbeam does not know is a Beam pipeline option (write it as --name=value):
--runner=PortableRunner --job_endpoint=localhost:8099, --runner=DataflowRunner --project=...
A misspelt option is an error, not silently ignored."""

QUERY_EPILOG = """\
views: articles, entities, numbers, duplicates, reuse, entity_index, claims, errors, runs

examples:
  newsbeam query out "select date, count(*) as articles from articles group by all order by 1"
  newsbeam query out "select canonical, count(distinct doc_id) as articles from entities
                      where label = 'PERSON' group by all order by 2 desc limit 10"
  newsbeam query out "select * from errors" --format csv > errors.csv
  newsbeam query out "select doc_id, title, outlets from articles where copies > 1" --format json"""

REPORT_EPILOG = """\
example:
  newsbeam report out --html report.html && xdg-open report.html"""

REPLAY_EPILOG = """\
example:
  newsbeam replay out --config configs/local.yaml --direct_running_mode=multi_processing --direct_num_workers=2"""


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Every option's help ends with its default; descriptions and examples keep their lines."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        if "default:" in help_text or not action.option_strings:
            return help_text
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors as one line in the same form as every other usage error."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"newsbeam: {message}; see {self.prog} --help\n")


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="newsbeam",
        description="News articles and feeds in; clean, deduplicated, enriched Parquet tables out (Apache Beam).",
        epilog=EPILOG,
        formatter_class=_HelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and Beam's logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, description: str, epilog: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(
            name,
            help=help_text,
            description=description,
            epilog=epilog,
            formatter_class=_HelpFormatter,
            allow_abbrev=False,
        )
        # Also accepted after the command; SUPPRESS keeps a --debug given before it.
        cmd.add_argument(
            "--debug",
            action="store_true",
            default=argparse.SUPPRESS,
            help="show tracebacks and Beam's logging (default: off)",
        )
        return cmd

    run = command(
        "run",
        "ingest files, folders and feeds into Parquet tables",
        "Read PATHs (files or folders of .txt/.html/.json/.jsonl, recursively) and feeds; clean, deduplicate,\n"
        "enrich, and write Hive-partitioned Parquet tables. Prints progress every few seconds to stderr\n"
        "and a summary at the end; the same summary is saved in OUTPUT/_runs/<run_id>.json. Inputs of more\n"
        "than read.max_documents_per_pass documents (config) run as successive passes of whole files, each\n"
        "committed as it ends and deduplicated against the earlier ones; the summary adds them up.",
        RUN_EPILOG,
    )
    run.add_argument("paths", nargs="*", metavar="PATH", help="input files or folders, read recursively")
    run.add_argument(
        "--feeds",
        nargs="+",
        default=[],
        metavar="URL_OR_FILE",
        help="RSS/Atom/JSON Feed URLs, local feed files or OPML subscription lists (default: none)",
    )
    run.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="let this host through the private/loopback address refusal; repeatable, for intranets and tests"
        " (default: none)",
    )
    run.add_argument("--output", default="./out", metavar="DIR", help="output folder, created if missing")
    _add_config_option(run)
    run.add_argument("--no-enrich", action="store_true", help="skip entities and numbers (much faster)")
    _add_reporting_options(run)
    run.add_argument(
        "--progress-interval",
        type=_positive_float,
        default=5.0,
        metavar="SECONDS",
        help="seconds between progress lines",
    )
    run.add_argument("--streaming", action="store_true", help="poll --feeds on a clock and write windowed files")
    run.add_argument(
        "--poll-interval",
        type=_positive_float,
        default=300.0,
        metavar="SECONDS",
        help="seconds between polls in --streaming",
    )
    run.add_argument(
        "--max-polls",
        type=int,
        default=None,
        metavar="N",
        help="stop --streaming after N polls (default: run until Ctrl-C)",
    )

    query = command(
        "query",
        "run DuckDB SQL over an output folder",
        "Run DuckDB SQL over the tables of an output folder, each registered as a view, and print\n"
        "the result as an aligned table, CSV or JSON.",
        QUERY_EPILOG,
    )
    query.add_argument("output", metavar="OUT", help="an output folder written by newsbeam run")
    query.add_argument("sql", metavar="SQL", help="DuckDB SQL; quote it for the shell")
    query.add_argument("--format", choices=("table", "csv", "json"), default="table", help="how to print the result")
    query.add_argument(
        "--max-width",
        type=int,
        default=60,
        metavar="CHARS",
        help="longest cell in --format table, longer text is cut with …; 0 for no limit",
    )

    report = command(
        "report",
        "write a self-contained HTML report of an output folder",
        "Write one self-contained HTML file (nothing is fetched when it is opened): articles per day, top\n"
        "entities, the largest wire-copy clusters, counts by event type over time, error reasons.",
        REPORT_EPILOG,
    )
    report.add_argument("output", metavar="OUT", help="an output folder written by newsbeam run")
    report.add_argument(
        "--html", default=None, metavar="FILE", help="where to write the report (default: OUT/report.html)"
    )

    replay = command(
        "replay",
        "re-run the inputs behind an output folder's error rows",
        "Re-run the inputs behind the error rows of an output folder (after a fix or an outage); the\n"
        "error rows of inputs that now succeed are removed. Unknown options go to Beam.",
        REPLAY_EPILOG,
    )
    replay.add_argument("output", metavar="OUT", help="an output folder written by newsbeam run")
    _add_config_option(replay)
    replay.add_argument("--no-enrich", action="store_true", help="skip entities and numbers (default: enrich)")
    replay.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="let this host through the private/loopback address refusal, as in run (repeatable; default: none)",
    )
    _add_reporting_options(replay)
    return parser


def _add_config_option(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="YAML profile (default: built-in defaults, the same as configs/local.yaml)",
    )


def _add_reporting_options(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--quiet", action="store_true", help="print nothing but errors: no progress, no summary")
    cmd.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="progress and summary as text lines, or as JSON lines for schedulers (summary: one object on stdout)",
    )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, beam_args = parser.parse_known_args(argv)
    if beam_args and args.command in ("query", "report"):
        parser.error(f"unrecognized arguments: {' '.join(beam_args)}")
    # Configure logging before Beam is imported: it logs optional-dependency warnings at import.
    logging.basicConfig(level=logging.INFO if args.debug else logging.ERROR)

    handlers = {"run": _run, "query": _query, "report": _report, "replay": _replay}
    try:
        return handlers[args.command](args, beam_args)
    except KeyboardInterrupt:
        print(
            "newsbeam: interrupted; nothing was committed unless a summary (or a 'pass N committed' line) was printed",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - one line for the user; --debug shows the traceback
        # Imported only now: pipeline.options takes ~80 ms to import, and a multi-process run
        # starts its worker pool (``_run``) before anything else, that being its slowest start.
        from pipeline.options import UsageError

        if args.debug:
            raise
        if isinstance(exc, UsageError):
            print(f"newsbeam: {exc}", file=sys.stderr)
            return EXIT_USAGE
        first_line = (str(exc).strip().splitlines() or [""])[0]
        what = f"{args.command} failed: {type(exc).__name__}: {first_line}"
        print(f"newsbeam: {what}; rerun with --debug for the traceback", file=sys.stderr)
        return EXIT_FAILED


def _run(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipeline.workers import WarmPool

    # Started before pipeline.run imports Beam, so that the pool's loading overlaps all of the
    # run's own start-up; not for --streaming, whose start-up is nothing beside its hours of polls.
    with WarmPool.for_run([] if args.streaming else beam_args) as warm_pool:
        return _run_with_pool(args, beam_args, warm_pool)


def _run_with_pool(args: argparse.Namespace, beam_args: list[str], warm_pool) -> int:
    from pipeline import run as launcher
    from pipeline.options import UsageError
    from pipeline.progress import ProgressSettings

    progress = None if args.quiet else ProgressSettings(args.progress_interval, args.log_format)
    common = {
        "feeds": args.feeds,
        "output": args.output,
        "config_path": args.config,
        "beam_args": beam_args,
        "enrich": not args.no_enrich,
        "allow_hosts": args.allow_host,
        "progress": progress,
    }
    if args.streaming:
        if args.paths:
            raise UsageError("--streaming reads feeds only; drop the input paths, or run them without --streaming")
        summary = launcher.run_streaming(**common, poll_interval=args.poll_interval, max_polls=args.max_polls)
    else:
        summary = launcher.run(paths=args.paths, **common, warm_pool=warm_pool)
    _print_summary(summary, args)
    return 0 if summary["accounting"]["balanced"] else EXIT_FAILED


def _print_summary(summary: dict, args: argparse.Namespace) -> None:
    if args.quiet:
        return
    if args.log_format == "json":
        record = {"event": "summary", **{k: v for k, v in summary.items() if k != "text"}}
        print(json.dumps(record, default=str))
    else:
        print(summary["text"])


def _query(args: argparse.Namespace, _beam_args: list[str]) -> int:
    from pipeline.options import require_output_folder
    from pipeline.query import render, run_query

    columns, rows = run_query(require_output_folder(args.output, "query"), args.sql)
    print(render(columns, rows, args.format, args.max_width))
    return 0


def _report(args: argparse.Namespace, _beam_args: list[str]) -> int:
    from pipeline.options import require_output_folder

    output = require_output_folder(args.output, "report")
    from pipeline.report import write_report

    html_path = args.html or os.path.join(output, "report.html")
    write_report(output, html_path)
    print(f"report written to {html_path}")
    return 0


def _replay(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipeline.options import require_output_folder, validate_beam_args

    output = require_output_folder(args.output, "replay")
    validate_beam_args(beam_args)
    from pipeline.replay import replay

    summary = replay(
        output,
        args.config,
        beam_args,
        args.quiet,
        enrich=False if args.no_enrich else None,
        allow_hosts=args.allow_host,
    )
    _print_summary(summary, args)
    return 0 if summary["accounting"]["balanced"] else EXIT_FAILED


def entry() -> None:
    """The ``newsbeam`` command: ``main``, then an exit without the interpreter's teardown.

    Tearing down a process that has imported Beam, gRPC and pyarrow (and kept a dozen gRPC
    threads) takes 0.3 s, most of a one-page run's last second, to free memory the system
    frees anyway; every file newsbeam writes is closed by then.
    """
    exit_without_teardown(main())


def exit_without_teardown(code: int) -> NoReturn:
    """End the process now, its log handlers and standard streams flushed (see ``entry``)."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
