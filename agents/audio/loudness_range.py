"""EBU R128 loudness range (LRA, EBU Tech 3342) and the loudness of each kind of sound in the mix.

LRA: short-term loudness (3 s windows, K-weighted as in BS.1770, every 0.1 s) gated at -70 LUFS and at
20 LU under the mean of what is left; the range is the 95th minus the 10th percentile (LU). The K
weighting uses pyloudnorm's filters for the sample rate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy.ndimage import uniform_filter1d

from agents.audio.levels import _meter, integrated_lufs

SHORT_TERM_S = 3.0
STEP_S = 0.1


def _k_weighted(x: np.ndarray, sample_rate: int) -> np.ndarray:
    meter = _meter(sample_rate)
    y = np.asarray(x, dtype=np.float64)
    for stage in meter._filters.values():  # pyloudnorm's K-weighting stages (shelf, high-pass)
        y = stage.apply_filter(y)
    return y


def loudness_range_lu(x: np.ndarray, sample_rate: int) -> float | None:
    """LRA in LU (None when the mix is shorter than one short-term window or silent)."""
    n = int(SHORT_TERM_S * sample_rate)
    if x.size < n:
        return None
    power = uniform_filter1d(_k_weighted(x, sample_rate) ** 2, size=n, mode="constant")
    hop = int(STEP_S * sample_rate)
    centres = np.arange(n // 2, x.size - n // 2, hop)
    with np.errstate(divide="ignore"):
        st = -0.691 + 10 * np.log10(np.maximum(power[centres], 1e-20))
    st = st[st > -70.0]
    if st.size == 0:
        return None
    mean_power = np.mean(10 ** ((st + 0.691) / 10))
    st = st[st > -0.691 + 10 * math.log10(mean_power) - 20.0]
    if st.size == 0:
        return None
    return round(float(np.percentile(st, 95) - np.percentile(st, 10)), 2)


def kind_levels(
    stems: Mapping[str, np.ndarray], kinds: Mapping[str, str], sample_rate: int
) -> dict[str, float | None]:
    """Integrated loudness (LUFS) of the sum of each kind's stems, as they sound in the mix."""
    out: dict[str, float | None] = {}
    for kind in ("speech", "sfx", "music", "ambience"):
        parts = [s for k, s in stems.items() if kinds.get(k) == kind]
        if parts:
            lufs = integrated_lufs(np.sum(parts, axis=0), sample_rate)
            out[kind] = None if lufs is None else round(lufs, 2)
    return out
