"""What a job renders: a text brief, a JSON timeline, or a video (with an optional brief)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from agents.audio.config import AudioJobConfig
from agents.audio.limits import AudioLimitsConfig, check_brief_text, check_timeline, decode_brief
from agents.audio.timeline import Timeline
from agents.audio.video import VIDEO_SUFFIXES
from common.errors import DataError

SourceKind = Literal["brief", "timeline", "video"]


class AudioJobSpec(BaseModel):
    """A job as stored in its ``runs`` row (``symoe runs list`` shows it; a resume reads it back)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    source_kind: SourceKind
    source: str
    brief: str | None = None
    timeline: Timeline | None = None
    out_dir: str
    config: AudioJobConfig


def read_source(
    source: str | Path, brief: str | None = None, limits: AudioLimitsConfig | None = None
) -> tuple[SourceKind, str | None, Timeline | None]:
    """``(kind, brief text, timeline)`` of an input path (or inline brief text), within ``limits``.

    Raises:
        DataError: a JSON timeline that does not validate, a missing file, a file that is not UTF-8,
            or an input over a limit (:mod:`agents.audio.limits`).
    """
    limits = limits or AudioLimitsConfig()
    p = Path(source)
    looks_like_path = "\n" not in str(source) and len(str(source)) < 1024 and "\x00" not in str(source)
    if brief is not None:
        check_brief_text(brief, limits, "--brief")
    if looks_like_path and p.suffix.lower() in VIDEO_SUFFIXES:
        if not p.is_file():
            raise DataError("video not found; pass an existing file", path=str(p))
        return "video", brief, None
    if looks_like_path and p.suffix.lower() == ".json":
        return "timeline", None, _read_timeline(p, limits)
    if looks_like_path and p.is_file():
        text = decode_brief(_read_bytes(p, limits.max_brief_bytes), limits, str(p))
        check_brief_text(text, limits, str(p))
        return "brief", text, None
    if looks_like_path and p.suffix:
        raise DataError("brief not found; pass an existing file or the brief's text", path=str(p))
    check_brief_text(str(source), limits)
    return "brief", str(source), None


def _read_bytes(p: Path, max_bytes: int) -> bytes:
    """At most ``max_bytes + 1`` bytes (enough to tell the file is too large without reading it all)."""
    try:
        with p.open("rb") as f:
            return f.read(max_bytes + 1)
    except OSError as exc:
        raise DataError(f"cannot read the file ({exc.strerror or exc})", path=str(p)) from exc


def _read_timeline(p: Path, limits: AudioLimitsConfig) -> Timeline:
    if not p.is_file():
        raise DataError("timeline not found; pass an existing file", path=str(p))
    data = _read_bytes(p, limits.max_timeline_bytes)
    if len(data) > limits.max_timeline_bytes:
        raise DataError(
            f"timeline is over {limits.max_timeline_bytes:,} bytes (limits.max_timeline_bytes)", path=str(p)
        )
    try:
        text = data.decode("utf-8")
        timeline = Timeline.model_validate_json(text)
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 JSON (byte offset {exc.start}); save it as UTF-8", path=str(p)) from exc
    except ValidationError as exc:
        raise DataError(f"not a valid timeline: {_short(exc)}", path=str(p)) from exc
    check_timeline(timeline, limits, str(p))
    return timeline


def _short(exc: ValidationError) -> str:
    """The first few validation errors, one line each (pydantic's full text is long)."""
    parts = [
        f"{'.'.join(str(x) for x in err['loc']) or 'file'}: {err['msg']}"
        for err in exc.errors(include_url=False)[:5]
    ]
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")
