"""Group-calibrated vote weights: each expert's accuracy within the question's group, shrunk to global.

For an expert m and a question of group g (a metadata field, e.g. MATH's difficulty ``level``)::

    a_m(g) = (correct_m in g + beta * acc_m) / (n_g + beta)

on the profiling questions, ``acc_m`` the expert's global profiling accuracy. Relative reliability
changes with difficulty: on MATH-500 a model that is as good as the best on level 1 can be far behind on
level 5. ``beta`` (pseudo-observations) is a config value or, given several, the one whose vote is most
accurate in an inner stratified cross-validation on the profiling questions (the vote of every expert,
weighted and family-deduplicated as configured; ties go to the first listed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from orchestrator.folds import stratified_folds
from orchestrator.voting.profiling_data import ProfilingData, QueryBatch
from orchestrator.voting.reliability import FREE_FORM_OPTIONS, logodds_weight_matrix
from orchestrator.voting.slots import correct_slots, is_right, one_hot, plurality, slot_table

VoteFeature = Literal["options", "answer_statement"]


class VoteConfig(BaseModel):
    """How a weighted or stacked vote weighs the recruited experts (a method's ``vote:`` block)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    accuracy: Literal["auto", "local", "group", "global"] = Field(
        default="auto",
        description="Where vote weights come from: auto = the policy's own estimate (kNN policies) else "
        "kNN local accuracy; local = kNN (the method's `reliability`); group = accuracy within the "
        "question's `group_by` group, shrunk to global; global = profiling accuracy.",
    )
    group_by: str = Field(default="category", description="accuracy: group: the metadata field to group by.")
    betas: list[float] = Field(
        default_factory=lambda: [10.0],
        min_length=1,
        description="accuracy: group: shrinkage pseudo-counts; several: chosen by inner CV on the profiling "
        "split.",
    )
    inner_folds: int = Field(default=5, ge=2, description="Inner CV folds (when `betas` has several).")
    inner_seeds: int = Field(default=2, ge=1, description="Inner CV repetitions (fold seeds 100, 101...).")
    family_max: bool = Field(
        default=False,
        description="One vote per model family and answer: the family's heaviest (experts' `family:`).",
    )
    free_form_options: int = Field(
        default=FREE_FORM_OPTIONS,
        ge=2,
        description="One-coin weight log(a (K-1) / (1-a)) uses K = this for free-form answers; 2 gives "
        "logit(a): an expert at or below 50% gets no vote.",
    )
    features: list[VoteFeature] = Field(
        default_factory=list,
        description="stacked: extra features; options = each option's length, longest, numeric and "
        "middle-value, none/all-of-the-above flags; answer_statement = the response states its answer "
        "explicitly ('the answer is (X)').",
    )


@dataclass(frozen=True, kw_only=True)
class GroupAccuracy:
    """Fitted per-group accuracies (an :class:`~orchestrator.policies.base.AccuracyModel`).

    Attributes:
        group_by: the metadata field (None: global accuracy for every question).
        beta: the shrinkage pseudo-counts used.
        by_group: group -> (m,) accuracies.
        prior: (m,) global accuracies (questions of unseen groups).
    """

    group_by: str | None
    beta: float
    by_group: dict[str, np.ndarray]
    prior: np.ndarray

    @property
    def kind(self) -> str:
        return "global" if self.group_by is None else "group"

    def for_queries(self, queries: QueryBatch) -> np.ndarray:
        groups = queries.meta(self.group_by) if self.group_by is not None else [None] * len(queries)
        return self.for_groups(groups)

    def for_groups(self, groups: Sequence[str | None]) -> np.ndarray:
        """(q, m) accuracies of questions of these groups."""
        return np.array([self.by_group.get(g, self.prior) if g is not None else self.prior for g in groups])


def fit_group_accuracy(
    correct: np.ndarray, groups: Sequence[str | None], beta: float, group_by: str | None
) -> GroupAccuracy:
    """Per-group accuracies shrunk to the global ones with ``beta`` pseudo-counts."""
    c = np.asarray(correct, dtype=float)
    prior = c.mean(axis=0) if len(c) else np.zeros(c.shape[1])
    labels = np.array([str(g) for g in groups])
    by_group = {}
    if group_by is not None:
        for g in sorted({str(x) for x in groups if x is not None}):
            rows = labels == g
            by_group[g] = (c[rows].sum(axis=0) + beta * prior) / (rows.sum() + beta)
    return GroupAccuracy(group_by=group_by, beta=beta, by_group=by_group, prior=prior)


def fit_vote_accuracy(profiling: ProfilingData, vote: VoteConfig) -> GroupAccuracy:
    """The group (or global) accuracy model of ``vote``, its beta chosen by inner CV when several.

    Raises:
        ValueError: ``accuracy`` is not ``group`` or ``global``.
    """
    if vote.accuracy == "global":
        return fit_group_accuracy(profiling.correct, [], 0.0, None)
    if vote.accuracy != "group":
        raise ValueError(f"fit_vote_accuracy: accuracy {vote.accuracy!r} is not group or global")
    groups = profiling.meta(vote.group_by)
    if all(g is None for g in groups):
        raise ValueError(f"vote.group_by {vote.group_by!r}: no profiling question has that metadata field")
    beta = vote.betas[0] if len(vote.betas) == 1 else choose_beta(profiling, vote)
    return fit_group_accuracy(profiling.correct, groups, beta, vote.group_by)


def choose_beta(profiling: ProfilingData, vote: VoteConfig) -> float:
    """The beta of ``vote.betas`` whose all-expert vote is most accurate in inner CV (ties: first listed).

    Folds are stratified by the questions' ``category`` and seeded 100, 101, ... (fixed, so the choice
    does not depend on the caller's seed).
    """
    slots = slot_table(profiling.answers, profiling.n_options)
    onehot = one_hot(slots)
    good = correct_slots(slots, profiling.correct, onehot.shape[2])
    groups = profiling.meta(vote.group_by)
    strata = [c or "" for c in profiling.meta("category")]
    families = _family_index(profiling) if vote.family_max else None
    right = np.zeros(len(vote.betas))
    for seed in range(vote.inner_seeds):
        fold = stratified_folds(strata, vote.inner_folds, 100 + seed)
        for f in range(vote.inner_folds):
            train, held = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
            rank = _rank(profiling.correct[train])
            for b, beta in enumerate(vote.betas):
                acc = fit_group_accuracy(
                    profiling.correct[train], [groups[i] for i in train], beta, vote.group_by
                ).for_groups([groups[i] for i in held])
                w = logodds_weight_matrix(acc, profiling.n_options[held], vote.free_form_options)
                pred = plurality(onehot[held], w, rank, families)
                right[b] += is_right(good[held], pred).sum()
    return float(vote.betas[int(np.argmax(right))])


def _rank(correct: np.ndarray) -> np.ndarray:
    """(m,) rank of each expert by accuracy (0 best; ties: pool order)."""
    order = np.argsort(-np.asarray(correct, dtype=float).mean(axis=0), kind="stable")
    rank = np.empty(len(order), dtype=int)
    rank[order] = np.arange(len(order))
    return rank


def _family_index(profiling: ProfilingData) -> np.ndarray:
    names = profiling.family_names
    index = {f: i for i, f in enumerate(dict.fromkeys(names))}
    return np.array([index[f] for f in names])
