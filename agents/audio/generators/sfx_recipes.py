"""Procedural sound recipes (numpy/scipy): rain, wind, footsteps, door, impact, thunder, bell, crowd, ...

Each recipe is ``(duration_s, sample_rate, rng) -> mono float array`` with a peak near 1; the team sets
the level afterwards. Recipes are seeded through ``rng``, so a task renders the same every time.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.signal import butter, sosfilt

Recipe = Callable[[float, int, np.random.Generator], np.ndarray]


def _bandpass(x: np.ndarray, sr: int, low_hz: float, high_hz: float, order: int = 2) -> np.ndarray:
    nyquist = sr / 2 * 0.95  # every recipe renders at any rate: a band above it shrinks to fit
    high = min(high_hz, nyquist)
    sos = butter(order, [min(low_hz, high * 0.5), high], btype="bandpass", fs=sr, output="sos")
    return np.asarray(sosfilt(sos, x))


def _lowpass(x: np.ndarray, sr: int, hz: float, order: int = 2) -> np.ndarray:
    return np.asarray(sosfilt(butter(order, min(hz, sr / 2 * 0.95), btype="lowpass", fs=sr, output="sos"), x))


def _norm(x: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return x / peak * 0.9 if peak > 0 else x


def _pink(n: int, rng: np.random.Generator) -> np.ndarray:
    """Pink-ish noise: white noise shaped 1/f in the frequency domain."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spec.size, dtype=np.float64)
    f[0] = 1.0
    return np.fft.irfft(spec / np.sqrt(f), n)


def _brown(n: int, rng: np.random.Generator) -> np.ndarray:
    x = np.cumsum(rng.standard_normal(n))
    return x - np.convolve(x, np.ones(2001) / 2001, mode="same")  # remove the drift


def _slow_lfo(n: int, sr: int, rng: np.random.Generator, rate_hz: float) -> np.ndarray:
    """A smooth random curve in [0, 1] changing about ``rate_hz`` times a second."""
    points = max(2, int(n / sr * rate_hz) + 2)
    return np.asarray(np.interp(np.arange(n), np.linspace(0, n, points), rng.uniform(0, 1, points)))


def _fade(x: np.ndarray, sr: int, in_s: float = 0.01, out_s: float = 0.05) -> np.ndarray:
    y = x.copy()
    a, b = min(int(in_s * sr), y.size), min(int(out_s * sr), y.size)
    if a:
        y[:a] *= np.linspace(0, 1, a)
    if b:
        y[-b:] *= np.linspace(1, 0, b)
    return y


def _hit(sr: int, rng: np.random.Generator, body_hz: float, decay_s: float, noise_hz: float) -> np.ndarray:
    """A percussive hit: a decaying low sine body plus a filtered noise transient."""
    t = np.arange(int(decay_s * 5 * sr)) / sr
    body = np.sin(2 * np.pi * body_hz * t * (1 + 0.3 * np.exp(-t * 30))) * np.exp(-t / decay_s)
    noise = _lowpass(rng.standard_normal(t.size), sr, noise_hz) * np.exp(-t / (decay_s * 0.25))
    return np.asarray(body + 0.6 * noise)


