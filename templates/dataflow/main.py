"""Flex Template entry point: one scheduled batch run of ``newsbeam run`` on Dataflow.

Dataflow's launcher runs this file with each template parameter (``metadata.json``) as
``--name=value``, followed by the launch's own Beam options (``--runner``, ``--project``,
``--temp_location``, ``--setup_file``, ...). A template parameter holds one string, so
``feeds`` lists its URLs separated by spaces (URLs carry no raw spaces, and commas would
clash with ``gcloud --parameters``).
"""

from __future__ import annotations

import argparse
import sys

from pipeline.cli import main


def cli_args(template_args: list[str]) -> list[str]:
    """The template's ``--name=value`` parameters as ``newsbeam run`` arguments; other options pass through."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--feeds", default="")
    parser.add_argument("--no_enrich", choices=("true", "false"), default="false", type=str.lower)
    known, passed_through = parser.parse_known_args(template_args)
    args = ["run"]
    if known.feeds.split():
        args += ["--feeds", *known.feeds.split()]
    if known.no_enrich == "true":
        args.append("--no-enrich")
    return args + passed_through


if __name__ == "__main__":
    sys.exit(main(cli_args(sys.argv[1:])))
