"""The one decision function: recruited experts' answers -> a final answer, for the bench and live runs.

A :class:`Decider` is fitted once per method (on the profiling split when the vote needs it) and then
decides one question at a time, so the bench (all questions at once), a live run (after the expert
stage) and the Ray stream (each question as soon as its last expert answered) all decide alike:

1. consensus skip: two or more recruited experts gave the same answer and nobody disagreed -> that answer;
2. ``majority``: one vote per expert; ``weighted``: log-odds of each expert's accuracy on the question
   (kNN local, per group or global; see :class:`~orchestrator.voting.calibration.VoteConfig`),
   optionally one vote per model family; ``stacked``: the conditional-logit vote fitted on the profiling
   split, optionally with option and answer-statement features (letters only; free-form answers fall
   back to ``weighted``);
3. ``llm``: not decided here; the caller asks the pool's aggregator model and reads its answer with
   :meth:`Decider.from_aggregator` (falling back to the majority vote when the reply has no answer).

Free-form answers (no options) vote and agree by math-verify equivalence class, not by string. Ties go
to the best-ranked expert (the first in recruitment order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from common.errors import ConfigError
from common.records import CODE_ANSWERS, LETTERS
from orchestrator.aggregation.stacked import StackedVote
from orchestrator.answers import answer_equivalence
from orchestrator.method import MethodConfig
from orchestrator.policies import ProfilingData, QueryBatch, RoutingPolicy
from orchestrator.policies.base import AccuracyModel
from orchestrator.policies.reliability import LocalReliability, ReliabilityConfig
from orchestrator.voting.calibration import fit_vote_accuracy
from orchestrator.voting.reliability import logodds_weight
from orchestrator.voting.vote import Ballot, Same, consensus, majority_vote, weighted_vote
from orchestrator.voting.vote_features import OPTION_FEATURES, answer_statement, option_features


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
        local_accuracy: each expert's accuracy on this question (weighted/stacked votes).
        texts: each expert's response, aligned with ``experts`` (the stacked vote's answer-statement
            feature; None when not needed).
        options: the question's option texts (the stacked vote's option features).
    """

    experts: Sequence[str]
    answers: Sequence[str | None]
    n_options: int
    local_accuracy: dict[str, float] | None = None
    texts: Sequence[str | None] | None = None
    options: Sequence[str] = ()


class Decider:
    """Decides questions for one method.

    Args:
        method: the method (its aggregation, consensus skip, vote settings).
        policy: the fitted policy (its accuracy estimate is reused when it has one).
        profiling: the profiling split (needed by weighted and stacked votes).
        profiling_gold: the profiling split's gold answers (needed by the stacked vote).

    Raises:
        ConfigError: a stacked-vote feature needs data the profiling split lacks (response texts,
            options), or a group-calibrated vote's group field is missing.
    """

    def __init__(
        self,
        method: MethodConfig,
        policy: RoutingPolicy,
        profiling: ProfilingData | None,
        profiling_gold: Sequence[str] | None = None,
    ) -> None:
        self.method = method
        self.reliability: AccuracyModel | None = None
        self.stacked: StackedVote | None = None
        self._col: dict[str, int] = {}
        self.families: dict[str, str] = {}
        if profiling is not None:
            self.families = dict(zip(profiling.experts, profiling.family_names, strict=True))
        if method.aggregation in ("weighted", "stacked") and profiling is not None:
            self.reliability = _accuracy_model(method, policy, profiling)
            self._col = {e: j for j, e in enumerate(profiling.experts)}
        free_form = profiling is not None and bool((np.asarray(profiling.n_options) <= 0).any())
        if method.aggregation == "stacked" and profiling is not None and not free_form:
            if profiling_gold is None:
                raise ValueError("the stacked vote needs the profiling split's gold answers")
            self.stacked = _fit_stacked(method, self.reliability, profiling, profiling_gold)

    @property
    def features(self) -> tuple[str, ...]:
        """The stacked vote's extra features (what :class:`Question` must carry)."""
        return tuple(self.method.vote.features) if self.stacked is not None else ()

    def local_accuracy(self, queries: QueryBatch) -> np.ndarray | None:
        """(q, m) accuracies of the profiled experts on the queries (None if the vote needs none)."""
        return None if self.reliability is None else self.reliability.for_queries(queries)

    def accuracy_row(self, acc: np.ndarray | None, i: int) -> dict[str, float] | None:
        """Question ``i``'s row of :meth:`local_accuracy`, keyed by expert."""
        return None if acc is None else {e: float(acc[i, j]) for e, j in self._col.items()}

    def decide(self, q: Question) -> Decided | None:
        """The final answer, or None when the LLM aggregator must answer (``aggregation: llm``)."""
        experts, answers = q.experts, q.answers
        same = _equivalence(q.n_options)
        ballots = [Ballot(e, a, family=self.families.get(e)) for e, a in zip(experts, answers, strict=True)]
        if q.n_options == CODE_ANSWERS:  # programs are picked, never voted: the best-ranked answer
            return Decided(next((a for a in answers if a is not None), None), "pick")
        if self.method.consensus_skip:
            agreed = consensus(ballots, same=same)
            if agreed is not None:
                return Decided(agreed, "consensus")
        agg = self.method.aggregation
        if agg == "llm":
            return None
        if agg == "majority" or q.local_accuracy is None:
            return Decided(majority_vote(ballots, same=same), "majority")
        if agg == "stacked" and self.stacked is not None and q.n_options > 0:
            return Decided(self._stacked(q), "stacked")
        vote = self.method.vote
        acc = np.array([q.local_accuracy[e] for e in experts])
        w = logodds_weight(acc, q.n_options, vote.free_form_options)
        weighted = [Ballot(b.expert, b.answer, float(x), b.family) for b, x in zip(ballots, w, strict=True)]
        return Decided(weighted_vote(weighted, same=same, by_family=vote.family_max), "weighted")

    def from_aggregator(self, q: Question, aggregator_answer: str | None, text: str | None) -> Decided:
        """The LLM aggregator's answer; the experts' majority when its reply had no parsable answer."""
        if aggregator_answer is not None:
            return Decided(aggregator_answer, "llm", True, text)
        ballots = [Ballot(e, a) for e, a in zip(q.experts, q.answers, strict=True)]
        vote = majority_vote(ballots, same=_equivalence(q.n_options))
        return Decided(vote, "llm", True, text, fallback=True)

    def confidence(self, q: Question, answer: str | None) -> float:
        """How sure the method's vote is of ``answer`` (0-1): the stacked vote's probability of it, the
        weighted vote's share of the log-odds weight, or the share of experts that voted for it."""
        if answer is None or not any(a is not None for a in q.answers):
            return 0.0
        agg = self.method.aggregation
        if agg == "stacked" and self.stacked is not None and q.n_options > 0 and q.local_accuracy is not None:
            probs = self.stacked.posterior(*self._stacked_inputs(q))[0]
            return float(probs[LETTERS.index(answer)]) if answer in LETTERS else 0.0
        same = _equivalence(q.n_options) or (lambda a, b: a == b)
        if agg in ("weighted", "stacked") and q.local_accuracy is not None:
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
        if agg not in ("weighted", "stacked") or q.local_accuracy is None:  # the share of votes
            mine = sum(x for b, x in totals if same(answer, b))
            return float(mine / len(q.answers))
        z = np.array([x for _, x in totals])
        p = np.exp(z - z.max())
        mine = sum(float(pi) for (b, _), pi in zip(totals, p, strict=True) if same(answer, b))
        return mine / float(p.sum())

    def _stacked(self, q: Question) -> str | None:
        assert self.stacked is not None
        return self.stacked.decide(*self._stacked_inputs(q))[0]

    def _stacked_inputs(self, q: Question) -> tuple[Any, ...]:
        """One question as the stacked vote's inputs (answers, recruited, accuracy, options, features)."""
        assert self.stacked is not None and q.local_accuracy is not None
        m = len(self._col)
        mask = np.zeros((1, m), dtype=bool)
        row: list[str | None] = [None] * m
        acc = np.zeros((1, m))
        texts: list[str | None] = [None] * m
        for i, (e, a) in enumerate(zip(q.experts, q.answers, strict=True)):
            j = self._col[e]
            mask[0, j], row[j] = True, a
            texts[j] = q.texts[i] if q.texts is not None else None
        for e, j in self._col.items():
            acc[0, j] = q.local_accuracy[e]
        feats = self.features
        vote_x = _vote_features(feats, [row], [texts]) if "answer_statement" in feats else None
        opt_x = option_features(q.options)[None] if "options" in feats else None
        return [row], mask, acc, np.array([q.n_options]), vote_x, opt_x


