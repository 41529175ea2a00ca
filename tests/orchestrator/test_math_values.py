"""Far-apart values prove two answers unequal only where math-verify would say so too."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from orchestrator import answers
from orchestrator.answers import trivial_verdict
from orchestrator.math_values import answer_value, surely_unequal


def _parse(text: str) -> tuple[object, ...]:
    return answers._parsed(text, answers._MATH_VERIFY_TIMEOUT_S)


def _math_verify(pred: str, gold: str) -> bool:
    from math_verify import verify

    gp, pp = _parse(gold), _parse(pred)
    return bool(gp and pp and verify(list(gp), list(pp), timeout_seconds=answers._MATH_VERIFY_TIMEOUT_S))


@pytest.mark.parametrize(
    ("pred", "gold"),
    [
        ("12", "\\frac{3}{5}"),
        ("5x", "5"),
        ("5x + 4y", "5x - 4y"),
        ("\\sqrt{7}", "2"),
        ("3 + 2i", "3 - 2i"),
    ],
)
def test_far_apart_answers_are_unequal_and_math_verify_agrees(pred: str, gold: str) -> None:
    assert surely_unequal(_parse(pred), _parse(gold))
    assert _math_verify(pred, gold) is False


@pytest.mark.parametrize(
    ("pred", "gold"),
    [
        ("\\sin^2 x + \\cos^2 x", "1"),  # an identity holds at the point
        ("9\\%", "9"),  # math-verify reads a percentage either way
        ("9", "9\\%"),
        ("0.333333", "\\frac{1}{3}"),  # a rounded decimal is close, so math-verify decides
        ("x + 1", "1 + x"),
        ("e", "\\exp(1)"),  # a bare symbol has no value (math-verify compares it by name)
        ("x = 5", "5"),  # an equation has no value
        ("\\{1, 2\\}", "\\{2, 1\\}"),  # nor a set
    ],
)
def test_answers_math_verify_may_accept_are_left_to_it(pred: str, gold: str) -> None:
    assert not surely_unequal(_parse(pred), _parse(gold))


def test_an_answer_without_a_sympy_value_has_none() -> None:
    assert answer_value(_parse("x")) is None
    assert answer_value(()) is None
    assert answer_value(_parse("2\\pi")) == pytest.approx(2 * 3.141592653589793)


@pytest.mark.slow
def test_every_pair_settled_by_values_is_one_math_verify_rejects(shared_data_dir: Path) -> None:
    """On a seeded sample of the MATH-500 recordings' pairs, the shortcut never overrules math-verify."""
    from orchestrator.bench.config import load_bench_config
    from orchestrator.bench.data import load_bench_data
    from orchestrator.bench.runner import expert_answer_matrix
    from orchestrator.bench.verdicts import matrix_pairs

    bench = load_bench_config(Path(__file__).resolve().parents[2] / "configs/bench/math500.yaml")
    matrix = expert_answer_matrix(bench, load_bench_data(bench, shared_data_dir), shared_data_dir)
    pairs = dict.fromkeys(p for g in matrix_pairs(matrix) for p in g)
    hard = [p for p in pairs if trivial_verdict(*p) is None]
    sample = random.Random(0).sample(hard, 600)
    settled = [p for p in sample if surely_unequal(_parse(p[0]), _parse(p[1]))]
    assert len(settled) > len(sample) // 3  # the shortcut is worth having
    accepted = [p for p in settled if _math_verify(*p)]
    assert accepted == []
