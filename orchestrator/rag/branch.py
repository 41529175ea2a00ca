"""A method fitted on one *book*: the experts' closed-book profiles, or their open-book (with passages) ones.

A closed-book expert and the same expert reading passages are different predictors, so each book has its
own policy, decider and local-accuracy estimate. Live runs and the bench route and decide through a
:class:`Branch`, and the gate reads its local accuracies.

Example::

    closed = fit_branch("closed", method, profiling, gold)
    opened = fit_branch("open", method, open_profiling, gold)
    decisions = closed.route(queries)
    acc = closed.accuracy(queries)                     # (q, m) local accuracies
    decided = closed.decide_rows(decisions, answers, closed.decider.local_accuracy(queries), n_options)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from common.records import RoutingDecision
from orchestrator.aggregation.decide import Decided, Decider, Question
from orchestrator.method import MethodConfig
from orchestrator.policies import ProfilingData, QueryBatch, RoutingPolicy
from orchestrator.policies.base import AccuracyModel
from orchestrator.policies.reliability import LocalReliability, ReliabilityConfig
from orchestrator.voting.vote import Ballot, majority_vote

Book = Literal["closed", "open"]
Fetch = Callable[[list[tuple[str, str]]], Mapping[tuple[str, str], str | None]]


@dataclass(frozen=True)
class QuestionContext:
    """What a stacked vote with features reads besides the answers: per question, each expert's response
    (by expert name) and the option texts."""

    texts: Sequence[Mapping[str, str | None]] = ()
    options: Sequence[Sequence[str]] = ()


@dataclass(frozen=True, kw_only=True)
class Branch:
    """A method fitted on one book's profiling data.

    Attributes:
        book: ``closed`` or ``open``.
        method: the method.
        policy: the fitted policy.
        decider: the fitted decider.
        reliability: each expert's accuracy estimate on this book: the policy's own when it has one (kNN
            local accuracy), else the vote's, else a kNN estimate with the method's ``reliability``.
        profiling: the profiling data it was fitted on.
    """

    book: Book
    method: MethodConfig
    policy: RoutingPolicy
    decider: Decider
    reliability: AccuracyModel
    profiling: ProfilingData

    @property
    def experts(self) -> tuple[str, ...]:
        return self.profiling.experts

    def accuracy(self, queries: QueryBatch) -> np.ndarray:
        """(q, m) each expert's estimated accuracy on ``queries`` (kNN local accuracy by default)."""
        return np.asarray(self.reliability.for_queries(queries))

    def route(
        self, queries: QueryBatch, fetch: Fetch | None = None, *, seed: int = 0
    ) -> list[RoutingDecision]:
        """Recruit for ``queries``; an interactive policy (adaptive_k) fetches answers round by round.

        Raises:
            ValueError: an interactive policy without ``fetch``.
        """
        decisions = self.policy.recruit(queries, seed=seed)
        if self.policy.interactive:
            if fetch is None:
                raise ValueError(f"policy {self.policy.name!r} recruits in rounds and needs answers to fetch")
            n_opts = queries.n_options if queries.n_options is not None else np.zeros(len(queries), int)
            decisions = self.policy.extend(decisions, [int(n) for n in n_opts], fetch)  # type: ignore[attr-defined]
        return [d.model_copy(update={"why": f"{d.why} ({self.book}-book profiles)"}) for d in decisions]

    def decide_rows(
        self,
        decisions: Sequence[RoutingDecision],
        answers: Sequence[Mapping[str, str | None]],
        acc: np.ndarray | None,
        n_options: Sequence[int],
        context: QuestionContext | None = None,
    ) -> list[Decided]:
        """Decide each question from its recruited experts' answers (``answers[i][expert]``).

        A method whose aggregation is the LLM aggregator is decided by the experts' majority here (no
        aggregator model runs inside the gate's cross-validation). ``context`` gives the responses and
        options a stacked vote with features reads.
        """
        out = []
        for i, d in enumerate(decisions):
            q = self._question(d, answers[i], acc, n_options, context, i)
            decided = self.decider.decide(q)
            if decided is None:
                ballots = [Ballot(expert=e, answer=a) for e, a in zip(d.experts, q.answers, strict=True)]
                decided = Decided(majority_vote(ballots), "majority")
            out.append(decided)
        return out

    def vote_signals(
        self,
        decisions: Sequence[RoutingDecision],
        answers: Sequence[Mapping[str, str | None]],
        acc: np.ndarray | None,
        n_options: Sequence[int],
        finals: Sequence[str | None],
        context: QuestionContext | None = None,
    ) -> np.ndarray:
        """(q, 4) :func:`vote_features` of decided questions (``acc``: the decider's local accuracy)."""
        out = np.zeros((len(decisions), 4))
        for i, d in enumerate(decisions):
            q = self._question(d, answers[i], acc, n_options, context, i)
            out[i] = vote_features(q.answers, finals[i], self.decider.confidence(q, finals[i]))
        return out

    def _question(
        self,
        d: RoutingDecision,
        answers: Mapping[str, str | None],
        acc: np.ndarray | None,
        n_options: Sequence[int],
        context: QuestionContext | None,
        i: int,
    ) -> Question:
        ans = [answers.get(e) for e in d.experts]
        texts = options = None
        if context is not None and self.decider.features:
            texts = [context.texts[i].get(e) for e in d.experts] if context.texts else None
            options = list(context.options[i]) if context.options else []
        return Question(
            experts=d.experts,
            answers=ans,
            n_options=int(n_options[i]),
            local_accuracy=self.decider.accuracy_row(acc, i),
            texts=texts,
            options=options or [],
        )

    def recruited_accuracy(self, decisions: Sequence[RoutingDecision], acc: np.ndarray) -> np.ndarray:
        """(q, 3): mean, max and spread of the recruited experts' local accuracies, per question."""
        col = {e: j for j, e in enumerate(self.experts)}
        out = np.zeros((len(decisions), 3))
        for i, d in enumerate(decisions):
            a = acc[i, [col[e] for e in d.experts]] if d.experts else np.zeros(1)
            out[i] = (a.mean(), a.max(), a.std())
        return out


