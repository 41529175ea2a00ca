"""Vote-based aggregation, reliability weights and the stacked vote."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from orchestrator.aggregation.stacked import StackedVote
from orchestrator.voting.reliability import answer_posterior, logodds_weight
from orchestrator.voting.vote import Ballot, consensus, majority_vote, weighted_vote


def test_majority_abstentions_and_ties_go_to_the_higher_ranked() -> None:
    assert (
        majority_vote(
            [Ballot(expert="a", answer="B"), Ballot(expert="b", answer="C"), Ballot(expert="c", answer=None)]
        )
        == "B"
    )
    assert (
        majority_vote(
            [
                Ballot(expert="a", answer=None),
                Ballot(expert="b", answer="C"),
                Ballot(expert="c", answer="D"),
                Ballot(expert="d", answer="D"),
            ]
        )
        == "D"
    )
    assert majority_vote([Ballot(expert="a", answer=None)]) is None


def test_weighted_vote_lets_a_reliable_expert_outvote_two_weak_ones() -> None:
    ballots = [
        Ballot(expert="weak1", answer="A", weight=0.4),
        Ballot(expert="weak2", answer="A", weight=0.4),
        Ballot(expert="strong", answer="C", weight=1.0),
    ]
    assert weighted_vote(ballots) == "C"
    assert majority_vote(ballots) == "A"


def test_consensus_needs_agreement_and_enough_votes() -> None:
    assert (
        consensus(
            [Ballot(expert="a", answer="A"), Ballot(expert="b", answer="A"), Ballot(expert="c", answer=None)]
        )
        == "A"
    )
    assert consensus([Ballot(expert="a", answer="A"), Ballot(expert="b", answer="B")]) is None
    assert consensus([Ballot(expert="a", answer="A")]) is None


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
            majority_vote([Ballot(expert=str(j), answer=a) for j, a in enumerate(r)]) == g
            for r, g in zip(answers, gold, strict=True)
        ]
    )
    assert stacked > majority + 0.1


def test_aggregator_prompt_trims_reasoning_at_think_and_to_budget() -> None:
    from common.records import AnswerFormat
    from orchestrator.aggregation.choice import build_aggregator_prompt

    long_think = "<think>" + "secret scratch " * 50 + "</think>The answer is (B)."
    prompt = build_aggregator_prompt(
        "Q?", [long_think, "x" * 500 + "END"], AnswerFormat(), max_chars_per_response=50
    )
    assert "secret scratch" not in prompt and "The answer is (B)." in prompt
    assert "x" * 60 not in prompt and "END" in prompt
    assert "The answer is (X)" in prompt


@pytest.mark.slow
def test_aggregator_benchmark_runs_through_real_tiny_engines(tiny_pool: dict[str, Path]) -> None:
    """The paper's aggregator benchmark through real transformers engines (gibberish text: plumbing)."""
    from batching.config import TransformersExpertConfig
    from batching.engines.registry import build_engine
    from common.records import AnswerFormat, Instance
    from orchestrator.aggregation.choice import build_aggregation_prompt, rank_aggregators
    from orchestrator.answers import extract_choice
    from skills.aggregator_bench import ReasoningChain, build_bench_items

    instances = [
        Instance(
            id=f"q{i}",
            question=f"Pick {i}?",
            options=list("wxyz"),
            gold="A",
            answer_format=AnswerFormat(n_options=4),
        )
        for i in range(6)
    ]
    chains = {
        i.id: [
            ReasoningChain(expert="e1", text="The answer is (A).", answer="A", is_correct=True),
            ReasoningChain(expert="e2", text="The answer is (B).", answer="B", is_correct=False),
            ReasoningChain(expert="e3", text="The answer is (C).", answer="C", is_correct=False),
        ]
        for i in instances
    }
    items = build_bench_items(instances, chains, prompt=build_aggregation_prompt, seed=0)
    engines = {
        name: build_engine(TransformersExpertConfig(name=name, model=str(tiny_pool[name])))
        for name in ("tiny-llama-xs", "tiny-llama-s")
    }
    from common.generation import SamplingParams

    ranking = rank_aggregators(engines, items, extract_choice, sampling=SamplingParams(max_tokens=8))
    assert [n for n, _ in ranking] and {n for n, _ in ranking} == set(engines)
    for e in engines.values():
        assert e.counters.loads == 1 and e.counters.requests == len(items) and not e.is_loaded


def test_aggregators_are_registered_with_their_declared_needs() -> None:
    from orchestrator.aggregation import aggregator_registry

    names = aggregator_registry.keys()
    classes = [aggregator_registry.get(name) for name in names]
    needs = {
        c.name: (c.needs_model, c.needs_local_accuracy, c.needs_profiling_gold, c.uses_vote_features)
        for c in classes
    }
    assert [c.name for c in classes] == names
    assert needs == {
        "llm": (True, False, False, False),
        "majority": (False, False, False, False),
        "stacked": (False, True, True, True),
        "weighted": (False, True, False, False),
    }


def test_an_unknown_aggregation_fails_at_load_time_with_the_keys() -> None:
    from pydantic import ValidationError

    from orchestrator.method import MethodConfig

    with pytest.raises(ValidationError, match=r"unknown aggregator 'weigthed'.*Did you mean 'weighted'"):
        MethodConfig(name="m", aggregation="weigthed")
    assert MethodConfig.model_json_schema()["properties"]["aggregation"]["enum"] == [
        "llm",
        "majority",
        "stacked",
        "weighted",
    ]


def test_an_aggregator_that_needs_a_model_needs_one_in_the_pool() -> None:
    from orchestrator.pool import PoolConfig

    experts = [{"name": "a", "engine": "replay"}]
    with pytest.raises(ValueError, match="aggregation 'llm' needs an `aggregator` model"):
        PoolConfig.model_validate({"name": "p", "experts": experts, "method": {"aggregation": "llm"}})
    pool = PoolConfig.model_validate({"name": "p", "experts": experts, "method": {"aggregation": "majority"}})
    assert not pool.method.aggregator_class.needs_model
