"""The throughput benchmark's pieces: the corpus generator (deterministic, realistic pages, honest
ground truth), the plain baseline script it is compared with, and the invocation that prints the figures.

Timings are measured by ``benchmarks/throughput.py``, never asserted.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys

import duckdb
import pytest
import trafilatura

from benchmarks.corpus import PAGES_DIR, generate_corpus
from benchmarks.throughput import BASELINE_SCRIPT, REPO


def page_texts(out_dir, truth) -> dict[str, str]:
    pages = out_dir / PAGES_DIR
    return {p["file"]: (pages / p["file"]).read_text(encoding="utf-8") for p in truth["pages"]}


def shingle_set(text: str, size: int = 5) -> set[str]:
    words = re.findall(r"\w+", text.casefold())
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b)


def test_same_seed_writes_the_same_pages_and_another_seed_does_not(tmp_path):
    first = generate_corpus(6, tmp_path / "a", copy_share=0.34, seed=7, eval_dir=None)
    again = generate_corpus(6, tmp_path / "b", copy_share=0.34, seed=7, eval_dir=None)
    other = generate_corpus(6, tmp_path / "c", copy_share=0.34, seed=8, eval_dir=None)
    assert page_texts(tmp_path / "a", first) == page_texts(tmp_path / "b", again)
    assert [p["copy_of"] for p in first["pages"]] == [p["copy_of"] for p in again["pages"]]
    assert page_texts(tmp_path / "a", first) != page_texts(tmp_path / "c", other)


def test_n_pages_with_600_words_of_article_text_and_page_metadata(tmp_path):
    truth = generate_corpus(8, tmp_path, copy_share=0.25, seed=3, eval_dir=None)
    files = sorted(p.name for p in (tmp_path / PAGES_DIR).iterdir())
    assert files == sorted(p["file"] for p in truth["pages"]) and len(files) == 8
    assert len(truth["copies"]) == 2 and truth["originals"] == 6
    for page in truth["pages"]:
        html = (tmp_path / PAGES_DIR / page["file"]).read_text(encoding="utf-8")
        extracted = trafilatura.bare_extraction(html, with_metadata=True)
        words = len(extracted.text.split())
        # Originals carry 600-640 words of prose (the last sentence may run over); a copy may
        # have lost its last sentence. The chrome (nav, sidebar, footer) must not be taken as text.
        assert (600 if page["copy_of"] is None else 550) <= words <= 720, (page["file"], words)
        assert "Most read" not in extracted.text and "Accept all" not in extracted.text
        assert extracted.title == page["title"] and extracted.author == page["author"]
        assert extracted.sitename == page["outlet"]
        assert extracted.date == page["published_at"][:10]
        assert 6_000 <= page["html_bytes"] <= 14_000


def test_planted_copies_are_marked_near_duplicates_and_originals_stay_distinct(tmp_path, eval_dir):
    truth = generate_corpus(40, tmp_path, copy_share=0.10, seed=11, eval_dir=eval_dir)
    assert truth["sources"].get("scrapinghub") and truth["sources"].get("wirecopy"), truth["sources"]
    texts = {name: trafilatura.extract(html) for name, html in page_texts(tmp_path, truth).items()}
    shingles = {name: shingle_set(text) for name, text in texts.items()}
    by_file = {p["file"]: p for p in truth["pages"]}
    copies = [p for p in truth["pages"] if p["copy_of"]]
    assert sorted(p["file"] for p in copies) == truth["copies"] and len(copies) == 4
    for copy in copies:
        original = by_file[copy["copy_of"]]
        assert original["copy_of"] is None and original["story"] == copy["story"]
        assert copy["outlet"] != original["outlet"] and copy["title"] != original["title"]
        assert copy["published_at"] > original["published_at"]
        assert texts[copy["file"]] != texts[original["file"]]
        assert jaccard(shingles[copy["file"]], shingles[original["file"]]) >= 0.85, copy["edits"]
    assert closest_originals(truth, shingles) < 0.1  # distinct stories: far below any near-duplicate threshold


def closest_originals(truth: dict, shingles: dict[str, set]) -> float:
    originals = [p["file"] for p in truth["pages"] if not p["copy_of"]]
    return max(jaccard(shingles[a], shingles[b]) for a, b in itertools.combinations(originals, 2))


def test_reused_sentences_are_respun_so_pages_stay_distinct_even_from_the_seeds_alone(tmp_path):
    # The five seeds hold ~100 sentences, enough for three pages: the rest must be respun.
    truth = generate_corpus(10, tmp_path, copy_share=0.0, seed=5, eval_dir=None)
    assert truth["respun_sentences"] > truth["verbatim_sentences"] > 0
    texts = {name: trafilatura.extract(html) for name, html in page_texts(tmp_path, truth).items()}
    shingles = {name: shingle_set(text) for name, text in texts.items()}
    assert closest_originals(truth, shingles) < 0.1
    for text in texts.values():  # respun prose keeps the shape of news prose: sentences, names, numbers
        assert re.search(r"\b[A-Z][a-z]+ [A-Z][a-z]+\b", text) and re.search(r"\d", text)


def test_an_earlier_corpus_in_the_folder_is_refused(tmp_path):
    generate_corpus(2, tmp_path, copy_share=0.0, seed=1, eval_dir=None)
    with pytest.raises(FileExistsError):
        generate_corpus(2, tmp_path, copy_share=0.0, seed=1, eval_dir=None)


def read_dataset(root, table: str, columns: str) -> list[tuple]:
    return duckdb.sql(
        f"select {columns} from read_parquet('{root / table}/**/*.parquet', hive_partitioning=true)"
    ).fetchall()


def test_baseline_script_writes_articles_and_entities_and_only_the_planted_copies_as_duplicates(tmp_path):
    truth = generate_corpus(10, tmp_path / "corpus", copy_share=0.2, seed=13, eval_dir=None)
    out = tmp_path / "out"
    command = [sys.executable, str(BASELINE_SCRIPT), str(tmp_path / "corpus" / PAGES_DIR), "--output", str(out)]
    subprocess.run([*command, "--workers", "2"], check=True, capture_output=True, timeout=300)

    pages = {page["file"]: page for page in truth["pages"]}
    articles = read_dataset(out, "articles", "doc_id, source, title, text, cast(date as varchar)")
    kept = {os.path.basename(source): (doc_id, title, date) for doc_id, source, title, _text, date in articles}
    assert sorted(kept) == sorted(name for name, page in pages.items() if not page["copy_of"])
    for name, (_doc_id, title, date) in kept.items():
        assert (title, date) == (pages[name]["title"], pages[name]["published_at"][:10])

    duplicates = read_dataset(out, "duplicates", "source, duplicate_of")
    file_of = {doc_id: name for name, (doc_id, _title, _date) in kept.items()}
    assert {os.path.basename(source): file_of[original] for source, original in duplicates} == {
        copy: pages[copy]["copy_of"] for copy in truth["copies"]
    }

    text_of = {doc_id: text for doc_id, _source, _title, text, _date in articles}
    entities = read_dataset(out, "entities", 'doc_id, text, label, start, "end"')
    assert {doc_id for doc_id, *_ in entities} == set(text_of)  # every article has named entities
    assert {label for _doc_id, _text, label, _start, _end in entities} >= {"PERSON", "ORG", "GPE"}
    for doc_id, text, _label, start, end in entities:  # offsets point into the article text
        assert text_of[doc_id][start:end] == text


@pytest.mark.slow
def test_one_invocation_prints_every_figure_with_its_target_and_writes_them_to_json(tmp_path):
    command = [sys.executable, "benchmarks/throughput.py", "--generate", "6", "--workers", "1", "2"]
    finished = subprocess.run(
        [*command, "--compare-script", "--results", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    result = json.loads((tmp_path / "throughput-6.json").read_text(encoding="utf-8"))
    measured = {item["name"]: item for item in result["figures"] if item["value"] is not None}
    required = {"docs_per_second_full", "docs_per_second_no_enrich", "speedup", "peak_rss_mb", "newsbeam_over_script"}
    required |= {"fixed_seconds_newsbeam", "fixed_seconds_script"}  # the one-page runs
    assert required <= set(measured)
    printed = finished.stdout.splitlines()
    for item in measured.values():
        line = next(line for line in printed if line.startswith(f"  {item['what']}: {item['value']:g} {item['unit']}"))
        if item["target"] is None:
            assert item["met"] is None and "no target" in line
            continue
        op, bound = item["target"].split()
        assert item["met"] == (item["value"] >= float(bound) if op == ">=" else item["value"] < float(bound))
        assert f"target {item['target']}: {'met' if item['met'] else 'NOT met'}" in line
    one_page = [run for run in result["runs"] if run["corpus"] == "one-page"]
    assert sorted(run["tool"] for run in one_page) == ["newsbeam", "script"]
    assert all(run.get("accounting", run.get("counts"))["inputs"] == 1 for run in one_page)
    runs = {(run["tool"], run["workers"], run["enrich"]) for run in result["runs"]}
    assert runs == {(tool, w, True) for tool in ("newsbeam", "script") for w in (1, 2)} | {
        ("newsbeam", 2, False),
        ("script", 2, False),
    }
