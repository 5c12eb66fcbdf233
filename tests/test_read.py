"""Read stage: every input file (or JSONL line, or JSON array item) becomes exactly one raw
document or exactly one error row. All files are written by the tests into tmp_path."""

from __future__ import annotations

import codecs
import datetime as dt
import json
import os
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.config import ReadConfig
from schemas.tables import EXCERPT_CHARS
from transforms.read import (
    DecodeError,
    ReadDocuments,
    decode_bytes,
    discover_inputs,
    read_input,
)

SEEDS = Path(__file__).resolve().parent.parent / "samples" / "seeds"
CFG = ReadConfig()
EXTENSIONS = CFG.extensions
ARTICLE = (
    "The city council approved the new budget on Tuesday after a long debate.\n"
    "Officials said spending on schools would rise by four percent next year.\n"
)
PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00"


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def read(path: Path, sidecar: Path | None = None, cfg: ReadConfig = CFG) -> list[tuple[str, dict]]:
    return read_input(str(path), str(sidecar) if sidecar else None, cfg)


def only_document(results: list[tuple[str, dict]]) -> dict:
    assert [kind for kind, _ in results] == ["document"], results
    return results[0][1]


def only_error(results: list[tuple[str, dict]]) -> dict:
    assert [kind for kind, _ in results] == ["error"], results
    error = results[0][1]
    assert error["stage"] == "read"
    return error


def paths_of(inputs: list[dict], root: Path) -> list[str]:
    return [os.path.relpath(item["path"], root) for item in inputs]


# ---------------------------------------------------------------- decode_bytes


def test_decode_plain_utf8():
    assert decode_bytes("Zoë’s café".encode()) == ("Zoë’s café", "utf-8")


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (codecs.BOM_UTF8 + "naïve".encode(), "utf-8-sig"),
        (codecs.BOM_UTF16_LE + "naïve".encode("utf-16-le"), "utf-16-le"),
        (codecs.BOM_UTF16_BE + "naïve".encode("utf-16-be"), "utf-16-be"),
        (codecs.BOM_UTF32_LE + "naïve".encode("utf-32-le"), "utf-32-le"),
    ],
)
def test_decode_byte_order_mark_wins_and_is_dropped(data, encoding):
    assert decode_bytes(data) == ("naïve", encoding)


def test_decode_bom_with_broken_body_is_an_error():
    with pytest.raises(DecodeError, match="utf-16"):
        decode_bytes(codecs.BOM_UTF16_LE + b"\x00\xd8")  # a lone surrogate


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("The minister’s “bold” plan — announced on Monday — drew criticism from the opposition.", "cp1252"),
        ("Le garçon du café a déjà servi les crêpes à Noël. C'est très élégant, écrit le journaliste.", "cp1252"),
        ("El niño comió una manzana en el jardín, y después se fue a la estación con su papá.", "cp1252"),
        ("Правительство России объявило о новых мерах поддержки экономики в понедельник.", "cp1251"),
        ("Zażółć gęślą jaźń. W Łodzi i Wrocławiu pada deszcz, mówi rzecznik służb meteorologicznych.", "cp1250"),
    ],
)
def test_decode_legacy_encodings_without_declaration(text, encoding):
    assert decode_bytes(text.encode(encoding)) == (text, encoding)


def test_decode_html_honours_declared_charset():
    html = '<html><head><meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1"></head>'
    html += "<body><p>Größe</p></body></html>"
    assert decode_bytes(html.encode("latin-1"), is_html=True) == (html, "iso8859-1")


def test_decode_html_declared_latin1_with_curly_quotes_is_read_as_cp1252():
    # Browsers read an ISO-8859-1 label as windows-1252; 0x93/0x94 are quotes, not controls.
    html = '<meta charset="iso-8859-1"><p>“Très bien”, dit-il.</p>'
    assert decode_bytes(html.encode("cp1252"), is_html=True) == (html, "cp1252")


def test_decode_html_wrong_utf8_declaration_falls_back_to_guess():
    html = '<meta charset="utf-8"><p>Le café du garçon est très célèbre à Noël.</p>'
    text, encoding = decode_bytes(html.encode("cp1252"), is_html=True)
    assert text == html
    assert encoding == "cp1252"


