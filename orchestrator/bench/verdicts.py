"""math-verify verdicts kept across bench runs, so free-form benches start warm.

Grouping MATH-500's answers into equivalence classes compares about 14,000 answer pairs; symbolic
comparison takes up to a tenth of a second each on a loaded CPU, minutes in all. The verdicts
(``pred``, ``gold``, equal?) are saved as JSON beside the embedding cache and seeded into
:func:`orchestrator.answers.math_equal`'s memo on the next run. Only answer strings are stored.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from common.settings import expand_path
from orchestrator.answers import math_verdicts, remember_math_verdicts

logger = logging.getLogger(__name__)

DEFAULT_DIR = "$SYMOE_HOME/math-verify"


def verdict_file(cache_dir: str | Path | None) -> Path:
    """The cache file (per math-verify version, since its verdicts may change between versions)."""
    try:
        tag = version("math-verify")
    except PackageNotFoundError:
        tag = "unknown"
    return expand_path(cache_dir or DEFAULT_DIR) / f"verdicts-{tag}.json"


@contextmanager
def persistent_verdicts(path: Path | None) -> Iterator[None]:
    """Seed the memo from ``path`` (when it exists), and save it there afterwards if it grew.

    None: nothing is read or written.
    """
    if path is None:
        yield
        return
    known = 0
    if path.is_file():
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))
            remember_math_verdicts({(a, b): bool(v) for a, b, v in rows})
            known = len(rows)
        except (OSError, ValueError, TypeError) as exc:
            logger.warning("math-verify cache %s unreadable (%s); starting cold", path, exc)
    try:
        yield
    finally:
        now = math_verdicts()
        if len(now) > known:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps([[a, b, v] for (a, b), v in now.items()]), encoding="utf-8")
            tmp.replace(path)
            logger.info("math-verify cache: %d verdicts saved to %s", len(now), path)
