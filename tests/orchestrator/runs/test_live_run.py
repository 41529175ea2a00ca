"""Live runs on the tiny CPU pool: real transformers engines, one load per model, real LLM annotator
and LLM aggregator (the tiny models write gibberish, so these check plumbing, fallbacks and counts)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from common.errors import ConfigError, DataError
from orchestrator.cli import app
from orchestrator.datasets import load_questions
from orchestrator.pool import PoolConfig, load_pool_config
from orchestrator.profiling import ProfilingRecord
from orchestrator.runs.runner import profile_pool, run_pool
from skills.embedding import Embedder

POOLS = Path(__file__).resolve().parents[3] / "configs" / "pools"


def _questions(path: Path, n: int) -> Path:
    rows = [
        {
            "id": f"q{i}",
            "question": f"What is {i} plus {i + 3}?",
            "options": [str(2 * i + 3), "1", "2", "0"],
            "answer": "A",
            "category": "arithmetic",
        }
        for i in range(n)
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


@pytest.fixture
def tiny_cpu(tiny_pool: dict[str, Path]) -> PoolConfig:
    cfg = load_pool_config(POOLS / "tiny-cpu.yaml")
    return cfg.model_copy(update={"tiny_models_dir": str(next(iter(tiny_pool.values())).parent)})


@pytest.mark.slow
def test_64_questions_three_experts_and_aggregator_load_each_model_once(
    tiny_cpu: PoolConfig, tmp_path: Path
) -> None:
    instances = load_questions(_questions(tmp_path / "q.jsonl", 64)).instances
    report, finals = run_pool(tiny_cpu, instances)
    assert report.n == 64 and len(finals) == 64
    assert report.expert_calls_per_question == 3.0
    # every model (experts, LLM annotator, LLM aggregator) loaded exactly once in the whole run
    assert {name: m.loads for name, m in report.models.items()} == dict.fromkeys(report.models, 1)
    expert_requests = sum(m.requests for m in report.models.values())
    annotator_requests = 64 * tiny_cpu.annotation.n_samples
    aggregator_requests = report.counts["aggregator_calls"]
    assert expert_requests == 64 * 3 + annotator_requests + aggregator_requests
    assert report.counts["aggregator_calls"] + report.counts["consensus_skips"] == 64
    # gibberish keywords are counted, not fatal; unparsable aggregator output falls back to the vote
    assert report.counts["annotation_parse_failures"] <= annotator_requests
    assert report.counts["aggregator_fallbacks"] <= report.counts["aggregator_calls"]
    for f in finals:
        assert f.routing is not None and len(f.routing.experts) == 3
        assert len(f.expert_answers) == 3 and all(a.generated_tokens > 0 for a in f.expert_answers)
        assert f.aggregator_called == (f.aggregation == "llm")


@pytest.mark.parametrize("fits", ["all", "one"])
def test_memory_budget_keeps_models_resident_that_fit(
    tiny_cpu: PoolConfig, tmp_path: Path, fits: str
) -> None:
    """With a memory budget, models that fit stay resident across stages; each still loads once."""
    from batching.residency import resolve_footprint_gib
    from orchestrator.pool import resolve_local_models

    sizes = [resolve_footprint_gib(m) for m in resolve_local_models(tiny_cpu).models]
    budget = sum(sizes) * 1.01 if fits == "all" else max(sizes) * 1.01
    instances = load_questions(_questions(tmp_path / "q.jsonl", 12)).instances
    plain_report, plain = run_pool(tiny_cpu, instances)
    report, finals = run_pool(tiny_cpu.model_copy(update={"memory_budget_gib": budget}), instances)
    assert {name: m.loads for name, m in report.models.items()} == dict.fromkeys(report.models, 1)
    assert {name: m.unloads for name, m in report.models.items()} == dict.fromkeys(report.models, 1)
    evictions = report.counts["residency_evictions"]
    # all fit: nothing is evicted before the run ends; one fits: every expert but the last makes room
    assert evictions == (0 if fits == "all" else len(tiny_cpu.experts) - 1)
    # no budget: one model resident at a time, each evicted by the next (and still loaded once)
    assert plain_report.counts["residency_evictions"] == len(tiny_cpu.experts) - 1
    assert [f.answer for f in finals] == [f.answer for f in plain]


def test_memory_budget_smaller_than_a_model_is_a_clear_error(tiny_cpu: PoolConfig, tmp_path: Path) -> None:
    from common.errors import ResidencyError

    instances = load_questions(_questions(tmp_path / "q.jsonl", 2)).instances
    with pytest.raises(ResidencyError, match="raise the budget"):
        run_pool(tiny_cpu.model_copy(update={"memory_budget_gib": 1e-6}), instances)


@pytest.mark.slow
def test_profile_then_route_with_the_paper_policy(tiny_cpu: PoolConfig, tmp_path: Path, minilm: Any) -> None:
    embedder = Embedder(cache_dir=tmp_path / "emb", model=minilm)
    val = load_questions(_questions(tmp_path / "val.jsonl", 8)).instances
    record = profile_pool(
        tiny_cpu.model_copy(
            update={"annotation": tiny_cpu.annotation.model_copy(update={"annotator": "embedding"})}
        ),
        val,
        embedder=embedder,
    )
    assert record.experts == [e.name for e in tiny_cpu.experts]
    assert len(record.correct) == 8 and all(len(r) == 4 for r in record.correct)
    assert all(record.skills)  # embedding annotator always names skills
    path = tmp_path / "profiles.json"
    record.save(path)
    assert ProfilingRecord.load(path) == record
    method = tiny_cpu.method.model_copy(update={"policy": "paper", "k": 2})
    cfg = tiny_cpu.model_copy(update={"method": method, "profiles": str(path)})
    report, finals = run_pool(cfg, val[:4], embedder=embedder)
    assert report.expert_calls_per_question == 2.0
    assert all(f.routing and f.routing.policy == "paper" for f in finals)
    assert all(m.loads <= 1 for m in report.models.values())


def test_skill_policy_without_profiles_is_a_clear_error(tiny_cpu: PoolConfig, tmp_path: Path) -> None:
    instances = load_questions(_questions(tmp_path / "q.jsonl", 2)).instances
    cfg = tiny_cpu.model_copy(update={"method": tiny_cpu.method.model_copy(update={"policy": "paper"})})
    with pytest.raises(ConfigError, match="needs expert profiles"):
        run_pool(cfg, instances)


def test_bad_inputs_name_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "ok?"}\n{"options": ["a"]}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2.*question"):
        load_questions(bad)
    assert load_questions(bad, skip_malformed=True).skipped == 1
    pool = tmp_path / "pool.yaml"
    pool.write_text("name: p\nexperts: [{name: a, engine: transformers, model: x}]\naggregator: nope\n")
    with pytest.raises(ConfigError, match="aggregator 'nope' is not a model of the pool"):
        load_pool_config(pool)


@pytest.mark.slow
def test_cli_run_writes_answers_and_report(tiny_pool: dict[str, Path], tmp_path: Path) -> None:
    cfg = load_pool_config(POOLS / "tiny-cpu.yaml").model_copy(
        update={"tiny_models_dir": str(next(iter(tiny_pool.values())).parent)}
    )
    pool = tmp_path / "pool.yaml"
    pool.write_text(json.dumps(cfg.model_dump(mode="json")))
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--pool",
            str(pool),
            "--input",
            str(_questions(tmp_path / "q.jsonl", 6)),
            "--out",
            str(out),
            "--store",
            str(tmp_path / "runs.sqlite"),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert set(report["models"]["tiny-llama-m"]) >= {
        "loads",
        "load_seconds",
        "generated_tokens",
        "generation_seconds",
    }
    assert len((out / "answers.jsonl").read_text().splitlines()) == 6


def test_shipped_pool_configs_validate() -> None:
    for path in POOLS.glob("*.yaml"):
        cfg = load_pool_config(path)
        assert cfg.aggregator is None or cfg.aggregator in {m.name for m in cfg.models}
    paper = load_pool_config(POOLS / "paper-16.yaml")
    assert len(paper.experts) == 16
    assert {e.sampling.max_tokens for e in paper.experts if "R1" in e.name} == {32768}
    assert {e.sampling.max_tokens for e in paper.experts if "R1" not in e.name} == {4096}
