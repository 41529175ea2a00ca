"""The `symoe` command line: thin wrappers that parse options, build configs and call the orchestrator.

Each command group is one module that registers on :data:`app`; importing the package registers them all.
"""

from __future__ import annotations

from orchestrator.cli import audio, bench, kb, run, runs, serve  # noqa: F401  (register their commands)
from orchestrator.cli.main import app

__all__ = ["app"]