def test_decode_gives_up_on_noise():
    with pytest.raises(DecodeError):
        decode_bytes(bytes(range(0x80, 0x100)) * 8)


# ---------------------------------------------------------------- discover_inputs


def test_discover_walks_folders_sorted_and_skips_hidden(tmp_path):
    write(tmp_path / "b.txt", ARTICLE)
    write(tmp_path / "a.html", "<p>x</p>")
    write(tmp_path / "sub" / "c.jsonl", "{}")
    write(tmp_path / ".hidden.txt", ARTICLE)
    write(tmp_path / ".git" / "d.txt", ARTICLE)
    inputs = discover_inputs([str(tmp_path)], EXTENSIONS)
    assert paths_of(inputs, tmp_path) == ["a.html", "b.txt", "sub/c.jsonl"]
    assert all(item["sidecar"] is None for item in inputs)


def test_discover_keeps_unsupported_files_as_inputs(tmp_path):
    write(tmp_path / "notes.md", "# notes")
    write(tmp_path / "README", "readme")
    assert paths_of(discover_inputs([str(tmp_path)], EXTENSIONS), tmp_path) == ["README", "notes.md"]


def test_discover_pairs_sidecars_and_lists_orphans(tmp_path):
    write(tmp_path / "story.txt", ARTICLE)
    write(tmp_path / "story.meta.json", "{}")
    write(tmp_path / "page.htm", "<p>x</p>")
    write(tmp_path / "page.meta.json", "{}")
    write(tmp_path / "lost.meta.json", "{}")
    inputs = discover_inputs([str(tmp_path)], EXTENSIONS)
    by_name = {os.path.relpath(i["path"], tmp_path): i["sidecar"] for i in inputs}
    assert by_name == {
        "lost.meta.json": None,
        "page.htm": str(tmp_path / "page.meta.json"),
        "story.txt": str(tmp_path / "story.meta.json"),
    }


def test_discover_finds_sidecar_of_a_file_named_alone(tmp_path):
    write(tmp_path / "story.txt", ARTICLE)
    write(tmp_path / "story.meta.json", "{}")
    assert discover_inputs([str(tmp_path / "story.txt")], EXTENSIONS) == [
        {"path": str(tmp_path / "story.txt"), "sidecar": str(tmp_path / "story.meta.json")}
    ]


def test_discover_missing_path_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        discover_inputs([str(tmp_path / "nope")], EXTENSIONS)


def test_discover_symlink_loop_terminates_with_each_file_once(tmp_path):
    root = tmp_path / "root"
    write(root / "a.txt", ARTICLE)
    write(root / "sub" / "b.txt", ARTICLE)
    os.symlink(root, root / "sub" / "loop")
    os.symlink(root / "sub", root / "sub" / "self")
    os.symlink(root / "a.txt", root / "z_link_to_a.txt")
    inputs = discover_inputs([str(root), str(root / "sub")], EXTENSIONS)
    assert paths_of(inputs, root) == ["a.txt", "sub/b.txt"]


def test_discover_follows_symlinked_folder_and_keeps_broken_links(tmp_path):
    outside = tmp_path / "outside"
    write(outside / "far.txt", ARTICLE)
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(outside, root / "linked")
    os.symlink(tmp_path / "missing.txt", root / "broken.txt")
    assert paths_of(discover_inputs([str(root)], EXTENSIONS), root) == ["broken.txt", "linked/far.txt"]


# ---------------------------------------------------------------- read_input: text and HTML


def test_read_text_file(tmp_path):
    doc = only_document(read(write(tmp_path / "story.txt", ARTICLE)))
    assert doc == {
        "source": str(tmp_path / "story.txt"),
        "format": "text",
        "content": ARTICLE,  # the first line stays text, not a title
        "encoding": "utf-8",
        "url": None,
        "title": None,
        "outlet": None,
        "authors": [],
        "published_at": None,
        "date_source": None,
    }


def test_read_latin1_html_with_accents(tmp_path):
    html = (
        '<html><head><meta charset="iso-8859-1"><title>Économie</title></head>'
        "<body><p>Le ministre a présenté à Genève un budget équilibré pour l'année.</p></body></html>"
    )
    doc = only_document(read(write(tmp_path / "page.html", html.encode("iso-8859-1"))))
    assert doc["format"] == "html"
    assert "présenté à Genève un budget équilibré" in doc["content"]
    assert doc["encoding"] == "iso8859-1"


