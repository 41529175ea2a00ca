"""Features a stacked vote reads beyond who voted what: in a response, and in a question's options.

- :func:`answer_statement`: the response states its answer explicitly ("the answer is (C)", "Answer: C").
  A recorded answer the harness had to guess from a stray letter is rarely right (on the MMLU-Pro
  profiling split 1.7% of answered responses lack the statement, and those are right 7% of the time).
- :func:`option_features`: what an aggregator sees in the options' content (never their letters or
  positions, so relabelling the options moves each feature with its option), per option: its length
  z-scored within the question, whether it is the longest, whether all options are numbers and how
  central this one's value is among them, and a none/all/both/neither-of-the-above flag. MMLU-Pro's
  augmented distractors make these informative (the longest option is the gold 25% of the time against
  10% by chance); on other datasets the fitted coefficients simply stay near zero.

Option texts are only read in memory here; nothing is logged (GPQA's questions must stay private).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from common.records import LETTERS

_ANSWER_IS = re.compile(r"(?:answer is|[Aa]nswer:)\s*\**\s*\(?([A-J])\b")
_NUMBER = re.compile(r"^\s*\$?\s*([-+]?\d[\d,]*\.?\d*)")
_NOTA = re.compile(r"\b(none of (the )?(above|these)|all of (the )?(above|these)|both|neither)\b", re.I)
OPTION_FEATURES = ("len_z", "longest", "numeric", "num_central", "nota")


def answer_statement(text: str | None, answer: str | None) -> float:
    """1.0 when ``text`` states ``answer`` explicitly ("answer is (X)" or "Answer: X"), else 0.0."""
    if not text or answer is None:
        return 0.0
    return float(answer in _stated_letters(text))


@lru_cache(maxsize=2**16)
def _stated_letters(text: str) -> frozenset[str]:
    """The letters ``text`` states as its answer; memoised, since a bench's nested cross-validation asks
    about the same recorded response thousands of times (a regex scan of a whole reasoning trace each)."""
    return frozenset(_ANSWER_IS.findall(text))


def option_features(options: Sequence[str], width: int = len(LETTERS)) -> np.ndarray:
    """(width, 5) features of each option (rows past the question's options are zero); see the module."""
    out = np.zeros((width, len(OPTION_FEATURES)))
    k = min(len(options), width)
    if k == 0:
        return out
    opts = list(options)[:k]
    lengths = np.array([len(o) for o in opts], dtype=float)
    out[:k, 0] = (lengths - lengths.mean()) / (lengths.std() + 1e-6)
    out[:k, 1] = lengths == lengths.max()  # every longest option (argmax would favour the first letter)
    values = _numbers(opts)
    if values is not None and k >= 3:
        rank = np.array([(values < v).sum() for v in values]) / (k - 1)
        out[:k, 2] = 1.0
        out[:k, 3] = 0.5 - np.abs(rank - 0.5)
    out[:k, 4] = [float(bool(_NOTA.search(o))) for o in opts]
    return out


def _numbers(options: Sequence[str]) -> np.ndarray | None:
    """Each option's leading number, when every option starts with one."""
    matches = [_NUMBER.match(o) for o in options]
    if not all(matches):
        return None
    try:
        values = np.array([float(m.group(1).replace(",", "") or "nan") for m in matches if m is not None])
    except ValueError:
        return None
    return values if np.isfinite(values).all() else None
