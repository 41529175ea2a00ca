"""Paired significance tests of one method against another on the same questions.

Both take per-question correctness (0/1, or under cross-validation the share of seeds a question was
answered correctly), aligned by question:

- :func:`paired_bootstrap`: resample questions with replacement; the two-sided p-value is twice the
  smaller share of resampled mean differences on either side of zero.
- :func:`sign_test`: the exact two-sided binomial test on the questions where the two differ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest


@dataclass(frozen=True)
class PairedTest:
    """A comparison of method A with reference B: mean difference (points) and two p-values."""

    delta: float
    p_bootstrap: float
    p_sign: float


def paired_bootstrap(
    a: np.ndarray, b: np.ndarray, *, resamples: int = 10_000, seed: int = 0
) -> tuple[float, float]:
    """Mean difference ``a - b`` in points (x100) and its two-sided paired-bootstrap p-value.

    Raises:
        ValueError: the arrays differ in length or are empty.
    """
    d = _difference(a, b)
    if not d.any():
        return 0.0, 1.0
    rng = np.random.default_rng(seed)
    means = np.concatenate(  # in chunks: 10,000 x 2,099 indices at once would take 170 MB
        [
            d[rng.integers(0, len(d), size=(min(1000, resamples - start), len(d)))].mean(axis=1)
            for start in range(0, resamples, 1000)
        ]
    )
    p = 2 * min(float((means <= 0).mean()), float((means >= 0).mean()))
    return 100.0 * float(d.mean()), min(1.0, p)


def sign_test(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided exact sign test: questions where ``a`` is better against those where ``b`` is.

    Raises:
        ValueError: the arrays differ in length or are empty.
    """
    d = _difference(a, b)
    wins, losses = int((d > 0).sum()), int((d < 0).sum())
    if wins + losses == 0:
        return 1.0
    return float(binomtest(wins, wins + losses, 0.5).pvalue)


def compare(a: np.ndarray, b: np.ndarray, *, resamples: int = 10_000, seed: int = 0) -> PairedTest:
    """Both tests of ``a`` against ``b``."""
    delta, p = paired_bootstrap(a, b, resamples=resamples, seed=seed)
    return PairedTest(delta, p, sign_test(a, b))


def _difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"paired test: need two equal-length, non-empty arrays, got {a.shape} and {b.shape}")
    return np.asarray(a - b, dtype=float)