def test_read_cp1252_text_with_curly_quotes(tmp_path):
    text = "“We will not back down,” the mayor’s spokesperson said — twice — on Friday."
    doc = only_document(read(write(tmp_path / "quote.txt", text.encode("cp1252"))))
    assert doc["content"] == text
    assert doc["encoding"] == "cp1252"


def test_read_utf16_text_with_bom(tmp_path):
    doc = only_document(read(write(tmp_path / "wide.txt", ARTICLE.encode("utf-16"))))
    assert doc["content"] == ARTICLE
    assert doc["encoding"].startswith("utf-16")


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("nul.txt", b"Some text\x00\x00\x00 with NUL bytes in it"),
        ("image.txt", PNG_HEADER),
        ("image.html", PNG_HEADER),
    ],
)
def test_read_binary_content_is_an_error(tmp_path, name, data):
    error = only_error(read(write(tmp_path / name, data)))
    assert error["error_type"] == "binary"
    assert error["source"] == str(tmp_path / name)
    assert error["excerpt"]
    assert all(ch.isprintable() or ch in "\n\t" for ch in error["excerpt"]), error["excerpt"]


def test_read_utf8_with_one_corrupt_byte_keeps_the_article(tmp_path):
    text = "Zoë’s café served crêpes — “delicious”, said the critic. " * 3
    doc = only_document(read(write(tmp_path / "damaged.txt", text.encode() + b"\xff end")))
    assert doc["encoding"] == "utf-8"
    assert doc["content"] == text + "\ufffd end"  # accents intact, only the bad byte replaced


def test_read_invalid_utf8_noise_is_undecodable(tmp_path):
    error = only_error(read(write(tmp_path / "noise.txt", bytes(range(0x80, 0x100)) * 8)))
    assert error["error_type"] == "undecodable"
    assert 0 < len(error["excerpt"]) <= EXCERPT_CHARS


@pytest.mark.parametrize("content", [b"", b"  \n\t\r\n  "])
def test_read_empty_or_whitespace_is_an_error(tmp_path, content):
    assert only_error(read(write(tmp_path / "blank.txt", content)))["error_type"] == "empty"


def test_read_unsupported_extension(tmp_path):
    error = only_error(read(write(tmp_path / "report.docx", b"PK\x03\x04 word document")))
    assert error["error_type"] == "unsupported_type"
    assert ".docx" in error["message"]
    assert error["excerpt"].startswith("PK")


def test_read_extension_outside_config_is_unsupported(tmp_path):
    cfg = ReadConfig(extensions=[".txt"])
    error = only_error(read(write(tmp_path / "page.html", "<p>hello</p>"), cfg=cfg))
    assert error["error_type"] == "unsupported_type"


def test_read_too_large_file(tmp_path):
    error = only_error(read(write(tmp_path / "big.txt", ARTICLE * 10), cfg=ReadConfig(max_file_bytes=100)))
    assert error["error_type"] == "too_large"
    assert "100" in error["message"]
    assert error["excerpt"].startswith("The city council")


