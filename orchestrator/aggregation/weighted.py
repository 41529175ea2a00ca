"""``weighted``: each vote weighs the log-odds of its expert's accuracy on the question.

The accuracy is kNN local, per group or global (the method's ``vote`` config), optionally one vote per
model family (``vote.family_max``). Without accuracies (no profiling data) it is the majority vote.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from orchestrator.aggregation.base import Aggregator, Decided, Question, aggregator_registry
from orchestrator.voting.reliability import logodds_weight
from orchestrator.voting.vote import Ballot, Same, majority_vote, weighted_vote


@aggregator_registry.register("weighted")
class WeightedAggregator(Aggregator):
    """The reliability-weighted vote (the Bayes decision for independent experts)."""

    name = "weighted"
    needs_local_accuracy = True

    def decide(self, q: Question, ballots: Sequence[Ballot], same: Same | None) -> Decided | None:
        if q.local_accuracy is None:
            return Decided(majority_vote(ballots, same=same), "majority")
        return self._weighted(q, ballots, same)

    def _weighted(self, q: Question, ballots: Sequence[Ballot], same: Same | None) -> Decided:
        assert q.local_accuracy is not None
        vote = self.settings.vote
        acc = np.array([q.local_accuracy[e] for e in q.experts])
        w = logodds_weight(acc, q.n_options, vote.free_form_options)
        weighted = [
            Ballot(expert=b.expert, answer=b.answer, weight=float(x), family=b.family)
            for b, x in zip(ballots, w, strict=True)
        ]
        return Decided(weighted_vote(weighted, same=same, by_family=vote.family_max), "weighted")
