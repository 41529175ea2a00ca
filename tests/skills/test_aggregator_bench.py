"""The aggregator benchmark: item construction, scoring, and choosing the better aggregator."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest

from batching.engines.base import Engine
from common.errors import ConfigError
from common.generation import GenRequest, GenResult
from common.records import AnswerFormat, Instance
from orchestrator.aggregation.choice import build_aggregation_prompt, rank_aggregators
from skills.aggregator_bench import AggregatorBenchItem, ReasoningChain, build_bench_items, score_aggregator

_ANSWER = re.compile(r"answer is \(([A-J])\)")


def extract_letter(text: str) -> str | None:
    """A stand-in for orchestrator/answers.py: the last "The answer is (X)"."""
    found = _ANSWER.findall(text)
    return found[-1] if found else None


@dataclass(frozen=True)
class _FakeConfig:
    name: str


class ScriptedAggregator(Engine):
    """A real engine answering each prompt with ``respond(request)``; counts generate calls."""

    kind = "scripted"

    def __init__(self, name: str, respond: Callable[[GenRequest], str | None]) -> None:
        super().__init__(_FakeConfig(name))
        self.respond = respond
        self.generate_calls = 0

    def _load(self) -> None:
        pass

    def _unload(self) -> None:
        pass

    def _generate(self, batch: Sequence[GenRequest]) -> list[GenResult]:
        self.generate_calls += 1
        out = []
        for req in batch:
            text = self.respond(req)
            out.append(
                GenResult(request_id=req.request_id, text=text, error=None if text is not None else "failed")
            )
        return out


def echo_first(req: GenRequest) -> str:
    """Trusts whichever response is shown first."""
    first = req.prompt.split("### Response 1:\n", 1)[1].split("### Response 2:", 1)[0]
    return f"Response 1 looks right. The answer is ({extract_letter(first)})"


def _chain(expert: str, letter: str, gold: str) -> ReasoningChain:
    return ReasoningChain(
        expert=expert,
        text=f"{expert} thinks hard. The answer is ({letter})",
        answer=letter,
        is_correct=letter == gold,
    )


def _dataset(n: int = 12) -> tuple[list[Instance], dict[str, list[ReasoningChain]]]:
    instances, chains = [], {}
    for i in range(n):
        gold = "ABCD"[i % 4]
        wrong = [c for c in "ABCD" if c != gold]
        inst = Instance(
            id=f"q{i}",
            question=f"Question number {i}?",
            options=["w", "x", "y", "z"],
            gold=gold,
            answer_format=AnswerFormat(n_options=4),
        )
        instances.append(inst)
        chains[inst.id] = [
            _chain("good", gold, gold),
            _chain("bad1", wrong[0], gold),
            _chain("bad2", wrong[1], gold),
            _chain("bad3", wrong[2], gold),
        ]
    return instances, chains


def test_items_hold_one_correct_and_two_wrong_chains_in_seeded_order() -> None:
    instances, chains = _dataset()
    items = build_bench_items(instances, chains, prompt=build_aggregation_prompt, seed=0)
    assert len(items) == 12
    for item in items:
        assert len(item.experts) == 3
        assert item.experts[item.correct_position] == "good"
        assert sum(e == "good" for e in item.experts) == 1
        assert item.prompt.count("### Response") == 3
        assert "(A) w (B) x (C) y (D) z" in item.prompt
        assert item.prompt.rstrip().endswith(
            '"The answer is (X)", where X is the letter of the correct option.'
        )
    assert len({it.correct_position for it in items}) > 1  # shuffled, not always first
    assert build_bench_items(instances, chains, prompt=build_aggregation_prompt, seed=0) == items
    assert build_bench_items(instances, chains, prompt=build_aggregation_prompt, seed=1) != items
    # An item does not depend on which other questions are present.
    assert build_bench_items(instances[3:4], chains, prompt=build_aggregation_prompt, seed=0) == [items[3]]


def test_questions_without_enough_chains_are_skipped() -> None:
    instances, chains = _dataset(3)
    chains["q0"] = [c for c in chains["q0"] if not c.is_correct]  # no correct chain
    chains["q1"] = chains["q1"][:2]  # only one wrong chain
    chains["q2"] = [
        *chains["q2"][:2],
        ReasoningChain(expert="bad9", text="  ", answer=None, is_correct=False),
    ]  # an empty chain
    assert build_bench_items(instances, chains, prompt=build_aggregation_prompt) == []
    no_gold = [Instance(id="q0", question="?", gold=None)]
    assert build_bench_items(no_gold, _dataset(1)[1], prompt=build_aggregation_prompt) == []


def test_max_items_keeps_a_seeded_subset_in_order() -> None:
    instances, chains = _dataset()
    subset = build_bench_items(instances, chains, prompt=build_aggregation_prompt, seed=0, max_items=5)
    assert len(subset) == 5
    ids = [it.instance_id for it in subset]
    assert ids == sorted(ids, key=lambda s: int(s[1:]))


def test_math_items_ask_for_a_boxed_answer() -> None:
    prompt = build_aggregation_prompt("What is 1+1?", ["2", "3"], AnswerFormat(kind="math"))
    assert "\\boxed{X}" in prompt
    assert "### Response 2:\n3" in prompt


def test_rank_aggregators_picks_the_one_that_recovers_the_right_answer() -> None:
    instances, chains = _dataset()
    gold = {inst.id: inst.gold for inst in instances}
    items = build_bench_items(instances, chains, prompt=build_aggregation_prompt, seed=0)
    oracle = ScriptedAggregator(
        "oracle", lambda req: f"Checked. The answer is ({gold[req.instance_id or '']})"
    )
    echo = ScriptedAggregator("echo", echo_first)

    ranking = rank_aggregators({"echo": echo, "oracle": oracle}, items, extract_letter)

    assert ranking[0] == ("oracle", 1.0)
    echo_accuracy = sum(it.correct_position == 0 for it in items) / len(items)
    assert ranking[1] == ("echo", pytest.approx(echo_accuracy))
    assert echo_accuracy < 1.0
    assert oracle.generate_calls == echo.generate_calls == 1
    assert oracle.counters.requests == len(items)
    assert not oracle.is_loaded and oracle.counters.unloads == 1  # candidates are not left resident


def test_score_counts_unanswered_and_failed_requests() -> None:
    instances, chains = _dataset(4)
    items = build_bench_items(instances, chains, prompt=build_aggregation_prompt)
    replies = iter(["no letter here", None, "The answer is (A)", "The answer is (D)"])
    engine = ScriptedAggregator("flaky", lambda req: next(replies))
    score = score_aggregator(engine, items, extract_letter)
    assert (score.name, score.n, score.unanswered) == ("flaky", 4, 2)
    assert score.correct == sum(
        pred == it.gold for pred, it in zip([None, None, "A", "D"], items, strict=True)
    )
    assert score.accuracy == score.correct / 4


def test_requests_carry_distinct_seeds() -> None:
    instances, chains = _dataset(3)
    items = build_bench_items(instances, chains, prompt=build_aggregation_prompt)
    seen: list[int | None] = []

    def record(req: GenRequest) -> str:
        seen.append(req.sampling.seed)
        return "The answer is (A)"

    score_aggregator(ScriptedAggregator("s", record), items, extract_letter)
    assert seen == [0, 1, 2]


def test_rank_aggregators_needs_candidates_and_items() -> None:
    item = AggregatorBenchItem(
        instance_id="q", gold="A", prompt="prompt", experts=("a", "b", "c"), correct_position=0
    )
    with pytest.raises(ConfigError, match="no candidate"):
        rank_aggregators({}, [item], extract_letter)
    with pytest.raises(ConfigError, match="no items"):
        rank_aggregators({"x": ScriptedAggregator("x", echo_first)}, [], extract_letter)
