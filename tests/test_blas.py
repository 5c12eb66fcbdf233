"""The OpenBLAS kernels newsbeam asks for (``pipeline/blas.py``) change speed, not output.

On a CPU with AVX-512 a ``newsbeam`` command sets ``OPENBLAS_CORETYPE=SKYLAKEX`` before numpy
loads, unless the user set it. The kernels must then really be in use, and the enrich stage
must give the same rows as with OpenBLAS's default choice.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.blas import (
    AVX512_CORETYPE,
    AVX512_FLAGS,
    CORETYPE_VARIABLE,
    choose_openblas_kernels,
    cpu_flags,
    openblas_coretype,
)

REPO = Path(__file__).resolve().parent.parent
HAS_AVX512 = AVX512_FLAGS <= cpu_flags()

# Runs in a fresh interpreter (OpenBLAS reads the variable once, when numpy loads): the kernels
# chosen, the architecture OpenBLAS reports, and every row enrich yields for the seed articles.
_PROBE = """
import json, sys
from pipeline.blas import choose_openblas_kernels
chosen = choose_openblas_kernels()
from threadpoolctl import threadpool_info
import numpy
architecture = [i.get("architecture") for i in threadpool_info() if i["internal_api"] == "openblas"]
rows = []
if sys.argv[1] == "enrich":
    from pathlib import Path
    from schemas.config import EnrichConfig
    from tests.conftest import make_article
    from transforms.enrich import EnrichArticlesFn
    seeds = sorted(Path("samples/seeds").glob("*.txt"))
    articles = [make_article(p.read_text(encoding="utf-8"), p.name) for p in seeds]
    fn = EnrichArticlesFn(EnrichConfig(batch_size=8))
    fn.setup()
    for output in fn.process(articles):
        tag, row = (output.tag, output.value) if hasattr(output, "tag") else ("entities", output)
        rows.append([tag, sorted((k, repr(v)) for k, v in row.items())])
print(json.dumps({"chosen": chosen, "architecture": architecture, "rows": rows}))
"""


def probe(what: str, coretype: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != CORETYPE_VARIABLE}
    if coretype is not None:
        env[CORETYPE_VARIABLE] = coretype
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, what], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_avx512_cpu_gets_the_skylakex_kernels_unless_the_user_chose():
    flags = frozenset({"sse4_2", "avx2", *AVX512_FLAGS})
    assert openblas_coretype(flags, {}) == AVX512_CORETYPE
    assert openblas_coretype(flags, {CORETYPE_VARIABLE: "Haswell"}) is None
    assert openblas_coretype(flags - {"avx512bw"}, {}) is None
    assert openblas_coretype(frozenset({"sse4_2", "avx2"}), {}) is None


def test_cpu_flags_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu avx2 avx512f\n\nprocessor\t: 1\n")
    assert cpu_flags(str(cpuinfo)) == {"fpu", "avx2", "avx512f"}
    assert cpu_flags(str(tmp_path / "missing")) == frozenset()


def test_nothing_is_set_once_numpy_is_loaded():
    import numpy  # noqa: F401 - loaded, as in any process that imported Beam

    environ: dict[str, str] = {}
    assert choose_openblas_kernels(environ) is None
    assert environ == {}


@pytest.mark.skipif(
    not (sys.platform.startswith("linux") and platform.machine() == "x86_64"), reason="x86-64 Linux kernels only"
)
def test_openblas_uses_the_kernels_chosen_and_the_users_choice_wins():
    chosen = probe("kernels", None)
    if HAS_AVX512:
        assert chosen["chosen"] == AVX512_CORETYPE
        assert chosen["architecture"] == ["SkylakeX"]
    else:
        assert chosen["chosen"] is None
    # Nehalem (SSE4.2) runs on every x86-64 CPU numpy still supports.
    kept = probe("kernels", "Nehalem")
    assert kept["chosen"] is None
    assert kept["architecture"] == ["Nehalem"]


@pytest.mark.skipif(not HAS_AVX512, reason="this CPU has no AVX-512: newsbeam leaves OpenBLAS's kernels alone")
def test_enrich_rows_are_the_same_with_either_kernel_set():
    skylakex = probe("enrich", None)
    haswell = probe("enrich", "Haswell")
    assert skylakex["architecture"] == ["SkylakeX"] and haswell["architecture"] == ["Haswell"]
    assert sum(tag == "entities" for tag, _ in skylakex["rows"]) > 100
    assert any(tag == "numbers" for tag, _ in skylakex["rows"])
    assert skylakex["rows"] == haswell["rows"]
