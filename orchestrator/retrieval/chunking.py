"""Splitting a document's text into overlapping character windows that end at natural breaks.

Example::

    for span in chunk_text(text, chunk_chars=800, overlap=100):
        text[span.start:span.end] == span.text
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

# Where a chunk may end, best first: a paragraph break, a sentence end, any whitespace.
_BREAKS = (re.compile(r"\n\s*\n"), re.compile(r"[.!?][\"')\]]?\s"), re.compile(r"\s"))
_MIN_FILL = 0.5  # a break is only taken when the chunk keeps at least this share of chunk_chars


@dataclass(frozen=True)
class Span:
    """One chunk: its text and its character offsets in the document (``text == doc[start:end]``)."""

    start: int
    end: int
    text: str


def chunk_text(text: str, chunk_chars: int, overlap: int) -> Iterator[Span]:
    """Overlapping chunks of at most ``chunk_chars`` characters, stripped of surrounding whitespace.

    A chunk ends at the last paragraph break, sentence end or whitespace in its window (whichever
    comes first in that order and keeps it at least half full); the next chunk starts ``overlap``
    characters before that end, moved forward to a word start.

    Args:
        text: the document.
        chunk_chars: the longest chunk.
        overlap: characters shared by consecutive chunks (< ``chunk_chars``).

    Yields:
        The chunks in document order; nothing for an empty or whitespace-only text.
    """
    if overlap >= chunk_chars:
        raise ValueError(f"chunk_text: overlap={overlap} must be smaller than chunk_chars={chunk_chars}")
    n = len(text)
    start = _skip_space(text, 0)
    while start < n:
        end = min(start + chunk_chars, n)
        if end < n:
            end = _break_before(text, start, end, chunk_chars)
        span = _strip(text, start, end)
        if span is not None:
            yield span
        if end >= n:
            return
        nxt = max(end - overlap, start + 1)
        nxt = _word_start(text, nxt, end)
        start = _skip_space(text, nxt)


def _break_before(text: str, start: int, end: int, chunk_chars: int) -> int:
    lowest = start + int(chunk_chars * _MIN_FILL)
    window = text[lowest:end]
    for pattern in _BREAKS:
        last = None
        for last in pattern.finditer(window):  # noqa: B007  (we want the last match)
            pass
        if last is not None:
            return lowest + last.end()
    return end


def _word_start(text: str, pos: int, limit: int) -> int:
    """The first word start at or after ``pos`` (``pos`` itself when no whitespace before ``limit``)."""
    if pos == 0 or text[pos - 1].isspace():
        return pos
    m = re.compile(r"\s").search(text, pos, limit)
    return m.end() if m else pos


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _strip(text: str, start: int, end: int) -> Span | None:
    piece = text[start:end]
    left = len(piece) - len(piece.lstrip())
    right = len(piece.rstrip())
    if right <= left:
        return None
    return Span(start + left, start + right, piece[left:right])
