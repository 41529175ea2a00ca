"""Local-reliability recruitment: the k experts most likely to be right on this question.

Scores are the kNN local accuracies of :mod:`orchestrator.policies.reliability`; the decision's scores
carry them so reliability-weighted aggregation can use them as vote weights.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from common.records import RoutingDecision
from orchestrator.policies.base import (
    PolicyOptions,
    ProfilingData,
    QueryBatch,
    RoutingPolicy,
    policy_registry,
    ranked_decision,
)
from orchestrator.policies.reliability import LocalReliability, ReliabilityConfig


class KNNOptions(PolicyOptions):
    """Local accuracy settings (see :mod:`orchestrator.policies.reliability`)."""

    neighbours: int = Field(default=30, ge=1, description="Profiled questions nearest to the query.")
    alpha: float = Field(default=10.0, ge=0, description="Pseudo-counts shrinking toward global accuracy.")
    tau: float = Field(default=0.05, gt=0, description="Similarity temperature of neighbour weights.")


@policy_registry.register("knn_top_k")
class KNNTopKPolicy(RoutingPolicy):
    """Recruit the k experts with the highest local accuracy."""

    name = "knn_top_k"
    Options = KNNOptions
    needs_embeddings = True
    provides_accuracy = True

    def __init__(self, k: int = 5, neighbours: int = 30, alpha: float = 10.0, tau: float = 0.05) -> None:
        super().__init__(k)
        self._reliability = LocalReliability(ReliabilityConfig(neighbours, alpha, tau))

    def _fit(self, profiling: ProfilingData) -> None:
        self._reliability.fit(profiling.embeddings, profiling.correct)

    def reliability(self) -> LocalReliability:
        return self._reliability

    def local_accuracy(self, queries: QueryBatch) -> np.ndarray:
        return self._reliability.estimate(queries.embeddings)

    def _recruit(self, queries: QueryBatch, rng: np.random.Generator) -> list[RoutingDecision]:
        acc = self.local_accuracy(queries)
        why = f"top-{self.k} by local accuracy over {self._reliability.config.neighbours} nearest profiled"
        return [
            ranked_decision(iid, self.experts, acc[i], self.k, self.name, why)
            for i, iid in enumerate(queries.ids)
        ]