def _equivalence(n_options: int) -> Same | None:
    """How answers are compared in votes: by math-verify class for math, by string otherwise."""
    return answer_equivalence(n_options)


def _accuracy_model(method: MethodConfig, policy: RoutingPolicy, profiling: ProfilingData) -> AccuracyModel:
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


def _vote_features(
    features: Sequence[str], answers: Sequence[Sequence[str | None]], texts: Sequence[Sequence[str | None]]
) -> np.ndarray:
    """(n, m, 1) the answer-statement feature of every (question, expert) vote."""
    return np.array(
        [
            [[answer_statement(t, a)] for a, t in zip(ra, rt, strict=True)]
            for ra, rt in zip(answers, texts, strict=True)
        ]
    )


def _fit_stacked(
    method: MethodConfig,
    reliability: AccuracyModel | None,
    profiling: ProfilingData,
    gold: Sequence[str],
) -> StackedVote:
    """Fit on profiling questions with leave-one-out accuracies and each question's own top-k experts."""
    if not isinstance(reliability, LocalReliability):
        raise ConfigError(f"method {method.name!r}: the stacked vote needs kNN local accuracy (vote: local)")
    loo = reliability.estimate(profiling.embeddings, exclude_self=True)
    k = min(method.k, len(profiling.experts))
    mask = np.zeros_like(loo, dtype=bool)
    np.put_along_axis(mask, np.argsort(-loo, axis=1, kind="stable")[:, :k], True, axis=1)
    feats = method.vote.features
    vote_x = opt_x = None
    if "answer_statement" in feats:
        if not profiling.texts:
            raise ConfigError(
                f"method {method.name!r}: the answer_statement feature needs the experts' profiling "
                "responses (a profiling record with texts; re-run `symoe profile`)"
            )
        vote_x = _vote_features(feats, profiling.answers, profiling.texts)
    if "options" in feats:
        if not profiling.options:
            raise ConfigError(f"method {method.name!r}: the options feature needs the questions' options")
        opt_x = np.stack([option_features(o, len(LETTERS)) for o in profiling.options])
    stack = StackedVote(
        len(profiling.experts),
        method.l2,
        n_vote_features=1 if vote_x is not None else 0,
        n_option_features=len(OPTION_FEATURES) if opt_x is not None else 0,
    )
    return stack.fit(profiling.answers, mask, loo, gold, profiling.n_options, vote_x, opt_x)
