"""The Python API on the tiny CPU pool: solve (sync and async), explain, profile."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import orchestrator
from common.errors import ConfigError, DataError
from orchestrator import AsyncSymbolicMoE, SymbolicMoE
from orchestrator.method import MethodConfig
from orchestrator.pool import load_pool_config
from skills.embedding import Embedder

POOLS = Path(__file__).resolve().parents[2] / "configs" / "pools"


@pytest.fixture
def moe(tiny_pool: dict[str, Path], tmp_path: Path, minilm: Any) -> Iterator[SymbolicMoE]:
    cfg = load_pool_config(POOLS / "tiny-cpu.yaml").model_copy(
        update={"tiny_models_dir": str(next(iter(tiny_pool.values())).parent)}
    )
    with SymbolicMoE(cfg, embedder=Embedder(cache_dir=tmp_path / "emb", model=minilm)) as session:
        yield session


def test_exports_match_all() -> None:
    assert sorted(orchestrator.__all__) == ["AsyncSymbolicMoE", "SymbolicMoE"]
    assert orchestrator.SymbolicMoE is SymbolicMoE


@pytest.mark.slow
def test_solve_accepts_strings_dicts_and_returns_traces(moe: SymbolicMoE) -> None:
    answers = moe.solve(
        ["What is 2 plus 3?", {"question": "Pick one", "options": ["a", "b", "c"], "answer": "B"}]
    )
    assert len(answers) == 2
    for a in answers:
        assert a.routing is not None and len(a.routing.experts) == 3
        assert len(a.expert_answers) == 3 and all(x.generated_tokens > 0 for x in a.expert_answers)
    assert answers[1].correct is not None and answers[0].correct is None  # only the second has gold
    assert moe.last_report is not None and all(m.loads == 1 for m in moe.last_report.models.values())


@pytest.mark.slow
def test_async_solve_and_explain(moe: SymbolicMoE) -> None:
    amoe = AsyncSymbolicMoE(moe.pool, embedder=moe.session.embedder())
    answers = asyncio.run(amoe.solve(["What is 1 plus 1?"]))
    assert len(answers) == 1 and amoe.last_report is not None
    decision = asyncio.run(amoe.explain("What is 4 plus 4?"))
    assert len(decision.experts) == 3


@pytest.mark.slow
def test_explain_generates_no_expert_answer(moe: SymbolicMoE) -> None:
    decision = moe.explain({"question": "Reverse the word 'planet'.", "options": ["tenalp", "planet"]})
    assert decision.experts and decision.policy == "random_k"


@pytest.mark.slow
def test_profile_then_route_by_skills(moe: SymbolicMoE, tmp_path: Path) -> None:
    pool = moe.pool.model_copy(
        update={
            "annotation": moe.pool.annotation.model_copy(update={"annotator": "embedding"}),
            "method": MethodConfig(policy="skill_top_k", k=2, aggregation="llm"),
        }
    )
    val = [
        {"question": f"What is {i} plus 1?", "options": [str(i + 1), "0"], "answer": "A"} for i in range(6)
    ]
    with SymbolicMoE(pool, embedder=moe.session.embedder()) as skilled:
        with pytest.raises(ConfigError, match="needs expert profiles"):
            skilled.explain("What is 9 plus 1?")
        record = skilled.profile(val, save_to=tmp_path / "p.json")
        assert (tmp_path / "p.json").exists() and len(record.questions) == 6
        decision = skilled.explain("What is 9 plus 1?")  # routes with the new profiles from now on
    assert len(decision.experts) == 2 and decision.skills and decision.policy == "skill_top_k"


def test_bad_questions_are_clear_errors(moe: SymbolicMoE) -> None:
    with pytest.raises(DataError, match="question 1: expected a string"):
        moe.solve(["ok?", 42])  # type: ignore[list-item]
    with pytest.raises(DataError, match="gold answer"):
        moe.profile(["no gold here?"])


def test_the_python_api_prints_no_library_progress_bars() -> None:
    """The README's snippet: its output is the answers, not transformers' "Loading weights" bars."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    snippet = (
        "from orchestrator import SymbolicMoE\n"
        f"with SymbolicMoE.from_config({str(root / 'configs/pools/zoo-cpu.yaml')!r}) as moe:\n"
        "    print([a.answer for a in moe.solve(['What is 12 plus 7?'])])\n"
    )
    done = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(root)})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['19']"
    assert "Loading weights" not in done.stderr + done.stdout and "it/s" not in done.stderr
