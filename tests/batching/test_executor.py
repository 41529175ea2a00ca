"""Tests for ``run_plan``: load-once batches, residency across stages, result callbacks, prefetch."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest
from counting_engine import CountingEngine

from batching.config import TransformersExpertConfig
from batching.engines.hf_engine import TransformersEngine
from batching.executor import run_plan
from batching.planner import plan_stage
from batching.residency import ResidencyManager, plan_load_order
from common.errors import ResidencyError
from common.generation import GenRequest, SamplingParams


def _request(instance_id: str, expert: str) -> GenRequest:
    return GenRequest(
        request_id=f"{instance_id}/{expert}", prompt=f"question {instance_id}", instance_id=instance_id
    )


EXPERT_STAGE = [("q1", ["a", "b"]), ("q2", ["b", "c"]), ("q3", ["a", "c"])]


def test_without_residency_each_expert_loads_once_and_unloads() -> None:
    engines = {n: CountingEngine(n) for n in "abc"}
    out = run_plan(plan_stage("s", EXPERT_STAGE), engines, _request, batch_size=1, keep_loaded=frozenset("c"))
    assert len(out.results) == 6 and out.results[("q2", "c")].text == "c:q2"
    assert out.load_order == out.loaded == ["a", "b", "c"]
    assert [e.counters.loads for e in engines.values()] == [1, 1, 1]
    assert [e.is_loaded for e in engines.values()] == [False, False, True]


def test_residency_keeps_a_model_resident_across_two_stages() -> None:
    engines = {n: CountingEngine(n) for n in "abc"}
    residency = ResidencyManager(3.0, {n: 1.0 for n in engines})
    first = run_plan(plan_stage("experts", EXPERT_STAGE), engines, _request, residency=residency)
    # aggregation stage: expert b is also the aggregator
    aggregate = plan_stage("aggregate", [("q1", ["b"]), ("q2", ["b"])])
    second = run_plan(aggregate, engines, _request, residency=residency)
    assert first.loaded == ["a", "b", "c"] and second.loaded == []
    assert engines["b"].counters.loads == 1
    assert sum(e.counters.loads for e in engines.values()) == 3
    assert residency.resident() == ["a", "c", "b"]
    residency.release_all()
    assert not any(e.is_loaded for e in engines.values())


def test_with_room_for_one_model_the_load_order_still_loads_the_shared_model_once() -> None:
    engines = {n: CountingEngine(n) for n in "abc"}
    residency = ResidencyManager(1.0, {n: 1.0 for n in engines})
    experts_order, aggregate_order = plan_load_order([["a", "b", "c"], ["b"]])
    assert experts_order == ["a", "c", "b"]
    run_plan(plan_stage("experts", EXPERT_STAGE, experts_order), engines, _request, residency=residency)
    aggregate = plan_stage("aggregate", [("q1", ["b"])], aggregate_order)
    run_plan(aggregate, engines, _request, residency=residency)
    assert engines["b"].counters.loads == 1
    assert residency.loads == 3 and residency.evictions == 2


def test_on_result_is_called_once_per_pair() -> None:
    engines = {n: CountingEngine(n, footprint_gib=1.0) for n in "abc"}
    seen: list[tuple[str, str, str | None]] = []
    out = run_plan(
        plan_stage("s", EXPERT_STAGE),
        engines,
        _request,
        batch_size=2,
        residency=ResidencyManager(3.0),  # footprints from the engine configs
        on_result=lambda iid, expert, res: seen.append((iid, expert, res.text)),
    )
    assert sorted(seen) == sorted((i, e, r.text) for (i, e), r in out.results.items())
    assert len(seen) == len(set(seen)) == 6


def test_residency_error_propagates() -> None:
    engines = {"a": CountingEngine("a", footprint_gib=5.0)}
    with pytest.raises(ResidencyError, match="'a' needs 5.00 GiB"):
        run_plan(plan_stage("s", [("q1", ["a"])]), engines, _request, residency=ResidencyManager(4.0))


def test_real_models_with_residency_and_prefetch(
    tiny_pool: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="batching.residency")
    names = ["tiny-llama-xs", "tiny-llama-s"]
    engines = {
        n: TransformersEngine(TransformersExpertConfig(name=n, model=str(tiny_pool[n]), dtype="float32"))
        for n in names
    }
    sampling = SamplingParams(temperature=0.0, max_tokens=3)
    residency = ResidencyManager.from_configs(0.5, [e.config for e in engines.values()])

    def make(iid: str, expert: str) -> GenRequest:
        return GenRequest(request_id=f"{iid}/{expert}", prompt=f"What is {iid} plus 2?", sampling=sampling)

    out = run_plan(plan_stage("s", [("1", names), ("2", names)]), engines, make, residency=residency)
    assert out.loaded == names and all(r.text is not None for r in out.results.values())
    assert residency.resident() == names  # both fit in 0.5 GiB: nothing was evicted
    residency.release_all()
    assert not [t for t in threading.enumerate() if t.name.startswith("prefetch-")]
    # the second model's weights were read while the first one generated
    assert any(r.getMessage().startswith("prefetched tiny-llama-s") for r in caplog.records)
