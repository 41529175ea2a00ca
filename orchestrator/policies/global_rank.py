"""Global ranking: the same experts for every question, best profiling accuracy first.

With k=1 this is the best single expert; with k=3 the top-3 global majority baseline; with k equal to
the pool size, all experts.
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
