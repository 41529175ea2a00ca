"""The `symoe` app, its console and what every command shares (logging, errors, quiet transformers)."""

from __future__ import annotations

import logging
import os
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from common.errors import SymbolicMoEError

app = typer.Typer(
    help="Symbolic Mixture-of-Experts: skill-based routing over whole LLMs.", no_args_is_help=True
)
console = Console()


def configure_logging() -> None:
    level = os.environ.get("SYMOE_LOG_LEVEL", "WARNING").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # our own rich bars replace the per-file bars of huggingface_hub / transformers
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


@app.callback()
def main() -> None:
    """Symbolic-MoE."""
    configure_logging()


def fail(exc: SymbolicMoEError) -> NoReturn:
    """Print a user error and exit with status 2."""
    console.print(f"[red]error:[/] {escape(str(exc))}")  # "[serve]" is no markup
    raise typer.Exit(code=2) from exc


def wide_console() -> Console:
    """The console for run tables: the terminal's width, or 160 columns when piped (no squeezed cells)."""
    return console if console.is_terminal else Console(width=160)
