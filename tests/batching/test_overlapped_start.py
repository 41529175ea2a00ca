"""Overlapped engine start: the next model loads while the current one generates, memory permitting."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from counting_engine import CountingEngine

from batching.config import TransformersExpertConfig
from batching.engines.hf_engine import TransformersEngine
from batching.executor import run_plan
from batching.planner import plan_stage
from batching.residency import ResidencyManager
from common.errors import EngineDeadError
from common.generation import GenRequest, GenResult, SamplingParams

STAGE = [("q1", ["a", "b", "c"]), ("q2", ["a", "b", "c"])]


class TimedEngine(CountingEngine):
    """A counting engine whose load and generate take real time (sleeps), and whose load can fail."""

    def __init__(self, name: str, load_s: float, gen_s: float, fail_load: bool = False) -> None:
        super().__init__(name, footprint_gib=1.0)
        self.load_s, self.gen_s, self.fail_load = load_s, gen_s, fail_load
        self.load_threads: list[str] = []

    def _load(self) -> None:
        self.load_threads.append(threading.current_thread().name)
        time.sleep(self.load_s)
        if self.fail_load:
            raise EngineDeadError("load failed: no such model", engine="timed", model=self.name)

    def _generate(self, batch: Sequence[GenRequest]) -> list[GenResult]:
        time.sleep(self.gen_s)
        return super()._generate(batch)


def _request(iid: str, expert: str) -> GenRequest:
    return GenRequest(request_id=f"{iid}/{expert}", prompt=f"question {iid}", instance_id=iid)


def _run(overlap: bool, budget_gib: float, **engine_kw: float) -> tuple[dict[str, TimedEngine], object]:
    engines = {n: TimedEngine(n, **engine_kw) for n in "abc"}  # type: ignore[arg-type]
    residency = ResidencyManager(budget_gib)
    out = run_plan(plan_stage("s", STAGE), engines, _request, residency=residency, overlap_start=overlap)
    residency.release_all()
    return engines, out


def test_overlap_hides_the_next_models_start_behind_generation() -> None:
    _, seq = _run(False, 3.0, load_s=0.3, gen_s=0.4)
    ovl_engines, ovl = _run(True, 3.0, load_s=0.3, gen_s=0.4)
    assert ovl.results == seq.results  # type: ignore[attr-defined]
    assert ovl.overlapped == ["b", "c"] and seq.overlapped == []  # type: ignore[attr-defined]
    assert [e.counters.loads for e in ovl_engines.values()] == [1, 1, 1]
    assert ovl_engines["b"].load_threads == ["start-b"]  # loaded beside a's generation
    assert seq.visible_load_seconds >= 0.85  # type: ignore[attr-defined]
    assert ovl.visible_load_seconds < 0.6  # type: ignore[attr-defined]  # only a's start is visible


def test_no_early_start_when_it_would_need_an_eviction() -> None:
    engines, out = _run(True, 1.0, load_s=0.05, gen_s=0.05)  # room for one model
    assert out.overlapped == []  # type: ignore[attr-defined]
    assert all(e.load_threads == ["MainThread"] for e in engines.values())
    engines, out = _run(True, 2.0, load_s=0.05, gen_s=0.05)  # room for two: c would evict a model in use
    assert out.overlapped == ["b"]  # type: ignore[attr-defined]


def test_a_failed_early_start_raises_in_the_stage() -> None:
    engines = {"a": TimedEngine("a", 0.0, 0.05), "b": TimedEngine("b", 0.0, 0.0, fail_load=True)}
    residency = ResidencyManager(2.0)
    with pytest.raises(EngineDeadError, match="no such model"):
        run_plan(
            plan_stage("s", [("q1", ["a", "b"])]), engines, _request, residency=residency, overlap_start=True
        )
    assert engines["b"].load_threads == ["start-b"]


@pytest.mark.slow
def test_transformers_engines_answer_the_same_when_started_early(tiny_pool: dict[str, Path]) -> None:
    configs = {
        n: TransformersExpertConfig(name=n, model=str(p), dtype="float32", cpu_threads=1)
        for n, p in list(tiny_pool.items())[:3]
    }
    stage = [(f"q{i}", list(configs)) for i in range(4)]
    sampling = SamplingParams(temperature=0.0, max_tokens=4)

    def request(iid: str, expert: str) -> GenRequest:
        return GenRequest(
            request_id=f"{iid}/{expert}", prompt=f"What is {iid}?", sampling=sampling, instance_id=iid
        )

    texts = []
    for overlap in (False, True):
        engines = {n: TransformersEngine(c) for n, c in configs.items()}
        residency = ResidencyManager(None, max_models=3)
        out = run_plan(plan_stage("s", stage), engines, request, residency=residency, overlap_start=overlap)
        residency.release_all()
        texts.append({k: r.text for k, r in out.results.items()})
        assert len(out.overlapped) == (2 if overlap else 0)
    assert texts[0] == texts[1]
