"""CPU thread policy: one thread for tiny models, passive OpenMP waiting, applied by the engine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from batching.config import TransformersExpertConfig
from batching.engines.cpu_threads import SMALL_MODEL_BYTES, auto_threads, available_cpus, passive_openmp
from common.generation import GenRequest, SamplingParams
from zoo import resolve_zoo_model


def test_small_models_get_one_thread_big_ones_every_cpu(tmp_path: Path) -> None:
    zoo = resolve_zoo_model("zoo:zoo-add")
    assert auto_threads(zoo) == 1
    assert auto_threads(zoo, requested=3) == 3
    big = tmp_path / "big"
    big.mkdir()
    with (big / "model.safetensors").open("wb") as fh:
        fh.truncate(SMALL_MODEL_BYTES + 1)  # sparse: no disk used
    assert auto_threads(big) == available_cpus()
    assert auto_threads("some-org/hub-model") == available_cpus()  # unknown size: all CPUs


def test_passive_openmp_respects_the_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    passive_openmp()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    passive_openmp()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_the_engine_runs_with_its_thread_count() -> None:
    """torch's thread count is process-wide: the engine sets its own on every generate."""
    import torch

    from batching.engines.registry import build_engine

    cfg = TransformersExpertConfig(name="zoo-add", model=resolve_zoo_model("zoo:zoo-add"), dtype="float32")
    req = GenRequest.chat("r", "Add 2 and 3.", SamplingParams(max_tokens=4))
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    if torch.get_num_threads() != 2:  # an in-process vLLM engine bound this process's OpenMP threads
        pytest.skip("torch's thread count is pinned in this process (vLLM's CPU thread binding)")
    try:
        with build_engine(cfg) as engine:
            engine.generate([req])
            assert torch.get_num_threads() == 1
            torch.set_num_threads(2)  # someone else changes it
            engine.generate([req])
            assert torch.get_num_threads() == 1
        pinned = cfg.model_copy(update={"cpu_threads": 2})
        with build_engine(pinned) as engine:
            engine.generate([req])
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)


def test_the_cli_sets_passive_waiting_before_torch_starts(tmp_path: Path) -> None:
    store = tmp_path / "runs.sqlite"
    code = (
        "import os, sys; from typer.testing import CliRunner; from orchestrator.cli import app; "
        f"r = CliRunner().invoke(app, ['runs', 'list', '--store', {str(store)!r}]); assert r.exit_code == 0; "
        "print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split()[-2:] == ["PASSIVE", "False"]
