"""More procedural recipes (numpy/scipy), each shaped by :class:`SfxParams` (size, intensity, material).

Animals, machines, household and science-fiction sounds: dog, cat, baby, glass, applause, car, engine,
horn, siren, phone, beep, alarm, gunshot, explosion, laser, fire, typing, clock, water, waves, drip,
bubbles, crickets, owl, heartbeat, paper, hum, splash. Like :mod:`sfx_recipes`, a recipe is
``(duration_s, sample_rate, rng, params) -> mono float array`` with a peak near 1, seeded through ``rng``.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import fftconvolve

from agents.audio.generators.sfx_params import SfxParams
from agents.audio.generators.sfx_recipes import (
    _bandpass,
    _brown,
    _fade,
    _hit,
    _lowpass,
    _norm,
    _pink,
    _slow_lfo,
)

MATERIAL_HZ = {"wood": 180.0, "metal": 900.0, "glass": 2400.0, "stone": 120.0, "plastic": 450.0,
               "paper": 3000.0, "water": 600.0, "fabric": 250.0}  # fmt: skip
"""Resonance of a struck object per material (scaled down by size)."""


def _t(duration_s: float, sr: int) -> np.ndarray:
    return np.arange(max(1, int(duration_s * sr))) / sr


def _add(out: np.ndarray, x: np.ndarray, at_s: float, sr: int, gain: float = 1.0) -> None:
    i = int(at_s * sr)
    if 0 <= i < out.size:
        m = min(x.size, out.size - i)
        out[i : i + m] += gain * x[:m]


def _tone(f_hz: np.ndarray | float, n: int, sr: int) -> np.ndarray:
    f = np.broadcast_to(np.asarray(f_hz, dtype=np.float64), (n,))
    return np.sin(2 * np.pi * np.cumsum(f) / sr)


def _voiced(f0: np.ndarray, sr: int, formants: tuple[float, ...], rng: np.random.Generator) -> np.ndarray:
    """A harmonic source at pitch ``f0`` through band-pass formants (animal and baby voices)."""
    src = sum(_tone(f0 * k, f0.size, sr) / k for k in range(1, 8)) + 0.05 * rng.standard_normal(f0.size)
    return sum(_bandpass(np.asarray(src), sr, f * 0.7, f * 1.3) for f in formants)  # type: ignore[return-value]


def dog(d: float, sr: int, rng: np.random.Generator, p: SfxParams) -> np.ndarray:
    out = np.zeros(_t(d, sr).size)
    base = p.scale(700, 260)  # a small dog barks higher
    at = 0.02
    while at < d - 0.2:
        n = int(rng.uniform(0.13, 0.2) * sr)
        tt = np.arange(n) / n
        f0 = base * (1 + 0.5 * np.sin(np.pi * tt)) * rng.uniform(0.9, 1.1)
        bark = _voiced(f0, sr, (base * 2, base * 4.5), rng) * np.sin(np.pi * tt) ** 0.5
        _add(out, _norm(bark), at, sr, rng.uniform(0.7, 1.0))
        at += rng.uniform(0.35, 0.6)
    return _norm(out)


def cat(d: float, sr: int, rng: np.random.Generator, p: SfxParams) -> np.ndarray:
    n = _t(min(d, 1.2), sr).size
    tt = np.linspace(0, 1, n)
    f0 = p.scale(600, 380) * (1 + 0.35 * np.sin(np.pi * tt))
    out = np.zeros(_t(d, sr).size)
    _add(out, _voiced(f0, sr, (900, 2400), rng) * np.sin(np.pi * tt), 0.01, sr)
    return _norm(out)


def baby(d: float, sr: int, rng: np.random.Generator, p: SfxParams) -> np.ndarray:
    out = np.zeros(_t(d, sr).size)
    at = 0.02
    while at < d - 0.3:
        n = int(rng.uniform(0.6, 1.0) * sr)
        tt = np.linspace(0, 1, n)
        f0 = rng.uniform(420, 520) * (1 + 0.15 * np.sin(np.pi * tt) + 0.03 * np.sin(2 * np.pi * 6 * tt))
        _add(out, _norm(_voiced(f0, sr, (1100, 3000), rng)) * np.sin(np.pi * tt) ** 0.3, at, sr)
        at += n / sr + rng.uniform(0.2, 0.4)
    return _norm(out)


def glass(d: float, sr: int, rng: np.random.Generator, p: SfxParams) -> np.ndarray:
    """Glass breaking: a sharp crash and many short high 'tinkles' that fall away."""
    out = np.zeros(_t(d, sr).size)
    crash = _bandpass(rng.standard_normal(int(0.08 * sr)), sr, 2000, 12000) * np.exp(
        -np.arange(int(0.08 * sr)) / (0.015 * sr)
    )
    _add(out, crash, 0.0, sr)
    for _ in range(int(p.scale(10, 40))):
        at = abs(rng.normal(0, d / 4))
        n = int(0.03 * sr)
        f = rng.uniform(3000, 8000)
        _add(out, _tone(f, n, sr) * np.exp(-np.arange(n) / (0.006 * sr)), at, sr, rng.uniform(0.1, 0.5))
    return _fade(_norm(out), sr, 0.0005, 0.05)


def applause(d: float, sr: int, rng: np.random.Generator, p: SfxParams) -> np.ndarray:
    """Many claps: a train of short envelopes at random times over one band-passed noise."""
    n = _t(d, sr).size
    train = np.zeros(n)
    idx = rng.integers(0, n, size=int(d * p.scale(40, 160)))
    train[idx] = rng.uniform(0.3, 1.0, idx.size)
    envelope = fftconvolve(train, np.hanning(int(0.012 * sr)), mode="same")
    out = _bandpass(rng.standard_normal(n), sr, 800, 5000) * envelope
    env = np.minimum(1.0, np.arange(n) / (0.15 * sr))
    return _fade(_norm(out * env), sr, 0.01, min(0.8, d / 3))


def car(d: float, sr: int, rng: np.random.Generator, p: SfxParams) -> np.ndarray:
    """A car passing by: engine harmonics and tyre noise with a Doppler glide and a swell."""
    t = _t(d, sr)
    x = (t - d / 2) / max(d / 6, 0.2)
    f = p.scale(50, 30) * (1 + 0.08 * -np.tanh(x)) * 2
    engine = sum(_tone(f * k, t.size, sr) / k for k in (1, 2, 3, 4))
    tyres = _bandpass(_pink(t.size, rng), sr, 300, 3000)
    swell = 1 / (1 + x**2)
    return _fade(_norm((_norm(np.asarray(engine)) + 0.6 * _norm(tyres)) * (0.1 + swell)), sr, 0.05, 0.2)


def engine(d: float, sr: int, rng: np.random.Generator, p: SfxParams) -> np.ndarray:
    """An idling engine or a ship's/spaceship's drone: low harmonics with a slow wobble."""
    t = _t(d, sr)
    f = p.scale(60, 25) * (1 + 0.02 * _slow_lfo(t.size, sr, rng, 2))
    hum = sum(_tone(f * k, t.size, sr) * (0.8**k) for k in range(1, 7))
    rumble = _lowpass(_brown(t.size, rng), sr, 200)
    return _fade(_norm(_norm(np.asarray(hum)) + 0.4 * _norm(rumble)), sr, 0.2, 0.3)


def horn(d: float, sr: int, rng: np.random.Generator, p: SfxParams) -> np.ndarray:
    n = _t(min(d, 1.0), sr).size
    blast = sum(_tone(f, n, sr) for f in (p.scale(500, 300), p.scale(630, 380)))
    sq = np.tanh(3 * np.asarray(blast))
    out = np.zeros(_t(d, sr).size)
    _add(out, _fade(sq, sr, 0.01, 0.05), 0.0, sr)
    return _norm(out)


def siren(d: float, sr: int, rng: np.random.Generator, p: SfxParams) -> np.ndarray:
    t = _t(d, sr)
    f = 950 + 350 * np.sin(2 * np.pi * 0.5 * t - np.pi / 2)
    return _fade(_norm(np.tanh(2 * _tone(f, t.size, sr))), sr, 0.05, 0.2)


def phone(d: float, sr: int, rng: np.random.Generator, p: SfxParams) -> np.ndarray:
    """A ringing phone: two bursts of a warbling two-tone ring per cycle."""
    out = np.zeros(_t(d, sr).size)
    at = 0.0
    while at < d - 0.1:
        for burst in (0.0, 0.5):
            n = int(0.4 * sr)
            warble = (np.sin(2 * np.pi * 20 * np.arange(n) / sr) > 0).astype(float)
            ring = _tone(1000, n, sr) * warble + _tone(1300, n, sr) * (1 - warble)
            _add(out, _fade(ring, sr, 0.005, 0.01), at + burst, sr)
        at += 3.0
    return _norm(out)


def beep(d: float, sr: int, rng: np.random.Generator, p: SfxParams) -> np.ndarray:
    """Electronic beeps (computers, consoles, a microwave)."""
    out = np.zeros(_t(d, sr).size)
    at = 0.0
    while at < d - 0.1:
        n = int(0.12 * sr)
        _add(out, _fade(_tone(rng.choice([880, 1320, 1760]), n, sr), sr, 0.003, 0.01), at, sr)
        at += rng.uniform(0.2, 0.45)
    return _norm(out)


def alarm(d: float, sr: int, rng: np.random.Generator, p: SfxParams) -> np.ndarray:
    t = _t(d, sr)
    gate = (np.sin(2 * np.pi * 4 * t) > 0).astype(float)
    return _fade(
        _norm(np.sign(_tone(2200, t.size, sr)) * gate * 0.5 + _tone(2200, t.size, sr) * gate), sr, 0.002, 0.02
    )


def gunshot(d: float, sr: int, rng: np.random.Generator, p: SfxParams) -> np.ndarray:
    out = np.zeros(_t(d, sr).size)
    n = int(min(d, 1.5) * sr)
    tt = np.arange(n) / sr
    crack = _bandpass(rng.standard_normal(n), sr, 500, 10000) * np.exp(-tt / 0.012)
    boom = _lowpass(rng.standard_normal(n), sr, 300) * np.exp(-tt / p.scale(0.08, 0.25))
    _add(out, _norm(crack) + 0.8 * _norm(boom), 0.0, sr)
    return _fade(_norm(out), sr, 0.0002, 0.1)


def explosion(d: float, sr: int, rng: np.random.Generator, p: SfxParams) -> np.ndarray:
    t = _t(d, sr)
    decay = p.scale(0.4, 1.6) * max(d, 0.5) / 3
    blast = _lowpass(_brown(t.size, rng), sr, 400) * np.exp(-t / decay)
    crack = _bandpass(rng.standard_normal(t.size), sr, 200, 8000) * np.exp(-t / 0.05)
    debris = _bandpass(rng.standard_normal(t.size), sr, 1500, 6000) * np.exp(-t / (decay * 1.5)) * 0.2
    return _fade(_norm(_norm(blast) + 0.7 * _norm(crack) + debris), sr, 0.0005, 0.3)


def laser(d: float, sr: int, rng: np.random.Generator, p: SfxParams) -> np.ndarray:
    """A sci-fi laser: fast falling sine sweeps with a metallic ring."""
    out = np.zeros(_t(d, sr).size)
    at = 0.0
    while at < d - 0.1:
        n = int(0.25 * sr)
        tt = np.arange(n) / sr
        f = p.scale(3500, 1800) * np.exp(-tt * 12) + 200
        zap = _tone(f, n, sr) * np.exp(-tt / 0.08) + 0.3 * _tone(f * 1.5, n, sr) * np.exp(-tt / 0.05)
        _add(out, zap, at, sr)
        at += 0.5 if d > 1.0 else d
    return _norm(out)


def fire(d: float, sr: int, rng: np.random.Generator, p: SfxParams) -> np.ndarray:
    n = _t(d, sr).size
    roar = _lowpass(_pink(n, rng), sr, 600) * (0.6 + 0.4 * _slow_lfo(n, sr, rng, 1.5))
    crackle = np.zeros(n)
    idx = rng.integers(0, n, size=int(d * p.scale(20, 80, "intensity")))
    crackle[idx] = rng.uniform(-1, 1, idx.size)
    crackle = _bandpass(crackle, sr, 1500, 9000)
    return _fade(_norm(0.6 * _norm(roar) + _norm(crackle)), sr, 0.2, 0.2)


def typing(d: float, sr: int, rng: np.random.Generator, p: SfxParams) -> np.ndarray:
    out = np.zeros(_t(d, sr).size)
    at = 0.02
    while at < d - 0.05:
        key = _hit(sr, rng, body_hz=rng.uniform(1800, 2600), decay_s=0.008, noise_hz=7000)
        _add(out, key, at, sr, rng.uniform(0.5, 1.0))
        at += rng.uniform(0.06, 0.2)
    return _norm(out)


def clock(d: float, sr: int, rng: np.random.Generator, p: SfxParams) -> np.ndarray:
    out = np.zeros(_t(d, sr).size)
    for k, at in enumerate(np.arange(0.02, d - 0.02, 0.5)):
        tick = _hit(sr, rng, body_hz=2600 if k % 2 else 2000, decay_s=0.004, noise_hz=8000)
        _add(out, tick, float(at), sr)
    return _norm(out)


def water(d: float, sr: int, rng: np.random.Generator, p: SfxParams) -> np.ndarray:
    """Running water or a stream: band noise with many small bubbles."""
    n = _t(d, sr).size
    flow = _bandpass(_pink(n, rng), sr, 300, 5000) * (0.7 + 0.3 * _slow_lfo(n, sr, rng, 3))
    out = _norm(flow) * 0.6
    for _ in range(int(d * 60)):
        m = int(0.02 * sr)
        f = rng.uniform(600, 2500)
        _add(out, _tone(f * (1 + np.arange(m) / m), m, sr) * np.hanning(m), rng.uniform(0, d), sr, 0.2)
    return _fade(_norm(out), sr, 0.3, 0.3)


def waves(d: float, sr: int, rng: np.random.Generator, p: SfxParams) -> np.ndarray:
    t = _t(d, sr)
    swell = (0.5 + 0.5 * np.sin(2 * np.pi * t / 6.0 - np.pi / 2)) ** 2
    surf = _lowpass(_pink(t.size, rng), sr, 2500)
    return _fade(_norm(surf * (0.15 + swell)), sr, 0.5, 0.5)


def drip(d: float, sr: int, rng: np.random.Generator, p: SfxParams) -> np.ndarray:
    out = np.zeros(_t(d, sr).size)
    for at in np.arange(0.02, d - 0.05, rng.uniform(0.4, 0.8)):
        m = int(0.05 * sr)
        f = rng.uniform(900, 1400) * (1 + 1.5 * np.arange(m) / m)
        _add(out, _tone(f, m, sr) * np.exp(-np.arange(m) / (0.01 * sr)), float(at), sr)
    return _norm(out)


def bubbles(d: float, sr: int, rng: np.random.Generator, p: SfxParams) -> np.ndarray:
    out = np.zeros(_t(d, sr).size)
    _add(out, np.zeros(1), 0.0, sr)
    for _ in range(int(d * 25)):
        m = int(rng.uniform(0.02, 0.06) * sr)
        f = rng.uniform(300, 900) * (1 + np.arange(m) / m)
        _add(
            out, _tone(f, m, sr) * np.hanning(m), rng.uniform(0, max(d - 0.06, 0.01)), sr, rng.uniform(0.3, 1)
        )
    return _fade(_norm(out), sr, 0.01, 0.1)


def splash(d: float, sr: int, rng: np.random.Generator, p: SfxParams) -> np.ndarray:
    t = _t(d, sr)
    body = _bandpass(rng.standard_normal(t.size), sr, 200, 6000) * np.exp(-t / p.scale(0.1, 0.4))
    return _fade(_norm(body + 0.3 * bubbles(d, sr, rng, p)), sr, 0.001, 0.1)


def crickets(d: float, sr: int, rng: np.random.Generator, p: SfxParams) -> np.ndarray:
    t = _t(d, sr)
    out = np.zeros(t.size)
    for _ in range(5):
        f = rng.uniform(4200, 5200)
        chirp_rate = rng.uniform(2.5, 4.0)
        gate = (np.sin(2 * np.pi * chirp_rate * t + rng.uniform(0, 6)) > 0.6).astype(float)
        trill = (np.sin(2 * np.pi * 30 * t) > 0).astype(float)
        out += _tone(f, t.size, sr) * gate * trill * rng.uniform(0.4, 1.0)
    return _fade(_norm(_lowpass(out, sr, 8000)), sr, 0.3, 0.3)


def owl(d: float, sr: int, rng: np.random.Generator, p: SfxParams) -> np.ndarray:
    out = np.zeros(_t(d, sr).size)
    for at, length in ((0.05, 0.35), (0.6, 0.2), (0.9, 0.6)):
        if at < d:
            m = int(length * sr)
            tt = np.linspace(0, 1, m)
            f = 380 * (1 - 0.08 * tt)
            _add(out, _tone(f, m, sr) * np.sin(np.pi * tt) ** 2, at, sr)
    return _norm(out)


def heartbeat(d: float, sr: int, rng: np.random.Generator, p: SfxParams) -> np.ndarray:
    out = np.zeros(_t(d, sr).size)
    for at in np.arange(0.02, d - 0.3, 0.85):
        for off, g in ((0.0, 1.0), (0.22, 0.7)):
            _add(out, _hit(sr, rng, body_hz=45, decay_s=0.05, noise_hz=150), float(at + off), sr, g)
    return _norm(out)


def paper(d: float, sr: int, rng: np.random.Generator, p: SfxParams) -> np.ndarray:
    n = _t(d, sr).size
    crackle = _bandpass(rng.standard_normal(n), sr, 1500, 10000) * (_slow_lfo(n, sr, rng, 12) ** 3)
    return _fade(_norm(crackle), sr, 0.01, 0.1)


def hum(d: float, sr: int, rng: np.random.Generator, p: SfxParams) -> np.ndarray:
    """Electrical hum, machinery, a spaceship's interior: a steady low tone with a little noise."""
    t = _t(d, sr)
    tone = sum(_tone(p.scale(120, 50) * k, t.size, sr) * 0.6**k for k in (1, 2, 3))
    return _fade(_norm(np.asarray(tone) + 0.1 * _norm(_lowpass(_pink(t.size, rng), sr, 800))), sr, 0.3, 0.3)


