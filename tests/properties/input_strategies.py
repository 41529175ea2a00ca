"""Hypothesis strategies for the files users hand the CLI: config and question files as bytes.

A file is drawn as one of: arbitrary bytes, text in another encoding (latin-1, UTF-16), a valid base config
mutated (keys dropped, values replaced by other JSON-like values, unknown keys added) and dumped as YAML or
JSON, or such a dump truncated or with characters inserted. Numbers stay small (the CLI bounds what
users set, not what a strategy can invent: an ``n_samples`` of 10**30 is a valid, very long run).
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from hypothesis import strategies as st

MARKUP_TEXT = st.sampled_from(["[/]", "[bold]", "d[", ":smile:", "\x00", "é", "../..", "~", "{{x}}", ""])
TEXT = st.one_of(MARKUP_TEXT, st.text(max_size=12))
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=64),
    st.floats(min_value=-1.0, max_value=1000.0) | st.sampled_from([float("nan"), float("inf")]),
    TEXT,
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any], keys: list[str] | None = None) -> dict[str, Any]:
    """``base`` with 1-3 mutations: a key dropped, a value replaced, an unknown key added, a nested
    mapping mutated in turn."""
    out = dict(base)
    known = keys or list(base) or ["key"]
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        op = draw(st.sampled_from(["drop", "replace", "add", "nested"]))
        if op == "drop" and out:
            out.pop(draw(st.sampled_from(sorted(out))))
        elif op == "replace":
            out[draw(st.sampled_from(known))] = draw(VALUES)
        elif op == "add":
            out[draw(TEXT)] = draw(VALUES)
        else:
            nested = [k for k, v in out.items() if isinstance(v, dict)]
            lists = [k for k, v in out.items() if isinstance(v, list) and any(isinstance(x, dict) for x in v)]
            if nested:
                key = draw(st.sampled_from(nested))
                out[key] = draw(mutated(out[key]))
            elif lists:
                key = draw(st.sampled_from(lists))
                items = list(out[key])
                i = draw(st.sampled_from([j for j, x in enumerate(items) if isinstance(x, dict)]))
                items[i] = draw(mutated(items[i]))
                out[key] = items
    return out


def _dump(data: Any, as_json: bool) -> str:
    if as_json:
        return json.dumps(data, allow_nan=True)
    return yaml.safe_dump(data, allow_unicode=True)


@st.composite
def config_bytes(draw: st.DrawFn, base: dict[str, Any]) -> bytes:
    """The bytes of a config file: binary, another encoding, or ``base`` mutated, dumped and maybe
    damaged."""
    kind = draw(st.sampled_from(["binary", "encoding", "mutated", "mutated", "mutated", "damaged"]))
    if kind == "binary":
        return draw(st.binary(max_size=64))
    if kind == "encoding":
        text = _dump(base, False) + "# café ünïcode\n"
        return text.encode(draw(st.sampled_from(["latin-1", "utf-16"])))
    text = _dump(draw(mutated(base)), draw(st.booleans()))
    if kind == "damaged" and text:
        at = draw(st.integers(min_value=0, max_value=len(text)))
        text = text[:at] + draw(st.sampled_from(["", ":", "- ", "{", "\t", "'", "!!python/object:os.system"]))
    return text.encode("utf-8")


QUESTION_ROW = {"id": "q1", "question": "What is 3 plus 4?", "options": ["7", "8"], "answer": "A",
                "category": "math"}  # fmt: skip


@st.composite
def question_file_bytes(draw: st.DrawFn) -> bytes:
    """A question file: JSONL rows (each a mutated valid row or a damaged line), a JSON list, or bytes."""
    kind = draw(st.sampled_from(["jsonl", "jsonl", "json", "binary"]))
    if kind == "binary":
        return draw(st.binary(max_size=64))
    rows = draw(st.lists(mutated(QUESTION_ROW), min_size=0, max_size=3))
    if kind == "json":
        return json.dumps(rows).encode()
    lines = [json.dumps(r) for r in rows]
    if lines and draw(st.booleans()):
        i = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        lines[i] = lines[i][: draw(st.integers(min_value=0, max_value=len(lines[i])))]
    return ("\n".join(lines) + "\n").encode()