def test_read_broken_symlink_is_unreadable(tmp_path):
    os.symlink(tmp_path / "gone.txt", tmp_path / "link.txt")
    error = only_error(read(tmp_path / "link.txt"))
    assert error["error_type"] == "unreadable"
    assert "symlink" in error["message"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_read_permission_denied_is_unreadable(tmp_path):
    path = write(tmp_path / "secret.txt", ARTICLE)
    path.chmod(0)
    try:
        assert only_error(read(path))["error_type"] == "unreadable"
    finally:
        path.chmod(0o644)


def test_read_never_raises(tmp_path):
    # A path the OS rejects outright (embedded NUL) still gives one row, not a crash.
    error = only_error(read_input(str(tmp_path / "bad\x00name.txt"), None, CFG))
    assert error["error_type"] == "exception"
    assert "ValueError" in error["message"]


# ---------------------------------------------------------------- sidecars


def test_sidecar_metadata_reaches_the_document(tmp_path):
    story = write(tmp_path / "story.txt", ARTICLE)
    sidecar = write(
        tmp_path / "story.meta.json",
        json.dumps(
            {
                "url": "https://example.com/budget",
                "title": "Council passes budget",
                "published": "2024-03-05T09:30:00+01:00",
                "outlet": "Example Gazette",
                "authors": "Ann Lee; Bo Chen",
                "unknown_key": "ignored",
            }
        ),
    )
    doc = only_document(read(story, sidecar))
    assert doc["url"] == "https://example.com/budget"
    assert doc["title"] == "Council passes budget"
    assert doc["outlet"] == "Example Gazette"
    assert doc["authors"] == ["Ann Lee", "Bo Chen"]
    assert doc["published_at"] == dt.datetime(2024, 3, 5, 8, 30, tzinfo=dt.timezone.utc)
    assert doc["published_at"].utcoffset() == dt.timedelta(0)
    assert doc["date_source"] == "sidecar"
    assert doc["content"] == ARTICLE


def test_sidecar_without_date_gives_no_date_source(tmp_path):
    story = write(tmp_path / "story.txt", ARTICLE)
    sidecar = write(tmp_path / "story.meta.json", '{"title": "T"}')
    doc = only_document(read(story, sidecar))
    assert (doc["title"], doc["published_at"], doc["date_source"]) == ("T", None, None)


@pytest.mark.parametrize(
    ("sidecar_text", "named"),
    [
        ('{"published": "the day after tomorrow-ish"}', "published"),
        ('{"authors": 42}', "authors"),
        ('{"url": ', "not valid JSON"),
        ('["a", "list"]', "JSON object"),
    ],
)
def test_invalid_sidecar_rejects_the_document(tmp_path, sidecar_text, named):
    story = write(tmp_path / "story.txt", ARTICLE)
    sidecar = write(tmp_path / "story.meta.json", sidecar_text)
    error = only_error(read(story, sidecar))
    assert error["error_type"] == "invalid_sidecar"
    assert error["source"] == str(story)
    assert named in error["message"]
    assert str(sidecar) in error["message"]


def test_orphan_sidecar_is_an_error(tmp_path):
    error = only_error(read(write(tmp_path / "lost.meta.json", '{"title": "Lost"}')))
    assert error["error_type"] == "orphan_sidecar"
    assert "Lost" in error["excerpt"]


def test_sidecar_named_without_its_document_says_so(tmp_path):
    write(tmp_path / "story.txt", ARTICLE)
    sidecar = write(tmp_path / "story.meta.json", "{}")
    inputs = discover_inputs([str(sidecar)], EXTENSIONS)
    assert inputs == [{"path": str(sidecar), "sidecar": None}]
    error = only_error(read_input(inputs[0]["path"], None, CFG))
    assert error["error_type"] == "orphan_sidecar"
    assert "story.txt" in error["message"]


def test_uppercase_extension_is_understood(tmp_path):
    assert only_document(read(write(tmp_path / "SHOUT.TXT", ARTICLE)))["format"] == "text"


# ---------------------------------------------------------------- JSON and JSONL


def test_json_object_is_one_document(tmp_path):
    path = write(
        tmp_path / "one.json",
        json.dumps({"text": ARTICLE, "url": "https://e.com/a", "published": 1709631000, "authors": ["Ann"]}),
    )
    doc = only_document(read(path))
    assert doc["source"] == str(path)
    assert (doc["format"], doc["content"], doc["url"], doc["authors"]) == ("text", ARTICLE, "https://e.com/a", ["Ann"])
    assert doc["published_at"] == dt.datetime(2024, 3, 5, 9, 30, tzinfo=dt.timezone.utc)
    assert doc["date_source"] == "json"


def test_json_array_gives_one_row_per_item(tmp_path):
    items = [{"html": "<p>first</p>"}, {"title": "no body"}, {"text": ARTICLE, "title": "third"}, "just a string"]
    path = write(tmp_path / "many.json", json.dumps(items))
    results = read(path)
    assert [(kind, row["source"]) for kind, row in results] == [
        ("document", f"{path}#0"),
        ("error", f"{path}#1"),
        ("document", f"{path}#2"),
        ("error", f"{path}#3"),
    ]
    assert results[0][1]["format"] == "html"
    assert results[2][1]["title"] == "third"
    assert results[2][1]["date_source"] is None


def test_json_missing_text_and_html_names_the_fields(tmp_path):
    error = only_error(read(write(tmp_path / "nobody.json", '{"title": "Headline only"}')))
    assert error["error_type"] == "invalid_record"
    assert "'text'" in error["message"] and "'html'" in error["message"]
    assert "Headline only" in error["excerpt"]


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"text": 42}, "text"),
        ({"html": ["<p>"]}, "html"),
        ({"text": ARTICLE, "authors": 7}, "authors"),
        ({"text": ARTICLE, "url": {"href": "x"}}, "url"),
        ({"text": ARTICLE, "published": "not a date at all"}, "published"),
    ],
)
def test_json_wrong_types_name_the_field(tmp_path, record, field):
    error = only_error(read(write(tmp_path / "bad.json", json.dumps(record))))
    assert error["error_type"] == "invalid_record"
    assert f"'{field}'" in error["message"]


