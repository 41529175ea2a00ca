"""The `symoe` app, its consoles and what every command shares (log routing, errors, quiet libraries).

Commands that load models call :func:`route_logs` first: our own warnings stay on the screen, while
third-party logging (vLLM, transformers, torch, Ray, LanceDB), Python ``warnings`` and whatever child
processes or C++ code write to file descriptor 2 go to ``<logs dir>/<command>-<time>.log``, whose path is
printed. ``--verbose`` keeps everything on the screen as well.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal, NoReturn, TextIO

import typer
from rich.console import Console
from rich.markup import escape

from common.errors import ConfigError, SymbolicMoEError
from common.logs import TEXT_FORMAT, RunContextFilter, configure_run_logging
from common.private_files import open_private, private_dir
from common.secrets import RedactingFilter
from common.settings import restore_env

HELP_MARKUP: Literal["markdown"] = "markdown"
"""How help texts render: Markdown joins a docstring's wrapped lines (rich markup would keep them)."""
app = typer.Typer(
    help="Symbolic Mixture-of-Experts: skill-based routing over whole LLMs.",
    no_args_is_help=True,
    rich_markup_mode=HELP_MARKUP,
)
# emoji off: ":smile:" in a name or a path is text; markup stays on for our own styles, and every
# user-supplied string printed through them is escaped (rich.markup.escape)
console = Console(emoji=False)
"""Results and progress bars (stdout)."""
err_console = Console(stderr=True, soft_wrap=True, emoji=False)
"""Errors, warnings and the log file's path (stderr)."""

VerboseOption = Annotated[
    bool, typer.Option("--verbose", help="Also show third-party logs (vLLM, transformers...) here")
]
_QUIET_ENV = {"VLLM_CONFIGURE_LOGGING": "0"}
"""Set before vLLM loads (and inherited by its processes): its records then reach our root handlers."""
OUR_PACKAGES = ("orchestrator", "batching", "skills", "common", "zoo", "agents")
"""Loggers whose records reach the screen without ``--verbose``."""


def logs_dir() -> Path:
    """Where command logs go: ``$SYMOE_HOME/logs``."""
    from common.settings import home_path

    return home_path("logs")


def configure_logging() -> None:
    level = os.environ.get("SYMOE_LOG_LEVEL", "WARNING").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # our own rich bars replace the per-file bars of huggingface_hub / transformers
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # unannotated in transformers


class _OursOnly(logging.Filter):
    def __init__(self, packages: tuple[str, ...]) -> None:
        super().__init__()
        self.packages = packages

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.split(".", 1)[0] in self.packages


class _StderrToFile:
    """Points file descriptor 2 at the log file (C++ warnings, child processes) while ``sys.stderr`` keeps
    writing to the terminal; :meth:`restore` undoes it."""

    def __init__(self, log: TextIO) -> None:
        sys.stderr.flush()
        self.saved_fd = os.dup(2)
        self.saved_stderr = sys.stderr
        os.dup2(log.fileno(), 2)
        sys.stderr = open(  # noqa: SIM115  (closed in restore)
            self.saved_fd, "w", buffering=1, encoding="utf-8", errors="backslashreplace", closefd=False
        )

    def restore(self) -> None:
        sys.stderr.flush()
        sys.stderr.close()
        os.dup2(self.saved_fd, 2)
        os.close(self.saved_fd)
        sys.stderr = self.saved_stderr


def _real_stderr() -> bool:
    try:
        return sys.stderr.fileno() == 2
    except (AttributeError, ValueError, OSError):  # a test runner's buffer has no descriptor
        return False


