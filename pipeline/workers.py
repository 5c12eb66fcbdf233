"""The runner of DirectRunner runs, and the entry point of its worker processes.

With ``--direct_running_mode=multi_processing`` Beam's FnApiRunner starts each worker as
``python -m apache_beam.runners.worker.sdk_worker_main``. That worker sends its log records
to the runner (which shows them at the level of newsbeam's own logging: errors, or everything
with ``--debug``), unless something puts a handler on its root logger first: then every INFO
line of the worker goes to the terminal too. Beam 2.77 does that itself: ``import
apache_beam`` without the gcp extra logs "apitools not found" through ``logging.warning``,
which installs a stderr handler, so each worker printed a dozen lines into a ``--quiet`` run.
newsbeam's workers start from ``main`` below instead: the same Beam worker, with a do-nothing
handler on the root logger before Beam is imported.
"""

from __future__ import annotations

import logging
import sys

BEAM_WORKER_MODULE = "apache_beam.runners.worker.sdk_worker_main"
NEWSBEAM_WORKER_MODULE = "pipeline.workers"


def fn_api_runner(provision_info):
    """A FnApiRunner whose multi-process workers start from this module's ``main``.

    Defined here rather than at module level: the workers import this module too, and they
    have no use for the runner's modules.
    """
    from apache_beam.portability import python_urns
    from apache_beam.runners.portability.fn_api_runner import fn_runner

    class FnApiRunnerWithQuietWorkers(fn_runner.FnApiRunner):
        def run_via_runner_api(self, pipeline_proto, options):
            # The worker command is in the pipeline proto the runner has just built from the
            # options; only Beam's own worker command is replaced, anything else is left alone.
            for environment in pipeline_proto.components.environments.values():
                if environment.urn == python_urns.SUBPROCESS_SDK:
                    command = environment.payload.decode("utf-8")
                    if command.endswith(f" -m {BEAM_WORKER_MODULE}"):
                        command = command.removesuffix(BEAM_WORKER_MODULE) + NEWSBEAM_WORKER_MODULE
                        environment.payload = command.encode("utf-8")
            return super().run_via_runner_api(pipeline_proto, options)

    return FnApiRunnerWithQuietWorkers(provision_info=provision_info)


def main(argv: list[str]) -> None:
    """Run Beam's SDK worker with a root handler in place, so Beam's import-time warnings
    cannot install one that prints to stderr."""
    logging.getLogger().addHandler(logging.NullHandler())
    from apache_beam.runners.worker import sdk_worker_main

    sdk_worker_main.main(argv)


if __name__ == "__main__":
    main(sys.argv)