def fit_branch(book: Book, method: MethodConfig, profiling: ProfilingData, gold: Sequence[str]) -> Branch:
    """Fit ``method`` on one book's profiling data."""
    policy = method.build_policy().fit(profiling)
    return branch_of(book, method, policy, Decider(method, policy, profiling, gold), profiling)


def branch_of(
    book: Book, method: MethodConfig, policy: RoutingPolicy, decider: Decider, profiling: ProfilingData
) -> Branch:
    """A :class:`Branch` of an already fitted policy and decider (a session's closed-book method)."""
    reliability: AccuracyModel | None = policy.reliability() or decider.reliability
    if reliability is None:
        r = method.reliability
        reliability = LocalReliability(ReliabilityConfig(r.neighbours, r.alpha, r.tau)).fit(
            profiling.embeddings, profiling.correct
        )
    return Branch(
        book=book, method=method, policy=policy, decider=decider, reliability=reliability, profiling=profiling
    )


VoteSignals = tuple[float, float, float, float]


def vote_features(answers: Sequence[str | None], final: str | None, confidence: float) -> VoteSignals:
    """Post-generation signals of one question: agreement, margin, spread and the vote's confidence.

    Agreement is the share of recruited experts (with repeats) whose answer is the final one; the margin
    is (top count - runner-up count) / experts; the spread is the distinct answers / experts; the
    confidence is the method's own (:meth:`~orchestrator.aggregation.decide.Decider.confidence`: the
    stacked vote's probability of its answer, say).
    """
    n = max(len(answers), 1)
    counts: dict[str, int] = {}
    for a in answers:
        if a is not None:
            counts[a] = counts.get(a, 0) + 1
    top = sorted(counts.values(), reverse=True) + [0, 0]
    agree = sum(1 for a in answers if a is not None and a == final) / n
    return agree, (top[0] - top[1]) / n, len(counts) / n, confidence
