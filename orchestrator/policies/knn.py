"""Local-reliability recruitment: the k experts most likely to be right on this question.

Scores are the kNN local accuracies of :mod:`orchestrator.policies.reliability`; the decision's scores
carry them so reliability-weighted aggregation can use them as vote weights.
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
from orchestrator.policies.reliability import LocalReliability, ReliabilityConfig


@policy_registry.register("knn_top_k")
class KNNTopKPolicy(RoutingPolicy):
    """Recruit the k experts with the highest local accuracy."""

    name = "knn_top_k"

    def __init__(self, k: int = 5, neighbours: int = 30, alpha: float = 10.0, tau: float = 0.05) -> None:
        super().__init__(k)
        self.reliability = LocalReliability(ReliabilityConfig(neighbours, alpha, tau))

    def _fit(self, profiling: ProfilingData) -> None:
        self.reliability.fit(profiling.embeddings, profiling.correct)

    def local_accuracy(self, queries: QueryBatch) -> np.ndarray:
        return self.reliability.estimate(queries.embeddings)

    def _recruit(self, queries: QueryBatch, rng: np.random.Generator) -> list[RoutingDecision]:
        acc = self.local_accuracy(queries)
        why = f"top-{self.k} by local accuracy over {self.reliability.config.neighbours} nearest profiled"
        return [
            ranked_decision(iid, self.experts, acc[i], self.k, self.name, why)
            for i, iid in enumerate(queries.ids)
        ]
