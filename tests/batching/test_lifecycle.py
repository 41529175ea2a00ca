"""The one model lifecycle (:mod:`batching.lifecycle`): load once, generate batches, unload, count."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields

import pytest
from counting_engine import CountingEngine

from batching.engines.base import EngineCounters
from batching.lifecycle import LifecycleCounters, ModelLifecycle
from common.errors import EngineError
from common.generation import GenRequest


class _Dropper(ModelLifecycle[str, str, LifecycleCounters]):
    """Returns one result too few: the lifecycle must refuse it."""

    kind = "dropper"

    def __init__(self) -> None:
        super().__init__(None, counters=LifecycleCounters())

    def _load(self) -> None:
        pass

    def _generate(self, batch: Sequence[str]) -> list[str]:
        return list(batch[1:])

    def _unload(self) -> None:
        pass


def test_an_engine_loads_once_counts_and_unloads_through_the_lifecycle() -> None:
    engine = CountingEngine("e")
    batch = [GenRequest(request_id="r1", instance_id="q1"), GenRequest(request_id="r2", instance_id="q2")]
    assert isinstance(engine, ModelLifecycle) and not engine.is_loaded
    assert engine.generate([]) == [] and engine.counters.loads == 0  # an empty batch loads nothing
    engine.generate(batch)  # loads first
    engine.generate(batch[:1])  # already loaded
    assert engine.is_loaded
    engine.unload()
    engine.unload()  # a second unload does nothing
    c = engine.counters
    assert (c.loads, c.unloads, c.requests, c.errors) == (1, 1, 3, 0)
    assert c.load_seconds >= 0 and c.generation_seconds > 0
    shared = [f.name for f in fields(LifecycleCounters)]
    assert isinstance(c, EngineCounters) and list(c.as_dict())[: len(shared)] == shared
    assert set(EngineCounters().as_dict()) == {f.name for f in fields(EngineCounters)}  # read per counter


def test_a_model_that_drops_a_result_is_an_engine_error() -> None:
    model = _Dropper()
    with pytest.raises(EngineError, match="'dropper' returned 1 results for 2 requests"):
        model.generate(["a", "b"])
    assert model.counters.loads == 1 and model.counters.requests == 0  # nothing counted as served
