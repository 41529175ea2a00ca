"""The `symoe` command line: thin wrappers that parse options, build configs and call the orchestrator.

Each command group is one module that registers on :data:`app`; importing the package registers them all.
Importing it also makes idle OpenMP threads sleep instead of spin (before any command imports torch; see
:mod:`batching.engines.cpu_threads`).
"""

from __future__ import annotations

from batching.engines.cpu_threads import passive_openmp

passive_openmp()

from orchestrator.cli.help_format import use_plain_placeholders  # noqa: E402

use_plain_placeholders()

from orchestrator.cli import audio, bench, data, kb, run, runs, serve  # noqa: E402, F401  (registers commands)
from orchestrator.cli.main import app  # noqa: E402

__all__ = ["app"]
