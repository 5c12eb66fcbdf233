"""The held-out dedup set's generator: deterministic, honestly labelled, built as its docstring says.

Only the generator is tested here; the scores belong to ``benchmarks/dedup_heldout.py`` and are
never asserted.
"""

from __future__ import annotations

import csv
import re
import unicodedata

import pytest
import trafilatura

from benchmarks.dedup_heldout import MANIFEST_FILE, NEWSLETTERS, generate_heldout

STORIES = 20


def shingle_set(text: str, size: int = 5) -> set[str]:
    words = re.findall(r"\w+", unicodedata.normalize("NFKD", text.casefold()))
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}


def read_docs(out_dir) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted((out_dir / "docs").iterdir())}


def read_labels(out_dir) -> dict[str, str]:
    with open(out_dir / "labels.csv", encoding="utf-8", newline="") as handle:
        return {row["file"]: row["cluster"] for row in csv.DictReader(handle)}


def paragraphs(text: str) -> list[str]:
    """Paragraphs of a generated .txt document, headline first."""
    return [p for p in text.split("\n\n") if p.strip()]


@pytest.fixture(scope="module")
def heldout(tmp_path_factory, eval_dir):
    out = tmp_path_factory.mktemp("heldout")
    manifest = generate_heldout(out, STORIES, seed=5, eval_dir=eval_dir)
    return out, manifest, read_docs(out), {d["file"]: d for d in manifest["docs"]}


def test_same_seed_writes_the_same_set_and_another_seed_does_not(heldout, tmp_path, eval_dir):
    out, _manifest, docs, _by_file = heldout
    generate_heldout(tmp_path / "again", STORIES, seed=5, eval_dir=eval_dir)
    generate_heldout(tmp_path / "other", STORIES, seed=6, eval_dir=eval_dir)
    assert read_docs(tmp_path / "again") == docs
    assert read_labels(tmp_path / "again") == read_labels(out)
    assert (tmp_path / "again" / MANIFEST_FILE).read_bytes() == (out / MANIFEST_FILE).read_bytes()
    assert read_docs(tmp_path / "other") != docs


def test_every_file_is_labelled_and_every_label_names_a_planted_file(heldout):
    out, manifest, docs, by_file = heldout
    labels = read_labels(out)
    assert set(labels) == set(docs) == set(by_file)
    assert {".txt", ".html"} == {name[name.rindex(".") :] for name in docs}
    assert all(labels[name] == doc["cluster"] for name, doc in by_file.items())
    assert manifest["stories"] == STORIES


def test_each_story_cluster_is_one_original_and_its_copies_and_negatives_stand_alone(heldout):
    _out, manifest, _docs, by_file = heldout
    members: dict[str, list[dict]] = {}
    for doc in manifest["docs"]:
        members.setdefault(doc["cluster"], []).append(doc)
    for cluster, group in members.items():
        roles = sorted(d["role"] for d in group)
        if cluster.startswith("n"):
            assert roles == ["negative"], cluster
        else:
            assert roles == ["copy"] * (len(group) - 1) + ["original"], cluster
    for doc in manifest["docs"]:
        if doc["role"] == "copy":
            original = by_file[doc["original"]]
            assert original["role"] == "original" and original["cluster"] == doc["cluster"]
            assert doc["edits"], doc["file"]
        if doc["role"] == "negative":
            assert doc["apart_from"] and all(by_file[f]["cluster"] != doc["cluster"] for f in doc["apart_from"])
    kinds = {d["negative"] for d in manifest["docs"] if d["role"] == "negative"}
    assert kinds == {"composite", "shared_quote", "follow_up", "same_template"}


