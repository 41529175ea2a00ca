"""``majority``: one vote per recruited expert; ties go to the best-ranked expert's answer."""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator.aggregation.base import Aggregator, Decided, Question, aggregator_registry
from orchestrator.voting.vote import Ballot, Same, majority_vote


@aggregator_registry.register("majority")
class MajorityAggregator(Aggregator):
    """The plain majority vote: needs no model, no profiling data."""

    name = "majority"

    def decide(self, q: Question, ballots: Sequence[Ballot], same: Same | None) -> Decided | None:
        return Decided(majority_vote(ballots, same=same), "majority")
