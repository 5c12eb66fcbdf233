"""HTML cleaning quality on the scrapinghub article-extraction benchmark (181 real pages).

For each page the clean stage's text is compared with the hand-made article body by the
benchmark's own measure: word 4-gram shingles (``\\w+`` tokens), precision and recall per page.
Reported are the mean per-page F1 (the number ``../shared/eval/README.md`` quotes, trafilatura
alone about 0.953) and, as the benchmark's ``evaluate.py`` does, the F1 of mean precision and
mean recall. Four extractors are scored:

- ``trafilatura_default``: ``trafilatura.bare_extraction`` with its default settings;
- ``extract_html_balanced``: as ``extract_html`` but without ``favor_precision``;
- ``extract_html``: trafilatura as configured in ``transforms.clean`` (``favor_precision``,
  no comments: the better of the two);
- ``clean_stage``: the whole text path of ``clean_document`` (extraction, normalisation,
  title and boilerplate lines removed), which must not score below ``extract_html``.

Run from the repository root::

    python benchmarks/extraction_quality_html.py [--data ../shared/eval/extraction_scrapinghub]

Prints the scores and writes ``benchmarks/results/extraction_html.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import logging
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from schemas.config import CleanConfig  # noqa: E402
from transforms.clean import CleanError, clean_document, extract_html  # noqa: E402
from transforms.extraction import TRAFILATURA_OPTIONS  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "eval" / "extraction_scrapinghub"
RESULTS = REPO / "benchmarks" / "results" / "extraction_html.json"
_TOKEN = re.compile(r"\w+")
SHINGLE_WORDS = 4


def shingle_counts(text: str) -> Counter:
    tokens = _TOKEN.findall(text or "")
    # A text shorter than one shingle is one (short) shingle, as in the benchmark.
    if not tokens:
        return Counter()
    return Counter(tuple(tokens[i : i + SHINGLE_WORDS]) for i in range(max(1, len(tokens) - SHINGLE_WORDS + 1)))


def page_scores(truth: str, predicted: str) -> tuple[float | None, float | None, float]:
    """(precision, recall, F1) of one page; precision/recall are None where undefined, as in the benchmark."""
    expected, got = shingle_counts(truth), shingle_counts(predicted)
    tp = sum((expected & got).values())
    fp = sum((got - expected).values())
    fn = sum((expected - got).values())
    if fp == fn == 0:
        return 1.0, 1.0, 1.0
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    p, r = precision or 0.0, recall or 0.0
    return precision, recall, (2 * p * r / (p + r) if p + r else 0.0)


def evaluate(truth: dict[str, str], predicted: dict[str, str]) -> dict:
    scores = [page_scores(truth[key], predicted.get(key, "")) for key in truth]
    precision = statistics.mean(s[0] for s in scores if s[0] is not None)
    recall = statistics.mean(s[1] for s in scores if s[1] is not None)
    return {
        "mean_page_f1": round(statistics.mean(s[2] for s in scores), 4),
        "benchmark_f1": round(2 * precision * recall / (precision + recall), 4),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "empty_pages": sum(1 for key in truth if not predicted.get(key, "").strip()),
    }


def load_pages(data: Path) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """(html, url, true article body) per page id."""
    from trafilatura.utils import decode_file  # the read stage decodes pages the same way: by their declared charset

    ground_truth = json.loads((data / "ground-truth.json").read_text(encoding="utf-8"))
    html = {key: decode_file(gzip.decompress((data / "html" / f"{key}.html.gz").read_bytes())) for key in ground_truth}
    urls = {key: value.get("url") for key, value in ground_truth.items()}
    truth = {key: value.get("articleBody", "") for key, value in ground_truth.items()}
    return html, urls, truth


def trafilatura_text(html: str, url: str | None, **options) -> str:
    import trafilatura

    document = trafilatura.bare_extraction(html, url=url, with_metadata=True, **options)
    return (document.text or "") if document else ""


def extract_html_text(html: str, url: str | None) -> str:
    try:
        return extract_html(html, url)["text"]
    except ValueError:
        return ""


_STAGE_CONFIG = CleanConfig(min_words=1)  # score every page; the word floor is a separate decision
_NOW = dt.datetime.now(dt.timezone.utc)


def clean_stage_text(html: str, url: str | None) -> str:
    raw = {"source": url or "", "format": "html", "content": html, "url": url, "title": None, "authors": []}
    try:
        return clean_document(raw, _STAGE_CONFIG, "benchmark", _NOW)["text"]
    except CleanError:
        return ""


EXTRACTORS: dict[str, Callable[[str, str | None], str]] = {
    "trafilatura_default": trafilatura_text,
    # The choice extract_html makes, measured both ways with everything else as configured there.
    "extract_html_balanced": partial(trafilatura_text, **{**TRAFILATURA_OPTIONS, "favor_precision": False}),
    "extract_html": extract_html_text,
    "clean_stage": clean_stage_text,
}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the extraction_scrapinghub folder")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not (args.data / "ground-truth.json").is_file():
        parser.error(f"no ground-truth.json in {args.data}")
    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)  # "discarding data" warnings per page

    html, urls, truth = load_pages(args.data)
    results: dict = {"pages": len(truth), "metric": "word 4-gram shingles; mean per-page F1 and F1 of mean P/R"}
    for name, extractor in EXTRACTORS.items():
        started = time.perf_counter()
        predicted = {key: extractor(html[key], urls[key]) for key in truth}
        results[name] = {**evaluate(truth, predicted), "seconds": round(time.perf_counter() - started, 1)}
        print(f"{name:<22} " + "  ".join(f"{k}={v}" for k, v in results[name].items()))
    gain = results["clean_stage"]["mean_page_f1"] - results["extract_html"]["mean_page_f1"]
    results["boilerplate_gain"] = round(gain, 4)
    print(
        f"mean page F1: clean stage {results['clean_stage']['mean_page_f1']} "
        f"vs extract_html alone {results['extract_html']['mean_page_f1']} ({gain:+.4f})"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return results


if __name__ == "__main__":
    main()
