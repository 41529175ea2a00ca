"""Tests for the residency manager (fit, LRU eviction, pins, errors, prefetch) and the stage load order."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest
from counting_engine import CountingEngine

from batching.config import ReplayExpertConfig, TransformersExpertConfig
from batching.residency import (
    FOOTPRINT_OVERHEAD,
    Prefetch,
    ResidencyManager,
    estimate_footprint_gib,
    plan_load_order,
    resolve_footprint_gib,
    weight_files,
)
from common.errors import ConfigError, ResidencyError


def _engines(*names: str) -> dict[str, CountingEngine]:
    return {n: CountingEngine(n) for n in names}


def _write(path: Path, n_bytes: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * n_bytes)
    return path


# -- fit and eviction ------------------------------------------------------------------------------


def test_small_models_stay_resident_together() -> None:
    engines = _engines("a", "b", "c", "d", "e")
    residency = ResidencyManager(1.0, {n: 0.1 for n in engines})
    for name, engine in engines.items():
        residency.acquire(name, engine)
    assert residency.resident() == ["a", "b", "c", "d", "e"]
    assert residency.used_gib == pytest.approx(0.5)
    assert residency.loads == 5 and residency.evictions == 0
    assert all(e.is_loaded and e.counters.loads == 1 for e in engines.values())


def test_acquiring_a_resident_model_does_not_reload_it() -> None:
    engines = _engines("a")
    residency = ResidencyManager(1.0, {"a": 0.5})
    for _ in range(3):
        residency.acquire("a", engines["a"])
    assert engines["a"].counters.loads == 1 and residency.loads == 1


def test_lru_model_is_evicted_when_a_new_one_does_not_fit() -> None:
    engines = _engines("a", "b", "c")
    residency = ResidencyManager(10.0, {"a": 4.0, "b": 4.0, "c": 4.0})
    residency.acquire("a", engines["a"])
    residency.acquire("b", engines["b"])
    residency.acquire("a", engines["a"])  # a is now most recently used
    residency.acquire("c", engines["c"])
    assert residency.resident() == ["a", "c"]
    assert engines["b"].counters.unloads == 1 and not engines["b"].is_loaded
    assert engines["a"].counters.loads == 1 and engines["a"].counters.unloads == 0
    assert residency.evictions == 1


def test_eviction_frees_as_many_models_as_needed() -> None:
    engines = _engines("a", "b", "big")
    residency = ResidencyManager(10.0, {"a": 3.0, "b": 3.0, "big": 9.0})
    residency.acquire("a", engines["a"])
    residency.acquire("b", engines["b"])
    residency.acquire("big", engines["big"])
    assert residency.resident() == ["big"] and residency.evictions == 2


def test_pinned_models_are_never_evicted() -> None:
    engines = _engines("a", "b", "c")
    residency = ResidencyManager(8.0, {"a": 4.0, "b": 4.0, "c": 4.0})
    residency.pin("a")
    residency.acquire("a", engines["a"])
    residency.acquire("b", engines["b"])
    residency.acquire("c", engines["c"])  # a is LRU but pinned: b goes
    assert residency.resident() == ["a", "c"]
    residency.pin("c")
    with pytest.raises(ResidencyError, match=r"pinned by \['a', 'c'\].*unpin"):
        residency.acquire("b", engines["b"])
    residency.unpin("a")
    residency.acquire("b", engines["b"])
    assert residency.resident() == ["c", "b"]


def test_model_larger_than_the_budget_raises_with_the_fix() -> None:
    engines = _engines("a", "huge")
    residency = ResidencyManager(8.0, {"a": 4.0, "huge": 9.5})
    residency.acquire("a", engines["a"])
    with pytest.raises(ResidencyError) as info:
        residency.acquire("huge", engines["huge"])
    msg = str(info.value)
    assert "'huge'" in msg and "9.50 GiB" in msg and "8.00 GiB" in msg and "raise the budget" in msg
    assert residency.resident() == ["a"] and engines["huge"].counters.loads == 0  # nothing evicted


def test_release_and_release_all_unload() -> None:
    engines = _engines("a", "b")
    residency = ResidencyManager(8.0, {"a": 1.0, "b": 1.0})
    residency.pin("a")
    residency.acquire("a", engines["a"])
    residency.acquire("b", engines["b"])
    residency.release("b")
    residency.release("never-loaded")
    assert residency.resident() == ["a"] and engines["b"].counters.unloads == 1
    residency.release_all()
    assert residency.resident() == [] and engines["a"].counters.unloads == 1
    assert residency.unload_seconds >= 0 and residency.load_seconds >= 0


def test_missing_footprint_comes_from_the_engine_config() -> None:
    residency = ResidencyManager(2.0)
    residency.acquire("a", CountingEngine("a", footprint_gib=1.5))
    assert residency.footprint_gib("a") == 1.5
    with pytest.raises(ResidencyError, match="'b' needs 3.00 GiB"):
        residency.acquire("b", CountingEngine("b", footprint_gib=3.0))
    with pytest.raises(ConfigError, match="no footprint for model 'c'"):
        residency.footprint_gib("c")
    with pytest.raises(ConfigError, match="budget_gib must be > 0"):
        ResidencyManager(0)


# -- footprints ------------------------------------------------------------------------------------


def test_estimate_prefers_safetensors_and_applies_the_overhead(tmp_path: Path) -> None:
    _write(tmp_path / "model-00001.safetensors", 2**20)
    _write(tmp_path / "model-00002.safetensors", 2**20)
    _write(tmp_path / "pytorch_model.bin", 5 * 2**20)  # same weights in the other format: not counted
    assert [p.name for p in weight_files(tmp_path)] == ["model-00001.safetensors", "model-00002.safetensors"]
    assert estimate_footprint_gib(tmp_path) == pytest.approx(2 * 2**20 * FOOTPRINT_OVERHEAD / 2**30)
    assert estimate_footprint_gib(tmp_path, overhead=1.0) == pytest.approx(2 / 1024)
    with pytest.raises(ConfigError, match="no \\*.safetensors or \\*.bin.*footprint_gib"):
        estimate_footprint_gib(tmp_path / "empty")


def test_resolve_footprint(tiny_pool: dict[str, Path], tmp_path: Path) -> None:
    path = tiny_pool["tiny-llama-xs"]
    size = (path / "model.safetensors").stat().st_size
    cfg = TransformersExpertConfig(name="xs", model=str(path))
    assert resolve_footprint_gib(cfg) == pytest.approx(size * FOOTPRINT_OVERHEAD / 2**30)
    assert resolve_footprint_gib(cfg.model_copy(update={"footprint_gib": 3.0})) == 3.0
    assert resolve_footprint_gib(ReplayExpertConfig(name="r")) == 0.0
    with pytest.raises(ConfigError, match="not a local folder; set `footprint_gib`"):
        resolve_footprint_gib(TransformersExpertConfig(name="hub", model="org/not-here"))
    managed = ResidencyManager.from_configs(1.0, [cfg, ReplayExpertConfig(name="r")])
    assert managed.footprint_gib("r") == 0.0


# -- prefetch --------------------------------------------------------------------------------------


def test_prefetch_reads_every_weight_file(tmp_path: Path) -> None:
    _write(tmp_path / "m" / "a.safetensors", 3 * 2**20 + 17)
    _write(tmp_path / "m" / "b.safetensors", 2**20)
    residency = ResidencyManager(1.0, {"m": 0.1})
    handle = residency.prefetch("m", tmp_path / "m")
    assert handle is not None and handle.wait(10)
    assert handle.bytes_read == 4 * 2**20 + 17


def test_prefetch_is_skipped_when_useless(tmp_path: Path) -> None:
    _write(tmp_path / "m" / "a.safetensors", 1024)
    engines = _engines("m")
    residency = ResidencyManager(1.0, {"m": 0.1})
    assert residency.prefetch("m", tmp_path / "nothing") is None  # no weight files
    residency.acquire("m", engines["m"])
    assert residency.prefetch("m", tmp_path / "m") is None  # already resident


def test_prefetch_stop_and_acquire_stop_the_thread(tmp_path: Path) -> None:
    weights = _write(tmp_path / "m" / "a.safetensors", 4 * 2**20)
    slow = Prefetch("m", [weights], chunk_bytes=1).start()  # ~4M reads: far from done when stopped
    slow.stop()
    assert slow.done and slow.bytes_read < 4 * 2**20
    residency = ResidencyManager(1.0, {"m": 0.1})
    handle = residency.prefetch("m", tmp_path / "m")
    assert handle is not None
    residency.acquire("m", CountingEngine("m"))  # the load reads the files: the prefetch is stopped
    assert handle.done
    residency.release_all()
    assert not [t for t in threading.enumerate() if t.name.startswith("prefetch-")]


# -- load order ------------------------------------------------------------------------------------


def test_load_order_examples() -> None:
    # an expert that is also the aggregator runs last, then first in the aggregation stage
    assert plan_load_order([["a", "b", "c"], ["b"]]) == [["a", "c", "b"], ["b"]]
    # the keyword annotator that is also an expert runs first in the expert stage
    assert plan_load_order([["k"], ["a", "k", "b"]]) == [["k"], ["k", "a", "b"]]
    # shared models carry over most recently used first; duplicates collapse
    assert plan_load_order([["a", "b", "c"], ["a", "c", "d", "c"]]) == [["b", "a", "c"], ["c", "a", "d"]]
    assert plan_load_order([]) == []


def _loads_with_budget_of_one(stages: list[list[str]]) -> int:
    engines = _engines(*{e for s in stages for e in s})
    residency = ResidencyManager(1.0, {n: 1.0 for n in engines})
    for stage in stages:
        for expert in stage:
            residency.acquire(expert, engines[expert])
    return residency.loads


def test_load_order_never_reloads_across_a_stage_boundary() -> None:
    rng = random.Random(7)
    pool = list("abcdef")
    for _ in range(300):
        stages = [rng.sample(pool, rng.randint(1, 4)) + rng.sample(pool, 1) for _ in range(rng.randint(1, 5))]
        ordered = plan_load_order(stages)
        assert [sorted(o) for o in ordered] == [sorted(set(s)) for s in stages]
        carried = 0
        for i in range(len(ordered) - 1):
            before, after = ordered[i], ordered[i + 1]
            if before[-1] in after:
                assert after[0] == before[-1]  # the last model of a stage is the next stage's first
                carried += 1
            previous = set(ordered[i - 1]) if i else set()
            if (set(before) & set(after)) - previous:
                assert before[-1] in after  # a stage ends on a model the next one needs, when one is free
        # with room for one model, each carried boundary saves exactly one load
        assert _loads_with_budget_of_one(ordered) == sum(len(o) for o in ordered) - carried
