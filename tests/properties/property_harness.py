"""The property harness: :func:`check_cli` runs one CLI command in a fresh folder and checks the
properties every input must keep: exit 0 or the documented error code 2, no traceback, nothing written
outside ``--out``, the store and ``$SYMOE_HOME``.

Example counts are bounded (``SYMOE_PROPERTY_EXAMPLES`` scales them, default 1.0) and derandomized, so CI
replays the same inputs; the whole harness runs in well under two minutes on 2 CPUs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from answer_engine import FixedAnswerEngine
from hypothesis import HealthCheck, Phase, settings
from typer.testing import CliRunner

from orchestrator.cli import app

DOCUMENTED_EXIT_CODES = (0, 2)
"""0: done; 2: a user error, printed as one line on stderr (``orchestrator.cli.main.fail``)."""


def examples(n: int) -> settings:
    """Hypothesis settings for ``n`` examples (scaled by ``SYMOE_PROPERTY_EXAMPLES``), derandomized."""
    scale = float(os.environ.get("SYMOE_PROPERTY_EXAMPLES", "1.0"))
    return settings(
        max_examples=max(1, round(n * scale)),
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


class AnswerEngine(FixedAnswerEngine):
    """Answers every request at once ("The answer is (A)"): the experts behind the harness's pools."""

    def __init__(self) -> None:
        super().__init__("The answer is (A)")


@dataclass
class Workspace:
    """One example's folder: ``inputs/`` (what the user hands us), ``out/``, ``store.sqlite``, ``home/``
    ($SYMOE_HOME) and ``cwd/`` (the working directory, which must stay empty)."""

    root: Path

    @property
    def inputs(self) -> Path:
        return self.root / "inputs"

    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def store(self) -> Path:
        return self.root / "store.sqlite"

    def write(self, name: str, data: bytes | str) -> Path:
        path = self.inputs / name
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
        return path


@contextlib.contextmanager
def workspace() -> Iterator[Workspace]:
    """A fresh :class:`Workspace`, removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="symoe-prop-"))
    try:
        for sub in ("inputs", "home", "cwd"):
            (root / sub).mkdir()
        yield Workspace(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def check_cli(ws: Workspace, args: list[str]) -> int:
    """Run ``symoe ARGS`` in ``ws`` and assert the harness's properties; returns the exit code."""
    saved_cwd, saved_home = os.getcwd(), os.environ.get("SYMOE_HOME")
    os.environ["SYMOE_HOME"] = str(ws.root / "home")
    os.chdir(ws.root / "cwd")
    try:
        result = CliRunner().invoke(app, args)
    finally:
        os.chdir(saved_cwd)
        if saved_home is None:
            os.environ.pop("SYMOE_HOME", None)
        else:
            os.environ["SYMOE_HOME"] = saved_home
    shown = f"symoe {' '.join(args)} -> {result.exit_code}\n{result.output[-2000:]}"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {type(result.exception).__name__}: {shown}") from result.exception
    assert result.exit_code in DOCUMENTED_EXIT_CODES, shown
    assert "Traceback" not in result.output, shown
    allowed = (ws.inputs, ws.out, ws.root / "home")
    for path in ws.root.rglob("*"):
        if path.is_dir():
            continue
        inside = any(path.is_relative_to(a) for a in allowed) or path.name.startswith(ws.store.name)
        assert inside, f"{path} written outside --out, the store and $SYMOE_HOME: {shown}"
    return result.exit_code


def dump_json(data: Any) -> str:
    return json.dumps(data)
