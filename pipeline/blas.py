"""Which OpenBLAS kernels numpy uses in newsbeam's local processes.

spaCy's layers run their matrix products through numpy's BLAS (``enrich.matmul: numpy``), and
numpy's bundled OpenBLAS picks its kernels when it loads, from the CPU model it recognises. A
virtual machine that hides the CPU generation (this project's 2-core AMD EPYC machines report
none) gets the AVX2 kernels ("Haswell") even where the CPU has AVX-512. Measured there on 576
generated articles, the enrich stage's work per article with each kernel set (one thread,
CPU time, best of 3): Haswell 36.0 ms, Zen 35.2, SkylakeX 32.6, the same rows out with each.

So a ``newsbeam`` command asks for the SkylakeX kernels where the CPU has the AVX-512 subsets
they use, before numpy is loaded, through the environment variable OpenBLAS reads
(``OPENBLAS_CORETYPE``); the processes the run starts inherit it. A value the user set is kept
(``OPENBLAS_CORETYPE=Haswell`` restores the default choice on such a machine).
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping

CORETYPE_VARIABLE = "OPENBLAS_CORETYPE"
AVX512_CORETYPE = "SKYLAKEX"
# The AVX-512 subsets OpenBLAS's SkylakeX kernels are built for.
AVX512_FLAGS = frozenset({"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"})


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The instruction-set flags of the first CPU in ``cpuinfo``; empty where there is no such file."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                name, _, value = line.partition(":")
                if name.strip() == "flags":
                    return frozenset(value.split())
    except OSError:
        pass
    return frozenset()


def openblas_coretype(flags: frozenset[str], environ: MutableMapping[str, str]) -> str | None:
    """The ``OPENBLAS_CORETYPE`` to set, or None to leave the choice to OpenBLAS or the user."""
    if CORETYPE_VARIABLE in environ:
        return None
    return AVX512_CORETYPE if AVX512_FLAGS <= flags else None


def choose_openblas_kernels(
    environ: MutableMapping[str, str] = os.environ, cpuinfo: str = "/proc/cpuinfo"
) -> str | None:
    """Set ``OPENBLAS_CORETYPE`` for this process and those it starts; returns the value set, if any.

    Does nothing once numpy is imported: this process's OpenBLAS has chosen already, and its
    workers must not compute with other kernels than it does.
    """
    if "numpy" in sys.modules:
        return None
    coretype = openblas_coretype(cpu_flags(cpuinfo), environ)
    if coretype is not None:
        environ[CORETYPE_VARIABLE] = coretype
    return coretype
