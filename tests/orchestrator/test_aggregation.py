"""Vote-based aggregation, reliability weights and the stacked vote."""

from __future__ import annotations

import numpy as np

from orchestrator.aggregation.reliability import answer_posterior, logodds_weight
from orchestrator.aggregation.stacked import StackedVote
from orchestrator.aggregation.vote import Ballot, consensus, majority_vote, weighted_vote


def test_majority_abstentions_and_ties_go_to_the_higher_ranked() -> None:
    assert majority_vote([Ballot("a", "B"), Ballot("b", "C"), Ballot("c", None)]) == "B"
    assert majority_vote([Ballot("a", None), Ballot("b", "C"), Ballot("c", "D"), Ballot("d", "D")]) == "D"
    assert majority_vote([Ballot("a", None)]) is None


def test_weighted_vote_lets_a_reliable_expert_outvote_two_weak_ones() -> None:
    ballots = [Ballot("weak1", "A", 0.4), Ballot("weak2", "A", 0.4), Ballot("strong", "C", 1.0)]
    assert weighted_vote(ballots) == "C"
    assert majority_vote(ballots) == "A"


def test_consensus_needs_agreement_and_enough_votes() -> None:
    assert consensus([Ballot("a", "A"), Ballot("b", "A"), Ballot("c", None)]) == "A"
    assert consensus([Ballot("a", "A"), Ballot("b", "B")]) is None
    assert consensus([Ballot("a", "A")]) is None


def test_logodds_weights_grow_with_accuracy_and_options() -> None:
    w = logodds_weight(np.array([0.05, 0.3, 0.6, 0.9]), 10)
    assert w[0] == 0.0 and np.all(np.diff(w[1:]) > 0)
    assert logodds_weight(0.3, 10) > logodds_weight(0.3, 4)


def test_answer_posterior_is_a_probability_that_grows_with_agreement() -> None:
    w = logodds_weight(np.array([0.6, 0.6, 0.6]), 4)
    agree = answer_posterior(["A", "A", "A"], w, 4)["A"]
    split = answer_posterior(["A", "B", "A"], w, 4)["A"]
    assert 0 < split < agree < 1


def test_stacked_vote_learns_to_ignore_a_copycat_expert() -> None:
    """Experts 1 and 2 always give the same (often wrong) answer; expert 0 is right 70% of the time."""
    rng = np.random.default_rng(0)
    n = 400
    gold = rng.choice(list("ABCD"), size=n)
    good = np.where(rng.random(n) < 0.7, gold, "D")
    copy = np.where(rng.random(n) < 0.45, gold, "C")
    answers = [[g, c, c] for g, c in zip(good, copy, strict=True)]
    mask = np.ones((n, 3), dtype=bool)
    acc = np.tile([0.7, 0.45, 0.45], (n, 1))
    stack = StackedVote(3, l2=0.1).fit(answers, mask, acc, list(gold), np.full(n, 4))
    pred = stack.decide(answers, mask, acc, np.full(n, 4))
    stacked = np.mean(np.array(pred) == gold)
    majority = np.mean(
        [
            majority_vote([Ballot(str(j), a) for j, a in enumerate(r)]) == g
            for r, g in zip(answers, gold, strict=True)
        ]
    )
    assert stacked > majority + 0.1