def route_logs(
    command: str,
    *,
    verbose: bool = False,
    json_lines: bool = False,
    announce: bool = True,
    show: tuple[str, ...] = (),
    screen_level: str = "WARNING",
) -> Path:
    """Send third-party output of this command to a log file; our warnings and errors stay on screen.

    Call it first in a command that loads models (before vLLM, transformers or Ray are imported). It
    is undone when the command ends (:func:`close_routes`).

    Args:
        command: the command's name, the log file's prefix.
        verbose: keep third-party logs on the screen too (vLLM then formats its own, on stdout).
        json_lines: our records on stderr as JSON lines (``symoe run --log-json``).
        announce: print ``logs: PATH`` now (callers that must print something first pass False and
            print it themselves).
        show: more top-level logger names whose records reach the screen (``uvicorn`` for serve).
        screen_level: the screen's level unless ``SYMOE_LOG_LEVEL`` is set (INFO with ``verbose``).

    Returns:
        The log file.
    """
    path = logs_dir() / f"{command}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    private_dir(path.parent)  # logs hold questions and paths: 0700/0600 whatever the umask
    level = os.environ.get("SYMOE_LOG_LEVEL") or ("INFO" if verbose else screen_level)
    configure_run_logging(level, json_lines=json_lines)  # the screen handler ("symoe-run")
    root = logging.getLogger()
    screen = next(h for h in root.handlers if h.get_name() == "symoe-run")
    screen.setLevel(level.upper())
    if not any(isinstance(f, RedactingFilter) for f in screen.filters):
        screen.addFilter(RedactingFilter())
    log = open_private(path, "a", buffering=1)  # closed when the command ends
    to_file = logging.StreamHandler(log)
    to_file.set_name("symoe-file")
    to_file.addFilter(RunContextFilter())
    to_file.addFilter(RedactingFilter())  # a token in a URL (an expert's base_url) is never logged
    to_file.setFormatter(logging.Formatter(TEXT_FORMAT))
    to_file.setLevel(min(logging.INFO, logging.getLevelName(level.upper())))
    root.addHandler(to_file)
    root.setLevel(to_file.level)
    quiet_transformers()
    redirect, saved_env = None, {k: os.environ.get(k) for k in _QUIET_ENV}
    if not verbose:
        screen.addFilter(_OursOnly(OUR_PACKAGES + show))
        logging.captureWarnings(True)  # warnings become py.warnings records: file only
        os.environ.update(_QUIET_ENV)
        _unhook("vllm")  # already imported (a second command in one process): its handler goes
        from transformers.utils import logging as hf_logging

        hf_logging.disable_default_handler()  # transformers' records reach our handlers instead
        hf_logging.enable_propagation()
        if _real_stderr():
            redirect = _StderrToFile(log)

    def undo() -> None:
        if redirect is not None:
            redirect.restore()
        logging.captureWarnings(False)
        root.removeHandler(to_file)
        log.close()
        for key, value in saved_env.items():
            restore_env(key, value)

    _UNDO.append(undo)  # run when the command ends (main's close callback) or by close_routes()
    if announce:
        err_console.print(f"[dim]logs: {path}[/]", highlight=False)
    return path


def _unhook(name: str) -> None:
    """Let an already-configured library logger propagate to our handlers instead of its own."""
    lib = logging.getLogger(name)
    for handler in list(lib.handlers):
        lib.removeHandler(handler)
    lib.propagate = True


def check_out_dir(out: Path, option: str = "--out") -> None:
    """Fail now, before any model loads, when ``out`` cannot become a writable folder.

    Raises:
        ConfigError: ``out`` is a file, or the folder cannot be created or written (names the fix).
    """
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{option} {out}: is a file, not a folder; pass a folder path")
    try:
        private_dir(out)  # created 0700 (outputs hold users' questions); an existing folder is kept as is
        tempfile.TemporaryFile(dir=out).close()
    except OSError as exc:
        raise ConfigError(
            f"{option} {out}: cannot write there ({exc.strerror or exc}); pass another folder"
        ) from exc


def check_out_file(out: Path, option: str = "--out") -> None:
    """Like :func:`check_out_dir` for a file to write: its folder must be writable, and it no folder.

    Raises:
        ConfigError: ``out`` is a folder or its folder cannot be written.
    """
    if out.is_dir():
        raise ConfigError(f"{option} {out}: is a folder; pass a file path (e.g. {out / 'profiles.json'})")
    check_out_dir(out.parent if str(out.parent) else Path("."), option)


_UNDO: list[Callable[[], None]] = []


def close_routes() -> None:
    """Undo every :func:`route_logs` of this process: file descriptors, handlers, warnings, env."""
    while _UNDO:
        _UNDO.pop()()


@app.callback()
def main(ctx: typer.Context) -> None:
    """Symbolic-MoE."""
    configure_logging()
    ctx.call_on_close(close_routes)


def fail(exc: SymbolicMoEError) -> NoReturn:
    """Print a user error on stderr and exit with status 2."""
    err_console.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)  # "[serve]" is no markup
    raise typer.Exit(code=2) from exc


def wide_console() -> Console:
    """The console for run tables: the terminal's width, or 160 columns when piped (no squeezed cells)."""
    return console if console.is_terminal else Console(width=160, emoji=False)
