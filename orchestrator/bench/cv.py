"""The evaluation protocol's splits: the paper's one profiling/test split, or repeated stratified k-fold.

Where a benchmark has no profiling split (GPQA Diamond, MATH-500), every question is evaluated by
cross-validation inside the set: each repetition (seed) deals the questions onto ``folds`` folds
stratified by a field (the category, or e.g. GPQA's high-level domain); every method is fitted on the
other folds only (profiles, vote weights, inner tuning) and answers the held-out fold. A profiling row is
never a held-out row of its split (:func:`cv_splits` guarantees it; the tests check it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from common.records import Instance
from orchestrator.bench.config import CrossValidationData
from orchestrator.folds import stratified_folds


@dataclass(frozen=True, kw_only=True)
class Split:
    """One fit-and-evaluate step.

    Attributes:
        seed: the repetition (0 for a fixed split).
        fold: the held-out fold (0 for a fixed split).
        profile: positions of the profiling questions in the bench's profile list.
        test: positions of the evaluated questions in the bench's test list.
    """

    seed: int
    fold: int
    profile: np.ndarray
    test: np.ndarray


def fixed_split(n_profile: int, n_test: int) -> list[Split]:
    """The paper protocol's single split: every profiling question, every test question."""
    return [Split(seed=0, fold=0, profile=np.arange(n_profile), test=np.arange(n_test))]


def strata(instances: Sequence[Instance], field: str) -> list[str]:
    """Each question's stratum: its ``category``, or the metadata field ``field``."""
    if field == "category":
        return [i.category or "" for i in instances]
    return [i.metadata.get(field, i.category or "") for i in instances]


def cv_splits(instances: Sequence[Instance], cfg: CrossValidationData) -> list[Split]:
    """Every (seed, fold) split of repeated stratified k-fold over ``instances``.

    Profile and test positions both index ``instances``; in each split they are disjoint and together
    cover every question once, and over a seed's folds every question is held out exactly once.
    """
    labels = strata(instances, cfg.stratify)
    out = []
    for seed in range(cfg.seeds):
        fold = stratified_folds(labels, cfg.folds, seed)
        for f in range(cfg.folds):
            out.append(
                Split(seed=seed, fold=f, profile=np.flatnonzero(fold != f), test=np.flatnonzero(fold == f))
            )
    return out
