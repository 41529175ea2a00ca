"""Readers: discovery, the checks on bad input, and parsing of each format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from common.errors import ConfigError
from orchestrator.retrieval.readers import (
    Checked,
    Input,
    Skipped,
    discover,
    html_to_text,
    inspect_source,
    markdown_title,
    parse_hf_spec,
    parse_jsonl,
    read_documents,
)


def test_discover_walks_directories_and_dedupes(tmp_path: Path) -> None:
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.md").write_text("# A\n")
    (tmp_path / "d" / "sub" / "b.JSONL").write_text("{}\n")
    (tmp_path / "d" / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / "d" / ".git").mkdir()
    (tmp_path / "d" / ".git" / "c.txt").write_text("hidden")
    (tmp_path / "notes").write_text("no suffix")
    inputs, skipped = discover(
        [tmp_path / "d", tmp_path / "d" / "a.md", tmp_path / "notes", tmp_path / "gone.txt"]
    )
    assert [(Path(i.origin).name, i.kind) for i in inputs] == [
        ("a.md", "markdown"),
        ("b.JSONL", "jsonl"),
        ("notes", "text"),
    ]
    assert {(Path(s.origin).name, s.reason) for s in skipped} == {
        ("image.png", "unsupported file type '.png'"),
        ("gone.txt", "no such file or directory"),
    }


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"  \n\t\n", "empty"),
        (b"PK\x03\x04\x00\x00binary", "binary (NUL bytes)"),
        (b"caf\xe9 au lait", "not UTF-8 text (byte 3"),
    ],
)
def test_bad_files_are_skipped_with_a_reason(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(content)
    result = inspect_source(Input(str(path), "text"), max_file_bytes=1000)
    assert isinstance(result, Skipped) and result.reason.startswith(reason)


def test_huge_files_are_skipped_and_good_ones_hashed(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text("x" * 2000)
    result = inspect_source(Input(str(path), "text"), max_file_bytes=1000)
    assert isinstance(result, Skipped) and "too large (2,000 bytes > max_file_bytes=1,000)" in result.reason
    ok = inspect_source(Input(str(path), "text"), max_file_bytes=10_000)
    assert isinstance(ok, Checked) and len(ok.sha256) == 64 and ok.size_bytes == 2000


def test_text_markdown_and_html_documents(tmp_path: Path) -> None:
    md = tmp_path / "notes.md"
    md.write_text("\ufeffIntro\n\n## The Title ##\n\nBody text.\n")
    (doc,) = read_documents(Input(str(md), "markdown")).documents
    assert doc.title == "The Title" and doc.text.startswith("Intro") and doc.source == str(md)
    txt = tmp_path / "plain.txt"
    txt.write_text("Plain.")
    (doc,) = read_documents(Input(str(txt), "text")).documents
    assert doc.title == "plain" and doc.text == "Plain."
    title, text = html_to_text(
        "<html><head><title> Page  Title </title><style>p {color: red}</style></head><body>"
        "<h1>Head</h1><p>First &amp; <b>bold</b>   words.</p><script>alert(1)</script>"
        "<p>Second.</p></body></html>"
    )
    assert title == "Page Title"
    assert text.splitlines() == ["Head", "", "First & bold words.", "", "Second."]
    assert html_to_text("<h1>Only heading</h1>")[0] == "Only heading"
    assert markdown_title("no heading here") is None


def test_jsonl_rows_and_bad_rows() -> None:
    lines = [
        json.dumps({"id": 7, "title": "T", "text": "Seven.", "source": "s#7"}),
        "",
        "{not json",
        json.dumps(["a list"]),
        json.dumps({"id": "x", "text": "  "}),
        json.dumps({"text": "No id."}),
    ]
    parsed = parse_jsonl(lines, origin="/data/f.jsonl")
    assert [(d.doc_id, d.title, d.source, d.text) for d in parsed.documents] == [
        ("7", "T", "s#7", "Seven."),
        ("line6", None, "/data/f.jsonl#line6", "No id."),
    ]
    assert (
        parsed.bad_rows == 3
        and parsed.first_error is not None
        and parsed.first_error.startswith("line 3: not JSON")
    )


def test_hf_specs_and_missing_datasets() -> None:
    assert parse_hf_spec("hf:ag_news") == ("ag_news", None, "train")
    assert parse_hf_spec("hf:wikitext:wikitext-2-raw-v1@test") == ("wikitext", "wikitext-2-raw-v1", "test")
    with pytest.raises(ConfigError, match="no dataset name"):
        parse_hf_spec("hf:@test")
    result = inspect_source(Input("hf:symoe-no-such-dataset-xyz", "hf"), max_file_bytes=1)
    # without `datasets` installed, or without the dataset in the local cache: skipped with the reason
    assert isinstance(result, Skipped)
    assert "datasets" in result.reason or "not loadable from the local cache" in result.reason
