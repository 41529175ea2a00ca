"""The mixer: place clips, duck the beds under speech, normalise to the delivery target, limit peaks.

Ducking is a sidechain gain: speech activity (10 ms frames of the speech stems above a floor, held
briefly and started ``lookahead_s`` early) drives a gain curve that falls to ``music_duck_db`` /
``ambience_duck_db`` with time constant ``attack_s`` and comes back with ``release_s``. The sum is brought
to the integrated loudness target, then a look-ahead limiter (peaks measured on a 4x oversampled signal)
keeps the true peak under the ceiling; both repeat until loudness and peak agree. Every stem gets the same
master gain and limiter gain as the mix, so the written stems add up to ``mix.wav``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import resample_poly

from agents.audio.config import DeliveryConfig, MixConfig
from agents.audio.levels import db_to_gain, integrated_lufs, true_peak_dbtp
from agents.audio.timeline import Timeline

FRAME_S = 0.01
SPEECH_FLOOR_DB = -50.0
SPEECH_HOLD_S = 0.25
LIMITER_LOOKAHEAD_S = 0.005


@dataclass(frozen=True, slots=True, kw_only=True)
class MixResult:
    """The mix, its stems as they sound in it, and the gains applied."""

    mix: np.ndarray
    stems: dict[str, np.ndarray]
    master_gain_db: float
    limiter_max_reduction_db: float
    duck_curve_db: np.ndarray  # per frame, 0 dB = no ducking (depth for music)


def place(clip: np.ndarray, start_s: float, n: int, sample_rate: int, gain_db: float = 0.0) -> np.ndarray:
    """``clip`` on a silent track of ``n`` samples, starting at ``start_s``."""
    track = np.zeros(n)
    i = int(round(start_s * sample_rate))
    if i < 0:  # placed before the start: the head is cut
        clip, i = clip[-i:], 0
    if i < n:
        m = min(clip.size, n - i)
        track[i : i + m] = clip[:m] * db_to_gain(gain_db)
    return track


def speech_activity(speech: np.ndarray, sample_rate: int, cfg: MixConfig) -> np.ndarray:
    """Per frame: 1 where speech is heard (held :data:`SPEECH_HOLD_S`, started ``lookahead_s`` early)."""
    hop = int(FRAME_S * sample_rate)
    frames = speech[: speech.size // hop * hop].reshape(-1, hop)
    with np.errstate(divide="ignore"):
        level = 10 * np.log10(np.maximum(np.mean(frames**2, axis=1), 1e-20))
    active = (level > SPEECH_FLOOR_DB).astype(float)
    hold, ahead = int(SPEECH_HOLD_S / FRAME_S), int(cfg.lookahead_s / FRAME_S)
    spread = np.convolve(active, np.ones(hold + ahead + 1), mode="full")
    return (spread[hold : hold + active.size] > 0).astype(float)


def duck_curve(activity: np.ndarray, depth_db: float, cfg: MixConfig) -> np.ndarray:
    """Gain in dB per frame: ``depth_db`` while active, smoothed with attack and release."""
    a_att = 1.0 - math.exp(-FRAME_S / cfg.attack_s)
    a_rel = 1.0 - math.exp(-FRAME_S / cfg.release_s)
    out = np.zeros(activity.size)
    g = 0.0
    for i, on in enumerate(activity):
        target = depth_db * on
        g += (target - g) * (a_att if target < g else a_rel)
        out[i] = g
    return out


def _frames_to_samples(curve_db: np.ndarray, n: int, sample_rate: int) -> np.ndarray:
    t_frames = (np.arange(curve_db.size) + 0.5) * FRAME_S
    return np.asarray(10 ** (np.interp(np.arange(n) / sample_rate, t_frames, curve_db) / 20))


def limiter_gain(x: np.ndarray, ceiling_db: float, sample_rate: int) -> np.ndarray:
    """Per-sample gain keeping the 4x-oversampled peak under ``ceiling_db`` (look-ahead, smoothed)."""
    up = np.abs(resample_poly(x, 4, 1)).reshape(-1, 4).max(axis=1)[: x.size]
    peak = np.maximum(np.maximum(up, np.abs(x[: up.size])), 1e-12)
    need = np.minimum(1.0, db_to_gain(ceiling_db) / peak)
    if need.size < x.size:
        need = np.concatenate([need, np.ones(x.size - need.size)])
    la = max(1, int(LIMITER_LOOKAHEAD_S * sample_rate))
    held = minimum_filter1d(need, size=2 * la + 1, mode="nearest")
    return np.asarray(np.minimum(uniform_filter1d(held, size=la + 1, mode="nearest"), 1.0))


def render_mix(
    timeline: Timeline,
    clips: Mapping[str, np.ndarray],
    *,
    sample_rate: int,
    delivery: DeliveryConfig,
    cfg: MixConfig,
    gain_db: Mapping[str, float] | None = None,
) -> MixResult:
    """Mix the clips of ``timeline`` (see the module docstring).

    Args:
        gain_db: extra gain per event id (the mix supervisor's ``change_gain`` instructions).
    """
    gain_db = gain_db or {}
    n = int(math.ceil(timeline.duration_s * sample_rate))
    stems = {
        e.id: place(clips[e.id], e.start_s, n, sample_rate, gain_db.get(e.id, 0.0))
        for e in timeline.events
        if e.id in clips
    }
    kinds = {e.id: e.kind for e in timeline.events}
    speech = sum((s for k, s in stems.items() if kinds[k] == "speech"), np.zeros(n))
    activity = speech_activity(speech, sample_rate, cfg)
    curves = {
        "music": duck_curve(activity, cfg.music_duck_db, cfg),
        "ambience": duck_curve(activity, cfg.ambience_duck_db, cfg),
    }
    for k in stems:
        if kinds[k] in curves:
            stems[k] = stems[k] * _frames_to_samples(curves[kinds[k]], n, sample_rate)
    pre = sum(stems.values(), np.zeros(n))
    master_db, limit = _normalise(pre, sample_rate, delivery, cfg)
    scale = db_to_gain(master_db) * limit
    stems = {k: s * scale for k, s in stems.items()}
    return MixResult(
        mix=pre * scale,
        stems=stems,
        master_gain_db=round(master_db, 3),
        limiter_max_reduction_db=round(-20 * math.log10(max(float(limit.min()), 1e-12)), 3),
        duck_curve_db=curves["music"],
    )


def _normalise(
    pre: np.ndarray, sample_rate: int, delivery: DeliveryConfig, cfg: MixConfig
) -> tuple[float, np.ndarray]:
    """Master gain (dB) and limiter gain curve bringing ``pre`` to the target under the ceiling."""
    ceiling = delivery.true_peak_dbtp - cfg.limiter_margin_db
    lufs = integrated_lufs(pre, sample_rate)
    master_db = delivery.target_lufs - lufs if lufs is not None else 0.0
    limit = np.ones(pre.size)
    for _ in range(4):
        limit = limiter_gain(pre * db_to_gain(master_db), ceiling, sample_rate)
        y = pre * db_to_gain(master_db) * limit
        out_lufs = integrated_lufs(y, sample_rate)
        if out_lufs is None:
            break
        err = delivery.target_lufs - out_lufs
        if abs(err) < 0.1 and true_peak_dbtp(y) <= delivery.true_peak_dbtp:
            break
        master_db += err
    return master_db, limit
