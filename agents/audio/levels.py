"""Level measurements: integrated loudness (ITU-R BS.1770 via pyloudnorm), true peak, clipping, silence.

All functions take mono float arrays (full scale = 1.0) and a sample rate.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.signal import resample_poly

TRUE_PEAK_OVERSAMPLING = 4
"""BS.1770-4 true-peak meters oversample 4x at 44.1/48 kHz."""

MIN_LOUDNESS_S = 0.4
"""BS.1770 gating blocks are 400 ms; a shorter clip is measured by repeating it to this length."""


@functools.lru_cache(maxsize=8)
def _meter(sample_rate: int):  # type: ignore[no-untyped-def]
    import pyloudnorm

    return pyloudnorm.Meter(sample_rate)


def db_to_gain(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def gain_to_db(gain: float) -> float:
    return 20.0 * math.log10(max(gain, 1e-12))


def integrated_lufs(x: np.ndarray, sample_rate: int) -> float | None:
    """Integrated loudness in LUFS; None for silence (below the -70 LUFS absolute gate)."""
    if x.size == 0:
        return None
    min_n = int(MIN_LOUDNESS_S * sample_rate) + 1
    if x.size < min_n:
        x = np.tile(x, min_n // x.size + 1)[:min_n]
    with np.errstate(divide="ignore"):
        value = float(_meter(sample_rate).integrated_loudness(np.asarray(x, dtype=np.float64)))
    return value if math.isfinite(value) and value > -70.0 else None


def true_peak_dbtp(x: np.ndarray, sample_rate: int = 0) -> float:
    """True peak in dBTP: the sample peak of the signal oversampled 4x (``sample_rate`` unused)."""
    del sample_rate
    if x.size == 0:
        return -math.inf
    up = resample_poly(np.asarray(x, dtype=np.float64), TRUE_PEAK_OVERSAMPLING, 1)
    peak = max(float(np.max(np.abs(up))), float(np.max(np.abs(x))))
    return gain_to_db(peak) if peak > 0 else -math.inf


def sample_peak(x: np.ndarray) -> float:
    return float(np.max(np.abs(x))) if x.size else 0.0


def clipped_samples(x: np.ndarray, threshold: float = 0.999) -> int:
    """Samples at or over ``threshold`` of full scale that sit in runs of two or more (flat-topped).

    A lone sample touching full scale is a peak; consecutive ones are the flat tops of clipping.
    """
    over = np.abs(x) >= threshold
    if over.size < 2:
        return int(over.sum())
    pair = over[1:] & over[:-1]
    flat = np.zeros_like(over)
    flat[1:] |= pair
    flat[:-1] |= pair
    return int(flat.sum())


def frame_rms_db(x: np.ndarray, sample_rate: int, frame_s: float = 0.05) -> np.ndarray:
    """RMS level (dBFS) of consecutive frames."""
    n = max(1, int(frame_s * sample_rate))
    frames = x[: x.size // n * n].reshape(-1, n) if x.size >= n else x.reshape(1, -1)
    rms = np.sqrt(np.mean(np.square(frames, dtype=np.float64), axis=1))
    with np.errstate(divide="ignore"):
        return np.asarray(20.0 * np.log10(np.maximum(rms, 1e-12)))


def silence_ratio(x: np.ndarray, sample_rate: int, floor_db: float = -55.0) -> float:
    """Share of 50 ms frames quieter than ``floor_db`` dBFS."""
    if x.size == 0:
        return 1.0
    return float(np.mean(frame_rms_db(x, sample_rate) < floor_db))


def band_energy_db(x: np.ndarray, sample_rate: int, low_hz: float, high_hz: float) -> float:
    """Energy (dB) of ``x`` between ``low_hz`` and ``high_hz`` (from the power spectrum)."""
    if x.size == 0:
        return -math.inf
    spec = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(x.size, 1.0 / sample_rate)
    band = spec[(freqs >= low_hz) & (freqs <= high_hz)].sum()
    return 10.0 * math.log10(band) if band > 0 else -math.inf
