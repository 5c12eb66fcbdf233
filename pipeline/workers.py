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

On Linux they do not even start from scratch: the process Beam starts asks the run's
``WarmPool`` to fork the worker in its place, from a process that has already imported and
loaded everything a worker needs, and waits for it to end (see ``WarmPool``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import traceback

BEAM_WORKER_MODULE = "apache_beam.runners.worker.sdk_worker_main"
NEWSBEAM_WORKER_MODULE = "pipeline.workers"


WARM_POOL_FLAG = "--warm-pool"
SERVE_POOL_FLAG = "--serve-warm-pool"


def fn_api_runner(provision_info, warm_pool: str | None = None):
    """A FnApiRunner whose multi-process workers start from this module's ``main`` (forked by
    the ``WarmPool`` at address ``warm_pool`` when there is one).

    Defined here rather than at module level: the workers import this module too, and they
    have no use for the runner's modules.
    """
    import shlex

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
                        if warm_pool:
                            command += f" {WARM_POOL_FLAG} {shlex.quote(warm_pool)}"
                        environment.payload = command.encode("utf-8")
            return super().run_via_runner_api(pipeline_proto, options)

    return FnApiRunnerWithQuietWorkers(provision_info=provision_info)


class WarmPool:
    """A process that imports and loads what every worker needs while the run builds its graph,
    then forks the run's workers from itself (as a ``multiprocessing`` fork pool does).

    Without it each worker process, started once the graph is built, imports Beam, trafilatura
    and spaCy and loads the language identifier and the spaCy model: the same two seconds of
    work in every worker, at the same time, in a run of one page that takes four. The pool does
    it once, on the core the graph building leaves free, and its forked workers share it, copy
    on write. It starts before the run knows its configuration (``start``, from the raw Beam
    arguments, so it can begin before Beam is even imported) and learns which spaCy model to
    load from ``configure``. A worker that cannot reach it starts as Beam's own workers do.
    """

    def __init__(self):
        self._folder = tempfile.mkdtemp(prefix="newsbeam-workers-")
        self.address = os.path.join(self._folder, "pool")
        command = [sys.executable, "-m", NEWSBEAM_WORKER_MODULE, SERVE_POOL_FLAG, self.address]
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE)
        self._configured = False

    @classmethod
    @contextlib.contextmanager
    def for_run(cls, beam_args: list[str]):
        """``start``, as a context that closes the pool (if one started) when the run is over."""
        pool = cls.start(beam_args)
        try:
            yield pool
        finally:
            if pool is not None:
                pool.close()

    @classmethod
    def start(cls, beam_args: list[str]) -> WarmPool | None:
        """A pool for a run whose Beam arguments ask for worker processes; None for any other run.

        A look at the words only: ``forks_worker_processes`` in ``pipeline/options.py`` decides
        for real once Beam has parsed them, and a pool the run turns out not to need just ends.
        """
        words = " ".join(beam_args).replace("=", " ").split()
        asked = any(a == "--direct_running_mode" and b == "multi_processing" for a, b in zip(words, words[1:]))
        return cls() if asked and cls.available() else None

    @staticmethod
    def available() -> bool:
        """Whether runs use a pool here: on Linux, unless ``NEWSBEAM_WARM_POOL=0``.

        Elsewhere forking a process that has loaded native libraries is unsafe (macOS) or
        impossible (Windows), and workers start as Beam starts them. The variable is there to
        compare, or to rule the pool out when a multi-process run misbehaves.
        """
        return sys.platform.startswith("linux") and os.environ.get("NEWSBEAM_WARM_POOL", "1") != "0"

    def configure(self, spacy_model: str | None, matmul: str) -> None:
        """Tell the pool which spaCy model the run's workers load (None: the run does no NLP)."""
        if self._configured:
            return
        self._configured = True
        with contextlib.suppress(OSError):  # a pool that has died: the workers start on their own
            self._process.stdin.write(json.dumps({"spacy_model": spacy_model, "matmul": matmul}).encode() + b"\n")
            self._process.stdin.flush()

    def close(self) -> None:
        """End the pool once the run's workers have ended; closing twice does no harm."""
        with contextlib.suppress(OSError):
            self._process.stdin.close()  # the pool's signal to end
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        shutil.rmtree(self._folder, ignore_errors=True)


