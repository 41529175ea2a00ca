"""Math verdicts without the wait: trivial pairs skip parsing, the rest run on worker processes once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator import answers
from orchestrator.answers import math_equal, math_verdicts, trivial_verdict
from orchestrator.bench.verdicts import persistent_verdicts, precompute_verdicts, question_pairs


@pytest.fixture(autouse=True)
def empty_memo() -> Iterator[None]:
    """Each test starts with no verdicts in memory (the memo is process-wide)."""
    saved = dict(answers._VERDICTS)
    answers._VERDICTS.clear()
    yield
    answers._VERDICTS.clear()
    answers._VERDICTS.update(saved)


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        ("12", "15", False),
        (" 12 ", "$12$", True),
        ("1,000", "1000", True),
        ("\\frac{1}{2}", "1/2", True),
        ("0.5", "\\dfrac{1}{2}", True),
        ("-\\frac{3}{4}", "-3/4", True),
        ("\\frac{3}{4}", "-3/4", False),
        ("0.33", "1/3", None),  # a rounded decimal: math-verify decides
        ("x+1", "1+x", None),
        ("\\sqrt{2}", "2", None),
    ],
)
def test_trivial_verdicts_agree_with_math_verify(pred: str, gold: str, expected: bool | None) -> None:
    assert trivial_verdict(pred, gold) is expected
    if expected is not None:
        assert answers._verify_symbolic(pred, gold) is expected


def test_question_pairs_cover_gold_and_both_directions() -> None:
    pairs = question_pairs("2", ["2", "x", None, "2", "  "])
    assert set(pairs) == {("2", "2"), ("x", "2"), ("2", "x"), ("x", "2")} | {("2", "x")}
    assert question_pairs(None, ["a", "b"]) == [("a", "b"), ("b", "a")]


@pytest.mark.slow
def test_precompute_on_two_processes_gives_the_sequential_verdicts() -> None:
    groups = [
        question_pairs("\\frac{1}{2}", ["0.5", "1/2", "\\sqrt{4}/4", "x"]),
        question_pairs("x^2+2x+1", ["(x+1)^2", "x^2+1", "7"]),
    ] * 40  # enough pairs to start the workers; duplicates are verified once
    verified = precompute_verdicts(groups, workers=2, min_parallel=4)
    parallel = math_verdicts()
    answers._VERDICTS.clear()
    sequential = {p: math_equal(*p) for g in groups for p in g}
    assert parallel == sequential
    assert parallel[("(x+1)^2", "x^2+2x+1")] and not parallel[("x^2+1", "x^2+2x+1")]
    # only pairs no shortcut settles reached math-verify, each once
    assert verified == sum(1 for p in set(sequential) if trivial_verdict(*p) is None)
    assert precompute_verdicts(groups, workers=2, min_parallel=4) == 0  # warm: nothing left


def test_verdicts_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "verdicts.json"
    with persistent_verdicts(path):
        precompute_verdicts([question_pairs("x+1", ["1+x", "12"])], workers=1)
    stored = {(a, b): v for a, b, v in json.loads(path.read_text())}
    assert stored[("1+x", "x+1")] is True and stored[("12", "x+1")] is False
    answers._VERDICTS.clear()
    with persistent_verdicts(path):
        assert precompute_verdicts([question_pairs("x+1", ["1+x", "12"])], workers=1) == 0


def test_precompute_reports_progress_up_to_every_pair() -> None:
    from orchestrator.bench.verdicts import precompute_verdicts

    groups = [[(f"x^{k}+{j}", f"{j}+x^{k}") for j in range(3)] for k in range(101, 105)]  # 12 new pairs
    seen: list[tuple[int, int]] = []
    assert precompute_verdicts(groups, 1, on_progress=lambda done, total: seen.append((done, total))) == 12
    assert seen[-1] == (12, 12) and [d for d, _ in seen] == sorted(d for d, _ in seen) and len(seen) == 4
