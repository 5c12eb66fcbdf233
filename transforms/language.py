"""Which language an article is in (py3langid), in a module of its own that imports nothing
heavy: the warm worker pool (``pipeline/workers.py``) starts loading the identifier on a thread
before it imports Beam, trafilatura and spaCy, so that the load overlaps those imports.
"""

from __future__ import annotations

import json
import mmap
import os
import shutil
import tempfile
from array import array
from functools import lru_cache
from pathlib import Path

CACHE_DIR_VARIABLE = "NEWSBEAM_CACHE_DIR"


@lru_cache(maxsize=1)
def language_identifier():
    """py3langid's identifier, loaded once per process on first use, never at import."""
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

    model = _unpacked_model(MODEL_DIR / MODEL_FILE)
    if model is None:
        return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ptc, pc, classes, nextmove, row, output = model
    return LanguageIdentifier(ptc, pc, classes, nextmove, output, norm_probs=True, tk_row=row)


def cache_dir() -> Path:
    """Where newsbeam keeps what it derives from installed packages: ``$NEWSBEAM_CACHE_DIR``,
    else ``$XDG_CACHE_HOME/newsbeam``, else ``~/.cache/newsbeam``. Safe to delete at any time."""
    if os.environ.get(CACHE_DIR_VARIABLE):
        return Path(os.environ[CACHE_DIR_VARIABLE])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "newsbeam"


def _unpacked_model(model_file: Path) -> tuple | None:
    """The identifier's arrays from an unpacked copy of its model file, made on first use.

    The package ships the model LZMA-compressed: unpacking it takes ~0.4 CPU seconds in every
    process that loads it, at the start of every run (and in every worker of a cluster), on
    the cores that are importing the rest. The copy (~70 MB, keyed by py3langid's version and
    the model file's size) loads in ~0.04 s, its two large arrays mapped from the file and so
    shared by all processes. None when there is no usable copy and none can be made (read-only home):
    the caller loads the package's file as py3langid does.
    """
    try:
        from py3langid import __version__

        # Not keyed by the file's time: every virtual environment with this py3langid shares
        # one copy (each install gives the same file a time of its own).
        folder = cache_dir() / f"py3langid-{__version__}-{model_file.stat().st_size}"
        if (folder / "manifest.json").is_file():
            try:
                return _read_unpacked(folder)
            except (OSError, EOFError, ValueError, KeyError, TypeError):
                shutil.rmtree(folder, ignore_errors=True)  # damaged (a full disk, say): made again
        _unpack_model(model_file, folder)
        return _read_unpacked(folder)
    except (OSError, EOFError, ValueError, KeyError, TypeError, RuntimeError):
        # RuntimeError: no home folder to put it in (a container's arbitrary user, no $HOME).
        return None


def _unpack_model(model_file: Path, folder: Path) -> None:
    import numpy as np
    from py3langid.modelio import load_model

    ptc, pc, classes, nextmove, row, output = load_model(model_file)
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Written beside, then renamed into place: a run that reads it sees all of it or none.
    staging = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    try:
        np.save(staging / "ptc.npy", np.asarray(ptc))
        np.save(staging / "pc.npy", np.asarray(pc))
        np.save(staging / "output.npy", np.asarray(output, dtype=np.int32))
        (staging / "nextmove.bin").write_bytes(nextmove.tobytes())
        (staging / "row.bin").write_bytes(row.tobytes())
        manifest = {
            "classes": list(classes),
            "nextmove": [nextmove.typecode, len(nextmove)],
            "row": [row.typecode, len(row)],
        }
        (staging / "manifest.json").write_text(json.dumps(manifest))
        try:
            staging.rename(folder)
        except OSError:  # another process got there first: its copy is as good
            pass
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _read_unpacked(folder: Path) -> tuple:
    import numpy as np

    manifest = json.loads((folder / "manifest.json").read_text())
    # A plain array over the mapped file: np.memmap's own __getitem__ is Python code, and scoring
    # indexes the table once per text.
    ptc = np.load(folder / "ptc.npy", mmap_mode="r").view(np.ndarray)
    pc = np.load(folder / "pc.npy")
    output = np.load(folder / "output.npy").tolist()
    nextmove = _mapped_array(folder / "nextmove.bin", *manifest["nextmove"])
    row = array(manifest["row"][0])
    with open(folder / "row.bin", "rb") as handle:
        row.fromfile(handle, manifest["row"][1])  # EOFError on a short file
    classes = manifest["classes"]
    if (
        len(nextmove) != manifest["nextmove"][1]
        or len(output) != len(row)
        or not ptc.shape[1] == len(pc) == len(classes)
    ):
        raise ValueError(f"{folder}: the unpacked model's parts do not fit together")
    return ptc, pc, classes, nextmove, row, output


def _mapped_array(path: Path, typecode: str, length: int) -> memoryview:
    """The file's numbers, indexed as fast as an ``array`` but in pages the processes share."""
    with open(path, "rb") as handle:
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    return memoryview(mapped).cast(typecode)


# py3langid labels a few varieties with ISO 639-3 codes; these have an ISO 639-1 parent.
_LANGUAGE_PARENT = {"ary": "ar", "arz": "ar", "uzs": "uz", "gug": "gn", "yue": "zh", "wuu": "zh", "fuv": "ff"}
MIN_LANGUAGE_CONFIDENCE = 0.5
LANGUAGE_SAMPLE_CHARS = 1000
# A first, shorter sample decides alone when it is this sure. Scoring walks the sample byte by
# byte through a 40 MB automaton that the page's extraction has just pushed out of the CPU's
# caches (0.66 ms for 1,000 characters between extractions, 0.29 ms for 400 in a loop). On 597
# real and generated articles the 500-character sample was this sure for 88 % and named the
# same language as the 1,000-character one for all of them.
QUICK_SAMPLE_CHARS = 500
QUICK_SAMPLE_CONFIDENCE = 0.999


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of the text's language, or None when unsure or it has no 639-1 code."""
    if not text or not any(ch.isalpha() for ch in text):
        return None
    # The opening is enough to tell a language, and scoring is linear in the length.
    identifier = language_identifier()
    label, confidence = identifier.classify(text[:QUICK_SAMPLE_CHARS])
    if confidence < QUICK_SAMPLE_CONFIDENCE and len(text) > QUICK_SAMPLE_CHARS:
        label, confidence = identifier.classify(text[:LANGUAGE_SAMPLE_CHARS])
    label = _LANGUAGE_PARENT.get(label, label)
    if confidence < MIN_LANGUAGE_CONFIDENCE or len(label) != 2:
        return None
    return label