def preload_common() -> threading.Thread:
    """Import what every worker imports, whatever the configuration; returns the thread that
    is loading the language identifier (to be joined before the pool forks)."""
    from transforms import language as language_module

    # Started first, on a thread: from the unpacked copy it takes ~0.05 s, but the first run on a
    # machine unpacks the model (~0.4 s of LZMA decompression, which releases the GIL), and on a
    # thread that overlaps the imports below and the spaCy load.
    language = threading.Thread(target=language_module.language_identifier, name="newsbeam-preload-language")
    language.start()
    import rensa  # noqa: F401
    import threadpoolctl  # noqa: F401
    from apache_beam.runners.worker import sdk_worker_main  # noqa: F401
    from grpc import _channel  # noqa: F401  (imported, no channel opened: safe to fork)

    from pipeline import options, progress  # noqa: F401
    from transforms import claims, clean, dedup, enrich, entity_linking, numbers, read, write  # noqa: F401

    # trafilatura and htmldate load parts on first use. Only a warm-up: whatever it raises, real
    # pages raise in the clean stage, which handles it (and nothing may stop the thread's join).
    with contextlib.suppress(Exception):
        clean.extract_html("<html><body><article><p>warm</p></article></body></html>")
    return language


def serve_warm_pool(address: str) -> None:
    """The pool's process: preload, read the run's configuration from stdin, then fork a worker
    for each request on ``address`` until stdin closes."""
    logging.getLogger().addHandler(logging.NullHandler())  # as ``main`` does, before Beam is imported
    # Ctrl-C in a terminal reaches the whole process group; the run ends the pool by closing stdin.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(64)  # bound before preloading: a worker that asks early waits in the backlog
    language = None
    try:
        language = preload_common()
    except Exception:
        # The workers import for themselves then, and fail where they would have anyway.
        traceback.print_exc()
    line = sys.stdin.buffer.readline()
    if line:
        spec = json.loads(line)
        if spec["spacy_model"]:
            from transforms import enrich

            try:
                enrich.preload_model(spec["spacy_model"], spec["matmul"])
            except Exception:
                traceback.print_exc()
    if language is not None:
        language.join()  # a fork copies only the forking thread: nothing may be half loaded
    if not line:
        os._exit(0)  # the run ended, or needs no worker processes
    import gc

    # The loaded objects are kept out of the collector's passes, which would otherwise touch (and
    # so copy) their pages in every worker.
    gc.freeze()
    events = selectors.DefaultSelector()
    events.register(listener, selectors.EVENT_READ)
    events.register(sys.stdin, selectors.EVENT_READ)
    workers = set()
    while True:
        for key, _ in events.select():
            if key.fileobj is sys.stdin:
                # The run has ended (or died). Its workers are waited for, so that their CPU time
                # counts in the run's (resource usage of waited-for children), then os._exit:
                # tearing down a loaded model takes a fraction of a second the run would wait for.
                for pid in workers:
                    with contextlib.suppress(ChildProcessError):
                        os.waitpid(pid, 0)
                sys.stderr.flush()
                os._exit(0)
            connection, _ = listener.accept()
            try:
                request = json.loads(_read_line(connection))
            except ValueError:  # the asking process ended before it asked
                connection.close()
                continue
            pid = os.fork()
            if pid == 0:
                events.close()
                listener.close()
                _run_forked_worker(connection, request["environ"])
            connection.close()
            workers.add(pid)
            workers -= {done for done in list(workers) if os.waitpid(done, os.WNOHANG)[0]}


def _read_line(connection: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = connection.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _run_forked_worker(connection: socket.socket, environ: dict) -> None:
    """In a forked child of the pool: become the worker the launcher asked for, and tell the
    launcher its exit code."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    stdin = os.open(os.devnull, os.O_RDONLY)
    os.dup2(stdin, 0)
    os.close(stdin)
    # The launcher's environment: Beam's endpoints and options for this worker.
    os.environ.clear()
    os.environ.update(environ)
    code = 1
    try:
        connection.sendall(b"started\n")
        main([])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        with contextlib.suppress(OSError):
            connection.sendall(f"exit {code}\n".encode())
        os._exit(code)


def run_from_pool(address: str) -> int | None:
    """In the process Beam started as a worker: have the pool fork the worker in its place, and
    return the worker's exit code; None when the pool cannot (it has ended or never started)."""
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(address)
        connection.sendall(json.dumps({"environ": dict(os.environ)}).encode() + b"\n")
        if _read_line(connection) != b"started\n":
            return None
        reply = _read_line(connection)
    except OSError:
        return None
    finally:
        connection.close()
    # No exit line: the worker was killed.
    return int(reply.split()[1]) if reply.startswith(b"exit ") else 1


def main(argv: list[str]) -> None:
    """Run Beam's SDK worker with a root handler in place, so Beam's import-time warnings
    cannot install one that prints to stderr."""
    logging.getLogger().addHandler(logging.NullHandler())
    from apache_beam.runners.worker import sdk_worker_main

    sdk_worker_main.main(argv)


if __name__ == "__main__":
    if sys.argv[1:2] == [SERVE_POOL_FLAG]:
        serve_warm_pool(sys.argv[2])
    elif sys.argv[1:2] == [WARM_POOL_FLAG]:
        code = run_from_pool(sys.argv[2])
        if code is not None:
            sys.exit(code)
        main(sys.argv[:1])
    else:
        main(sys.argv)
