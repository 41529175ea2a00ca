"""Onsets measured on an event's own stem, independent of where the mixer meant to put it.

The detector reads only the stem (the event as it sounds in the final mix, on silence elsewhere): its
energy envelope (RMS over 5 ms windows every 1 ms). The attack is the first time the envelope comes
within ``ONSET_REL_DB`` of the loudest level of the event's first second (so a quiet lead-in does not
count as the sound), and the onset is where that attack starts: back from it to the last moment the
envelope was ``BACKTRACK_DB`` under the peak. Its confidence is the contrast in dB between the peak and
the level in the 50 ms before the onset: a stem that fades in slowly or starts inside a sound gets a low
contrast, and the mix supervisor moves an event only on a confident measurement. Beds (music,
ambience) fade in by design and have no onset.

Example::

    onset = detect_onset(stem, sample_rate, search_from_s=3.9, search_to_s=6.0)
    onset.time_s, onset.contrast_db
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter1d

ONSET_REL_DB = 20.0
"""The attack is where the envelope comes within this of the loudest level near the start."""
BACKTRACK_DB = 40.0
"""From the attack, back to the last moment the envelope was this far under the peak (its start)."""
PEAK_WINDOW_S = 1.0
"""The loudest level is taken over this long after the sound first rises (a later crash does not count)."""
FLOOR_DB = -70.0
PRE_S = 0.05
ENV_WINDOW_S = 0.005
ENV_HOP_S = 0.001


@dataclass(frozen=True, slots=True)
class Onset:
    """A measured onset: its time in the mix (seconds) and how clearly it stands out (dB)."""

    time_s: float
    contrast_db: float


def _envelope_db(x: np.ndarray, sr: int) -> tuple[np.ndarray, int]:
    hop = max(1, int(ENV_HOP_S * sr))
    power = uniform_filter1d(x.astype(np.float64) ** 2, size=max(1, int(ENV_WINDOW_S * sr)), mode="constant")
    env = power[::hop]
    with np.errstate(divide="ignore"):
        return 10 * np.log10(np.maximum(env, 1e-14)), hop


def detect_onset(
    stem: np.ndarray, sr: int, search_from_s: float = 0.0, search_to_s: float | None = None
) -> Onset | None:
    """The first audible onset of ``stem`` between the two times (None when it is silent there)."""
    a = max(0, int(search_from_s * sr))
    b = stem.size if search_to_s is None else min(stem.size, int(search_to_s * sr))
    if b - a < int(0.01 * sr):
        return None
    env, hop = _envelope_db(stem[a:b], sr)
    audible = np.flatnonzero(env > FLOOR_DB)
    if audible.size == 0:
        return None
    first = int(audible[0])
    window = env[first : first + int(PEAK_WINDOW_S / ENV_HOP_S)]
    peak = float(window.max())
    k = first + int(np.argmax(window >= peak - ONSET_REL_DB))
    quiet = np.flatnonzero(env[first : k + 1] < peak - BACKTRACK_DB)
    start = first + (int(quiet[-1]) + 1 if quiet.size else 0)  # back to where the attack leaves the floor
    at = start * hop
    pre = env[max(0, start - int(PRE_S / ENV_HOP_S)) : max(0, start - int(0.005 / ENV_HOP_S))]
    before = float(np.mean(pre)) if pre.size else FLOOR_DB
    return Onset(time_s=(a + at) / sr, contrast_db=round(peak - max(before, FLOOR_DB), 2))
