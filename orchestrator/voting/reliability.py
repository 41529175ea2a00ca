"""Reliability weights: how much an expert's vote counts, from its estimated chance of being right.

Under the one-coin model (an expert is right with probability a, else picks one of the other K-1
options uniformly), the log-likelihood ratio of a vote is ``log(a (K-1) / (1-a))``: the weight that makes
a weighted vote the Bayes decision for independent experts. Votes worse than chance get weight 0.
"""

from __future__ import annotations

import numpy as np

FREE_FORM_OPTIONS = 100  # an effective option count for free-form (math) answers


def logodds_weight(
    accuracy: np.ndarray | float, n_options: int, free_form_options: int = FREE_FORM_OPTIONS
) -> np.ndarray:
    """Vote weight(s) for accuracy estimates on a question with ``n_options`` options (0: free-form).

    A free-form answer is treated as one of ``free_form_options`` possible answers (2: ``logit(a)``).
    """
    k = n_options if n_options >= 2 else free_form_options
    a = np.clip(np.asarray(accuracy, dtype=float), 0.01, 0.99)
    return np.asarray(np.maximum(np.log(a * (k - 1) / (1 - a)), 0.0), dtype=float)


def logodds_weight_matrix(
    accuracy: np.ndarray, n_options: np.ndarray, free_form_options: int = FREE_FORM_OPTIONS
) -> np.ndarray:
    """(n, m) :func:`logodds_weight` of (n, m) accuracies, question i having ``n_options[i]`` options."""
    n_opt = np.asarray(n_options)
    k = np.where(n_opt >= 2, n_opt, free_form_options).astype(float)[:, None]
    a = np.clip(np.asarray(accuracy, dtype=float), 0.01, 0.99)
    return np.asarray(np.maximum(np.log(a * (k - 1) / (1 - a)), 0.0), dtype=float)


def answer_posterior(answers: list[str | None], weights: np.ndarray, n_options: int) -> dict[str, float]:
    """Posterior probability of each voted answer under the one-coin model (flat prior).

    Unvoted options share the remaining mass, so a lone weak vote is not certainty.
    """
    scores: dict[str, float] = {}
    for a, w in zip(answers, weights, strict=True):
        if a is not None:
            scores[a] = scores.get(a, 0.0) + float(w)
    k = n_options if n_options >= 2 else FREE_FORM_OPTIONS
    n_unvoted = max(k - len(scores), 0)
    z = sum(np.exp(s) for s in scores.values()) + n_unvoted
    return {a: float(np.exp(s) / z) for a, s in scores.items()}