def struck(d: float, sr: int, rng: np.random.Generator, p: SfxParams) -> np.ndarray:
    """A struck object of a material (a pan, a bottle, a plank): resonant partials that decay."""
    t = _t(min(d, 2.0), sr)
    f0 = MATERIAL_HZ.get(p.material or "wood", 300.0) * p.scale(1.6, 0.5)
    decay = {"metal": 0.6, "glass": 0.4}.get(p.material or "", 0.08)
    ring = sum(
        a * _tone(f0 * r, t.size, sr) * np.exp(-t / (decay / r))
        for r, a in ((1, 1), (2.76, 0.5), (5.4, 0.25))
    )
    out = np.zeros(_t(d, sr).size)
    _add(out, np.asarray(ring), 0.0, sr)
    _add(out, _hit(sr, rng, f0 / 3, 0.02, 4000), 0.0, sr, 0.5)
    return _fade(_norm(out), sr, 0.0005, 0.05)


def horse(d: float, sr: int, rng: np.random.Generator, p: SfxParams) -> np.ndarray:
    out = np.zeros(_t(d, sr).size)
    for at in np.arange(0.02, d - 0.1, 0.45):
        for off in (0.0, 0.08, 0.16, 0.24):
            _add(
                out,
                _hit(sr, rng, body_hz=120, decay_s=0.02, noise_hz=3000),
                float(at + off),
                sr,
                rng.uniform(0.6, 1),
            )
    return _norm(out)


EXTRA_RECIPES = {
    "dog": dog, "cat": cat, "baby": baby, "glass": glass, "applause": applause, "car": car,
    "engine": engine, "horn": horn, "siren": siren, "phone": phone, "beep": beep, "alarm": alarm,
    "gunshot": gunshot, "explosion": explosion, "laser": laser, "fire": fire, "typing": typing,
    "clock": clock, "water": water, "waves": waves, "drip": drip, "bubbles": bubbles, "splash": splash,
    "crickets": crickets, "owl": owl, "heartbeat": heartbeat, "paper": paper, "hum": hum,
    "struck": struck, "horse": horse,
}  # fmt: skip
"""Recipe name -> recipe taking :class:`SfxParams`."""
