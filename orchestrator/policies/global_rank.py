"""Global ranking: the same experts for every question, best profiling accuracy first.

With k=1 this is the best single expert; with k=3 the top-3 global majority baseline; with k equal to
the pool size, all experts. ``group_top_k`` ranks by the accuracy on the question's group instead (e.g.
its ``category``: the best expert per subject), shrunk toward the global accuracy.
"""

from __future__ import annotations

import numpy as np

from common.records import RoutingDecision
from orchestrator.policies.base import (
    ProfilingData,
    QueryBatch,
    RoutingPolicy,
    policy_registry,
    ranked_decision,
)
from orchestrator.voting.calibration import GroupAccuracy, VoteConfig, fit_vote_accuracy


@policy_registry.register("global_top_k")
class GlobalTopKPolicy(RoutingPolicy):
    """Recruit the k experts with the best profiling accuracy (ties: pool order)."""

    name = "global_top_k"
    needs_profiles = False  # without profiles every expert ties: the first k in pool order

    def _fit(self, profiling: ProfilingData) -> None:
        self._acc = profiling.global_accuracy

    def _recruit(self, queries: QueryBatch, rng: np.random.Generator) -> list[RoutingDecision]:
        why = f"top-{self.k} by profiling accuracy"
        return [ranked_decision(i, self.experts, self._acc, self.k, self.name, why) for i in queries.ids]


@policy_registry.register("group_top_k")
class GroupTopKPolicy(RoutingPolicy):
    """Recruit the k experts with the best accuracy on the question's group (``vote.group_by``).

    Per-group accuracies are shrunk toward the global ones with ``vote.betas`` pseudo-counts (one beta,
    or the one inner CV picks); a question of a group the profiling data lacks gets the global ranking.
    """

    name = "group_top_k"
    uses_vote = True
    provides_accuracy = True

    def __init__(self, k: int = 1, vote: VoteConfig | None = None) -> None:
        super().__init__(k)
        self.vote = vote or VoteConfig(accuracy="group", group_by="category", betas=[10.0])
        if self.vote.accuracy != "group":
            raise ValueError("policy 'group_top_k' (stage=recruit): vote.accuracy must be group")
        self._accuracy: GroupAccuracy | None = None

    def _fit(self, profiling: ProfilingData) -> None:
        self._accuracy = fit_vote_accuracy(profiling, self.vote)

    def reliability(self) -> GroupAccuracy | None:
        return self._accuracy

    def _recruit(self, queries: QueryBatch, rng: np.random.Generator) -> list[RoutingDecision]:
        assert self._accuracy is not None
        acc = self._accuracy.for_queries(queries)
        why = f"top-{self.k} by accuracy on the question's {self.vote.group_by}"
        return [
            ranked_decision(iid, self.experts, acc[i], self.k, self.name, why)
            for i, iid in enumerate(queries.ids)
        ]


@policy_registry.register("random_k")
class RandomKPolicy(RoutingPolicy):
    """Recruit k distinct experts uniformly at random (seeded)."""

    name = "random_k"
    needs_profiles = False

    def _recruit(self, queries: QueryBatch, rng: np.random.Generator) -> list[RoutingDecision]:
        m = len(self.experts)
        k = min(self.k, m)
        out = []
        for iid in queries.ids:
            pick = rng.permutation(m)[:k]
            scores = np.zeros(m)
            scores[pick] = np.arange(k, 0, -1)
            out.append(ranked_decision(iid, self.experts, scores, k, self.name, f"{k} experts at random"))
        return out
