"""Every `symoe` command's --help renders with plain value words (TEXT, INTEGER, PATH...), never typer's
Python-type placeholders such as ``<bool>``, ``<int range>`` or ``<list[str]>``."""

from __future__ import annotations

import re

import typer
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.cli.help_format import plain_type


def _paths(command: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix]
    if isinstance(command, typer.core.TyperGroup):
        for name, sub in command.commands.items():
            out += _paths(sub, (*prefix, name))
    return out


def test_plain_type_words() -> None:
    assert plain_type("<bool>") == ""
    assert plain_type("<int range>") == "INTEGER"
    assert plain_type("<list[str]>") == "TEXT..."
    assert plain_type("<str>...") == "TEXT..."
    assert plain_type("FILE") == "FILE" and plain_type(None) is None


def test_every_help_page_shows_plain_placeholders() -> None:
    paths = _paths(typer.main.get_command(app))
    assert len(paths) > 10  # the whole tree was walked: run, bench, kb add, runs show...
    runner = CliRunner()
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (path, result.output)
        assert not re.search(r"<(list\[)?(bool|int|float|str|path)( range)?\]?>", result.output), path


def test_kb_add_shows_its_chunking_defaults() -> None:
    from orchestrator.retrieval.config import KnowledgeConfig

    out = CliRunner().invoke(app, ["kb", "add", "--help"], env={"COLUMNS": "200"}).output
    fields = KnowledgeConfig.model_fields
    assert f"[default: {fields['chunk_chars'].default}]" in out
    assert f"[default: {fields['chunk_overlap'].default}]" in out
