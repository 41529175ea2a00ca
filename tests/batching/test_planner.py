"""The batch planner and executor: one batch and one load per expert per stage."""

from __future__ import annotations

from collections.abc import Sequence

from batching.engines.base import Engine
from batching.executor import run_plan
from batching.planner import plan_stage
from common.generation import GenRequest, GenResult


class CountingEngine(Engine):
    """A real Engine that answers with its name and remembers batch sizes."""

    kind = "counting"

    def __init__(self, name: str) -> None:
        super().__init__(None)
        self._name = name
        self.batches: list[int] = []

    @property
    def name(self) -> str:
        return self._name

    def _load(self) -> None:
        pass

    def _unload(self) -> None:
        pass

    def _generate(self, batch: Sequence[GenRequest]) -> list[GenResult]:
        self.batches.append(len(batch))
        return [
            GenResult(request_id=r.request_id, text=f"{self._name}:{r.instance_id}", generated_tokens=2)
            for r in batch
        ]


def test_plan_groups_pairs_by_expert_and_dedupes() -> None:
    plan = plan_stage("s", [("q1", ["a", "b"]), ("q2", ["b", "b", "c"]), ("q3", ["a"])])
    assert plan.experts == ["a", "b", "c"]
    assert {b.expert: b.instance_ids for b in plan.batches} == {
        "a": ("q1", "q3"),
        "b": ("q1", "q2"),
        "c": ("q2",),
    }
    assert plan.n_pairs == 5


def test_plan_follows_requested_load_order() -> None:
    plan = plan_stage("s", [("q1", ["a", "b", "z"])], load_order=["b", "a"])
    assert plan.experts == ["b", "a", "z"]


def test_every_expert_loads_exactly_once_per_stage() -> None:
    assignments = [(f"q{i}", ["a", "b", "c"][: 1 + i % 3]) for i in range(50)]
    plan = plan_stage("s", assignments)
    engines = {e: CountingEngine(e) for e in "abc"}
    out = run_plan(
        plan, engines, lambda iid, e: GenRequest(request_id=f"{iid}:{e}", instance_id=iid), batch_size=8
    )
    for e, engine in engines.items():
        assert engine.counters.loads == 1, e
        assert engine.counters.unloads == 1, e
        assert not engine.is_loaded
    assert len(out.results) == sum(len(x) for _, x in assignments)
    assert out.results[("q4", "b")].text == "b:q4"
    assert max(max(e.batches) for e in engines.values()) <= 8
    assert engines["a"].counters.generated_tokens == 2 * 50


def test_keep_loaded_leaves_an_expert_resident() -> None:
    plan = plan_stage("s", [("q1", ["a", "b"])])
    engines = {e: CountingEngine(e) for e in "ab"}
    run_plan(
        plan,
        engines,
        lambda iid, e: GenRequest(request_id=f"{iid}:{e}", instance_id=iid),
        keep_loaded=frozenset({"b"}),
    )
    assert not engines["a"].is_loaded and engines["b"].is_loaded


def test_planning_scales_to_paper_sized_runs() -> None:
    experts = [f"e{j}" for j in range(16)]
    plan = plan_stage("s", [(f"q{i}", experts[i % 13 : i % 13 + 3]) for i in range(12000)])
    assert plan.n_pairs == 36000
    assert len(plan.batches) == 15
