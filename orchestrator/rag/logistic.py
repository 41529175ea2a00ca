"""A small L2-regularised logistic regression on standardised inputs, and the scores that grade it.

The gate's models have a handful of inputs and a few hundred profiling questions, so a plain Newton
solver is exact and fast, and no extra dependency is needed.

Example::

    model = LogisticModel(l2=1.0).fit(X, y)
    p = model.predict(X_new)                # P(y = 1)
    roc_auc(y_new, p), rate_to_cover(y_new, p, 0.8)
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def logit(p: np.ndarray | float, eps: float = 0.01) -> np.ndarray:
    """log(p / (1 - p)) with p clipped to [eps, 1 - eps]."""
    q = np.clip(np.asarray(p, dtype=float), eps, 1 - eps)
    return np.asarray(np.log(q / (1 - q)))


class LogisticModel:
    """Logistic regression with an L2 penalty on the weights (not the intercept), inputs standardised.

    Args:
        l2: the penalty (per standardised input).
    """

    def __init__(self, l2: float = 1.0) -> None:
        self.l2 = l2
        self.mean: np.ndarray | None = None
        self.scale: np.ndarray | None = None
        self.weights: np.ndarray | None = None  # intercept first

    def fit(self, x: np.ndarray, y: np.ndarray, *, iterations: int = 50) -> LogisticModel:
        """Fit on inputs (n, d) and 0/1 labels (n,) by Newton's method; returns self."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        self.mean = x.mean(axis=0)
        self.scale = x.std(axis=0)
        self.scale[self.scale < 1e-9] = 1.0
        z = self._design(x)
        w = np.zeros(z.shape[1])
        if 0 < y.mean() < 1:
            w[0] = float(logit(y.mean(), 1e-6))
        penalty = np.full(z.shape[1], self.l2)
        penalty[0] = 0.0
        for _ in range(iterations):
            p = _sigmoid(z @ w)
            grad = z.T @ (p - y) + penalty * w
            hess = (z * (p * (1 - p))[:, None]).T @ z + np.diag(penalty) + 1e-9 * np.eye(len(w))
            step = np.linalg.solve(hess, grad)
            w -= step
            if np.abs(step).max() < 1e-8:
                break
        self.weights = w
        return self

    def _design(self, x: np.ndarray) -> np.ndarray:
        assert self.mean is not None and self.scale is not None
        return np.asarray(
            np.c_[np.ones(len(x)), (np.asarray(x, dtype=float) - self.mean) / self.scale], dtype=float
        )

    def predict(self, x: np.ndarray) -> np.ndarray:
        """P(y = 1) for inputs (n, d)."""
        if self.weights is None:
            raise RuntimeError("LogisticModel: call fit() first")
        return _sigmoid(self._design(np.atleast_2d(x)) @ self.weights)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -40, 40))))


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` as a predictor of ``y == 1`` (ties count half).

    Raises:
        ValueError: ``y`` holds only one class.
    """
    y = np.asarray(y, dtype=bool)
    pos, neg = int(y.sum()), int((~y).sum())
    if pos == 0 or neg == 0:
        raise ValueError("roc_auc needs both classes")
    ranks = rankdata(np.asarray(score, dtype=float))
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg))


def rate_to_cover(y: np.ndarray, score: np.ndarray, share: float) -> float:
    """The smallest share of questions, taken by descending score, that holds ``share`` of the positives."""
    y = np.asarray(y, dtype=bool)
    if not y.any():
        return 0.0
    order = np.argsort(-np.asarray(score, dtype=float), kind="stable")
    covered = np.cumsum(y[order]) / y.sum()
    return float((np.searchsorted(covered, share - 1e-12) + 1) / len(y))
