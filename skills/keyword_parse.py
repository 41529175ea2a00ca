"""Parsing an LLM's free-text keyword answer into clean, lowercase skill keywords.

Accepted shapes, tried in order: a JSON list (or a JSON object with a ``keywords``/``skills`` list), a
``Keywords: a, b`` line, a bulleted or numbered list, and finally a comma/semicolon separated line.
Reasoning blocks (``<think>...</think>``) are skipped. Items that do not look like a keyword (symbols,
sentences, placeholders such as ``<keyword1>``, keyboard mashing) are dropped; an answer with no usable
item parses to ``None``.

Example::

    parse_keywords("Keywords: Organic Chemistry, **stereochemistry**")
    # ['organic chemistry', 'stereochemistry']
    parse_keywords("!!! ###")   # None
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable

logger = logging.getLogger(__name__)

MAX_KEYWORD_WORDS = 6

_THINK_CLOSE = re.compile(r"</think>", re.IGNORECASE)
_THINK_OPEN = re.compile(r"<think>", re.IGNORECASE)
_JSON_LIST = re.compile(r"\[[^\[\]]*\]", re.DOTALL)
_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)
_MARKER = re.compile(
    r"(?:key\s*words?|key\s*phrases?|skills?|topics?)\s*(?:needed|required)?\s*[:：]", re.IGNORECASE
)
_BULLET = re.compile(r"^\s*(?:[-*•+]|\d{1,2}[.)])\s+(.+?)\s*$")
_SPLIT = re.compile(r"[,;|\n]")
_PARENS = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_KEYWORD = re.compile(r"^[a-z][a-z0-9 '&/+.\-]*$")
_PLACEHOLDER = re.compile(r"^(?:keywords?\s*\d*|skills?\s*\d*|none|n/?a|etc\.?|others?|and|or)$")
_EDGE_CHARS = " \t\"'`*_#.,;:!?<>[]{}"


def parse_keywords(text: str | None) -> list[str] | None:
    """Parse one model answer into keywords.

    Args:
        text: the model's output (``None`` for a failed request).

    Returns:
        Unique cleaned keywords in answer order, or ``None`` when nothing usable was found.
    """
    if not text or not text.strip():
        return None
    body = _strip_reasoning(text)
    strategies: tuple[Callable[[str], list[str] | None], ...] = (
        _from_json,
        _from_marker,
        _from_bullets,
        _from_delimited,
    )
    for strategy in strategies:
        items = strategy(body)
        if items:
            cleaned = _clean_all(items)
            if cleaned:
                return cleaned
    return None


def clean_keyword(item: str) -> str | None:
    """Normalise one keyword (lowercase, no markdown/quotes/parentheses); ``None`` if it is not one."""
    s = _PARENS.sub(" ", item.replace("_", " ").replace("**", ""))
    s = " ".join(s.split()).strip(_EDGE_CHARS).lower()
    s = re.sub(r"^(?:and|or)\s+", "", s)
    if not s or len(s.split()) > MAX_KEYWORD_WORDS or not _KEYWORD.match(s) or _PLACEHOLDER.match(s):
        return None
    letters = [c for c in s if c.isalpha()]
    vowels = sum(c in "aeiouy" for c in letters)
    if len(letters) >= 5 and vowels < 0.2 * len(letters):  # keyboard mashing such as "qwrtzk"
        return None
    return s


def _strip_reasoning(text: str) -> str:
    closes = list(_THINK_CLOSE.finditer(text))
    if closes:
        return text[closes[-1].end() :]
    if _THINK_OPEN.search(text):  # reasoning never finished: no answer was given
        return ""
    return text


def _from_json(body: str) -> list[str] | None:
    for match in reversed(_JSON_LIST.findall(body)):
        items = _json_strings(match)
        if items:
            return items
    obj = _JSON_OBJECT.search(body)
    if obj is not None:
        try:
            data = json.loads(obj.group(0))
        except json.JSONDecodeError:
            return None
        if isinstance(data, dict):
            for key in ("keywords", "skills", "Keywords", "Skills"):
                value = data.get(key)
                if isinstance(value, list):
                    return [v for v in value if isinstance(v, str)]
    return None


def _json_strings(raw: str) -> list[str] | None:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return None
    if isinstance(data, list) and data and all(isinstance(v, str) for v in data):
        return data
    return None


def _from_marker(body: str) -> list[str] | None:
    matches = list(_MARKER.finditer(body))
    # The last marker with something after it wins: models often restate the format before answering.
    for match in reversed(matches):
        rest = body[match.end() :].strip()
        if not rest:
            continue
        bullets = _from_bullets(rest)
        if bullets:
            return bullets
        first_line = rest.splitlines()[0]
        return _SPLIT.split(first_line)
    return None


def _from_bullets(body: str) -> list[str] | None:
    items = []
    for line in body.splitlines():
        m = _BULLET.match(line)
        if m:
            # "- Algebra: needed to solve for x" -> "Algebra"
            items.append(re.split(r":\s| - | – ", m.group(1), maxsplit=1)[0])
    return items or None


def _from_delimited(body: str) -> list[str] | None:
    lines = [ln for ln in body.splitlines() if ln.strip()]
    if not lines:
        return None
    best = max(lines, key=lambda ln: (ln.count(",") + ln.count(";"), -len(ln)))
    return _SPLIT.split(best.split(":")[-1])


def _clean_all(items: list[str]) -> list[str]:
    out: dict[str, None] = {}
    for item in items:
        kw = clean_keyword(item)
        if kw is not None:
            out.setdefault(kw)
    return list(out)
