"""Top-k with abstention fallback: the k best experts; one that gives no answer is replaced by the next.

Experts are ranked by profiling accuracy. An expert whose answer cannot be parsed (it abstained, or its
output has no answer) is certainly wrong for that question, so calling the next-ranked expert instead can
only help: with k = 1 this is the best single expert, never less accurate on any question, at a little
more than one call. On GPQA Diamond it is our method: no learned combination beats DeepSeek-V3 alone
there, but it abstains on 2 of 198 questions, where the next expert answers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import Field

from common.records import RoutingDecision
from orchestrator.policies.base import (
    AnswerFetcher,
    PolicyOptions,
    ProfilingData,
    QueryBatch,
    RoutingPolicy,
    policy_registry,
    ranked_decision,
)


class FallbackOptions(PolicyOptions):
    """How many experts a question may call in all (None: the whole pool)."""

    max_calls: int | None = Field(default=None, ge=1, description="Most experts called per question.")


@policy_registry.register("top_k_fallback")
class TopKFallbackPolicy(RoutingPolicy):
    """Call the k best experts; replace each that abstains by the next-ranked one."""

    name = "top_k_fallback"
    Options = FallbackOptions
    interactive = True  # extend() needs the first answers

    def __init__(self, k: int = 1, max_calls: int | None = None) -> None:
        super().__init__(k)
        if max_calls is not None and max_calls < k:
            raise ValueError(
                f"policy 'top_k_fallback' (stage=recruit): max_calls={max_calls} must be >= k={k}"
            )
        self.max_calls = max_calls

    def _fit(self, profiling: ProfilingData) -> None:
        self._acc = profiling.global_accuracy

    def _recruit(self, queries: QueryBatch, rng: np.random.Generator) -> list[RoutingDecision]:
        why = f"top-{self.k} by profiling accuracy; an abstaining expert is replaced by the next"
        return [ranked_decision(i, self.experts, self._acc, self.k, self.name, why) for i in queries.ids]

    def extend(
        self, decisions: Sequence[RoutingDecision], n_options: Sequence[int], fetch: AnswerFetcher
    ) -> list[RoutingDecision]:
        """Call the next-ranked experts, one round per batch, until k experts answered (or the limit)."""
        limit = min(self.max_calls or len(self.experts), len(self.experts))
        current = {d.instance_id: list(d.experts) for d in decisions}
        ranking = {d.instance_id: [s.expert for s in d.scores] for d in decisions}
        answers = dict(fetch([(d.instance_id, e) for d in decisions for e in d.experts]))
        while True:
            pending = []
            for iid, experts in current.items():
                answered = sum(answers[(iid, e)] is not None for e in experts)
                for e in ranking[iid][len(experts) : min(len(experts) + self.k - answered, limit)]:
                    experts.append(e)
                    pending.append((iid, e))
            if not pending:
                break
            answers.update(fetch(pending))
        return [d.model_copy(update={"experts": current[d.instance_id]}) for d in decisions]
