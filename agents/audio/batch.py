"""Batch mode: render every brief of a JSONL file with one team (each generator loads once for all).

Each line is ``{"id": "scene-1", "brief": "..."}`` (inline text) or ``{"id": ..., "source": "path"}``
(a brief file, a JSON timeline or a video; relative to the JSONL file), optionally with ``"brief"`` for a
video. Each job renders into ``OUT/<id>/``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agents.audio.team import AudioJobResult, AudioTeam
from common.errors import DataError


class BatchLine(BaseModel):
    """One line of a batch file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    brief: str | None = None
    source: str | None = None


def read_batch(path: str | Path) -> list[BatchLine]:
    """The lines of a batch file.

    Raises:
        DataError: a line that is not JSON, lacks both ``brief`` and ``source``, or repeats an id.
    """
    rows: list[BatchLine] = []
    seen: set[str] = set()
    for n, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip():
            continue
        try:
            row = BatchLine.model_validate(json.loads(raw))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise DataError(f"not a batch line ({exc})", path=str(path), line=n) from exc
        if row.brief is None and row.source is None:
            raise DataError("a line needs `brief` (text) or `source` (a file)", path=str(path), line=n)
        if row.id in seen:
            raise DataError(f"id {row.id!r} repeats an earlier line", path=str(path), line=n)
        seen.add(row.id)
        rows.append(row)
    return rows


def render_batch(
    team: AudioTeam,
    path: str | Path,
    out_dir: str | Path,
    on_job: Callable[[str, int, int], None] | None = None,
) -> list[AudioJobResult]:
    """Render every line; generators stay loaded between jobs (unloaded by ``team.close()``)."""
    rows = read_batch(path)
    base = Path(path).parent
    results = []
    for i, row in enumerate(rows):
        if on_job is not None:
            on_job(row.id, i, len(rows))
        source = str(base / row.source) if row.source else (row.brief or "")
        brief = row.brief if row.source else None
        results.append(team.render(source, Path(out_dir) / row.id, brief=brief))
    if on_job is not None:
        on_job("", len(rows), len(rows))
    return results
