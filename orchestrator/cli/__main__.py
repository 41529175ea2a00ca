"""``python -m orchestrator.cli``: the same as the ``symoe`` command."""

from orchestrator.cli import app

app()