def test_json_syntax_error(tmp_path):
    error = only_error(read(write(tmp_path / "broken.json", '{"text": "unterminated')))
    assert error["error_type"] == "invalid_json"
    assert error["excerpt"] == '{"text": "unterminated'


def test_jsonl_broken_line_fails_alone(tmp_path):
    lines = [
        json.dumps({"text": "first story"}),
        "",
        '{"text": "second story",',  # line 3: broken
        json.dumps({"html": "<p>third</p>", "outlet": "Wire"}),
        "",
    ]
    path = write(tmp_path / "feed.jsonl", "\n".join(lines))
    results = read(path)
    assert [(kind, row["source"]) for kind, row in results] == [
        ("document", f"{path}#L1"),
        ("error", f"{path}#L3"),
        ("document", f"{path}#L4"),
    ]
    assert results[1][1]["error_type"] == "invalid_json"
    assert results[1][1]["excerpt"] == '{"text": "second story",'
    assert results[0][1]["content"] == "first story"
    assert (results[2][1]["format"], results[2][1]["outlet"]) == ("html", "Wire")


def test_jsonl_with_only_blank_lines_is_one_empty_error(tmp_path):
    error = only_error(read(write(tmp_path / "blank.jsonl", "\n\n  \n")))
    assert error["error_type"] == "empty"


def test_jsonl_in_cp1252_decodes_every_line_alike(tmp_path):
    texts = ["Le café est très bon, dit-il.", "plain ascii line", "“Quoted” words — and a dash."]
    data = "\n".join(json.dumps({"text": t}, ensure_ascii=False) for t in texts).encode("cp1252")
    docs = [row for kind, row in read(write(tmp_path / "legacy.jsonl", data)) if kind == "document"]
    assert [d["content"] for d in docs] == texts
    assert [d["encoding"] for d in docs] == ["cp1252", "utf-8", "cp1252"]


def test_jsonl_utf16_with_bom(tmp_path):
    data = (json.dumps({"text": "über"}, ensure_ascii=False) + "\n").encode("utf-16")
    doc = only_document(read(write(tmp_path / "wide.jsonl", data)))
    assert doc["content"] == "über"
    assert doc["source"].endswith("#L1")


# ---------------------------------------------------------------- the seed samples


def test_seed_samples_read_as_utf8_text():
    inputs = discover_inputs([str(SEEDS)], EXTENSIONS)
    assert len(inputs) == 5
    docs = [only_document(read_input(i["path"], i["sidecar"], CFG)) for i in inputs]
    assert {(d["format"], d["encoding"]) for d in docs} == {("text", "utf-8")}
    assert all(len(d["content"].split()) > 100 for d in docs)


# ---------------------------------------------------------------- Beam


def counter(result, name: str) -> int:
    found = result.metrics().query(MetricsFilter().with_namespace("newsbeam").with_name(name))["counters"]
    return sum(c.committed for c in found)


def all_counters(result) -> dict[str, int]:
    totals: dict[str, int] = {}
    for c in result.metrics().query(MetricsFilter().with_namespace("newsbeam"))["counters"]:
        totals[c.key.metric.name] = totals.get(c.key.metric.name, 0) + c.committed
    return totals


