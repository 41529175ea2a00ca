"""A stacked vote: a small conditional-logit model over the options, fitted on profiling data.

For a question whose recruited experts voted, each option's score is::

    score(x) = b[x] + sum over experts m that voted x of (w[m] + v * logit(a_m))

where ``a_m`` is m's local accuracy (kNN reliability), ``w`` a per-expert bias that learns how much an
expert's vote is worth beyond its accuracy (e.g. because it errs together with others), ``v`` the trust
in local accuracy and ``b`` a prior over option letters. The option with the top score wins. Fitted by
L2-regularised maximum likelihood (L-BFGS) on the profiling questions, using leave-one-out local
accuracies and only each question's own top-k experts' votes, so training matches how it is used.
Multiple-choice only; free-form answers fall back to the reliability-weighted vote.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import minimize

from common.records import LETTERS


def _logit(a: np.ndarray) -> np.ndarray:
    a = np.clip(a, 0.01, 0.99)
    return np.asarray(np.log(a / (1 - a)))


class StackedVote:
    """Conditional-logit aggregation of recruited experts' letter votes.

    Args:
        n_experts: the pool size (columns of the vote and accuracy matrices).
        l2: L2 penalty on the expert and letter biases.
    """

    def __init__(self, n_experts: int, l2: float = 1.0) -> None:
        self.n_experts = n_experts
        self.l2 = l2
        self.theta = np.zeros(n_experts + 1 + len(LETTERS))
        self.theta[n_experts] = 1.0

    def _scores(
        self, theta: np.ndarray, votes: np.ndarray, acc_logit: np.ndarray, n_opts: np.ndarray
    ) -> np.ndarray:
        m = self.n_experts
        w, v, b = theta[:m], theta[m], theta[m + 1 :]
        s = np.einsum("nml,nm->nl", votes, w[None, :] + v * acc_logit) + b[None, :]
        s[np.arange(len(LETTERS))[None, :] >= n_opts[:, None]] = -1e9
        return np.asarray(s)

    def fit(
        self,
        answers: Sequence[Sequence[str | None]],
        recruited: np.ndarray,
        accuracy: np.ndarray,
        gold: Sequence[str],
        n_options: np.ndarray,
    ) -> StackedVote:
        """Fit on profiling questions.

        Args:
            answers: (n, m) parsed letters per question and expert.
            recruited: (n, m) bool, which experts would have been recruited.
            accuracy: (n, m) leave-one-out local accuracies.
            gold: (n,) gold letters.
            n_options: (n,) option counts.
        """
        votes = one_hot_votes(answers, recruited)
        g = np.array([LETTERS.index(x) for x in gold])
        acc_logit = _logit(accuracy)
        n_opts = np.asarray(n_options)
        m = self.n_experts

        def loss(theta: np.ndarray) -> float:
            s = self._scores(theta, votes, acc_logit, n_opts)
            s = s - s.max(axis=1, keepdims=True)
            logp = s[np.arange(len(g)), g] - np.log(np.exp(s).sum(axis=1))
            reg = self.l2 * (np.sum(theta[:m] ** 2) + np.sum(theta[m + 1 :] ** 2))
            return float(-logp.sum() + reg)

        self.theta = minimize(loss, self.theta, method="L-BFGS-B").x
        return self

    def posterior(
        self,
        answers: Sequence[Sequence[str | None]],
        recruited: np.ndarray,
        accuracy: np.ndarray,
        n_options: np.ndarray,
    ) -> np.ndarray:
        """(n, 10) the model's probability of each option letter per question (0 past the options)."""
        votes = one_hot_votes(answers, recruited)
        s = self._scores(self.theta, votes, _logit(accuracy), np.asarray(n_options))
        p = np.exp(s - s.max(axis=1, keepdims=True))
        return np.asarray(p / p.sum(axis=1, keepdims=True))

    def decide(
        self,
        answers: Sequence[Sequence[str | None]],
        recruited: np.ndarray,
        accuracy: np.ndarray,
        n_options: np.ndarray,
    ) -> list[str | None]:
        """The winning letter per question (None when no recruited expert answered)."""
        votes = one_hot_votes(answers, recruited)
        s = self._scores(self.theta, votes, _logit(accuracy), np.asarray(n_options))
        any_vote = votes.sum(axis=(1, 2)) > 0
        return [LETTERS[int(i)] if ok else None for i, ok in zip(s.argmax(axis=1), any_vote, strict=True)]


def one_hot_votes(answers: Sequence[Sequence[str | None]], recruited: np.ndarray) -> np.ndarray:
    """(n, m, 10) one-hot letter votes of recruited experts (abstentions and non-letters are zero)."""
    n, m = recruited.shape
    votes = np.zeros((n, m, len(LETTERS)))
    for i in range(n):
        for j in range(m):
            a = answers[i][j]
            if recruited[i, j] and a is not None and a in LETTERS:
                votes[i, j, LETTERS.index(a)] = 1.0
    return votes
