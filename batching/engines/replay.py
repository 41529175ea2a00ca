"""Replay engine: serves recorded outputs of real models instead of generating.

Recordings use the ``mmlu_pro_recordings`` layout: ``<recordings_dir>/<recording>.jsonl.gz`` (or
``.jsonl``) with one row per question: ``question_id``, ``pred`` (the answer the recording's harness
extracted, or null), ``text`` (the generated reasoning) and optionally ``correct`` (the harness's verdict,
passed on as ``GenResult.verdict``). A request is looked up by its
``instance_id``; a question the model was never run on yields ``missing=True``, a counted outcome.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from batching.config import ReplayExpertConfig
from batching.engines.base import Engine
from common.errors import ConfigError, DataError
from common.generation import GenRequest, GenResult
from common.io import open_text

logger = logging.getLogger(__name__)


def recording_path(recordings_dir: str | Path, recording: str) -> Path:
    """Find ``<recording>.jsonl.gz`` or ``<recording>.jsonl`` in a folder."""
    base = Path(recordings_dir)
    for suffix in (".jsonl.gz", ".jsonl"):
        path = base / f"{recording}{suffix}"
        if path.exists():
            return path
    raise ConfigError(
        f"replay: no recording {recording!r} in {base} (looked for {recording}.jsonl.gz and .jsonl); "
        "check the expert's `recording` name or --data-dir"
    )


Row = tuple[str | None, str | None, bool | None]


def read_recording(path: Path) -> dict[str, Row]:
    """Read a recording into ``question_id -> (pred, text, verdict)`` (verdict: the row's ``correct``)."""
    rows: dict[str, Row] = {}
    with open_text(path) as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                verdict = row.get("correct")
                rows[str(row["question_id"])] = (
                    row.get("pred"),
                    row.get("text"),
                    verdict if isinstance(verdict, bool) else None,
                )
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise DataError(f"bad recording row ({exc})", path=str(path), line=lineno) from exc
    return rows


class ReplayEngine(Engine):
    """Serves one recorded model. Loading reads its recording file; unloading drops it."""

    kind = "replay"

    def __init__(self, config: ReplayExpertConfig) -> None:
        super().__init__(config)
        self.config: ReplayExpertConfig = config
        self._rows: dict[str, Row] = {}

    def _load(self) -> None:
        if self.config.recordings_dir is None:
            raise ConfigError(f"replay expert {self.config.name!r}: recordings_dir is not set")
        path = recording_path(self.config.recordings_dir, self.config.recording_name)
        self._rows = read_recording(path)
        logger.info("replay: loaded %s (%d recorded outputs)", path.name, len(self._rows))

    def _unload(self) -> None:
        self._rows = {}

    def _generate(self, batch: Sequence[GenRequest]) -> list[GenResult]:
        out: list[GenResult] = []
        for req in batch:
            row = self._rows.get(req.instance_id or "")
            if row is None:
                out.append(GenResult(request_id=req.request_id, text=None, missing=True))
                continue
            pred, text, verdict = row
            n_tokens = len(text.split()) if text else 0
            out.append(
                GenResult(
                    request_id=req.request_id,
                    text=text,
                    generated_tokens=n_tokens,
                    extracted=pred,
                    verdict=verdict,
                )
            )
        return out
