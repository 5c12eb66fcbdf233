"""Replay: the inputs behind an output's error rows run again after a fix (or an outage); rows
that now succeed are gone, rows that still fail are replaced, nothing is doubled, and the
whole output still accounts for every input once."""

from __future__ import annotations

import json
import random
import shutil
from collections import Counter
from pathlib import Path

from benchmarks.soak import seed_vocabulary, synthetic_text
from pipeline.replay import replay
from pipeline.run import run
from tests.conftest import SEEDS
from tests.test_feeds import LocalServer, rss, send
from tests.test_feeds_end_to_end import as_html_paragraphs
from transforms.write import read_table

MAX_FILE_BYTES = 12_000


def sources(output: Path, table: str) -> list[str]:
    return sorted(read_table(str(output), table).column("source").to_pylist())


def jsonl(path: Path, records: list[object]) -> None:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n", encoding="utf-8")


def test_fixed_inputs_are_replayed_and_their_error_rows_go(tmp_path):
    seeds = [p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))]
    rng = random.Random(7)
    vocabulary = seed_vocabulary()
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    config = tmp_path / "profile.yaml"
    config.write_text(f"read:\n  max_file_bytes: {MAX_FILE_BYTES}\n", encoding="utf-8")
    (folder / "a.txt").write_text(seeds[0], encoding="utf-8")
    (folder / "b.txt").write_text(seeds[1], encoding="utf-8")
    (folder / "missing.json").write_text(json.dumps({"title": "No body yet", "url": "https://ex.org/m"}))
    lines = folder / "lines.jsonl"
    good_lines = [{"text": seeds[3], "url": "https://ex.org/l1"}, {"text": seeds[4], "url": "https://ex.org/l3"}]
    jsonl(lines, [good_lines[0], "{broken", good_lines[1]])
    big = synthetic_text(rng, vocabulary, 2500)
    assert len(big.encode()) > MAX_FILE_BYTES
    (folder / "big.txt").write_text(big, encoding="utf-8")
    (folder / "gone.txt").write_text("Too short to be an article.", encoding="utf-8")
    (folder / "still.json").write_text(json.dumps({"text": 5}))

    first = run([str(folder)], output=str(out), config_path=str(config), enrich=False)
    assert first["accounting"]["balanced"]
    assert (first["accounting"]["articles"], first["accounting"]["rejected"]) == (4, 5)
    failed = sources(out, "errors")
    assert failed == sorted(
        str(folder / n) for n in ("big.txt", "gone.txt", "lines.jsonl#L2", "missing.json", "still.json")
    )

    # The fixes: the JSON gets its text, the broken line is deleted (the next line moves up to
    # L2), the big file is cut under the cap; gone.txt is deleted; still.json stays broken.
    (folder / "missing.json").write_text(json.dumps({"title": "Body", "url": "https://ex.org/m", "text": seeds[2]}))
    jsonl(lines, good_lines)
    (folder / "big.txt").write_text(" ".join(big.split()[:900]), encoding="utf-8")
    (folder / "gone.txt").unlink()

    summary = replay(str(out), str(config), quiet=True)
    assert (summary["replayed"], summary["resolved"], summary["still_failing"]) == (4, 3, 1)
    assert summary["not_replayable"] == {str(folder / "gone.txt"): f"{folder / 'gone.txt'} no longer exists"}
    assert summary["accounting"]["balanced"] and summary["accounting"]["inputs"] == 5  # 2 lines + 3 files
    assert sorted(summary["replayed_files"]) == sorted(
        str(folder / n) for n in ("big.txt", "lines.jsonl", "missing.json", "still.json")
    )

    articles = read_table(str(out), "articles")
    assert sorted(articles.column("source").to_pylist()) == sorted(
        str(folder / n) for n in ("a.txt", "b.txt", "big.txt", "lines.jsonl#L1", "lines.jsonl#L2", "missing.json")
    )
    assert len(set(articles.column("doc_id").to_pylist())) == articles.num_rows == 6
    errors = read_table(str(out), "errors").to_pylist()
    by_source = {e["source"]: e for e in errors}
    assert len(errors) == len(by_source) == 2
    assert by_source[str(folder / "still.json")]["run_id"] == summary["run_id"]  # replaced, not doubled
    assert by_source[str(folder / "gone.txt")]["run_id"] == first["run_id"]  # kept as it was
    # The whole output accounts for every input once: 6 articles + 2 rejected.
    whole = summary["output_accounting"]
    assert whole == {"inputs": 8, "articles": 6, "duplicates": 0, "rejected": 2, "doubled": 0, "balanced": True}
    assert "resolved" in summary["text"] and "gone.txt" in summary["text"]

    # A second replay changes nothing: the same row still fails, nothing doubles.
    again = replay(str(out), str(config), quiet=True)
    assert (again["replayed"], again["resolved"], again["still_failing"]) == (1, 0, 1)
    assert Counter(sources(out, "errors")) == Counter([str(folder / "gone.txt"), str(folder / "still.json")])
    assert read_table(str(out), "articles").num_rows == 6


