"""The ``newsbeam`` command.

    newsbeam run PATH... [--output DIR] [--config FILE] [--no-enrich] [Beam pipeline options]

Runs on Beam's DirectRunner unless a ``--runner`` is given; any other Beam option
(``--direct_running_mode=multi_processing --direct_num_workers=2``, ``--runner=DataflowRunner``,
…) passes through unchanged.
"""

from __future__ import annotations

import argparse
import logging
import sys


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="newsbeam", description=__doc__.split("\n\n")[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks and Beam's logging")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        help="ingest files and folders into Parquet tables",
        description="Read PATHs (files or folders of .txt/.html/.json/.jsonl), clean, deduplicate, enrich, "
        "and write Hive-partitioned Parquet tables. Unknown options are passed to Beam.",
    )
    run.add_argument("paths", nargs="*", metavar="PATH", help="input files or folders (recursive)")
    run.add_argument(
        "--feeds",
        nargs="+",
        default=[],
        metavar="URL_OR_FILE",
        help="RSS/Atom/JSON Feed URLs, local feed files or OPML subscription lists",
    )
    run.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="let this host through the private/loopback address refusal (repeatable; for intranets and tests)",
    )
    run.add_argument("--output", default="./out", help="output folder (default: ./out)")
    run.add_argument("--config", default=None, help="YAML profile (default: built-in defaults = configs/local.yaml)")
    run.add_argument("--no-enrich", action="store_true", help="skip entities and numbers (much faster)")
    run.add_argument("--quiet", action="store_true", help="print nothing but errors")
    run.add_argument("--streaming", action="store_true", help="poll --feeds on a clock and write windowed files")
    run.add_argument(
        "--poll-interval", type=float, default=300.0, help="seconds between polls in --streaming (default: 300)"
    )
    run.add_argument(
        "--max-polls", type=int, default=None, help="stop --streaming after this many polls (default: run until Ctrl-C)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    args, beam_args = parser.parse_known_args(argv)
    # Configure logging before Beam is imported: it logs optional-dependency warnings at import.
    logging.basicConfig(level=logging.INFO if args.debug else logging.ERROR)
    from pipeline import run as run_module

    if args.command == "run":
        try:
            if args.streaming:
                summary = run_module.run_streaming(
                    feeds=args.feeds,
                    output=args.output,
                    config_path=args.config,
                    beam_args=beam_args,
                    enrich=not args.no_enrich,
                    allow_hosts=args.allow_host,
                    poll_interval=args.poll_interval,
                    max_polls=args.max_polls,
                )
            else:
                summary = run_module.run(
                    paths=args.paths,
                    output=args.output,
                    config_path=args.config,
                    beam_args=beam_args,
                    enrich=not args.no_enrich,
                    feeds=args.feeds,
                    allow_hosts=args.allow_host,
                )
        except run_module.UsageError as exc:
            if args.debug:
                raise
            print(f"newsbeam: {exc}", file=sys.stderr)
            return 2
        if not args.quiet:
            print(summary["text"])
        return 0 if summary["accounting"]["balanced"] else 1
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
