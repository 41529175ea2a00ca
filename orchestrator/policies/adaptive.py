"""Adaptive-k recruitment: add experts one at a time only while the answer is still likely wrong.

Experts are ranked by local accuracy (as ``knn_top_k``). Every instance starts with the ``k`` best; after
each round, an instance whose current reliability-weighted vote has a posterior below ``threshold``
(one-coin model, see :mod:`orchestrator.voting.reliability`) recruits the next-ranked expert, up to
``k_max``. Each round is one batched stage, so every expert still loads once per round.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import Field

from common.records import RoutingDecision
from orchestrator.policies.base import AnswerFetcher, policy_registry
from orchestrator.policies.knn import KNNOptions, KNNTopKPolicy
from orchestrator.voting.reliability import answer_posterior, logodds_weight


class AdaptiveOptions(KNNOptions):
    """kNN settings plus how far to extend: at most ``k_max`` experts, stop at posterior ``threshold``."""

    k_max: int = Field(default=7, ge=1, description="Most experts per question.")
    threshold: float = Field(default=0.9, gt=0, le=1, description="Posterior of the vote to stop at.")


@policy_registry.register("adaptive_k")
class AdaptiveKPolicy(KNNTopKPolicy):
    """Start with the k locally best experts and extend uncertain instances up to ``k_max``."""

    name = "adaptive_k"
    Options = AdaptiveOptions
    interactive = True  # recruits in rounds: extend() needs the answers of the previous round

    def __init__(
        self,
        k: int = 3,
        k_max: int = 7,
        threshold: float = 0.9,
        neighbours: int = 30,
        alpha: float = 10.0,
        tau: float = 0.05,
    ) -> None:
        super().__init__(k, neighbours, alpha, tau)
        if k_max < k:
            raise ValueError(f"policy 'adaptive_k' (stage=recruit): k_max={k_max} must be >= k={k}")
        if not 0 < threshold <= 1:
            raise ValueError(f"policy 'adaptive_k' (stage=recruit): threshold={threshold} must be in (0, 1]")
        self.k_max = k_max
        self.threshold = threshold

    def extend(
        self,
        decisions: Sequence[RoutingDecision],
        n_options: Sequence[int],
        fetch: AnswerFetcher,
    ) -> list[RoutingDecision]:
        """Run the adaptive rounds.

        Args:
            decisions: this policy's initial decisions (scores ranked, ``k`` experts recruited).
            n_options: option count per instance (0: free-form).
            fetch: answers the (instance, expert) pairs it is given, one batched stage per call.

        Returns:
            The final decisions, with every expert that was asked.
        """
        answers: dict[tuple[str, str], str | None] = {}
        current = {d.instance_id: list(d.experts) for d in decisions}
        pending = [(d.instance_id, e) for d in decisions for e in d.experts]
        by_id = {d.instance_id: (d, n) for d, n in zip(decisions, n_options, strict=True)}
        while pending:
            answers.update(fetch(pending))
            pending = []
            for iid, experts in current.items():
                d, n_opt = by_id[iid]
                if len(experts) >= min(self.k_max, len(d.scores)):
                    continue
                acc = {s.expert: s.score for s in d.scores}
                ballots = [answers[(iid, e)] for e in experts]
                weights = logodds_weight(np.array([acc[e] for e in experts]), n_opt)
                post = answer_posterior(ballots, weights, n_opt)
                if post and max(post.values()) >= self.threshold:
                    continue
                nxt = d.scores[len(experts)].expert
                experts.append(nxt)
                pending.append((iid, nxt))
        return [
            d.model_copy(update={"experts": current[d.instance_id], "why": d.why + "; adaptive"})
            for d in decisions
        ]