def test_stories_are_held_out_from_the_dev_set_and_distinct_from_each_other(heldout, eval_dir):
    _out, _manifest, docs, by_file = heldout
    dev: set[str] = set()
    for path in (eval_dir / "wirecopy_dev" / "docs").iterdir():
        dev |= shingle_set(path.read_text(encoding="utf-8", errors="replace"))
    originals = {name: shingle_set(text) for name, text in docs.items() if by_file[name]["role"] == "original"}
    for name, own in originals.items():
        assert len(own & dev) <= 0.05 * len(own), name
    names = sorted(originals)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert len(originals[a] & originals[b]) <= 0.05 * min(len(originals[a]), len(originals[b])), (a, b)


def test_copies_carry_the_edits_they_are_labelled_with(heldout):
    _out, manifest, docs, by_file = heldout
    towns = [d["details"]["local_paragraph"] for d in manifest["docs"] if "local_paragraph" in d["edits"]]
    assert towns, "no local paragraph planted"
    for town in towns:  # a town is named in its own copy and nowhere else
        assert sum(town in text for text in docs.values()) == 1, town
    for doc in manifest["docs"]:
        if doc["role"] != "copy":
            continue
        text, original = docs[doc["file"]], docs[doc["original"]]
        assert text != original, doc["file"]
        if "dateline" in doc["edits"]:
            assert doc["details"]["dateline"] in text
        if "truncated" in doc["edits"]:
            assert 0.35 <= doc["details"]["truncated"] <= 0.90
        if "word_edits" in doc["edits"]:
            assert 0.015 <= doc["details"]["word_edits"] <= 0.065  # 2-6 %, rounded to whole words
        if doc["file"].endswith(".txt") and "new_headline" in doc["edits"]:
            assert paragraphs(text)[0] != paragraphs(original)[0]


def test_hard_negatives_take_text_where_the_manifest_says(heldout):
    _out, manifest, docs, by_file = heldout
    for doc in (d for d in manifest["docs"] if d["role"] == "negative"):
        body = paragraphs(docs[doc["file"]])[1:]
        details, kind = doc["details"], doc["negative"]
        if kind in ("composite", "shared_quote"):
            passage = details["inserted"] if kind == "composite" else details["quoted"]
            at = body.index(passage[0])
            assert body[at + 1] == passage[1] and 0 < at and at + 2 < len(body), doc["file"]  # mid-text
            source = paragraphs(docs[doc["apart_from"][-1 if kind == "composite" else 0]])
            assert passage[0] in source and passage[1] in source
        if kind == "composite":
            base = paragraphs(docs[doc["apart_from"][0]])[1:]
            assert body[:at] + body[at + 2 :] == base
        if kind == "shared_quote":
            partner = paragraphs(docs[doc["apart_from"][1]])
            assert passage[0] in partner and by_file[doc["apart_from"][1]]["negative"] == "shared_quote"
        if kind == "follow_up":
            recap_source = paragraphs(docs[doc["apart_from"][0]])[1:]
            assert body[:2] == recap_source[:2] and len(body) >= 6
            new = [p for p in body[2:] if len(p.split()) >= 8]  # short lines ("10 p.m.") recur anywhere
            others = [t for name, t in docs.items() if name != doc["file"]]
            assert not any(p in t for p in new for t in others), "a follow-up's new paragraphs are new"
        if kind == "same_template":
            partner = paragraphs(docs[doc["apart_from"][0]])[1:]
            assert body[0] == partner[0] and body[-1] == partner[-1] and body[1:-1] != partner[1:-1]


def test_html_copies_extract_to_their_story_without_the_page_chrome(heldout):
    _out, manifest, docs, by_file = heldout
    pages = [d for d in manifest["docs"] if d["file"].endswith(".html")]
    assert pages
    for doc in pages:
        extracted = trafilatura.extract(docs[doc["file"]], favor_precision=True)
        story = paragraphs(docs[doc["original"]])[1:]
        shared = shingle_set(extracted) & shingle_set("\n".join(story))
        assert len(shared) >= 0.3 * len(shingle_set(extracted)), doc["file"]
        assert "Related stories" not in extracted and "All rights reserved" not in extracted
        assert not any(promo in extracted for promo in NEWSLETTERS), doc["file"]
