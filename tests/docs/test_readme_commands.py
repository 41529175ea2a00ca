"""The README's promise: its two commands appear in it verbatim, and CI (``.ci/run``) runs the test one.

A user follows the README word for word; CI must run what the README says, not a different install.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETUP_COMMAND = "bash scripts/setup.sh && symoe demo"
TEST_COMMAND = "bash scripts/test.sh"


def _code_lines(markdown: str) -> list[str]:
    """The lines inside fenced code blocks, stripped."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", markdown, flags=re.M | re.S)
    return [line.strip() for block in blocks for line in block.splitlines()]


def test_readme_shows_both_commands_verbatim_in_code_blocks() -> None:
    lines = _code_lines((ROOT / "README.md").read_text(encoding="utf-8"))
    assert SETUP_COMMAND in lines
    assert TEST_COMMAND in lines


def test_ci_runs_the_readme_test_command_as_written() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line.split("#", 1)[0].strip() for line in script.splitlines()]
    assert TEST_COMMAND in commands, f".ci/run never runs `{TEST_COMMAND}` exactly as the README does"


def test_readme_stays_a_short_user_document() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 260
    assert not re.search(r"\bissue[ -]?\d+", readme, flags=re.I)


def test_no_user_facing_page_names_an_issue_number() -> None:
    pages = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").rglob("*.md"))]
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"\bissue[ -]?\d+", text, flags=re.I), page.name
