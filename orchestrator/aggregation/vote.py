"""Vote-based aggregation: plain majority, reliability-weighted vote, and the consensus check.

Ballots come in recruitment order (best-ranked expert first); abstentions (no parsed answer) carry no
weight, and ties go to the answer of the earliest, i.e. highest-ranked, expert.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Ballot:
    """One expert's parsed answer (None: abstained) and its vote weight."""

    expert: str
    answer: str | None
    weight: float = 1.0


def weighted_vote(ballots: Sequence[Ballot]) -> str | None:
    """The answer with the largest total weight; ties go to the earliest ballot's answer.

    Returns None when every ballot abstained or carries no positive weight.
    """
    totals: dict[str, float] = {}
    first: dict[str, int] = {}
    for i, b in enumerate(ballots):
        if b.answer is None or b.weight <= 0:
            continue
        totals[b.answer] = totals.get(b.answer, 0.0) + b.weight
        first.setdefault(b.answer, i)
    if not totals:
        return None
    return max(totals, key=lambda a: (totals[a], -first[a]))


def majority_vote(ballots: Sequence[Ballot]) -> str | None:
    """Unweighted majority (every non-abstaining ballot counts 1)."""
    return weighted_vote([Ballot(b.expert, b.answer, 1.0) for b in ballots])


def consensus(ballots: Sequence[Ballot], *, min_votes: int = 2) -> str | None:
    """The shared answer when at least ``min_votes`` experts answered and all of them agree, else None.

    The aggregator call is skipped for such instances (consensus skip).
    """
    answers = {b.answer for b in ballots if b.answer is not None}
    n_votes = sum(b.answer is not None for b in ballots)
    if len(answers) == 1 and n_votes >= min_votes:
        return next(iter(answers))
    return None
