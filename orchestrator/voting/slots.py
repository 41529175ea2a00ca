"""Answer slots: every expert's answer to a question as a small integer, for votes over many questions.

A slot is the option letter's index for a multiple-choice question and the answer's equivalence class
(:func:`~orchestrator.voting.vote.answer_classes` with math-verify) for a free-form one; -1 is an
abstention; exact strings and programs get string classes. Policies and votes that must score many
candidate settings on the profiling split (inner
cross-validation, cascade tables) work on these arrays instead of deciding one question at a time.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from common.records import LETTERS
from orchestrator.answers import answer_equivalence
from orchestrator.voting.vote import answer_classes


def slot_table(answers: Sequence[Sequence[str | None]], n_options: Sequence[int] | np.ndarray) -> np.ndarray:
    """(n, m) slot of each expert's answer (-1: abstained, or a letter outside A-J)."""
    out = np.full((len(answers), len(answers[0]) if answers else 0), -1, dtype=int)
    for i, (row, n_opt) in enumerate(zip(answers, n_options, strict=True)):
        if n_opt > 0:
            out[i] = [LETTERS.index(a) if a is not None and a in LETTERS else -1 for a in row]
        else:
            out[i] = answer_classes(row, answer_equivalence(int(n_opt)))
    return out


def one_hot(slots: np.ndarray, width: int | None = None) -> np.ndarray:
    """(n, m, width) 1 where expert m's answer to question n is in slot l."""
    n, m = slots.shape
    width = width if width is not None else max(int(slots.max(initial=-1)) + 1, 1)
    out = np.zeros((n, m, width))
    ii, jj = np.nonzero(slots >= 0)
    out[ii, jj, slots[ii, jj]] = 1.0
    return out


def correct_slots(slots: np.ndarray, correct: np.ndarray, width: int | None = None) -> np.ndarray:
    """(n, width) True where slot l holds a correct answer of question n (a vote for it is right)."""
    n = len(slots)
    width = width if width is not None else max(int(slots.max(initial=-1)) + 1, 1)
    out = np.zeros((n, width), dtype=bool)
    ii, jj = np.nonzero(correct & (slots >= 0))
    out[ii, slots[ii, jj]] = True
    return out


def is_right(good: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """(n,) whether each predicted slot (-1: no answer) is correct, given :func:`correct_slots`."""
    return np.asarray((pred >= 0) & good[np.arange(len(pred)), np.maximum(pred, 0)], dtype=bool)


def plurality(
    onehot: np.ndarray,
    weights: np.ndarray,
    rank: np.ndarray,
    families: np.ndarray | None = None,
) -> np.ndarray:
    """(n,) the winning slot of a weighted vote per question (-1 when every voter abstained).

    Args:
        onehot: (n, m, L) votes of the called experts (zero rows for experts not called).
        weights: (n, m) vote weights (negative weights count as 0).
        rank: (m,) each expert's rank, 0 best: ties (and an all-zero vote) go to the slot of the
            best-ranked voter.
        families: (m,) family index per expert: each family counts its largest weight per slot.
    """
    wv = np.maximum(weights, 0.0)[:, :, None] * onehot
    if families is None:
        scores = wv.sum(axis=1)
    else:
        scores = sum(wv[:, families == f].max(axis=1) for f in np.unique(families))
    m = onehot.shape[1]
    best_voter = (onehot * (m - np.asarray(rank, dtype=float))[None, :, None]).max(axis=1)
    scores = scores + 1e-9 * best_voter
    valid = onehot.sum(axis=1) > 0
    pred = np.where(valid, scores, -np.inf).argmax(axis=1)
    return np.where(valid.any(axis=1), pred, -1)
