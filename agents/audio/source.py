"""What a job renders: a text brief, a JSON timeline, or a video (with an optional brief)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from agents.audio.config import AudioJobConfig
from agents.audio.timeline import Timeline
from agents.audio.video import VIDEO_SUFFIXES
from common.errors import DataError


class AudioJobSpec(BaseModel):
    """A job as stored in its ``runs`` row (``symoe runs list`` shows it; a resume reads it back)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    source_kind: Literal["brief", "timeline", "video"]
    source: str
    brief: str | None = None
    timeline: Timeline | None = None
    out_dir: str
    config: AudioJobConfig


def read_source(source: str | Path, brief: str | None = None) -> tuple[str, str | None, Timeline | None]:
    """``(kind, brief text, timeline)`` of an input path (or inline brief text).

    Raises:
        DataError: a JSON timeline that does not validate, or a missing file.
    """
    p = Path(source)
    looks_like_path = "\n" not in str(source) and len(str(source)) < 1024
    if looks_like_path and p.suffix.lower() in VIDEO_SUFFIXES:
        if not p.is_file():
            raise DataError("video not found; pass an existing file", path=str(p))
        return "video", brief, None
    if looks_like_path and p.suffix.lower() == ".json":
        try:
            return "timeline", None, Timeline.model_validate_json(p.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise DataError("timeline not found; pass an existing file", path=str(p)) from exc
        except ValidationError as exc:
            raise DataError(f"not a valid timeline: {exc}", path=str(p)) from exc
    if looks_like_path and p.is_file():
        return "brief", p.read_text(encoding="utf-8"), None
    if looks_like_path and p.suffix:
        raise DataError("brief not found; pass an existing file or the brief's text", path=str(p))
    return "brief", str(source), None
