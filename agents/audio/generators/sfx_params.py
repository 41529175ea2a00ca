"""What an effect's description says about how it sounds: size, distance, intensity and material.

Read from plain words (``a massive explosion far away``, ``a small glass bottle``) into
:class:`SfxParams`, which every procedural recipe takes, and applied after rendering by
:func:`apply_distance` (a far sound is duller and has more room in it). Words are matched whole, never
inside other words.

Example::

    p = parse_params("a huge metal door slams in the distance")
    p.size, p.distance, p.material     # (0.85, 0.8, "metal")
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, fftconvolve, sosfilt

MATERIALS = ("wood", "metal", "glass", "stone", "plastic", "paper", "water", "fabric")

_WORDS: dict[str, dict[str, float | str]] = {
    "size": {"tiny": 0.1, "small": 0.25, "little": 0.25, "medium": 0.5, "big": 0.75, "large": 0.75,
             "huge": 0.9, "massive": 0.95, "giant": 0.95, "enormous": 0.95},
    "distance": {"close": 0.05, "nearby": 0.15, "near": 0.15, "next room": 0.5, "muffled": 0.6,
                 "distant": 0.8, "far": 0.8, "faraway": 0.85, "far away": 0.85, "in the distance": 0.85,
                 "far off": 0.85},
    "intensity": {"faint": 0.15, "soft": 0.25, "gentle": 0.25, "quiet": 0.2, "light": 0.3,
                  "subtle": 0.25, "loud": 0.8, "heavy": 0.75, "hard": 0.7, "violent": 0.9,
                  "powerful": 0.9, "massive": 0.95, "huge": 0.85, "deafening": 1.0, "sharp": 0.7},
    "material": {"wood": "wood", "wooden": "wood", "metal": "metal", "metallic": "metal",
                 "steel": "metal", "iron": "metal", "tin": "metal", "glass": "glass", "bottle": "glass",
                 "window": "glass", "stone": "stone", "concrete": "stone", "brick": "stone",
                 "rock": "stone", "plastic": "plastic", "paper": "paper", "cardboard": "paper",
                 "water": "water", "wet": "water", "cloth": "fabric", "fabric": "fabric"},
}  # fmt: skip
"""Words (matched whole) -> parameter value; the last word found for a parameter wins."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SfxParams:
    """How an effect sounds: each in [0, 1] (0.5 = unmarked), material one of :data:`MATERIALS` or None."""

    size: float = 0.5
    distance: float = 0.2
    intensity: float = 0.5
    material: str | None = None

    def scale(self, low: float, high: float, of: str = "size") -> float:
        """``low`` at 0, ``high`` at 1 of one parameter (linear)."""
        v = float(getattr(self, of))
        return low + (high - low) * v


def parse_params(description: str) -> SfxParams:
    """The parameters a description names (see :data:`_WORDS`); unmarked ones keep their defaults."""
    text = description.lower()
    found: dict[str, float | str] = {}
    for param, words in _WORDS.items():
        hits = [(m.start(), value) for word, value in words.items()
                for m in re.finditer(rf"\b{re.escape(word)}\b", text)]  # fmt: skip
        if hits:
            found[param] = max(hits)[1]
    return SfxParams(**found)  # type: ignore[arg-type]


def apply_distance(x: np.ndarray, sr: int, params: SfxParams, rng: np.random.Generator) -> np.ndarray:
    """A far sound: high frequencies roll off and a short diffuse tail (room) is added, both by distance."""
    d = params.distance
    if d <= 0.25 or x.size == 0:
        return x
    cutoff = min(float(np.interp(d, [0.25, 1.0], [9000.0, 1800.0])), sr / 2 * 0.9)
    y = sosfilt(butter(2, cutoff, btype="lowpass", fs=sr, output="sos"), x)
    tail_n = int(sr * (0.15 + 0.5 * d))
    tail = rng.standard_normal(tail_n) * np.exp(-np.arange(tail_n) / (tail_n / 5))
    wet = fftconvolve(y, tail / np.sqrt(np.sum(tail**2)), mode="full")[: y.size]
    scale = float(np.max(np.abs(y))) / max(float(np.max(np.abs(wet))), 1e-9)
    return np.asarray((1 - 0.5 * d) * y + 0.5 * d * wet * scale)
