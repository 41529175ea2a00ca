"""Local reliability: each expert's chance of answering a question right, from its nearest profiled questions.

For a query q and expert m, with the K profiling questions nearest to q (cosine similarity s_i of their
embeddings), weights w_i = exp((s_i - max s) / tau) and m's correctness c_i on them::

    a_m(q) = (sum_i w_i c_i + alpha * acc_m) / (sum_i w_i + alpha)

i.e. a similarity-weighted accuracy shrunk toward the expert's global accuracy ``acc_m`` with ``alpha``
pseudo-observations, so an expert never looks perfect on a handful of neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orchestrator.policies.base import QueryBatch


@dataclass(frozen=True, slots=True)
class ReliabilityConfig:
    """kNN settings: neighbours, shrinkage pseudo-counts and similarity temperature."""

    neighbours: int = 30
    alpha: float = 10.0
    tau: float = 0.05

    def __post_init__(self) -> None:
        if self.neighbours < 1 or self.alpha < 0 or self.tau <= 0:
            raise ValueError(f"reliability config out of range: {self}")


class LocalReliability:
    """Estimates per-query expert accuracy by shrunk, similarity-weighted kNN over profiling questions."""

    kind = "local"

    def __init__(self, config: ReliabilityConfig = ReliabilityConfig()) -> None:
        self.config = config
        self._emb: np.ndarray | None = None
        self._correct: np.ndarray | None = None
        self._global: np.ndarray | None = None

    def fit(self, embeddings: np.ndarray, correct: np.ndarray) -> LocalReliability:
        """Remember the profiling questions' embeddings (n, d) and correctness (n, m)."""
        self._emb = np.asarray(embeddings, dtype=np.float32)
        self._correct = np.asarray(correct, dtype=float)
        self._global = self._correct.mean(axis=0)
        return self

    @property
    def global_accuracy(self) -> np.ndarray:
        if self._global is None:
            raise RuntimeError("LocalReliability: call fit() first")
        return self._global

    def for_queries(self, queries: QueryBatch) -> np.ndarray:
        """(q, m) local accuracies of the queries (from their embeddings)."""
        return self.estimate(queries.embeddings)

    def estimate(self, queries: np.ndarray, *, exclude_self: bool = False) -> np.ndarray:
        """(q, m) local accuracies for query embeddings (q, d).

        Args:
            queries: L2-normalised query embeddings.
            exclude_self: the queries are the profiling questions themselves, in order; leave each out of
                its own neighbourhood (leave-one-out estimates for fitting downstream models).
        """
        if self._emb is None or self._correct is None or self._global is None:
            raise RuntimeError("LocalReliability: call fit() first")
        cfg = self.config
        sims = np.asarray(queries, dtype=np.float32) @ self._emb.T
        if exclude_self:
            np.fill_diagonal(sims, -np.inf)
        k = min(cfg.neighbours, self._emb.shape[0] - int(exclude_self))
        idx = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        near = np.take_along_axis(sims, idx, axis=1).astype(float)
        w = np.exp((near - near.max(axis=1, keepdims=True)) / cfg.tau)
        num = np.einsum("qk,qkm->qm", w, self._correct[idx]) + cfg.alpha * self._global
        den = w.sum(axis=1, keepdims=True) + cfg.alpha
        return np.asarray(num / den, dtype=float)
