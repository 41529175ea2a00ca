"""Will the method's answer be right? A per-question estimate from the profiles, fitted by cross-validation.

:func:`cross_validate` replays the method inside the profiling split (k folds: fit on the others, route and
decide the held-out questions from their recorded answers), which gives every profiling question an
honest routed outcome and the signals the method saw for it. :class:`OutcomeModel` is a logistic model
of that outcome from:

- the recruited experts' kNN local accuracy (logit of mean and max, and their spread);
- the kNN estimate of the routed outcome itself (the method's own track record near the question), and
  of the whole pool's accuracy near it (how hard such questions are for everyone);
- the shrunk outcome rate of the question's group (its first skill, or a category);
- the question's length and option count;
- with a knowledge store, the coverage signal (top dense and BM25 scores and margins);
- after generation (``post=True``), the vote: agreement, margin and spread of the recruited answers, and
  the vote's own confidence (the stacked vote's probability of its answer).

The gate uses one model per book (closed, open); ``benchmarks/gate_quality.py`` grades the closed one as
a predictor of wrong answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from common.records import Instance
from orchestrator.answers import is_correct
from orchestrator.method import MethodConfig
from orchestrator.policies import ProfilingData, QueryBatch
from orchestrator.policies.reliability import LocalReliability, ReliabilityConfig
from orchestrator.rag.branch import Book, QuestionContext, fit_branch
from orchestrator.rag.logistic import LogisticModel, logit
from orchestrator.retrieval.hits import Coverage

GROUP_PRIOR = 10.0
"""Pseudo-questions shrinking a group's outcome rate toward the overall rate."""


@dataclass(frozen=True, kw_only=True)
class Outcomes:
    """The method's cross-validated behaviour on every profiling question of one book.

    Attributes:
        correct: (n,) the routed, decided answer was right.
        accuracy: (n, 3) mean, max and spread of the recruited experts' local accuracies.
        vote: (n, 4) agreement, margin, spread and confidence of the vote (:func:`~orchestrator.rag.
            branch.vote_features`).
        answers: (n,) the decided answers.
        pool: (n,) the share of all experts right on the question (its difficulty for the pool).
    """

    correct: np.ndarray
    accuracy: np.ndarray
    vote: np.ndarray
    answers: list[str | None]
    pool: np.ndarray


