"""Tests for the speed benchmarks' logic (structure only: timings belong in the benchmark output)."""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from benchmarks.tools.speed import (
    PlanningConfig,
    SpeedConfig,
    add_cli_args,
    compare_outputs,
    config_from_args,
    planning_table,
    random_assignments,
    rotating_assignments,
    run_planning_overhead,
    run_speed,
    speed_table,
    write_result,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from zoo.tiny import ensure_tiny_pool

    root = tmp_path_factory.mktemp("tiny-models")
    ensure_tiny_pool(root)
    return root


def _load_benchmark(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rotating_and_random_assignments() -> None:
    rot = rotating_assignments(5, ["a", "b", "c", "d"], 3)
    assert rot[0] == ("q00000", ["a", "b", "c"]) and rot[3] == ("q00003", ["d", "a", "b"])
    assert rot[4][1] == ["a", "b", "c"]
    rnd = random_assignments(50, 16, 3, seed=1)
    assert rnd == random_assignments(50, 16, 3, seed=1)
    assert all(len(set(experts)) == 3 for _, experts in rnd)


def test_compare_outputs_lists_differences() -> None:
    a = {("q1", "x"): "1", ("q2", "x"): "2"}
    assert compare_outputs(a, dict(a)) == []
    assert compare_outputs(a, {("q1", "x"): "1", ("q2", "x"): "3", ("q3", "x"): None}) == ["q2/x", "q3/x"]


def test_grouped_loads_each_model_once_and_matches_naive(tiny_root: Path) -> None:
    cfg = SpeedConfig(
        n_instances=4, experts_per_instance=2, max_tokens=4, models_dir=str(tiny_root), warmup=False
    )
    result = run_speed(cfg)
    assert result.n_pairs == 8 and len(result.experts) == 4
    assert result.grouped.loads == 4 and result.grouped.unloads == 4  # every model once
    assert result.naive.loads == 8 and result.naive.unloads == 8  # once per pair
    assert result.grouped.requests == result.naive.requests == 8
    assert result.grouped.generated_tokens == result.naive.generated_tokens
    assert result.outputs_identical and result.mismatches == []
    assert 0 <= result.grouped.load_share <= 1 and 0 <= result.naive.overhead_share <= 1
    assert result.config["n_instances"] == 4 and len(result.config_hash) == 16
    assert speed_table(result).row_count == 2


def test_planning_overhead_structure() -> None:
    result = run_planning_overhead(PlanningConfig(n_instances=200, n_experts=16, repeats=3, warmup=0))
    assert result.n_pairs == 600 and result.n_batches == 16
    assert result.min_s <= result.p50_s <= result.p90_s <= result.p99_s <= result.max_s
    assert planning_table(result).row_count == 1


def test_write_result_is_append_only(tmp_path: Path) -> None:
    result = run_planning_overhead(PlanningConfig(n_instances=10, repeats=1, warmup=0))
    first = write_result(result, "auto", results_dir=tmp_path)
    second = write_result(result, "auto", results_dir=tmp_path)
    explicit = write_result(result, str(tmp_path / "x.json"))
    assert len({first, second, explicit}) == 3
    assert first.parent.parent == tmp_path and first.name.startswith("planning_overhead-")
    assert json.loads(explicit.read_text())["n_pairs"] == 30


def test_cli_args_come_from_the_config_model() -> None:
    parser = argparse.ArgumentParser()
    add_cli_args(parser, SpeedConfig)
    cfg = config_from_args(SpeedConfig, parser.parse_args(["--n-instances", "8", "--no-warmup"]))
    assert cfg == SpeedConfig(n_instances=8, warmup=False)
    with pytest.raises(SystemExit):
        parser.parse_args(["--dtype", "int3"])


def test_planning_benchmark_entrypoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bench = _load_benchmark("planning_overhead")
    out = tmp_path / "plan.json"
    args = bench.build_parser().parse_args(
        ["--n-instances", "100", "--repeats", "2", "--output-json", str(out)]
    )
    assert bench.main(args) == 0
    assert json.loads(out.read_text())["within_budget"] is True
    assert "plan_stage" in capsys.readouterr().out