def test_read_documents_pipeline(tmp_path):
    write(tmp_path / "a.txt", ARTICLE)
    write(tmp_path / "b.html", "<html><body><p>Hello there, world.</p></body></html>")
    write(tmp_path / "b.meta.json", '{"url": "https://e.com/b", "published": "2024-01-02"}')
    write(tmp_path / "c.txt", PNG_HEADER)
    write(tmp_path / "d.jsonl", '{"text": "one"}\nnot json\n')
    write(tmp_path / "e.csv", "a,b\n1,2\n")

    with TestPipeline() as p:
        documents, errors = p | "Read" >> ReadDocuments([str(tmp_path)], CFG)
        assert_that(
            documents | "DocKeys" >> beam.Map(lambda d: (d["source"], d["format"], d["url"], d["date_source"])),
            equal_to(
                [
                    (str(tmp_path / "a.txt"), "text", None, None),
                    (str(tmp_path / "b.html"), "html", "https://e.com/b", "sidecar"),
                    (f"{tmp_path / 'd.jsonl'}#L1", "text", None, None),
                ]
            ),
            label="Documents",
        )
        assert_that(
            errors | "ErrorKeys" >> beam.Map(lambda e: (e["source"], e["stage"], e["error_type"])),
            equal_to(
                [
                    (str(tmp_path / "c.txt"), "read", "binary"),
                    (f"{tmp_path / 'd.jsonl'}#L2", "read", "invalid_json"),
                    (str(tmp_path / "e.csv"), "read", "unsupported_type"),
                ]
            ),
            label="Errors",
        )

    assert counter(p.result, "read_inputs") == 6
    assert counter(p.result, "read_documents") == 3
    assert counter(p.result, "read_rejected_binary") == 1
    assert counter(p.result, "read_rejected_unsupported_type") == 1


def test_read_accounting_every_input_is_counted_once(tmp_path):
    write(tmp_path / "a.txt", ARTICLE)
    write(tmp_path / "blank.txt", "   ")
    write(tmp_path / "arr.json", json.dumps([{"text": "x"}, {"nope": 1}, {"html": "<p>y</p>"}]))
    write(tmp_path / "lines.jsonl", '{"text": "1"}\n\n{"text": 2}\n{bad\n{"text": "4"}\n')
    write(tmp_path / "orphan.meta.json", "{}")
    write(tmp_path / "s.txt", ARTICLE)
    write(tmp_path / "s.meta.json", '{"authors": 1}')
    write(tmp_path / "big.htm", "<p>" + "x" * 5000 + "</p>")
    write(tmp_path / "image.png", PNG_HEADER)
    os.symlink(tmp_path / "gone.txt", tmp_path / "broken.txt")
    cfg = ReadConfig(max_file_bytes=2000)

    # The expected total comes from the pure function, independently of Beam.
    expected = [
        kind
        for item in discover_inputs([str(tmp_path)], cfg.extensions)
        for kind, _row in read_input(item["path"], item["sidecar"], cfg)
    ]
    assert len(expected) == 14

    with TestPipeline() as p:
        documents, errors = p | "Read" >> ReadDocuments([str(tmp_path)], cfg)
        total = (documents, errors) | beam.Flatten() | beam.combiners.Count.Globally()
        assert_that(total, equal_to([len(expected)]), label="Total")
        assert_that(
            documents | "CountDocs" >> beam.combiners.Count.Globally(),
            equal_to([expected.count("document")]),
            label="Documents",
        )

    counters = all_counters(p.result)
    assert counters["read_inputs"] == len(expected)
    rejected = sum(v for name, v in counters.items() if name.startswith("read_rejected_"))
    assert counters["read_documents"] + rejected == counters["read_inputs"]


def test_read_documents_missing_path_fails_at_launch(tmp_path):
    p = TestPipeline()
    with pytest.raises(FileNotFoundError):
        _ = p | ReadDocuments([str(tmp_path / "absent")], CFG)


def test_the_input_list_travels_with_the_coder_beam_would_infer_for_it():
    """The input list's element type is declared rather than inferred from every element (which
    cost seconds for large folders); the declared type must give the coder inference gives, so
    that inputs with and without a sidecar encode as before."""
    from transforms.read import _CreateInputs

    inputs = [
        {"path": os.fsencode("/news/a.html"), "sidecar": None},
        {"path": b"/news/b.txt", "sidecar": b"/news/b.meta.json"},
    ]
    declared, inferred = _CreateInputs(inputs, reshuffle=False), beam.Create(inputs, reshuffle=False)
    assert declared._coder == inferred._coder
    assert [declared._coder.decode(declared._coder.encode(i)) for i in inputs] == inputs
