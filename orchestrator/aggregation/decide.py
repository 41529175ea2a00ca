"""The one decision function: recruited experts' answers -> a final answer, for the bench and live runs.

A :class:`Decider` is fitted once per method (on the profiling split when the vote needs it) and then
decides one question at a time, so the bench (all questions at once), a live run (after the expert
stage) and the Ray stream (each question as soon as its last expert answered) all decide alike:

1. consensus skip: two or more recruited experts gave the same answer and nobody disagreed -> that answer;
2. ``majority``: one vote per expert; ``weighted``: log-odds of each expert's local accuracy;
   ``stacked``: the conditional-logit vote fitted on the profiling split (letters only; free-form answers
   fall back to ``weighted``);
3. ``llm``: not decided here; the caller asks the pool's aggregator model and reads its answer with
   :meth:`Decider.from_aggregator` (falling back to the majority vote when the reply has no answer).

Ties go to the best-ranked expert (the first in recruitment order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from common.records import LETTERS
from orchestrator.aggregation.reliability import logodds_weight
from orchestrator.aggregation.stacked import StackedVote
from orchestrator.aggregation.vote import Ballot, consensus, majority_vote, weighted_vote
from orchestrator.method import MethodConfig
from orchestrator.policies import ProfilingData, RoutingPolicy
from orchestrator.policies.reliability import LocalReliability, ReliabilityConfig


@dataclass(frozen=True, slots=True)
class Decided:
    """A question's final answer and how it was reached.

    Attributes:
        answer: the final answer (None when nobody answered).
        how: ``consensus``, ``majority``, ``weighted``, ``stacked`` or ``llm``.
        aggregator_called: the LLM aggregator produced (or was asked for) this answer.
        text: the aggregator's reply, when it was called.
        fallback: the aggregator's reply had no parsable answer; the experts' majority was used.
    """

    answer: str | None
    how: str
    aggregator_called: bool = False
    text: str | None = None
    fallback: bool = False


@dataclass(frozen=True, slots=True)
class Question:
    """What the decision needs of one question.

    Attributes:
        experts: the recruited experts in recruitment order. An expert the paper's policy drew twice
            appears twice and votes twice (the paper's two samples; identical under greedy decoding).
        answers: each expert's parsed answer (None: abstained), aligned with ``experts``.
        n_options: option count (0 for free-form answers).
        local_accuracy: each expert's local accuracy on this question (weighted/stacked votes).
    """

    experts: Sequence[str]
    answers: Sequence[str | None]
    n_options: int
    local_accuracy: dict[str, float] | None = None


class Decider:
    """Decides questions for one method.

    Args:
        method: the method (its aggregation, consensus skip, reliability and stacked settings).
        policy: the fitted policy (its local accuracy estimate is reused when it has one).
        profiling: the profiling split (needed by weighted and stacked votes).
        profiling_gold: the profiling split's gold answers (needed by the stacked vote).
    """

    def __init__(
        self,
        method: MethodConfig,
        policy: RoutingPolicy,
        profiling: ProfilingData | None,
        profiling_gold: Sequence[str] | None = None,
    ) -> None:
        self.method = method
        self.reliability: LocalReliability | None = None
        self.stacked: StackedVote | None = None
        self._col: dict[str, int] = {}
        if method.aggregation in ("weighted", "stacked") and profiling is not None:
            self.reliability = policy.reliability() or _fit_reliability(method, profiling)
            self._col = {e: j for j, e in enumerate(profiling.experts)}
        free_form = profiling is not None and bool((np.asarray(profiling.n_options) == 0).any())
        if method.aggregation == "stacked" and profiling is not None and not free_form:
            if profiling_gold is None:
                raise ValueError("the stacked vote needs the profiling split's gold answers")
            self.stacked = _fit_stacked(method, self.reliability, profiling, profiling_gold)

    def local_accuracy(self, embeddings: np.ndarray) -> np.ndarray | None:
        """(q, m) local accuracies of the profiled experts for question embeddings (None if not needed)."""
        return None if self.reliability is None else self.reliability.estimate(embeddings)

    def accuracy_row(self, acc: np.ndarray | None, i: int) -> dict[str, float] | None:
        """Question ``i``'s row of :meth:`local_accuracy`, keyed by expert."""
        return None if acc is None else {e: float(acc[i, j]) for e, j in self._col.items()}

    def decide(self, q: Question) -> Decided | None:
        """The final answer, or None when the LLM aggregator must answer (``aggregation: llm``)."""
        experts, answers = q.experts, q.answers
        ballots = [Ballot(e, a) for e, a in zip(experts, answers, strict=True)]
        if self.method.consensus_skip:
            agreed = consensus(ballots)
            if agreed is not None:
                return Decided(agreed, "consensus")
        agg = self.method.aggregation
        if agg == "llm":
            return None
        if agg == "majority" or q.local_accuracy is None:
            return Decided(majority_vote(ballots), "majority")
        if agg == "stacked" and self.stacked is not None and q.n_options > 0:
            return Decided(self._stacked(experts, answers, q), "stacked")
        w = logodds_weight(np.array([q.local_accuracy[e] for e in experts]), q.n_options)
        weighted = [Ballot(b.expert, b.answer, float(x)) for b, x in zip(ballots, w, strict=True)]
        return Decided(weighted_vote(weighted), "weighted")

    def from_aggregator(self, q: Question, aggregator_answer: str | None, text: str | None) -> Decided:
        """The LLM aggregator's answer; the experts' majority when its reply had no parsable answer."""
        if aggregator_answer is not None:
            return Decided(aggregator_answer, "llm", True, text)
        vote = majority_vote([Ballot(e, a) for e, a in zip(q.experts, q.answers, strict=True)])
        return Decided(vote, "llm", True, text, fallback=True)

    def confidence(self, q: Question, answer: str | None) -> float:
        """How sure the method's vote is of ``answer`` (0-1): the stacked vote's probability of it, the
        weighted vote's share of the log-odds weight, or the share of experts that voted for it."""
        if answer is None:
            return 0.0
        votes = [a for a in q.answers if a is not None]
        if not votes:
            return 0.0
        agg = self.method.aggregation
        if agg == "stacked" and self.stacked is not None and q.n_options > 0 and q.local_accuracy is not None:
            return self._stacked_posterior(q, answer)
        if agg in ("weighted", "stacked") and q.local_accuracy is not None:
            w = logodds_weight(np.array([q.local_accuracy[e] for e in q.experts]), q.n_options)
            totals: dict[str, float] = {}
            for a, x in zip(q.answers, w, strict=True):
                if a is not None:
                    totals[a] = totals.get(a, 0.0) + float(x)
            z = np.array(list(totals.values()))
            p = np.exp(z - z.max())
            return float(p[list(totals).index(answer)] / p.sum()) if answer in totals else 0.0
        return sum(1 for a in votes if a == answer) / len(q.answers)

    def _stacked_posterior(self, q: Question, answer: str) -> float:
        assert self.stacked is not None and q.local_accuracy is not None
        m = len(self._col)
        mask = np.zeros((1, m), dtype=bool)
        row: list[str | None] = [None] * m
        acc = np.zeros((1, m))
        for e, a in zip(q.experts, q.answers, strict=True):
            mask[0, self._col[e]], row[self._col[e]] = True, a
        for e, j in self._col.items():
            acc[0, j] = q.local_accuracy[e]
        probs = self.stacked.posterior([row], mask, acc, np.array([q.n_options]))[0]
        return float(probs[LETTERS.index(answer)]) if answer in LETTERS else 0.0

    def _stacked(self, experts: Sequence[str], answers: Sequence[str | None], q: Question) -> str | None:
        assert self.stacked is not None and q.local_accuracy is not None
        m = len(self._col)
        mask = np.zeros((1, m), dtype=bool)
        row: list[str | None] = [None] * m
        acc = np.zeros((1, m))
        for e, a in zip(experts, answers, strict=True):
            j = self._col[e]
            mask[0, j], row[j] = True, a
        for e, j in self._col.items():
            acc[0, j] = q.local_accuracy[e]
        return self.stacked.decide([row], mask, acc, np.array([q.n_options]))[0]


def _fit_reliability(method: MethodConfig, profiling: ProfilingData) -> LocalReliability:
    r = method.reliability
    return LocalReliability(ReliabilityConfig(r.neighbours, r.alpha, r.tau)).fit(
        profiling.embeddings, profiling.correct
    )


def _fit_stacked(
    method: MethodConfig,
    reliability: LocalReliability | None,
    profiling: ProfilingData,
    gold: Sequence[str],
) -> StackedVote:
    """Fit on profiling questions with leave-one-out accuracies and each question's own top-k experts."""
    assert reliability is not None
    loo = reliability.estimate(profiling.embeddings, exclude_self=True)
    k = min(method.k, len(profiling.experts))
    mask = np.zeros_like(loo, dtype=bool)
    np.put_along_axis(mask, np.argsort(-loo, axis=1, kind="stable")[:, :k], True, axis=1)
    return StackedVote(len(profiling.experts), method.l2).fit(
        profiling.answers, mask, loo, gold, profiling.n_options
    )