def test_nothing_to_replay_runs_nothing(tmp_path):
    out = tmp_path / "out"
    shutil.copytree(SEEDS, tmp_path / "in")
    run([str(tmp_path / "in")], output=str(out), enrich=False)
    summary = replay(str(out), quiet=True)
    assert summary["replayed"] == 0 and summary["run_id"] is None
    assert summary["output_accounting"]["balanced"] and summary["output_accounting"]["articles"] == 5
    assert len(list((out / "_runs").glob("*.json"))) == 1


def test_feed_entries_that_failed_in_an_outage_are_fetched_again(tmp_path):
    seeds = sorted(SEEDS.glob("*.txt"))
    server = LocalServer()
    outage = {"on": True}
    try:
        page = (
            "<html><head><title>Mariupol deadline passes</title></head><body><article><h1>Mariupol</h1>"
            + as_html_paragraphs(seeds[3].read_text(encoding="utf-8"))
            + "</article></body></html>"
        )
        feed = rss(
            [
                {"title": "Full", "link": server.url("/a1"), "guid": "a1",
                 "content": as_html_paragraphs(seeds[0].read_text(encoding="utf-8"))},
                {"title": "Summary only", "link": server.url("/a2"), "guid": "a2", "description": "Short."},
            ]
        )  # fmt: skip
        server.routes["/feed.xml"] = lambda h: send(h, 200, feed.encode(), "application/rss+xml")
        server.routes["/a2"] = lambda h: send(h, 503, b"down") if outage["on"] else send(h, 200, page.encode())
        config = tmp_path / "profile.yaml"
        config.write_text("feeds:\n  max_retries: 0\n  per_host_delay: 0\n  respect_robots: false\n")
        out = tmp_path / "out"
        first = run(
            [], output=str(out), config_path=str(config), enrich=False,
            feeds=[server.url("/feed.xml")], allow_hosts=[server.host],
        )  # fmt: skip
        assert (first["accounting"]["articles"], first["accounting"]["rejected"]) == (1, 1)
        [failed] = sources(out, "errors")
        assert failed.startswith(server.url("/feed.xml") + "#")

        outage["on"] = False
        summary = replay(str(out), str(config), quiet=True, allow_hosts=[server.host])
        assert (summary["replayed"], summary["resolved"], summary["still_failing"]) == (1, 1, 0)
        assert summary["replayed_feeds"] == [server.url("/feed.xml")]
        assert read_table(str(out), "errors").num_rows == 0
        assert failed in sources(out, "articles")
        assert read_table(str(out), "articles").num_rows == 2  # the full-text entry replaced, not doubled
        assert summary["output_accounting"]["balanced"]
    finally:
        server.close()
