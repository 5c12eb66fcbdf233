"""Deduplication across scheduled runs: tomorrow's copy of today's story points at today's article."""

from __future__ import annotations

import datetime as dt
import os
import shutil

from pipeline.run import run
from tests.conftest import SEEDS
from transforms.write import INDEX_TABLE, expire_index, index_files, read_table, table_files, write_parquet_atomically


def write_copy(text: str, path, share: float = 1.0, prefix: str = "") -> None:
    lines = [line for line in text.split("\n") if line.strip()]
    kept = lines[: max(3, int(len(lines) * share))]
    edited = "\n".join(kept).replace("“", '"').replace("”", '"').replace("’", "'")
    path.write_text(prefix + edited + "\n", encoding="utf-8")


def test_second_run_points_new_copies_at_the_first_runs_articles(tmp_path):
    seeds = sorted(SEEDS.glob("*.txt"))
    day1, day2, out = tmp_path / "day1", tmp_path / "day2", tmp_path / "out"
    day1.mkdir()
    day2.mkdir()
    for seed in seeds[:2]:
        shutil.copy(seed, day1 / seed.name)
    first = run([str(day1)], output=str(out), enrich=False)
    articles_1 = read_table(str(out), "articles")
    ids_1 = dict(zip(articles_1.column("source").to_pylist(), articles_1.column("doc_id").to_pylist()))
    assert first["accounting"]["articles"] == 2 and table_files(str(out), INDEX_TABLE)

    # Day 2: an edited copy of seed 0 with a new headline, a truncated copy of seed 1, and a new story.
    write_copy(seeds[0].read_text(encoding="utf-8"), day2 / "copy0.txt", prefix="Mariupol Rejects Ultimatum\n")
    write_copy(seeds[1].read_text(encoding="utf-8"), day2 / "copy1.txt", share=0.6)
    shutil.copy(seeds[2], day2 / seeds[2].name)
    second = run([str(day2)], output=str(out), enrich=False)
    assert second["accounting"]["balanced"]
    assert (second["accounting"]["articles"], second["accounting"]["duplicates"]) == (1, 2)

    duplicates = read_table(str(out), "duplicates").to_pylist()
    pointed = {os.path.basename(d["source"]): d["duplicate_of"] for d in duplicates}
    assert pointed == {
        "copy0.txt": ids_1[str(day1 / seeds[0].name)],
        "copy1.txt": ids_1[str(day1 / seeds[1].name)],
    }
    # Yesterday's articles are not rewritten: same rows, same run.
    articles = read_table(str(out), "articles").to_pylist()
    by_source = {os.path.basename(a["source"]): a for a in articles}
    assert by_source[seeds[0].name]["run_id"] == first["run_id"]
    assert by_source[seeds[2].name]["run_id"] == second["run_id"]
    assert len(articles) == 3


def test_rerun_does_not_match_itself_in_the_index(tmp_path):
    out = tmp_path / "out"
    first = run([str(SEEDS)], output=str(out), enrich=False)
    second = run([str(SEEDS)], output=str(out), enrich=False)
    assert second["accounting"]["duplicates"] == 0 and second["accounting"]["articles"] == 5
    assert second["index_files_read"] >= 1
    assert read_table(str(out), INDEX_TABLE).num_rows == 5
    assert first["accounting"] == {**second["accounting"]}


def test_index_older_than_the_retention_window_is_dropped(tmp_path):
    from transforms.write import rows_to_table

    row = {
        "doc_id": "a", "cluster_id": "a", "source": "s", "outlet": "o", "published_ts": None, "text_chars": 10,
        "anchors": [4, 8], "bands": ["0:ab"], "date": "2026-11-01",
    }  # fmt: skip
    for date in ("2026-11-01", "2026-11-20"):
        path = tmp_path / INDEX_TABLE / f"date={date}" / "part-x.parquet"
        write_parquet_atomically(rows_to_table([{**row, "date": date}], INDEX_TABLE), str(path))
    today = dt.date(2026, 11, 23)
    assert [os.path.basename(os.path.dirname(p)) for p in index_files(str(tmp_path), 14, today)] == ["date=2026-11-20"]
    assert expire_index(str(tmp_path), 14, today) == 1
    assert not (tmp_path / INDEX_TABLE / "date=2026-11-01").exists()


def test_index_lookup_proposes_the_pairs_the_in_run_grouping_would(seed_texts):
    """Earlier runs' articles are probed in a sorted table instead of being shuffled with the
    run's own: every (new, indexed) pair that shares an LSH band, or enough anchors held by
    few indexed articles, is proposed, and no other."""
    import pyarrow as pa

    from schemas.config import DedupConfig
    from schemas.tables import INDEX
    from transforms.dedup import (
        IndexLookup,
        anchors,
        band_keys,
        comparison_sketch,
        index_entry,
        minhash_signature,
    )

    cfg = DedupConfig(anchor_max_docs=3)
    texts = list(seed_texts.values())
    paragraphs = [[line for line in text.split("\n") if line.strip()] for text in texts]
    # Indexed: the five seeds and two rewrites mixing their paragraphs. New: copies and mixtures.
    earlier = texts + ["\n".join(paragraphs[0][:4] + paragraphs[1][4:8]), "\n".join(paragraphs[2][::-1])]
    new = [texts[0], "\n".join(paragraphs[1][:6]), "\n".join(paragraphs[3][2:5] + paragraphs[4][:3]), "Nothing shared."]

    def signed(text: str) -> tuple[dict, list[str], list[int]]:
        sketch = comparison_sketch(text, cfg)
        return (
            sketch,
            band_keys(minhash_signature(sketch["distinct"], cfg.num_perm, cfg.seed), cfg.bands),
            anchors(sketch["seq"], cfg.anchor_modulus),
        )

    day = dt.datetime(2024, 3, 5, tzinfo=dt.timezone.utc)
    rows = []
    for number, text in enumerate(earlier):
        sketch, bands, _anchors = signed(text)
        article = {"doc_id": f"old{number}", "source": f"old{number}.txt", "ingested_at": day}
        rows.append(index_entry(article, sketch["seq"], (0.0, -len(text), article["doc_id"]), "Wire", bands, 4))
    lookup = IndexLookup(pa.Table.from_pylist(rows, schema=INDEX), cfg)

    held = {row["doc_id"]: (set(row["bands"]), set(row["anchors"])) for row in rows}
    anchor_holders = {}
    for doc_id, (_bands, anchor_set) in held.items():
        for anchor in anchor_set:
            anchor_holders.setdefault(anchor, set()).add(doc_id)
    proposals = []
    for text in new:
        _sketch, bands, anchor_list = signed(text)
        expected = {
            doc_id
            for doc_id, (band_set, anchor_set) in held.items()
            if band_set & set(bands)
            or sum(1 for a in anchor_set & set(anchor_list) if len(anchor_holders[a]) <= cfg.anchor_max_docs)
            >= cfg.min_shared_anchors
        }
        proposed = {lookup.doc_id(p) for p in lookup.candidates(bands, anchor_list)}
        assert proposed == expected
        proposals.append(proposed)
    assert "old0" in proposals[0] and proposals[-1] == set()
