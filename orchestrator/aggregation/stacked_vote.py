"""``stacked``: the conditional-logit vote (:class:`~orchestrator.aggregation.stacked.StackedVote`) as an
aggregator, fitted on the profiling split.

It needs kNN local accuracy (``vote: local``) and the profiling gold answers; with ``vote.features`` it
also reads the responses' answer statements and the options' content. Letters only: free-form answers
(and questions without accuracies) fall back to the reliability-weighted vote, or the majority.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from common.errors import ConfigError
from common.records import LETTERS
from orchestrator.aggregation.base import AggregationSettings, Decided, Question, aggregator_registry
from orchestrator.aggregation.stacked import StackedVote
from orchestrator.aggregation.weighted import WeightedAggregator
from orchestrator.policies.reliability import LocalReliability
from orchestrator.voting.vote import Ballot, Same, majority_vote
from orchestrator.voting.vote_features import OPTION_FEATURES, answer_statement, option_features

if TYPE_CHECKING:
    from orchestrator.policies.base import AccuracyModel, ProfilingData


@aggregator_registry.register("stacked")
class StackedAggregator(WeightedAggregator):
    """The stacked vote; the weighted vote where it does not apply."""

    name = "stacked"
    needs_local_accuracy = True
    needs_profiling_gold = True
    uses_vote_features = True

    def __init__(self, settings: AggregationSettings) -> None:
        super().__init__(settings)
        self.model: StackedVote | None = None
        self._col: dict[str, int] = {}

    def fit(
        self, profiling: ProfilingData, gold: Sequence[str] | None, accuracy: AccuracyModel | None
    ) -> None:
        if bool((np.asarray(profiling.n_options) <= 0).any()):
            return  # free-form answers: the weighted vote decides
        if gold is None:
            raise ValueError("the stacked vote needs the profiling split's gold answers")
        self.model = _fit_stacked(self.settings, accuracy, profiling, gold)
        self._col = {e: j for j, e in enumerate(profiling.experts)}

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(self.settings.vote.features) if self.model is not None else ()

    def decide(self, q: Question, ballots: Sequence[Ballot], same: Same | None) -> Decided | None:
        if q.local_accuracy is None:
            return Decided(majority_vote(ballots, same=same), "majority")
        if self.model is not None and q.n_options > 0:
            return Decided(self.model.decide(*self._inputs(q))[0], "stacked")
        return self._weighted(q, ballots, same)

    def confidence(self, q: Question, answer: str) -> float | None:
        if self.model is None or q.n_options <= 0 or q.local_accuracy is None:
            return None
        probs = self.model.posterior(*self._inputs(q))[0]
        return float(probs[LETTERS.index(answer)]) if answer in LETTERS else 0.0

    def _inputs(self, q: Question) -> tuple[Any, ...]:
        """One question as the stacked vote's inputs (answers, recruited, accuracy, options, features)."""
        assert self.model is not None and q.local_accuracy is not None
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
        vote_x = _vote_features([row], [texts]) if "answer_statement" in feats else None
        opt_x = option_features(q.options)[None] if "options" in feats else None
        return [row], mask, acc, np.array([q.n_options]), vote_x, opt_x


def _vote_features(
    answers: Sequence[Sequence[str | None]], texts: Sequence[Sequence[str | None]]
) -> np.ndarray:
    """(n, m, 1) the answer-statement feature of every (question, expert) vote."""
    return np.array(
        [
            [[answer_statement(t, a)] for a, t in zip(ra, rt, strict=True)]
            for ra, rt in zip(answers, texts, strict=True)
        ]
    )


def _fit_stacked(
    method: AggregationSettings,
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
        vote_x = _vote_features(profiling.answers, profiling.texts)
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
