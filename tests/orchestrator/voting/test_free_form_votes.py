"""Votes over free-form answers group equivalent answers into classes (math-verify), families vote once."""

from __future__ import annotations

from orchestrator.answers import math_equivalent, math_verdicts, remember_math_verdicts
from orchestrator.voting.vote import Ballot, answer_classes, consensus, majority_vote, weighted_vote


def test_answer_classes_group_equivalent_answers_in_order_of_appearance() -> None:
    answers = ["\\frac{1}{2}", None, "0.5", "3", "1/2", "3"]
    assert answer_classes(answers) == [0, -1, 1, 2, 3, 2]  # string equality
    assert answer_classes(answers, math_equivalent) == [0, -1, 0, 1, 0, 1]


def test_majority_over_classes_beats_a_string_plurality() -> None:
    ballots = [
        Ballot(expert="a", answer="7"),
        Ballot(expert="b", answer="\\frac{1}{2}"),
        Ballot(expert="c", answer="0.5"),
        Ballot(expert="d", answer="7"),
    ]
    # two strings "7" against two spellings of one half: by string "7" wins; by class it is a tie,
    # which goes to the earliest ballot's class ("7"). A third spelling of one half decides it.
    assert majority_vote(ballots) == "7"
    more = [*ballots, Ballot(expert="e", answer="1/2")]
    assert majority_vote(more) == "7"
    assert majority_vote(more, same=math_equivalent) == "\\frac{1}{2}"  # the class's earliest string


def test_consensus_accepts_equivalent_spellings() -> None:
    ballots = [
        Ballot(expert="a", answer="0.5"),
        Ballot(expert="b", answer="\\frac12"),
        Ballot(expert="c", answer=None),
    ]
    assert consensus(ballots) is None
    assert consensus(ballots, same=math_equivalent) == "0.5"
    assert (
        consensus([Ballot(expert="a", answer="1"), Ballot(expert="b", answer="2")], same=math_equivalent)
        is None
    )


def test_family_max_counts_a_family_once_per_answer() -> None:
    ballots = [
        Ballot(expert="strong", answer="A", weight=1.5, family="x"),
        Ballot(expert="copy1", answer="B", weight=0.8, family="y"),
        Ballot(expert="copy2", answer="B", weight=0.8, family="y"),
        Ballot(expert="copy3", answer="B", weight=0.7, family="y"),
    ]
    assert weighted_vote(ballots) == "B"  # 2.3 against 1.5
    assert weighted_vote(ballots, by_family=True) == "A"  # family y counts 0.8 once


def test_no_positive_weight_falls_back_to_the_earliest_answer() -> None:
    assert (
        weighted_vote(
            [
                Ballot(expert="a", answer=None, weight=1.0),
                Ballot(expert="b", answer="C", weight=0.0),
                Ballot(expert="c", answer="D", weight=0.0),
            ]
        )
        == "C"
    )
    assert weighted_vote([Ballot(expert="a", answer=None, weight=1.0)]) is None


def test_verdicts_can_be_exported_and_seeded() -> None:
    assert math_equivalent("2/4", "0.5")
    known = math_verdicts()
    assert known[("2/4", "0.5")] is True
    remember_math_verdicts({("made-up-left", "made-up-right"): True})
    assert math_equivalent("made-up-left", "made-up-right")  # served from the memo, never parsed