def cross_validate(
    book: Book,
    method: MethodConfig,
    profiling: ProfilingData,
    gold: Sequence[str],
    instances: Sequence[Instance] | None = None,
    *,
    folds: int = 5,
    seed: int = 0,
) -> Outcomes:
    """The method's routed outcome on every profiling question, each decided by a fit on the other folds.

    Args:
        book: which book ``profiling`` holds (recorded in the decisions' ``why``).
        method: the method.
        profiling: the book's profiling data.
        gold: gold answers of the profiling questions.
        instances: the profiling questions (for answer formats); letters/math guessed from options if None.
        folds: folds (at least 2; at most one question per fold).
        seed: the fold assignment's seed.
    """
    n = len(gold)
    folds = max(2, min(folds, n))
    perm = np.random.default_rng(seed).permutation(n)
    correct = np.zeros(n, dtype=bool)
    acc_feats = np.zeros((n, 3))
    vote = np.zeros((n, 4))
    answers: list[str | None] = [None] * n
    col = {e: j for j, e in enumerate(profiling.experts)}
    for f in range(folds):
        held = np.sort(perm[f::folds])
        train = np.setdiff1d(perm, held)
        branch = fit_branch(book, method, profiling.subset(train), [gold[i] for i in train])
        part = profiling.subset(held)
        queries = QueryBatch(
            ids=[str(i) for i in held],
            embeddings=part.embeddings,
            skills=part.skills,
            n_options=part.n_options,
            metadata=part.metadata,
            options=part.options,
        )

        def fetch(pairs: list[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
            return {(i, e): profiling.answers[int(i)][col[e]] for i, e in pairs}

        decisions = branch.route(queries, fetch, seed=seed)
        vote_acc = branch.decider.local_accuracy(queries)
        rows = [{e: profiling.answers[i][col[e]] for e in profiling.experts} for i in held]
        n_opts = [int(x) for x in part.n_options]
        context = QuestionContext(
            [dict(zip(profiling.experts, r, strict=True)) for r in part.texts], part.options
        )
        decided = branch.decide_rows(decisions, rows, vote_acc, n_opts, context)
        acc_feats[held] = branch.recruited_accuracy(decisions, branch.accuracy(queries))
        finals = [out.answer for out in decided]
        vote[held] = branch.vote_signals(decisions, rows, vote_acc, n_opts, finals, context)
        for i, out in zip(held, decided, strict=True):
            answers[i] = out.answer
            correct[i] = _right(out.answer, gold[i], instances[i] if instances else None, profiling, i)
    return Outcomes(
        correct=correct, accuracy=acc_feats, vote=vote, answers=answers, pool=profiling.correct.mean(axis=1)
    )


def _right(answer: str | None, gold: str, inst: Instance | None, profiling: ProfilingData, i: int) -> bool:
    if inst is not None:
        return is_correct(answer, gold, inst.answer_format)
    if int(profiling.n_options[i]) > 0:
        return answer is not None and answer == gold
    from common.records import AnswerFormat

    return is_correct(answer, gold, AnswerFormat(kind="math"))


def question_features(
    questions: Sequence[str], n_options: Sequence[int], options: Sequence[Sequence[str]] | None = None
) -> np.ndarray:
    """(n, 2): log question length in characters and the option count (0 for free-form); with
    ``options``, a third column: the share of options holding a digit (numeric answers).

    Fit and use an outcome model with the same columns: live profiling records keep no options, so
    live runs pass none.
    """
    cols = [np.log1p([len(q) for q in questions]), np.asarray(n_options, dtype=float)]
    if options is not None:
        cols.append(np.array([np.mean([any(c.isdigit() for c in o) for o in opts]) if opts else 0.0
                              for opts in options]))  # fmt: skip
    return np.column_stack(cols)


def coverage_features(coverage: Sequence[Coverage | None]) -> np.ndarray:
    """(n, 5): top dense score, log top BM25 score, the two margins (log BM25), and whether BM25 matched."""
    out = np.zeros((len(coverage), 5))
    for i, c in enumerate(coverage):
        if c is None:
            continue
        out[i] = (
            c.top_dense or 0.0,
            np.log1p(max(c.top_bm25 or 0.0, 0.0)),
            c.dense_margin or 0.0,
            np.log1p(max(c.bm25_margin or 0.0, 0.0)),
            float(c.top_bm25 is not None),
        )
    return out


@dataclass(frozen=True, kw_only=True)
class Signals:
    """What an outcome model reads about a batch of questions (profiling or new ones), aligned by row.

    Attributes:
        embeddings: (n, d) question embeddings.
        groups: each question's group (first skill or category; "" for none).
        questions: (n, 2) :func:`question_features`.
        coverage: (n, 5) :func:`coverage_features`, or None without a knowledge store.
    """

    embeddings: np.ndarray
    groups: Sequence[str]
    questions: np.ndarray
    coverage: np.ndarray | None = None

    def take(self, rows: Iterable[int]) -> Signals:
        """The signals of questions ``rows`` only."""
        idx = list(rows)
        return Signals(
            embeddings=self.embeddings[idx],
            groups=[self.groups[i] for i in idx],
            questions=self.questions[idx],
            coverage=self.coverage[idx] if self.coverage is not None else None,
        )


class OutcomeModel:
    """P(the method's answer is right) for one book, from the signals of :mod:`this module <.outcome>`.

    Args:
        neighbours: profiling questions in the kNN estimate of the routed outcome.
        l2: L2 penalty of the logistic model.
        post: also read the vote (agreement, margin, spread): a post-generation estimate.
    """

    def __init__(self, *, neighbours: int = 20, l2: float = 10.0, post: bool = False) -> None:
        self.post = post
        self.l2 = l2
        self._knn = LocalReliability(ReliabilityConfig(neighbours, alpha=2.0, tau=0.05))
        self._difficulty = LocalReliability(ReliabilityConfig(neighbours, alpha=2.0, tau=0.05))
        self._rates: dict[str, tuple[float, int]] = {}
        self._overall = 0.5
        self._model = LogisticModel(l2)

    def fit(self, outcomes: Outcomes, signals: Signals) -> OutcomeModel:
        """Fit on the profiling questions' cross-validated outcomes (leave-one-out kNN and group rates)."""
        y = outcomes.correct.astype(float)
        self._knn.fit(signals.embeddings, y[:, None])
        self._difficulty.fit(signals.embeddings, outcomes.pool[:, None])
        self._overall = float(y.mean())
        for g in set(signals.groups):
            rows = np.array([x == g for x in signals.groups])
            self._rates[g] = (float(y[rows].sum()), int(rows.sum()))
        knn = np.c_[
            self._knn.estimate(signals.embeddings, exclude_self=True)[:, 0],
            self._difficulty.estimate(signals.embeddings, exclude_self=True)[:, 0],
        ]
        rates = self._group_rates(signals.groups, leave_out=y)
        self._model.fit(self._design(outcomes.accuracy, knn, rates, signals, outcomes.vote), y)
        return self

    def predict(self, accuracy: np.ndarray, signals: Signals, vote: np.ndarray | None = None) -> np.ndarray:
        """P(right) for new questions: their recruited accuracy features (q, 3), signals and (post) vote."""
        if self.post and vote is None:
            raise ValueError("a post-generation outcome model needs the vote features")
        knn = np.c_[
            self._knn.estimate(signals.embeddings)[:, 0], self._difficulty.estimate(signals.embeddings)[:, 0]
        ]
        rates = self._group_rates(signals.groups)
        return self._model.predict(self._design(accuracy, knn, rates, signals, vote))

    def group_rate(self, group: str) -> tuple[float, int]:
        """(outcome rate, profiling questions) of a group (the overall rate and 0 for an unknown one)."""
        hits, n = self._rates.get(group, (0.0, 0))
        return (hits / n if n else self._overall), n

    def _group_rates(self, groups: Sequence[str], leave_out: np.ndarray | None = None) -> np.ndarray:
        out = np.zeros(len(groups))
        for i, g in enumerate(groups):
            hits, n = self._rates.get(g, (0.0, 0))
            if leave_out is not None:
                hits, n = hits - leave_out[i], n - 1
            out[i] = (hits + GROUP_PRIOR * self._overall) / (n + GROUP_PRIOR)
        return out

    def _design(
        self,
        accuracy: np.ndarray,
        knn: np.ndarray,
        rates: np.ndarray,
        signals: Signals,
        vote: np.ndarray | None,
    ) -> np.ndarray:
        cols = [logit(accuracy[:, 0]), logit(accuracy[:, 1]), accuracy[:, 2], logit(knn), logit(rates),
                signals.questions]  # fmt: skip
        if signals.coverage is not None:
            cols.append(signals.coverage)
        if self.post:
            assert vote is not None
            cols.append(vote)
        return np.column_stack(cols)
