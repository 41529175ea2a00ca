"""Vote-based aggregation: plain majority, reliability-weighted vote, and the consensus check.

Ballots come in recruitment order (best-ranked expert first); abstentions (no parsed answer) carry no
weight, and ties go to the answer of the earliest, i.e. highest-ranked, expert.

Free-form answers vote by *equivalence class*, not by string: pass ``same`` (e.g.
:func:`orchestrator.answers.math_equivalent`) and each answer joins the class of the first earlier answer
it is equivalent to (equal strings first, the fast path); the winning class is returned as its earliest
voter's answer string. With ``by_family``, each model family casts one vote per class: its heaviest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

Same = Callable[[str, str], bool]
"""Whether two answers are the same answer (None: string equality)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Ballot:
    """One expert's parsed answer (None: abstained), its vote weight and its model family."""

    expert: str
    answer: str | None
    weight: float = 1.0
    family: str | None = None


def answer_classes(answers: Sequence[str | None], same: Same | None = None) -> list[int]:
    """The equivalence class of each answer (-1 for an abstention), numbered in order of first appearance.

    With an equivalence, the result is memoised on (answers, same): a bench's nested cross-validation
    classes the same question's ballots (and their prefixes, in sequential votes) millions of times, and
    each comparison is a call into math-verify's memo. The equivalence must be a pure function of its
    two strings (as :func:`orchestrator.answers.math_equivalent` is).

    Args:
        answers: the answers, in ballot order.
        same: the equivalence (None: string equality). An answer joins the class of the first earlier
            class representative it equals; identical strings always share a class without a call.
    """
    if same is None:
        return _classes(answers, None)
    return list(_memoised_classes(tuple(answers), same))


@lru_cache(maxsize=2**17)
def _memoised_classes(answers: tuple[str | None, ...], same: Same) -> tuple[int, ...]:
    return tuple(_classes(answers, same))


def _classes(answers: Sequence[str | None], same: Same | None) -> list[int]:
    reps: list[str] = []
    by_string: dict[str, int] = {}
    out = []
    for a in answers:
        if a is None:
            out.append(-1)
            continue
        c = by_string.get(a)
        if c is None and same is not None:
            c = next((i for i, r in enumerate(reps) if same(a, r)), None)
        if c is None:
            c = len(reps)
            reps.append(a)
        by_string[a] = c
        out.append(c)
    return out


def weighted_vote(
    ballots: Sequence[Ballot], *, same: Same | None = None, by_family: bool = False
) -> str | None:
    """The answer (class) with the largest total weight; ties go to the earliest ballot's answer.

    Args:
        ballots: the ballots in rank order.
        same: answer equivalence for free-form answers (None: string equality).
        by_family: a family's ballots for one class count once, at the family's largest weight (related
            models that err together are not counted twice); a ballot without a family is its own family.

    Returns:
        The winning answer (its class's earliest string); when no answer carries a positive weight, the
        earliest answer; None when every ballot abstained.
    """
    classes = answer_classes([b.answer for b in ballots], same)
    totals: dict[int, float] = {}
    best: dict[tuple[int, str], float] = {}
    first: dict[int, int] = {}  # each class's earliest ballot with a positive weight
    earliest: int | None = None
    for i, (b, c) in enumerate(zip(ballots, classes, strict=True)):
        if c < 0:
            continue
        earliest = i if earliest is None else earliest
        if b.weight <= 0:
            continue
        first.setdefault(c, i)
        w = b.weight
        if by_family:
            key = (c, b.family if b.family is not None else f"expert:{b.expert}")
            w = max(w - best.get(key, 0.0), 0.0)
            best[key] = max(best.get(key, 0.0), b.weight)
        totals[c] = totals.get(c, 0.0) + w
    if not first:
        return None if earliest is None else ballots[earliest].answer
    winner = max(first, key=lambda c: (totals[c], -first[c]))
    return ballots[first[winner]].answer


def majority_vote(ballots: Sequence[Ballot], *, same: Same | None = None) -> str | None:
    """Unweighted majority (every non-abstaining ballot counts 1)."""
    return weighted_vote([Ballot(expert=b.expert, answer=b.answer, weight=1.0) for b in ballots], same=same)


def consensus(ballots: Sequence[Ballot], *, min_votes: int = 2, same: Same | None = None) -> str | None:
    """The shared answer when at least ``min_votes`` experts answered and all of them agree, else None.

    The aggregator call is skipped for such instances (consensus skip). With ``same``, equivalent
    free-form answers agree (``1/2`` and ``0.5``); the earliest one is returned.
    """
    answered = [b.answer for b in ballots if b.answer is not None]
    if len(answered) < min_votes:
        return None
    if len(set(answered)) == 1 or (same is not None and max(answer_classes(answered, same)) == 0):
        return answered[0]
    return None
