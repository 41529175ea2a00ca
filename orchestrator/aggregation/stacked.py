"""A stacked vote: a small conditional-logit model over the options, fitted on profiling data.

For a question whose recruited experts voted, each option's score is::

    score(x) = g . O[x] + sum over experts m that voted x of (w[m] + v * logit(a_m) + u . X[m])

where ``a_m`` is m's local accuracy (kNN reliability), ``w`` a per-expert bias that learns how much an
expert's vote is worth beyond its accuracy (e.g. because it errs together with others), ``v`` the trust
in local accuracy, and optionally ``X[m]`` features of m's response (``answer_statement``) and ``O[x]``
features of option x's content (:mod:`~orchestrator.voting.vote_features`). There is no term for an
option's letter or position: a prior over letters learns where a dataset happens to put its gold answers
(a set whose gold is always "A" scored 90.61 with it and 54.14 after relabelling its options), so
relabelling a question's options never changes the decision. Exact ties go to the option voted by the
first expert of the pool order (not the first letter). The option with the top score wins; options
nobody voted for can win through ``O``. Fitted by L2-regularised maximum likelihood (L-BFGS with the
analytic gradient) on the profiling
questions, using leave-one-out local accuracies and only each question's own top-k experts' votes, so
training matches how it is used. Penalties: ``l2`` on ``w`` and ``b``, none on ``v``, ``feature_l2``
on ``u`` and ``g``. Multiple-choice only; free-form answers fall back to the reliability-weighted vote.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import minimize

from common.records import LETTERS

_L = len(LETTERS)


def _logit(a: np.ndarray) -> np.ndarray:
    a = np.clip(a, 0.01, 0.99)
    return np.asarray(np.log(a / (1 - a)))


class StackedVote:
    """Conditional-logit aggregation of recruited experts' letter votes.

    Args:
        n_experts: the pool size (columns of the vote and accuracy matrices).
        l2: L2 penalty on the expert biases.
        n_vote_features: features per (question, expert) vote, ``X``.
        n_option_features: features per (question, option), ``O``.
        feature_l2: L2 penalty on the feature coefficients.
    """

    def __init__(
        self,
        n_experts: int,
        l2: float = 1.0,
        n_vote_features: int = 0,
        n_option_features: int = 0,
        feature_l2: float = 0.1,
    ) -> None:
        self.n_experts = n_experts
        self.l2 = l2
        self.n_vote_features = n_vote_features
        self.n_option_features = n_option_features
        m, f, q = n_experts, n_vote_features, n_option_features
        self.penalty = np.concatenate([np.full(m, l2), [0.0], np.full(f + q, feature_l2)])
        self.theta = np.zeros(m + 1 + f + q)
        self.theta[m] = 1.0

    def _design(
        self,
        votes: np.ndarray,
        accuracy: np.ndarray,
        vote_features: np.ndarray | None,
        option_features: np.ndarray | None,
    ) -> np.ndarray:
        """(n, L, P): the score of option l is ``design[n, l] @ theta``."""
        parts = [votes.transpose(0, 2, 1), np.einsum("nml,nm->nl", votes, _logit(accuracy))[:, :, None]]
        if self.n_vote_features:
            assert vote_features is not None
            parts.append(np.einsum("nml,nmf->nlf", votes, vote_features))
        if self.n_option_features:
            assert option_features is not None
            parts.append(option_features)
        return np.concatenate(parts, axis=2)

    def fit(
        self,
        answers: Sequence[Sequence[str | None]],
        recruited: np.ndarray,
        accuracy: np.ndarray,
        gold: Sequence[str],
        n_options: np.ndarray,
        vote_features: np.ndarray | None = None,
        option_features: np.ndarray | None = None,
    ) -> StackedVote:
        """Fit on profiling questions.

        Args:
            answers: (n, m) parsed letters per question and expert.
            recruited: (n, m) bool, which experts would have been recruited.
            accuracy: (n, m) leave-one-out local accuracies.
            gold: (n,) gold letters.
            n_options: (n,) option counts.
            vote_features: (n, m, F) features of each expert's vote (F = ``n_vote_features``).
            option_features: (n, L, Q) features of each option (Q = ``n_option_features``).
        """
        design = self._design(one_hot_votes(answers, recruited), accuracy, vote_features, option_features)
        allowed = np.arange(_L)[None, :] < np.asarray(n_options)[:, None]
        g = np.array([LETTERS.index(x) for x in gold])
        at_gold = design[np.arange(len(g)), g]  # (n, P)
        pen = self.penalty

        def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
            s = np.where(allowed, design @ theta, -np.inf)
            s = s - s.max(axis=1, keepdims=True)
            e = np.exp(s)
            z = e.sum(axis=1)
            p = e / z[:, None]
            ll = float(np.sum(s[np.arange(len(g)), g] - np.log(z)))
            grad = at_gold.sum(axis=0) - np.einsum("nl,nlp->p", p, design)
            return -ll + float(np.sum(pen * theta**2)), -grad + 2 * pen * theta

        self.theta = minimize(loss, self.theta, jac=True, method="L-BFGS-B").x
        return self

    def posterior(
        self,
        answers: Sequence[Sequence[str | None]],
        recruited: np.ndarray,
        accuracy: np.ndarray,
        n_options: np.ndarray,
        vote_features: np.ndarray | None = None,
        option_features: np.ndarray | None = None,
    ) -> np.ndarray:
        """(n, 10) the model's probability of each option letter per question (0 past the options)."""
        s = self._scores(answers, recruited, accuracy, n_options, vote_features, option_features)
        p = np.exp(s - s.max(axis=1, keepdims=True))
        return np.asarray(p / p.sum(axis=1, keepdims=True))

    def decide(
        self,
        answers: Sequence[Sequence[str | None]],
        recruited: np.ndarray,
        accuracy: np.ndarray,
        n_options: np.ndarray,
        vote_features: np.ndarray | None = None,
        option_features: np.ndarray | None = None,
    ) -> list[str | None]:
        """The winning letter per question (None when no recruited expert answered)."""
        s = self._scores(answers, recruited, accuracy, n_options, vote_features, option_features)
        any_vote = one_hot_votes(answers, recruited).sum(axis=(1, 2)) > 0
        return [LETTERS[int(i)] if ok else None for i, ok in zip(s.argmax(axis=1), any_vote, strict=True)]

    def _scores(
        self,
        answers: Sequence[Sequence[str | None]],
        recruited: np.ndarray,
        accuracy: np.ndarray,
        n_options: np.ndarray,
        vote_features: np.ndarray | None,
        option_features: np.ndarray | None,
    ) -> np.ndarray:
        """(n, 10) each option's score (-inf past the question's options)."""
        votes = one_hot_votes(answers, recruited)
        s = self._design(votes, accuracy, vote_features, option_features) @ self.theta
        # exact ties: the option of the earliest voter in pool order (never the earlier letter)
        m = votes.shape[1]
        s = s + 1e-9 * (votes * (m - np.arange(m, dtype=float))[None, :, None]).max(axis=1)
        s[np.arange(_L)[None, :] >= np.asarray(n_options)[:, None]] = -np.inf
        return np.asarray(s)


def one_hot_votes(answers: Sequence[Sequence[str | None]], recruited: np.ndarray) -> np.ndarray:
    """(n, m, 10) one-hot letter votes of recruited experts (abstentions and non-letters are zero)."""
    n, m = recruited.shape
    votes = np.zeros((n, m, _L))
    for i in range(n):
        for j in range(m):
            a = answers[i][j]
            if recruited[i, j] and a is not None and a in LETTERS:
                votes[i, j, LETTERS.index(a)] = 1.0
    return votes
