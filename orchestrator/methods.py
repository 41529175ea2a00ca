"""A method = a recruitment policy + an aggregation rule, named in a bench config and evaluated together.

``evaluate_method`` runs a method on a batch of test questions given a way to fetch expert answers, so
the same code serves the replay benchmark (answers from the executed stage) and live runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from common.records import RoutingDecision
from orchestrator.aggregation.reliability import logodds_weight
from orchestrator.aggregation.stacked import StackedVote
from orchestrator.aggregation.vote import Ballot, majority_vote, weighted_vote
from orchestrator.policies import AdaptiveKPolicy, KNNTopKPolicy, ProfilingData, QueryBatch, RoutingPolicy
from orchestrator.policies.base import policy_registry
from orchestrator.policies.reliability import LocalReliability, ReliabilityConfig

AnswerFetcher = Callable[[list[tuple[str, str]]], Mapping[tuple[str, str], str | None]]


class MethodConfig(BaseModel):
    """One method of a benchmark: how experts are recruited and how their answers are combined."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    policy: Literal["global_top_k", "random_k", "paper", "skill_top_k", "knn_top_k", "adaptive_k"]
    k: int = Field(default=3, ge=1, description="Experts recruited per question (initial k for adaptive_k).")
    aggregation: Literal["majority", "weighted", "stacked"] = Field(
        default="majority",
        description="majority: one vote each; weighted: log-odds of local accuracy; stacked: fitted logit.",
    )
    neighbours: int = Field(default=30, ge=1, description="kNN neighbours for local accuracy.")
    alpha: float = Field(
        default=10.0, ge=0, description="Pseudo-counts shrinking local toward global accuracy."
    )
    tau: float = Field(default=0.05, gt=0, description="Similarity temperature of neighbour weights.")
    calibrated: bool = Field(default=False, description="skill_top_k: rank by calibrated skill accuracy.")
    k_max: int = Field(default=7, ge=1, description="adaptive_k: most experts per question.")
    threshold: float = Field(default=0.9, gt=0, le=1, description="adaptive_k: posterior to stop at.")
    l2: float = Field(default=1.0, ge=0, description="stacked: L2 penalty.")
    use_category: bool = Field(
        default=False,
        description="Add the dataset's category as a skill (a labelled variant, not for users).",
    )
    description: str = ""

    @model_validator(mode="after")
    def _check(self) -> MethodConfig:
        if self.policy == "adaptive_k" and self.k_max < self.k:
            raise ValueError(f"method {self.name!r}: k_max={self.k_max} must be >= k={self.k}")
        return self

    def build_policy(self) -> RoutingPolicy:
        """The configured policy, unfitted."""
        cls = policy_registry.get(self.policy)
        knn = {"neighbours": self.neighbours, "alpha": self.alpha, "tau": self.tau}
        if self.policy == "knn_top_k":
            return cls(k=self.k, **knn)  # type: ignore[call-arg]
        if self.policy == "adaptive_k":
            return cls(k=self.k, k_max=self.k_max, threshold=self.threshold, **knn)  # type: ignore[call-arg]
        if self.policy == "skill_top_k":
            return cls(k=self.k, calibrated=self.calibrated)  # type: ignore[call-arg]
        return cls(k=self.k)


@dataclass(frozen=True)
class MethodOutcome:
    """A method's decisions, expert answers and final answers on a batch."""

    decisions: list[RoutingDecision]
    expert_answers: list[dict[str, str | None]]
    final: list[str | None]

    @property
    def calls(self) -> list[int]:
        return [len(d.experts) for d in self.decisions]


def evaluate_method(
    cfg: MethodConfig,
    profiling: ProfilingData,
    profiling_gold: Sequence[str],
    queries: QueryBatch,
    fetch: AnswerFetcher,
    *,
    seed: int = 0,
) -> MethodOutcome:
    """Fit the method on profiling data, recruit for ``queries``, fetch answers and aggregate.

    Args:
        cfg: the method.
        profiling: every expert's profiling behaviour.
        profiling_gold: gold answers of the profiling questions (for the stacked vote).
        queries: the test questions.
        fetch: answers a list of (instance id, expert) pairs (one batched stage per call).
        seed: recruitment seed.
    """
    policy = cfg.build_policy().fit(profiling)
    decisions = policy.recruit(queries, seed=seed)
    n_opts = queries.n_options if queries.n_options is not None else np.zeros(len(queries), dtype=int)
    if isinstance(policy, AdaptiveKPolicy):
        decisions = policy.extend(decisions, [int(n) for n in n_opts], fetch)
    answers = fetch([(d.instance_id, e) for d in decisions for e in dict.fromkeys(d.experts)])
    per_instance = [{e: answers[(d.instance_id, e)] for e in d.experts} for d in decisions]
    final = _aggregate(cfg, policy, profiling, profiling_gold, queries, decisions, answers, n_opts)
    return MethodOutcome(decisions, per_instance, final)


def _local_accuracy(cfg: MethodConfig, policy: RoutingPolicy, profiling: ProfilingData) -> LocalReliability:
    if isinstance(policy, KNNTopKPolicy):
        return policy.reliability
    rel = LocalReliability(ReliabilityConfig(cfg.neighbours, cfg.alpha, cfg.tau))
    return rel.fit(profiling.embeddings, profiling.correct)


def _aggregate(
    cfg: MethodConfig,
    policy: RoutingPolicy,
    profiling: ProfilingData,
    profiling_gold: Sequence[str],
    queries: QueryBatch,
    decisions: list[RoutingDecision],
    answers: Mapping[tuple[str, str], str | None],
    n_opts: np.ndarray,
) -> list[str | None]:
    if cfg.aggregation == "majority":
        return [majority_vote([Ballot(e, answers[(d.instance_id, e)]) for e in d.experts]) for d in decisions]
    rel = _local_accuracy(cfg, policy, profiling)
    acc = rel.estimate(queries.embeddings)
    col = {e: j for j, e in enumerate(profiling.experts)}
    free_form = bool((np.asarray(profiling.n_options) == 0).any() or (np.asarray(n_opts) == 0).any())
    if cfg.aggregation == "weighted" or free_form:  # the stacked vote is over option letters only
        out = []
        for i, d in enumerate(decisions):
            w = logodds_weight(np.array([acc[i, col[e]] for e in d.experts]), int(n_opts[i]))
            out.append(
                weighted_vote(
                    [
                        Ballot(e, answers[(d.instance_id, e)], float(x))
                        for e, x in zip(d.experts, w, strict=True)
                    ]
                )
            )
        return out
    # stacked: fit on profiling questions with leave-one-out accuracies and each question's own top-k
    loo = rel.estimate(profiling.embeddings, exclude_self=True)
    k = min(cfg.k, len(profiling.experts))
    mask_tr = np.zeros_like(loo, dtype=bool)
    np.put_along_axis(mask_tr, np.argsort(-loo, axis=1, kind="stable")[:, :k], True, axis=1)
    stack = StackedVote(len(profiling.experts), cfg.l2).fit(
        profiling.answers, mask_tr, loo, profiling_gold, profiling.n_options
    )
    mask = np.zeros((len(decisions), len(profiling.experts)), dtype=bool)
    grid: list[list[str | None]] = []
    for i, d in enumerate(decisions):
        row: list[str | None] = [None] * len(profiling.experts)
        for e in d.experts:
            mask[i, col[e]] = True
            row[col[e]] = answers[(d.instance_id, e)]
        grid.append(row)
    return stack.decide(grid, mask, acc, n_opts)
