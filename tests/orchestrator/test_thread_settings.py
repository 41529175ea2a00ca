"""Every entry point gets the CLI's OpenMP setting (idle threads sleep), so the API is as fast under load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    """This process's environment without OpenMP settings and preloads: an in-process vLLM engine started
    by an earlier test sets ``LD_PRELOAD`` to torch's libgomp, which then reads its settings at the child's
    start, before the child's own code can set them."""
    openmp = ("OMP_", "GOMP_", "KMP_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(openmp) and k != "LD_PRELOAD"}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


@pytest.mark.parametrize(
    "entry",
    [
        "from orchestrator import SymbolicMoE",  # the Python API
        "from orchestrator.service.app import create_app",  # the service
        "from orchestrator.retrieval import KnowledgeStore",  # the knowledge store's API
        "import orchestrator.cli",  # the CLI
    ],
)
def test_each_entry_point_sets_passive_openmp_before_torch(entry: str) -> None:
    code = f"{entry}\nimport os, sys\nprint(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["PASSIVE", "False"]


def test_a_user_setting_is_kept() -> None:
    code = "import orchestrator.retrieval, os; print(os.environ['OMP_WAIT_POLICY'])"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=_env(OMP_WAIT_POLICY="ACTIVE"), capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert out.stdout.strip() == "ACTIVE"


@pytest.mark.ray
def test_ray_workers_inherit_it(ray_cluster: Any) -> None:
    import ray

    @ray.remote(num_cpus=0)
    def policy() -> str | None:
        return os.environ.get("OMP_WAIT_POLICY")

    assert ray.get(policy.remote(), timeout=120) == "PASSIVE"


CHILD = textwrap.dedent(
    """
    import json, os, sys, time
    if sys.argv[1] == "active":
        os.environ["OMP_WAIT_POLICY"] = "ACTIVE"   # what the API did before: torch's default spinning
    from skills.embedding import Embedder   # the API path: no CLI import
    import orchestrator.retrieval  # noqa: F401
    import torch
    torch.set_num_threads(2)
    threads_at_import = len(os.listdir("/proc/self/task"))
    emb = Embedder(cache_dir=None, backend="torch")
    for i in range(3):
        emb.embed([f"query number {i} about harbours and rivers"])
    # a short query may not reach torch's parallel grain on every CPU; a large elementwise op always does,
    # and the process's thread count shows whether OpenMP started a worker that could spin
    torch.ones(1 << 24).mul_(1.0000001)
    parallel = len(os.listdir("/proc/self/task")) > threads_at_import
    # between two queries the process waits: its OpenMP threads should sleep, not spin
    cpu = time.process_time()
    time.sleep(1.0)
    print(json.dumps({"idle_cpu_ms": 1000 * (time.process_time() - cpu), "parallel": parallel}))
    """
)


@pytest.mark.slow  # two processes load MiniLM beside a busy one
def test_idle_api_threads_sleep_under_a_busy_process() -> None:
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one CPU: libgomp throttles spinning when threads outnumber CPUs, so both policies idle")
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        results = {}
        for policy in ("active", "passive"):
            out = subprocess.run(
                [sys.executable, "-c", CHILD, policy], cwd=ROOT, env=_env(), capture_output=True, text=True,
                timeout=300,
            )  # fmt: skip
            assert out.returncode == 0, out.stderr[-2000:]
            results[policy] = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        busy.kill()
        busy.wait()
    if not results["active"]["parallel"]:
        pytest.skip(
            f"torch ran its OpenMP region on one thread here, so no thread is left to spin: {results}"
        )
    # spinning OpenMP threads burn CPU for the whole idle second, taking it from the busy process's core;
    # sleeping ones use almost none
    assert results["passive"]["idle_cpu_ms"] < 100 < results["active"]["idle_cpu_ms"], results
