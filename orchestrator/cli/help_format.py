"""How `--help` names value types: plain words (TEXT, INTEGER, PATH...) instead of typer's Python-type
placeholders (``<bool>``, ``<int range>``, ``<list[str]>``).

Flags take no value, so they show no placeholder; a range keeps typer's ``[x>=1]`` suffix; an option's own
``metavar`` (``N``, ``FILE``, ``DIR``...) always wins. :func:`use_plain_placeholders` wraps typer's
renderer once, from :mod:`orchestrator.cli`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from typer.core import TyperArgument, TyperOption

_WORDS = {
    "bool": "",
    "int": "INTEGER",
    "float": "FLOAT",
    "str": "TEXT",
    "path": "PATH",
    "datetime": "DATETIME",
}
_PLACEHOLDER = re.compile(r"<(list\[)?([a-z_]+)( range)?\]?>")


def plain_type(placeholder: str | None) -> str | None:
    """``<int range>`` -> ``INTEGER``, ``<list[str]>`` -> ``TEXT...``, ``<bool>`` -> nothing; other text
    (a metavar, a choice list) unchanged."""
    if placeholder is None:
        return None
    match = _PLACEHOLDER.fullmatch(placeholder.removesuffix("..."))
    if not match:
        return placeholder
    word = _WORDS.get(match.group(2), match.group(2).upper())
    many = bool(match.group(1)) or placeholder.endswith("...")
    return f"{word}..." if many and word else word


def _wrap(render: Callable[..., str | None]) -> Callable[..., str | None]:
    if getattr(render, "plain_placeholders", False):
        return render

    def plain(self: Any, ctx: Any) -> str | None:
        return plain_type(render(self, ctx))

    plain.plain_placeholders = True  # type: ignore[attr-defined]
    return plain


def use_plain_placeholders() -> None:
    """Render every typer option and argument type through :func:`plain_type` (idempotent)."""
    for cls in (TyperOption, TyperArgument):
        setattr(cls, "display_type_rich", _wrap(cls.display_type_rich))  # noqa: B010
