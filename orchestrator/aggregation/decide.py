"""The one decision function: recruited experts' answers -> a final answer, for the bench and live runs.

A :class:`Decider` is fitted once per method (on the profiling split when the vote needs it) and then
decides one question at a time, so the bench (all questions at once), a live run (after the expert
stage) and the Ray stream (each question as soon as its last expert answered) all decide alike:

1. consensus skip: two or more recruited experts gave the same answer and nobody disagreed -> that answer;
2. the method's registered aggregator (:mod:`orchestrator.aggregation.base`): ``majority`` (one vote per
   expert), ``weighted`` (log-odds of each expert's accuracy on the question), ``stacked`` (the
   conditional-logit vote fitted on the profiling split), or one that ``needs_model`` (``llm``): not
   decided here; the caller asks the pool's aggregator model and reads its answer with
   :meth:`Decider.from_aggregator` (falling back to the majority vote when the reply has no answer).

Free-form answers (no options) vote and agree by math-verify equivalence class, not by string. Ties go
to the best-ranked expert (the first in recruitment order).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from common.errors import ConfigError
from common.records import CODE_ANSWERS
from orchestrator.aggregation.base import (
    AggregationSettings,
    Aggregator,
    Decided,
    Question,
    aggregator_registry,
)
from orchestrator.answers import answer_equivalence
from orchestrator.policies import ProfilingData, QueryBatch, RoutingPolicy
from orchestrator.policies.base import AccuracyModel
from orchestrator.policies.reliability import LocalReliability, ReliabilityConfig
from orchestrator.voting.calibration import fit_vote_accuracy
from orchestrator.voting.reliability import logodds_weight
from orchestrator.voting.vote import Ballot, Same, consensus, majority_vote

__all__ = ["Decided", "Decider", "Question"]


class Decider:
    """Decides questions for one method.

    Args:
        method: the method (its registered aggregator, consensus skip, vote settings): a
            :class:`~orchestrator.method.MethodConfig`.
        policy: the fitted policy (its accuracy estimate is reused when it has one).
        profiling: the profiling split (needed by weighted and stacked votes).
        profiling_gold: the profiling split's gold answers (needed by the stacked vote).

    Raises:
        ConfigError: a stacked-vote feature needs data the profiling split lacks (response texts,
            options), or a group-calibrated vote's group field is missing.
    """

    def __init__(
        self,
        method: AggregationSettings,
        policy: RoutingPolicy,
        profiling: ProfilingData | None,
        profiling_gold: Sequence[str] | None = None,
    ) -> None:
        self.method = method
        self.aggregator: Aggregator = aggregator_registry.get(method.aggregation)(method)
        self.reliability: AccuracyModel | None = None
        self._col: dict[str, int] = {}
        self.families: dict[str, str] = {}
        if profiling is not None:
            self.families = dict(zip(profiling.experts, profiling.family_names, strict=True))
        if self.aggregator.needs_local_accuracy and profiling is not None:
            self.reliability = _accuracy_model(method, policy, profiling)
            self._col = {e: j for j, e in enumerate(profiling.experts)}
        if profiling is not None:
            self.aggregator.fit(profiling, profiling_gold, self.reliability)

    @property
    def features(self) -> tuple[str, ...]:
        """The aggregator's extra features (what :class:`Question` must carry)."""
        return self.aggregator.features

    def local_accuracy(self, queries: QueryBatch) -> np.ndarray | None:
        """(q, m) accuracies of the profiled experts on the queries (None if the vote needs none)."""
        return None if self.reliability is None else self.reliability.for_queries(queries)

    def accuracy_row(self, acc: np.ndarray | None, i: int) -> dict[str, float] | None:
        """Question ``i``'s row of :meth:`local_accuracy`, keyed by expert."""
        return None if acc is None else {e: float(acc[i, j]) for e, j in self._col.items()}

    def decide(self, q: Question) -> Decided | None:
        """The final answer, or None when the aggregator model must answer (``needs_model``)."""
        experts, answers = q.experts, q.answers
        same = _equivalence(q.n_options)
        ballots = [
            Ballot(expert=e, answer=a, family=self.families.get(e))
            for e, a in zip(experts, answers, strict=True)
        ]
        if q.n_options == CODE_ANSWERS:  # programs are picked, never voted: the best-ranked answer
            return Decided(next((a for a in answers if a is not None), None), "pick")
        if self.method.consensus_skip:
            agreed = consensus(ballots, same=same)
            if agreed is not None:
                return Decided(agreed, "consensus")
        return self.aggregator.decide(q, ballots, same)

    def from_aggregator(self, q: Question, aggregator_answer: str | None, text: str | None) -> Decided:
        """The LLM aggregator's answer; the experts' majority when its reply had no parsable answer."""
        if aggregator_answer is not None:
            return Decided(aggregator_answer, "llm", aggregator_called=True, text=text)
        ballots = [Ballot(expert=e, answer=a) for e, a in zip(q.experts, q.answers, strict=True)]
        vote = majority_vote(ballots, same=_equivalence(q.n_options))
        return Decided(vote, "llm", aggregator_called=True, text=text, fallback=True)

    def confidence(self, q: Question, answer: str | None) -> float:
        """How sure the method's vote is of ``answer`` (0-1): the aggregator's own probability of it (the
        stacked vote's), the weighted vote's share of the log-odds weight, or the share of experts that
        voted for it."""
        if answer is None or not any(a is not None for a in q.answers):
            return 0.0
        own = self.aggregator.confidence(q, answer)
        if own is not None:
            return own
        same = _equivalence(q.n_options) or (lambda a, b: a == b)
        weighted = self.aggregator.needs_local_accuracy and q.local_accuracy is not None
        if weighted:
            assert q.local_accuracy is not None
            acc = np.array([q.local_accuracy[e] for e in q.experts])
            w = logodds_weight(acc, q.n_options, self.method.vote.free_form_options)
        else:
            w = np.ones(len(q.answers))
        totals: list[tuple[str, float]] = []
        for a, x in zip(q.answers, w, strict=True):
            if a is None:
                continue
            k = next((i for i, (b, _) in enumerate(totals) if same(a, b)), None)
            if k is None:
                totals.append((a, float(x)))
            else:
                totals[k] = (totals[k][0], totals[k][1] + float(x))
        if not weighted:  # the share of votes
            mine = sum(x for b, x in totals if same(answer, b))
            return float(mine / len(q.answers))
        z = np.array([x for _, x in totals])
        p = np.exp(z - z.max())
        mine = sum(float(pi) for (b, _), pi in zip(totals, p, strict=True) if same(answer, b))
        return mine / float(p.sum())


def _equivalence(n_options: int) -> Same | None:
    """How answers are compared in votes: by math-verify class for math, by string otherwise."""
    return answer_equivalence(n_options)


def _accuracy_model(
    method: AggregationSettings, policy: RoutingPolicy, profiling: ProfilingData
) -> AccuracyModel:
    """The vote's accuracy estimate: the policy's own when it matches the vote config, else fitted here."""
    vote = method.vote
    own = policy.reliability()
    if own is not None and (vote.accuracy == "auto" or own.kind == vote.accuracy):
        return own
    if vote.accuracy in ("group", "global"):
        try:
            return fit_vote_accuracy(profiling, vote)
        except ValueError as exc:
            raise ConfigError(f"method {method.name!r}: {exc}") from None
    r = method.reliability
    return LocalReliability(ReliabilityConfig(r.neighbours, r.alpha, r.tau)).fit(
        profiling.embeddings, profiling.correct
    )
