"""Hostile input: every case is generated here (no committed binaries) and carries its expected
outcome. One end-to-end run takes a folder of all of them through the real CLI: the run
finishes, every input lands as an article or as one error row with stage, error_type, a message
and a bounded excerpt, and the accounting holds. Unit tests below pin the cases that need a
closer look (memory bounds, UTF-16 detection, the extraction time limit).

Cases test_read.py and test_clean.py already cover one by one (an empty file, a BOM, a docx, a
broken sidecar, damaged UTF-8 kept as an article) are not repeated here.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import random
import signal
import threading
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import pytest

from schemas.config import CleanConfig, ReadConfig
from schemas.tables import EXCERPT_CHARS
from tests.test_end_to_end import newsbeam, query, table_sql
from transforms.clean import CleanError, TimeLimitExceeded, call_with_time_limit, clean_document
from transforms.read import decode_bytes, discover_inputs, read_input

RUNNING_AS_ROOT = os.geteuid() == 0
INGESTED = dt.datetime(2026, 11, 23, tzinfo=dt.timezone.utc)

# Words for generated articles: every article is its own random prose, so no two are copies.
_VOCABULARY = """
council budget river school harbour bridge mayor teacher market railway hospital farmer
village winter summer election minister road tunnel library museum garden factory worker
union strike wage price bread coffee festival theatre orchestra painter novel author poet
ferry island coast storm flood drought harvest orchard vineyard cattle shepherd mountain
valley forest trail cyclist runner stadium league coach referee captain goal season trophy
court judge lawyer witness verdict appeal prison police officer station patrol report
budgetary approved rejected debated delayed opened closed repaired expanded reduced raised
announced promised warned praised criticised visited inspected welcomed celebrated
quietly slowly sharply widely finally recently again later early nearly
old new local national regional rural urban busy quiet narrow wide long short
""".split()
_PARAGRAPH = "<p>{}</p>"


def prose(seed: int, sentences: int = 12) -> str:
    """Distinct, deterministic prose: ``sentences`` sentences, three to a paragraph line."""
    rng = random.Random(seed)
    made = []
    for _ in range(sentences):
        words = [rng.choice(_VOCABULARY) for _ in range(rng.randint(8, 14))]
        made.append(" ".join(words).capitalize() + ".")
    return "\n".join(" ".join(made[i : i + 3]) for i in range(0, len(made), 3))


def html_page(text: str, charset: str | None = "utf-8", title: str = "Report") -> str:
    meta = f'<meta charset="{charset}">' if charset else ""
    body = "".join(_PARAGRAPH.format(line) for line in text.split("\n"))
    return (
        f"<html><head>{meta}<title>{title}</title></head><body><article><h1>{title}</h1>{body}</article></body></html>"
    )


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00" + bytes(range(256))
DEEP_HTML = "<html><body>" + "<div>" * 10_000 + _PARAGRAPH.format(prose(1)) + "</div>" * 10_000 + "</body></html>"
NO_ARTICLE_HTML = (
    "<html><head><title>Gallery</title><script>var g = [1, 2];</script></head>"
    '<body><div class="gallery"><img src="/a.jpg"><img src="/b.jpg"></div></body></html>'
)


def dense_html(megabytes: float) -> str:
    """Markup that trafilatura needs about 2 s per MB for here (many short link-laden blocks)."""
    block = "<div><a href='/x'>link text here</a><p>The council approved the budget after a long debate.</p></div>"
    return "<html><body>" + block * int(megabytes * 1e6 / len(block)) + "</body></html>"


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6)


def gzip_bomb(path: Path, decompressed_bytes: int) -> None:
    """A small file that expands to ``decompressed_bytes`` of zeros (about 1000:1)."""
    chunk = b"\0" * (1 << 20)
    with gzip.open(path, "wb", compresslevel=9) as stream:
        for _ in range(decompressed_bytes // len(chunk)):
            stream.write(chunk)


def expected_source(path: Path | bytes) -> str:
    """The documented ``source`` of a path: bytes that are not UTF-8 shown as \\xNN."""
    return os.fsencode(path).decode("utf-8", errors="backslashreplace")


@dataclass
class Hostile:
    """What the folder holds, and where each input must land."""

    folder: Path
    outcomes: dict[str, str]  # expected source -> "article" or "stage:error_type"

    def add(self, name: str | bytes, content: str | bytes, outcome: str | list[str]) -> Path:
        path = self.path(name)
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        self.expect(path, outcome)
        return path

    def path(self, name: str | bytes) -> Path:
        if isinstance(name, bytes):
            return Path(os.fsdecode(os.path.join(os.fsencode(self.folder), name)))
        return self.folder / name

    def expect(self, path: Path, outcome: str | list[str]) -> None:
        if isinstance(outcome, str):
            self.outcomes[expected_source(path)] = outcome
        else:  # one outcome per JSONL line
            for number, line_outcome in enumerate(outcome, start=1):
                if line_outcome:
                    self.outcomes[f"{expected_source(path)}#L{number}"] = line_outcome


def write_hostile_folder(folder: Path) -> Hostile:
    folder.mkdir(parents=True)
    h = Hostile(folder, {})
    h.add("binary_named.txt", PNG, "read:binary")
    h.add("nul_bytes.txt", prose(2).encode() + b"\x00\x00\x00" + prose(3).encode(), "read:binary")
    h.add("invalid_utf8_noise.txt", bytes(range(0x80, 0x100)) * 8, "read:undecodable")
    h.add("utf16le_no_bom.txt", prose(4).encode("utf-16-le"), "article")
    h.add("utf16be_no_bom.txt", prose(5).encode("utf-16-be"), "article")
    latin = prose(6) + "\nLe café du village était plein, dit la naïve propriétaire à Noël."
    h.add("latin1.html", html_page(latin, "iso-8859-1").encode("latin-1"), "article")
    windows = prose(7) + "\nThe mayor said “we will rebuild” — and the café reopened à la française."
    h.add("windows1252.html", html_page(windows, charset=None).encode("cp1252"), "article")

    big = h.path("fifty_megabytes.txt")
    with open(big, "wb") as handle:
        line = (prose(8, sentences=3) + "\n").encode()
        for _ in range(50 * 2**20 // len(line) + 1):
            handle.write(line)
    h.expect(big, "read:too_large")

    h.add("deep_10000.html", DEEP_HTML, "clean:too_deep")
    h.add("no_article.html", NO_ARTICLE_HTML, "clean:no_article_text")
    h.add("huge_12mb.html", html_page(prose(9)) + "<!--" + "x" * 12_000_000 + "-->", "clean:too_large")
    h.add("slow_4mb.html", dense_html(4), "clean:extract_timeout")  # extract_timeout_s is 2 below

    h.add("wrong_types.json", json.dumps({"text": 42, "authors": 7}), "read:invalid_record")
    h.add(
        "missing_fields.json", json.dumps({"title": "Headline only", "published": "2024-01-02"}), "read:invalid_record"
    )
    # json.dumps writes the lone surrogate as "\ud800": valid JSON, text no UTF-8 can hold.
    h.add("lone_surrogate.json", json.dumps({"text": prose(10) + " \ud800"}), "article")
    lines = [
        json.dumps({"text": prose(11)}),
        '{"text": "broken',
        json.dumps({"text": prose(12)}),
        json.dumps({"html": 5}),
    ]
    h.add(
        "one_broken_line.jsonl",
        "\n".join(lines) + "\n",
        ["article", "read:invalid_json", "article", "read:invalid_record"],
    )

    good_lines = "\n".join(json.dumps({"text": prose(seed)}) for seed in (13, 14)).encode()
    h.add("compressed.jsonl.gz", gzip_bytes(good_lines), ["article", "article"])
    h.add("compressed.html.gz", gzip_bytes(html_page(prose(15)).encode()), "article")
    h.add("corrupt.txt.gz", b"\x1f\x8b\x08\x00" + bytes(range(200)), "read:corrupt")
    gzip_bomb(h.path("bomb.html.gz"), 64 * 2**20)
    h.expect(h.path("bomb.html.gz"), "read:too_large")

    os.symlink(".", folder / "loop_to_self")  # a folder loop: walked once, adds nothing
    os.symlink("loop_b.txt", folder / "loop_a.txt")
    os.symlink("loop_a.txt", folder / "loop_b.txt")
    h.expect(folder / "loop_a.txt", "read:unreadable")
    h.expect(folder / "loop_b.txt", "read:unreadable")
    os.mkfifo(folder / "named_pipe.txt")
    h.expect(folder / "named_pipe.txt", "read:unreadable")
    if os.path.exists("/proc/self/mem"):
        # A file every user, root included, fails to read: reading it at offset 0 is EIO.
        os.symlink("/proc/self/mem", folder / "io_error.txt")
        h.expect(folder / "io_error.txt", "read:unreadable")
    if not RUNNING_AS_ROOT:  # root reads a file whatever its mode, so there it is no case
        locked = h.add("mode_000.txt", prose(16), "read:unreadable")
        locked.chmod(0)

    h.add("two\nlines.txt", prose(17), "article")
    h.add(b"latin1_name_caf\xe9.txt", prose(18).encode(), "article")
    h.add(b"binary_name_\xff.txt", PNG, "read:binary")
    return h


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    hostile = write_hostile_folder(root / "in")
    config = root / "hostile.yaml"
    config.write_text("clean:\n  extract_timeout_s: 2\n", encoding="utf-8")
    out = root / "out"
    try:
        result = newsbeam("run", str(hostile.folder), "--output", str(out), "--config", str(config), "--no-enrich")
    finally:
        locked = hostile.folder / "mode_000.txt"
        if locked.exists():
            locked.chmod(0o644)  # so tmp_path cleanup can remove it
    return hostile, out, result


def test_hostile_folder_run_finishes_and_accounts_for_every_input(hostile_run):
    hostile, out, result = hostile_run
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads(next((out / "_runs").glob("*.json")).read_text())
    accounting = manifest["accounting"]
    expected = list(hostile.outcomes.values())
    assert accounting["balanced"], accounting
    assert accounting["inputs"] == len(expected), accounting
    assert accounting["articles"] + accounting["duplicates"] == expected.count("article"), accounting
    assert accounting["rejected"] == len(expected) - expected.count("article"), accounting


def test_hostile_inputs_land_where_expected(hostile_run):
    hostile, out, _ = hostile_run
    errors = query(f"select source, stage || ':' || error_type from {table_sql(out, 'errors')}")
    articles = query(f"select source from {table_sql(out, 'articles')}")
    duplicates = (
        query(f"select source from {table_sql(out, 'duplicates')}") if list(out.glob("duplicates/**/*.parquet")) else []
    )
    landed = dict(errors) | {source: "article" for (source,) in articles + duplicates}
    assert len(errors) == len(dict(errors)), "one error row per input"
    assert landed == hostile.outcomes


def test_hostile_error_rows_are_readable_and_bounded(hostile_run):
    _, out, _ = hostile_run
    rows = query(f"select source, stage, error_type, message, excerpt from {table_sql(out, 'errors')}")
    for source, stage, error_type, message, excerpt in rows:
        assert source and stage and error_type, (source, stage, error_type)
        assert len(message) > 10 and "\x00" not in message, (source, message)
        assert len(excerpt or "") <= EXCERPT_CHARS, source
        assert all(ch.isprintable() or ch in "\n\t" for ch in excerpt or ""), (source, excerpt[:60])
    limits = {"too_large": ("max_file_bytes", "max_html_chars"), "extract_timeout": ("extract_timeout_s 2",)}
    for _source, _stage, error_type, message, _excerpt in rows:
        if error_type in limits:
            assert any(limit in message for limit in limits[error_type]), message  # names the setting to raise


def test_hostile_encodings_and_names_are_read_right(hostile_run):
    hostile, out, _ = hostile_run
    texts = dict(query(f"select source, text from {table_sql(out, 'articles')}"))
    by_name = {source.rsplit("/", 1)[-1]: text for source, text in texts.items()}
    assert "Le café du village était plein" in by_name["latin1.html"]
    assert "“we will rebuild” — and the café" in by_name["windows1252.html"]
    first_words = prose(4).split()[:6]
    assert " ".join(first_words) in by_name["utf16le_no_bom.txt"]
    assert " ".join(prose(5).split()[:6]) in by_name["utf16be_no_bom.txt"]
    assert by_name["lone_surrogate.json"].endswith("\ufffd")
    assert "latin1_name_caf\\xe9.txt" in by_name and "two\nlines.txt" in by_name


# ---------------------------------------------------------------- read: unit cases


def only(results: list[tuple[str, dict]]) -> tuple[str, dict]:
    assert len(results) == 1, results
    return results[0]


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom_is_detected_in_text_and_jsonl(tmp_path, encoding):
    text = prose(20) + "\nÜber den Fluß: “quoted” — 東京."
    assert decode_bytes(text.encode(encoding)) == (text, encoding)
    path = tmp_path / "wide.jsonl"
    path.write_bytes("\n".join(json.dumps({"text": t}, ensure_ascii=False) for t in (text, "second")).encode(encoding))
    documents = [row["content"] for kind, row in read_input(str(path), None, ReadConfig()) if kind == "document"]
    assert documents == [text, "second"]


def test_utf32_without_bom_is_binary_not_garbled_utf16(tmp_path):
    path = tmp_path / "wide32.txt"
    path.write_bytes(prose(21).encode("utf-32-le"))
    kind, row = only(read_input(str(path), None, ReadConfig()))
    assert (kind, row["error_type"]) == ("error", "binary")


def test_oversized_file_is_refused_without_reading_it_whole(tmp_path):
    path = tmp_path / "big.txt"
    with open(path, "wb") as handle:
        handle.truncate(50 * 2**20)  # sparse: 50 MB on paper, nothing on disk
    tracemalloc.start()
    try:
        kind, row = only(read_input(str(path), None, ReadConfig()))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (kind, row["error_type"]) == ("error", "too_large")
    assert peak < 1_000_000, peak


def test_gzip_bomb_stops_at_the_cap(tmp_path):
    cap = 1_000_000
    path = tmp_path / "bomb.jsonl.gz"
    gzip_bomb(path, 100 * 2**20)
    tracemalloc.start()
    try:
        kind, row = only(read_input(str(path), None, ReadConfig(max_file_bytes=cap)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (kind, row["error_type"]) == ("error", "too_large")
    assert "decompresses to more than max_file_bytes 1000000" in row["message"]
    assert peak < 4 * cap, peak


def test_gzip_inputs_read_like_their_inner_type(tmp_path):
    text = prose(22)
    (tmp_path / "story.txt.gz").write_bytes(gzip_bytes(text.encode("cp1252")))
    (tmp_path / "archive.tar.gz").write_bytes(gzip_bytes(b"not read"))
    (tmp_path / "truncated.html.gz").write_bytes(gzip_bytes(html_page(text).encode())[:-20])
    results = {
        Path(item["path"]).name: only(read_input(item["path"], item["sidecar"], ReadConfig()))
        for item in discover_inputs([str(tmp_path)], ReadConfig().extensions)
    }
    assert results["story.txt.gz"][1]["content"] == text
    assert results["archive.tar.gz"][1]["error_type"] == "unsupported_type"
    assert ".tar.gz is not a readable type" in results["archive.tar.gz"][1]["message"]
    assert results["truncated.html.gz"][1]["error_type"] == "corrupt"


def test_non_utf8_file_name_gives_a_valid_utf8_source(tmp_path):
    raw_name = os.path.join(os.fsencode(tmp_path), b"caf\xe9 \xff.txt")
    with open(raw_name, "wb") as handle:
        handle.write(prose(23).encode())
    (item,) = discover_inputs([str(tmp_path)], ReadConfig().extensions)
    kind, row = only(read_input(item["path"], item["sidecar"], ReadConfig()))
    assert kind == "document"
    assert row["source"] == f"{tmp_path}/caf\\xe9 \\xff.txt"
    row["source"].encode("utf-8")  # raises if a surrogate were left


def test_json_strings_with_lone_surrogates_become_replacement_characters(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"text": "A story \ud83d here", "title": "T\udc80", "authors": ["A\ud800"]}))
    kind, row = only(read_input(str(path), None, ReadConfig()))
    assert (row["content"], row["title"], row["authors"]) == ("A story \ufffd here", "T\ufffd", ["A\ufffd"])


def test_symlink_loop_and_fifo_are_unreadable_rows(tmp_path):
    os.symlink("b.txt", tmp_path / "a.txt")
    os.symlink("a.txt", tmp_path / "b.txt")
    os.mkfifo(tmp_path / "pipe.html")
    rows = {
        Path(item["path"]).name: only(read_input(item["path"], item["sidecar"], ReadConfig()))[1]
        for item in discover_inputs([str(tmp_path)], ReadConfig().extensions)
    }
    assert {name: row["error_type"] for name, row in rows.items()} == dict.fromkeys(
        ["a.txt", "b.txt", "pipe.html"], "unreadable"
    )
    assert "symbolic links" in rows["a.txt"]["message"] and "not a regular file" in rows["pipe.html"]["message"]


@pytest.mark.skipif(not os.path.exists("/proc/self/mem"), reason="needs Linux /proc")
def test_read_error_midway_is_an_unreadable_row_even_for_root(tmp_path):
    os.symlink("/proc/self/mem", tmp_path / "mem.txt")
    kind, row = only(read_input(str(tmp_path / "mem.txt"), None, ReadConfig()))
    assert (kind, row["error_type"]) == ("error", "unreadable")
    assert "Input/output error" in row["message"]


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_a_file_whose_size_stat_does_not_know_is_read_whole(tmp_path):
    # /proc files report 0 bytes; the reader sizes its read by stat, then reads on to the cap.
    os.symlink("/proc/self/status", tmp_path / "status.txt")
    kind, document = only(read_input(str(tmp_path / "status.txt"), None, ReadConfig()))
    assert kind == "document"
    assert document["content"].startswith("Name:") and "\nPid:" in document["content"]


# ---------------------------------------------------------------- clean: limits on HTML extraction


def html_document(html: str, source: str = "page.html") -> dict:
    return {"source": source, "format": "html", "content": html, "url": None, "authors": [], "published_at": None}


def clean_error(raw: dict, cfg: CleanConfig) -> CleanError:
    with pytest.raises(CleanError) as caught:
        clean_document(raw, cfg, "test-run", INGESTED)
    return caught.value


def test_deeply_nested_html_is_refused_as_too_deep():
    error = clean_error(html_document(DEEP_HTML), CleanConfig())
    assert error.error_type == "too_deep"
    assert "200 levels" in error.message


def test_html_over_max_html_chars_is_not_extracted():
    error = clean_error(html_document(html_page(prose(24))), CleanConfig(max_html_chars=100))
    assert error.error_type == "too_large" and "max_html_chars 100" in error.message


def test_slow_extraction_stops_at_the_time_limit_and_the_next_page_still_works():
    error = clean_error(html_document(dense_html(1)), CleanConfig(extract_timeout_s=0.2))
    assert error.error_type == "extract_timeout"
    article = clean_document(html_document(html_page(prose(25))), CleanConfig(), "test-run", INGESTED)
    assert article["word_count"] > 50


def _busy_swallowing_exceptions() -> None:
    while True:
        try:
            sum(range(10_000))
        except Exception:  # noqa: BLE001 - as a library might: the limit must still hold
            pass


def test_time_limit_holds_off_the_main_thread_and_leaves_no_thread_behind():
    outcome: list[BaseException] = []

    def worker() -> None:  # Beam runs DoFns on threads like this one, where signal.alarm cannot
        try:
            call_with_time_limit(_busy_swallowing_exceptions, 0.2)
        except TimeLimitExceeded as exc:
            outcome.append(exc)

    call_with_time_limit(lambda: None, 1)  # the process's one watchdog thread is running from here on
    threads_before = threading.active_count()
    for _ in range(3):
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join(timeout=60)
        assert not thread.is_alive(), "the call was not stopped"
    assert len(outcome) == 3
    assert threading.active_count() == threads_before  # calls start no thread of their own
    assert all(t.daemon for t in threading.enumerate() if t.name == "newsbeam-time-limit")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_time_limit_holds_in_a_process_forked_after_first_use():
    call_with_time_limit(lambda: None, 1)  # the parent's watchdog thread does not survive the fork
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            call_with_time_limit(_busy_swallowing_exceptions, 0.2)
        except TimeLimitExceeded:
            os._exit(0)
        os._exit(1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pid, status = os.waitpid(child, os.WNOHANG)
        if pid:
            break
        time.sleep(0.05)
    else:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        pytest.fail("the forked child's call was never stopped")
    assert os.waitstatus_to_exitcode(status) == 0


def test_time_limits_of_concurrent_calls_stop_only_the_slow_one():
    outcomes: dict[str, object] = {}

    def call(name: str, function, seconds: float) -> None:
        try:
            outcomes[name] = call_with_time_limit(function, seconds)
        except TimeLimitExceeded:
            outcomes[name] = "stopped"

    threads = [
        threading.Thread(target=call, args=("slow", _busy_swallowing_exceptions, 0.3)),
        # Armed after the slow call, due before it and finished long before that: never stopped.
        threading.Thread(target=call, args=("quick", lambda: sum(range(1000)), 0.2)),
        threading.Thread(target=call, args=("patient", lambda: time.sleep(0.6) or "done", 5)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert outcomes == {"slow": "stopped", "quick": sum(range(1000)), "patient": "done"}


def test_a_shorter_limit_armed_while_the_watchdog_waits_for_a_longer_one_still_holds():
    # The watchdog is woken only for a deadline earlier than the one it sleeps towards.
    patient = threading.Thread(target=call_with_time_limit, args=(lambda: time.sleep(0.8), 60))
    patient.start()
    time.sleep(0.2)  # the watchdog now sleeps towards the 60 s deadline

    def busy():
        while True:
            pass

    started = time.monotonic()
    with pytest.raises(TimeLimitExceeded):
        call_with_time_limit(busy, 0.2)
    assert time.monotonic() - started < 10  # stopped at its own limit, not the patient call's
    patient.join(timeout=60)


def test_time_limit_leaves_nothing_pending_after_a_call_that_ends_as_it_fires():
    outcomes = set()
    for _ in range(200):
        try:
            outcomes.add(call_with_time_limit(lambda: 42, 0.0005))
        except TimeLimitExceeded:
            outcomes.add("stopped")  # fired as the call returned: reported, never raised later
    assert outcomes <= {42, "stopped"}
    time.sleep(0.05)  # an exception still pending would surface in the work below
    assert sum(range(1_000_000)) > 0
