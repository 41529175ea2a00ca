"""Stratified k-fold assignment: the bench's cross-validation protocol and votes that tune by inner CV.

Within each stratum the rows are shuffled (seeded) and dealt round-robin onto the folds, continuing
where the previous stratum stopped, so every fold holds each stratum's share give or take one row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def stratified_folds(labels: Sequence[object] | np.ndarray, folds: int, seed: int) -> np.ndarray:
    """The fold (0..folds-1) of every row, stratified by ``labels``.

    Args:
        labels: one stratum label per row (e.g. the question's category).
        folds: the number of folds (>= 2).
        seed: the shuffle seed.

    Raises:
        ValueError: fewer than 2 folds, or fewer rows than folds.
    """
    labels = np.asarray([str(x) for x in labels])
    if folds < 2 or len(labels) < folds:
        raise ValueError(f"stratified folds: need 2 <= folds <= rows, got folds={folds}, rows={len(labels)}")
    rng = np.random.default_rng(seed)
    fold = np.empty(len(labels), dtype=int)
    offset = 0
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        rng.shuffle(rows)
        fold[rows] = (np.arange(len(rows)) + offset) % folds
        offset += len(rows)
    return fold
