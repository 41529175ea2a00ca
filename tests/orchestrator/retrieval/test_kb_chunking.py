"""Chunking: exact offsets, bounded length, overlap, natural breaks."""

from __future__ import annotations

import pytest

from orchestrator.retrieval.chunking import chunk_text


def test_chunks_are_exact_slices_within_the_size_and_overlap() -> None:
    text = " ".join(f"Sentence number {i} says something about topic {i % 7}." for i in range(200))
    spans = list(chunk_text(text, chunk_chars=300, overlap=60))
    assert len(spans) > 10
    for a, b in zip(spans, spans[1:], strict=False):
        assert a.end - a.start <= 300
        assert b.start < a.end  # consecutive chunks overlap
        assert b.start > a.start
    assert all(text[s.start : s.end] == s.text for s in spans)
    assert spans[0].start == 0 and spans[-1].end == len(text)
    # chunks end at sentence ends when one is in reach
    assert all(s.text.endswith(".") for s in spans)


def test_paragraph_breaks_are_preferred_and_whitespace_is_stripped() -> None:
    para = " ".join(["word"] * 50)
    text = f"  {para}\n\n{para}\n\n{para}  "
    spans = list(chunk_text(text, chunk_chars=600, overlap=0))
    assert spans[0].text == para + "\n\n" + para
    assert all(s.text == s.text.strip() for s in spans)


def test_short_empty_and_unbreakable_texts() -> None:
    assert [s.text for s in chunk_text("short text", 100, 10)] == ["short text"]
    assert list(chunk_text("", 100, 10)) == [] and list(chunk_text(" \n\t ", 100, 10)) == []
    spans = list(chunk_text("x" * 1000, 200, 50))
    assert all(len(s.text) <= 200 for s in spans) and spans[-1].end == 1000
    with pytest.raises(ValueError, match="overlap=100 must be smaller"):
        list(chunk_text("abc", 100, 100))
