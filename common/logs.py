"""Run-scoped log context: every record carries the run id and the expert, as text or JSON lines.

Library code only sets the context (:func:`log_context`); the entrypoint installs the filter and the
formatter (:func:`configure_run_logging`), as the style guide wants logging configured only there.

Example::

    configure_run_logging("INFO", json_lines=True)
    with log_context(run_id="20250101-120000-abc123"), log_context(expert="qwen-7b"):
        logger.info("loaded")   # {"ts": ..., "level": "INFO", "run_id": "2025…", "expert": "qwen-7b", ...}
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TextIO

_RUN_ID: ContextVar[str] = ContextVar("symoe_run_id", default="-")
_EXPERT: ContextVar[str] = ContextVar("symoe_expert", default="-")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [run=%(run_id)s expert=%(expert)s]: %(message)s"


@contextmanager
def log_context(*, run_id: str | None = None, expert: str | None = None) -> Iterator[None]:
    """Set the run id and/or the expert for log records emitted inside the block (this thread/task)."""
    tokens = []
    if run_id is not None:
        tokens.append((_RUN_ID, _RUN_ID.set(run_id)))
    if expert is not None:
        tokens.append((_EXPERT, _EXPERT.set(expert)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class RunContextFilter(logging.Filter):
    """Adds ``run_id`` and ``expert`` attributes to every record (``"-"`` outside a run)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "run_id"):
            record.run_id = _RUN_ID.get()
        if not hasattr(record, "expert"):
            record.expert = _EXPERT.get()
        return True


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, run_id, expert, message (and exc when raised)."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": round(record.created, 3),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(record.created)),
            "level": record.levelname,
            "logger": record.name,
            "run_id": getattr(record, "run_id", "-"),
            "expert": getattr(record, "expert", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at emit time (it may be swapped, e.g. by test runners)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def configure_run_logging(level: str, *, json_lines: bool = False, stream: TextIO | None = None) -> None:
    """Entrypoints only: route the root logger through one handler that adds the run context.

    Replaces a plain stderr handler from ``logging.basicConfig`` (and one this function installed before);
    other handlers (e.g. a test runner's capture) are left alone.

    Args:
        level: a logging level name (``SYMOE_LOG_LEVEL``).
        json_lines: JSON lines instead of text.
        stream: where records go (default: the current stderr at each record).
    """
    handler: logging.Handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.addFilter(RunContextFilter())
    handler.setFormatter(JsonLineFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    handler.set_name("symoe-run")
    root = logging.getLogger()
    for old in list(root.handlers):
        if type(old) is logging.StreamHandler or old.get_name() == "symoe-run":
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