def rain(duration_s: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    n = int(duration_s * sr)
    bed = _bandpass(_pink(n, rng), sr, 400, 9000) * (0.7 + 0.3 * _slow_lfo(n, sr, rng, 0.5))
    drops = np.zeros(n)
    idx = rng.integers(0, n, size=int(duration_s * 180))
    drops[idx] = rng.uniform(-1, 1, idx.size)
    drops = _bandpass(drops, sr, 1500, 8000)
    return _fade(_norm(_norm(bed) + 0.8 * _norm(drops)), sr, 0.3, 0.3)


def wind(duration_s: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    n = int(duration_s * sr)
    base = _brown(n, rng) + 0.02 * rng.standard_normal(n)
    gust = 0.3 + 0.7 * _slow_lfo(n, sr, rng, 0.4)
    howl = _bandpass(rng.standard_normal(n), sr, 250, 900) * gust**2
    return _fade(_norm(_norm(_lowpass(base, sr, 900)) * gust + 0.4 * _norm(howl)), sr, 0.5, 0.5)


def footsteps(duration_s: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    n = int(duration_s * sr)
    out = np.zeros(n)
    t = 0.05
    while t < duration_s - 0.15:
        step = _hit(sr, rng, body_hz=rng.uniform(70, 95), decay_s=0.035, noise_hz=2500)
        step = step * rng.uniform(0.7, 1.0)
        i = int(t * sr)
        m = min(step.size, n - i)
        out[i : i + m] += step[:m]
        t += rng.uniform(0.48, 0.56)
    return _norm(out)


def door(duration_s: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A creak (a jittery rising glide, resonant) and the door shutting at the end."""
    n = int(duration_s * sr)
    creak_n = int(n * 0.7)
    t = np.arange(creak_n) / sr
    freq = 90 + 60 * t / max(t[-1], 1e-3) + 15 * _slow_lfo(creak_n, sr, rng, 12)
    phase = 2 * np.pi * np.cumsum(freq) / sr
    pulses = (np.sin(phase) > 0.97).astype(float) * rng.uniform(0.6, 1.0, creak_n)
    creak = _bandpass(pulses, sr, 300, 3000) * np.hanning(creak_n)
    out = np.zeros(n)
    out[:creak_n] = _norm(creak) * 0.7
    thud = _hit(sr, rng, body_hz=65, decay_s=0.08, noise_hz=1800)
    i = creak_n
    m = min(thud.size, n - i)
    out[i : i + m] += _norm(thud)[:m]
    return _fade(_norm(out), sr, 0.005, 0.05)


def impact(duration_s: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    n = int(duration_s * sr)
    hit = _hit(sr, rng, body_hz=55, decay_s=max(0.08, duration_s / 6), noise_hz=4000)
    out = np.zeros(n)
    out[: min(n, hit.size)] = hit[:n]
    return _fade(_norm(out), sr, 0.001, 0.1)


def thunder(duration_s: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    n = int(duration_s * sr)
    t = np.arange(n) / sr
    rumble = (
        _lowpass(_brown(n, rng), sr, 220) * np.exp(-t / (duration_s / 3)) * (0.5 + _slow_lfo(n, sr, rng, 3))
    )
    crack = _bandpass(rng.standard_normal(n), sr, 200, 6000) * np.exp(-t / 0.08)
    return _fade(_norm(_norm(rumble) + 0.7 * _norm(crack)), sr, 0.002, 0.3)


def bell(duration_s: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(duration_s * sr)) / sr
    f0 = rng.uniform(520, 700)
    partials = ((0.5, 1.0, 1.6), (1.0, 0.8, 1.2), (1.19, 0.5, 0.9), (1.56, 0.4, 0.7), (2.0, 0.35, 0.6),
                (2.51, 0.2, 0.4), (2.66, 0.18, 0.35), (3.01, 0.12, 0.3))  # fmt: skip
    out = sum(a * np.sin(2 * np.pi * f0 * r * t) * np.exp(-t / (d * duration_s / 2)) for r, a, d in partials)
    return _fade(_norm(np.asarray(out)), sr, 0.002, 0.2)


def crowd(duration_s: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Murmur: many 'voices' of formant-filtered noise, each gated at a syllable rate."""
    n = int(duration_s * sr)
    out = np.zeros(n)
    for _ in range(14):
        f1 = rng.uniform(300, 800)
        voice = _bandpass(rng.standard_normal(n), sr, f1, f1 * 2.5)
        syll = np.clip(np.sin(2 * np.pi * rng.uniform(3, 5.5) * np.arange(n) / sr + rng.uniform(0, 6)), 0, 1)
        out += voice * syll * _slow_lfo(n, sr, rng, 0.7)
    return _fade(_norm(out), sr, 0.5, 0.5)


def birds(duration_s: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    n = int(duration_s * sr)
    out = 0.15 * _norm(_bandpass(_pink(n, rng), sr, 200, 4000))
    for _ in range(int(duration_s * 1.5)):
        length = int(rng.uniform(0.05, 0.15) * sr)
        t = np.arange(length) / sr
        f = rng.uniform(2500, 4500) + rng.uniform(-1500, 1500) * t / t[-1]
        chirp = np.sin(2 * np.pi * np.cumsum(f) / sr) * np.hanning(length)
        i = int(rng.integers(0, max(1, n - length)))
        out[i : i + length] += 0.5 * chirp
    return _fade(_norm(out), sr, 0.3, 0.3)


def whoosh(duration_s: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    n = int(duration_s * sr)
    noise = rng.standard_normal(n)
    lo = _bandpass(noise, sr, 200, 1200)
    hi = _bandpass(noise, sr, 1200, 6000)
    sweep = np.linspace(0, 1, n)
    return _fade(_norm((lo * (1 - sweep) + hi * sweep) * np.hanning(n)), sr)


def knock(duration_s: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    n = int(duration_s * sr)
    out = np.zeros(n)
    for k in range(3):
        hit = _hit(sr, rng, body_hz=180, decay_s=0.02, noise_hz=3000)
        i = int((0.02 + 0.22 * k) * sr)
        if i < n:
            m = min(hit.size, n - i)
            out[i : i + m] += hit[:m]
    return _norm(out)


def room_tone(duration_s: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    n = int(duration_s * sr)
    return _fade(_norm(_lowpass(_pink(n, rng), sr, 2000)), sr, 0.3, 0.3)


RECIPES: dict[str, Recipe] = {
    "rain": rain, "wind": wind, "footsteps": footsteps, "door": door, "impact": impact, "thunder": thunder,
    "bell": bell, "crowd": crowd, "birds": birds, "whoosh": whoosh, "knock": knock, "room tone": room_tone,
}  # fmt: skip
"""Recipe name -> recipe (the catalogue, :mod:`sfx_catalog`, adds parameters and many more)."""
