"""Metadata filters of a search: ``KEY=VALUE`` terms (or LanceDB SQL) turned into one SQL filter.

A term ``KEY=VALUE`` (or ``KEY!=VALUE``) compares a column (``source``, ``title``, ``origin``,
``doc_id``, ``id``) or, for any other key, the document's metadata field of that name (a JSONL row's
other fields); a number matches a JSON number or string. Any other term is taken as a LanceDB SQL
filter as written (e.g. ``json_get_int(metadata, 'year') >= 2020``). Terms are joined with AND.

Example::

    where_sql(["lang=en", "source!=notes.md"])
    # "(json_get_string(metadata, 'lang') = 'en') AND (source != 'notes.md')"
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from common.errors import ConfigError

COLUMNS = frozenset({"source", "title", "origin", "doc_id", "id"})
"""Keys that name a column of the chunk table rather than a metadata field."""

_TERM = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*(!=|=)\s*(.*?)\s*$", re.DOTALL)
_INT = re.compile(r"^-?\d{1,18}$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")
MAX_FILTER_CHARS = 2000


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def term_sql(term: str) -> str:
    """One term as SQL (see the module docstring).

    Raises:
        ConfigError: an empty term or one longer than :data:`MAX_FILTER_CHARS`.
    """
    if not term.strip():
        raise ConfigError("knowledge store filter: an empty --where term; write KEY=VALUE or a SQL filter")
    if len(term) > MAX_FILTER_CHARS:
        raise ConfigError(
            f"knowledge store filter: a term of {len(term)} characters (at most {MAX_FILTER_CHARS})"
        )
    m = _TERM.match(term)
    lowered = term.lower()
    if m is None or m.group(3).startswith(("'", '"')) or " and " in lowered or " or " in lowered:
        return f"({term})"  # SQL as written
    key, op, value = m.groups()
    value = value.strip()
    if key in COLUMNS:
        return f"({key} {op} {_quote(value)})"
    field = _quote(key)
    text = f"json_get_string(metadata, {field}) = {_quote(value)}"
    if _INT.match(value):
        text = f"{text} OR json_get_int(metadata, {field}) = {value}"
    elif _NUMBER.match(value):
        text = f"{text} OR json_get_float(metadata, {field}) = {value}"
    elif value.lower() in ("true", "false"):
        text = f"{text} OR json_get_bool(metadata, {field}) = {value.lower()}"
    return f"({text})" if op == "=" else f"(NOT coalesce({text}, false))"


def where_sql(terms: Sequence[str]) -> str | None:
    """All ``terms`` as one SQL filter (None when there are none)."""
    parts = [term_sql(t) for t in terms]
    return " AND ".join(parts) if parts else None
