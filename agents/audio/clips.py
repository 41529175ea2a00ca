"""From a generator's raw output to an event's clip: resample, trim, fit, set the level, measure, store.

The raw output is measured first (flat-topped clipping is the generator's fault, whatever gain follows),
then speech is trimmed of leading and trailing silence (so the clip's first sample is the first sound,
and its onset in the mix is the planned start), other kinds are cut to the planned length, beds fade
in and out, and the clip is set to the event's target loudness. The clip is written as a float WAV and
described by a :class:`ClipRecord`, the blackboard entry of one attempt.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from agents.audio.generators.base import RenderedAudio
from agents.audio.levels import (
    clipped_samples,
    db_to_gain,
    frame_rms_db,
    integrated_lufs,
    sample_peak,
    silence_ratio,
)
from agents.audio.timeline import DEFAULT_TARGET_LUFS, AudioEvent
from agents.audio.wavio import file_sha256, read_wav, resample, write_wav
from common.errors import DataError

MAX_CREST_DB = {"speech": 12.0, "sfx": 14.0}
"""Peak over loudness a foreground clip may keep (dB): a clip limiter takes its sharpest peaks down, as a
dialogue mixer would, so the master limiter does not have to flatten the whole mix to meet its ceiling."""

TRIM_FLOOR_DB = -45.0
"""Speech frames quieter than this (dBFS, relative to a 0 dB peak) at either end are trimmed."""


class ClipRecord(BaseModel):
    """One attempt's clip: where it is, what it measured, and what went wrong, if anything."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str
    generator: str
    attempt: int
    path: str | None = None
    sha256: str | None = None
    duration_s: float = 0.0
    raw_duration_s: float = 0.0
    raw_clipped_samples: int = 0
    raw_peak: float = 0.0
    gain_db: float = 0.0
    lufs: float | None = None
    silence_ratio: float = 1.0
    detail: str = ""
    error: str | None = None
    source: str = ""
    match_score: float | None = None


def finish_clip(
    event: AudioEvent,
    raw: RenderedAudio,
    *,
    generator: str,
    attempt: int,
    sample_rate: int,
    path: Path,
    bed_fade_s: float,
    extra_gain_db: float = 0.0,
) -> ClipRecord:
    """Process and store one raw output (see the module docstring)."""
    base = ClipRecord(event_id=event.id, generator=generator, attempt=attempt, detail=raw.detail,
                      source=raw.source or generator, match_score=raw.match_score)  # fmt: skip
    if raw.error is not None or raw.samples.size == 0:
        return base.model_copy(update={"error": raw.error or "the generator returned no audio"})
    x = resample(np.asarray(raw.samples, dtype=np.float64), raw.sample_rate, sample_rate)
    raw_duration_s, raw_clipped, raw_peak = round(x.size / sample_rate, 4), clipped_samples(x), sample_peak(x)
    x = _trim_silence(x, sample_rate) if event.kind == "speech" else _fit(x, event, sample_rate, bed_fade_s)
    target = event.target_lufs if event.target_lufs is not None else DEFAULT_TARGET_LUFS[event.kind]
    lufs = integrated_lufs(x, sample_rate)
    gain_db = (target - lufs + extra_gain_db) if lufs is not None else 0.0
    x = x * db_to_gain(gain_db)
    crest = MAX_CREST_DB.get(event.kind)
    if crest is not None and lufs is not None:
        x, makeup_db = _limit_crest(x, sample_rate, target + extra_gain_db, crest)
        gain_db += makeup_db
    sha = write_wav(path, x, sample_rate)
    return base.model_copy(
        update=dict(
            raw_duration_s=raw_duration_s,
            raw_clipped_samples=raw_clipped,
            raw_peak=round(raw_peak, 4),
            path=str(path),
            sha256=sha,
            duration_s=round(x.size / sample_rate, 4),
            gain_db=round(gain_db, 3),
            lufs=integrated_lufs(x, sample_rate),
            silence_ratio=round(silence_ratio(x, sample_rate), 4),
        )
    )


def load_clip(record: ClipRecord, sample_rate: int) -> np.ndarray:
    """A stored clip's samples, checked against its sha256.

    Raises:
        DataError: the file is missing or changed since it was journaled.
    """
    if record.path is None or not Path(record.path).is_file():
        raise DataError(
            f"clip of {record.event_id} (attempt {record.attempt}) is missing; start a new run",
            path=record.path,
        )
    if record.sha256 and file_sha256(record.path) != record.sha256:
        raise DataError(
            f"clip of {record.event_id} changed since it was journaled; start a new run", path=record.path
        )
    x, _ = read_wav(record.path, sample_rate)
    return x


def _trim_silence(x: np.ndarray, sample_rate: int) -> np.ndarray:
    frame = max(1, int(0.005 * sample_rate))
    peak = sample_peak(x)
    if peak <= 0:
        return x
    levels = frame_rms_db(x / peak, sample_rate, frame_s=0.005)
    loud = np.flatnonzero(levels > TRIM_FLOOR_DB)
    if loud.size == 0:
        return x
    return x[loud[0] * frame : min(x.size, (loud[-1] + 1) * frame)]


def _fit(x: np.ndarray, event: AudioEvent, sample_rate: int, bed_fade_s: float) -> np.ndarray:
    """Cut to the planned length (never pads: a short clip is for the duration check to catch)."""
    n = int(round(event.duration_s * sample_rate))
    y = x[:n].copy()
    fade_out = int(0.05 * sample_rate)
    if event.kind in ("music", "ambience"):
        fade = min(int(bed_fade_s * sample_rate), y.size // 2)
        if fade:
            y[:fade] *= np.linspace(0.0, 1.0, fade)
        fade_out = fade
    if x.size > n and fade_out:
        y[-fade_out:] *= np.linspace(1.0, 0.0, min(fade_out, y.size))
    return y


def _limit_crest(
    x: np.ndarray, sample_rate: int, target_lufs: float, crest_db: float
) -> tuple[np.ndarray, float]:
    """Limit peaks to ``target_lufs + crest_db`` dBFS, then make up the loudness lost (twice, to settle)."""
    from agents.audio.mixer import limiter_gain

    makeup_db = 0.0
    for _ in range(2):
        x = x * limiter_gain(x, target_lufs + crest_db, sample_rate)
        lufs = integrated_lufs(x, sample_rate)
        if lufs is None:
            break
        x = x * db_to_gain(target_lufs - lufs)
        makeup_db += target_lufs - lufs
    return x, makeup_db
