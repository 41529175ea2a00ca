"""The Ray backend: LPT slot assignment (plain Python), and on a real local Ray (marker ``ray``): one model
per fake GPU, a worker killed mid-stage, a worker that cannot start, and groups spread over two nodes.

One session-scoped Ray for the whole group: a ``ray.cluster_utils.Cluster`` whose head node has the
resources ``ray.init(address="local", num_cpus=2, num_gpus=1, ...)`` would give (one fake GPU with 1 GiB
of the GPU-memory resource); the two-node test adds a second node to it for its duration, since one
process can only attach to one Ray instance.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from batching.config import ReplayExpertConfig
from batching.journal.store import RunStore
from common.errors import EngineDeadError
from common.generation import GenRequest, SamplingParams
from orchestrator.datasets import load_questions
from orchestrator.pool import PoolConfig, load_pool_config
from orchestrator.ray.slots import (
    MEMORY_RESOURCE,
    ControllerConfig,
    GroupCost,
    StageSpec,
    assign_groups,
    gpu_fraction,
)
from orchestrator.ray.slots import makespan as slot_makespan

POOLS = Path(__file__).resolve().parents[3] / "configs" / "pools"
CFG = ControllerConfig()


# -- plain Python: slot assignment ---------------------------------------------------------------
def _cost(expert: str, prompts: int, footprint: float = 0.0) -> GroupCost:
    return GroupCost(expert=expert, prompts=prompts, max_tokens=1000, footprint_gib=footprint)


def test_lpt_balances_slots_and_beats_round_robin() -> None:
    costs = [_cost(e, n) for e, n in (("a", 7), ("b", 5), ("c", 4), ("d", 3), ("e", 3), ("f", 2))]
    slots = assign_groups(costs, 2, CFG)
    assert sorted(e for s in slots for e in s) == list("abcdef")
    assert slot_makespan(slots, costs, CFG) == pytest.approx(12 * 1000 * 0.5 / CFG.decode_tokens_per_s)
    round_robin = [["a", "c", "e"], ["b", "d", "f"]]
    assert slot_makespan(slots, costs, CFG) < slot_makespan(round_robin, costs, CFG)
    assert assign_groups(costs, 1, CFG) == [["a", "b", "c", "d", "e", "f"]]  # longest first
    assert assign_groups(costs[:1], 3, CFG) == [["a"], [], []]


def test_load_time_counts_and_pins_first_last_are_kept() -> None:
    heavy = [_cost("big", 1, footprint=60.0), _cost("x", 2), _cost("y", 2), _cost("agg", 1), _cost("ann", 1)]
    slots = assign_groups(heavy, 2, CFG, pinned={"ann": 1}, first="ann", last="agg")
    assert slots[0][0] == "big" and slots[1][0] == "ann"  # a 30 s load outweighs a few prompts
    agg_slot = next(s for s in slots if "agg" in s)
    assert agg_slot[-1] == "agg"


def test_gpu_fraction_is_the_memory_share_rounded_down() -> None:
    assert gpu_fraction(0.6, 1.0) == 0.6
    assert gpu_fraction(1 / 3, 1.0) * 3 <= 1.0
    assert gpu_fraction(None, 80.0) == gpu_fraction(10.0, None) == 1.0
    assert gpu_fraction(0.0, 80.0) == 0.0001 and gpu_fraction(200.0, 80.0) == 1.0


# -- real Ray ------------------------------------------------------------------------------------
def _replay_pool(tmp_path: Path, names: list[str], questions: int) -> list[ReplayExpertConfig]:
    for name in names:
        rows = [{"question_id": f"q{i}", "pred": "A", "text": f"{name} says A"} for i in range(questions)]
        (tmp_path / f"{name}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return [ReplayExpertConfig(name=n, recordings_dir=str(tmp_path)) for n in names]


def _requests(expert: str, n: int) -> list[GenRequest]:
    return [GenRequest(request_id=f"q{i}:{expert}", prompt=f"question {i}", sampling=SamplingParams(),
                       instance_id=f"q{i}")
            for i in range(n)]  # fmt: skip


@pytest.mark.ray
@pytest.mark.slow  # end to end on a real Ray with a killed actor; the kill races the batch on a busy machine
def test_killed_worker_mid_stage_one_model_per_gpu_nothing_lost_or_duplicated(
    ray_cluster: Any, tiny_pool: dict[str, Path], tmp_path: Path, questions_file: Callable[[int], Path]
) -> None:
    import ray

    from orchestrator.runs.runner import RunOptions, run_pool

    base = load_pool_config(POOLS / "tiny-cpu.yaml")
    victim = "tiny-llama-xs"
    # 0.6 GiB of a 1 GiB GPU each: two never fit together, so exactly one model is resident at a time
    pool: PoolConfig = base.model_copy(
        update={
            "tiny_models_dir": str(next(iter(tiny_pool.values())).parent),
            # the victim writes long answers, so its later batches are still running when the kill lands
            "experts": [
                e.model_copy(
                    update={"footprint_gib": 0.6}
                    | (
                        {"sampling": e.sampling.model_copy(update={"max_tokens": 256})}
                        if e.name == victim
                        else {}
                    )
                )
                for e in base.experts
            ],
            "batch_size": 1,
        }
    )
    instances = load_questions(questions_file(6)).instances
    store, run_id = RunStore(tmp_path / "runs.sqlite"), "ray-kill-test"
    killed: list[int] = []

    def kill_once(stage: str, expert: str, done: int, total: int) -> None:
        if stage == "experts" and expert == victim and done == 1 and not killed:
            controller = ray.get_actor(f"symoe-controller-{run_id}")
            ray.kill(ray.get(controller.worker.remote(victim)), no_restart=False)  # Ray restarts it
            killed.append(total)

    opts = RunOptions(store=store, run_id=run_id, backend="ray", ray=ControllerConfig(max_restarts=2))
    report, finals = run_pool(pool, instances, progress=kill_once, options=opts)
    assert report.ray is not None
    stats = report.ray

    assert killed and killed[0] >= 3  # killed with batches of its group still to run
    # every instance answered by all its experts, and aggregated
    assert len(finals) == 6 and all(f.answer is not None or f.aggregation == "llm" for f in finals)
    assert all(len(f.expert_answers) == 3 and all(a.text for a in f.expert_answers) for f in finals)
    rows = store.generations(run_id)
    pairs = [(r["instance_id"], r["expert"]) for r in rows if r["stage"] == "experts"]
    expected = {(f.instance_id, a.expert) for f in finals for a in f.expert_answers}
    assert len(pairs) == len(set(pairs)) == len(expected) and set(pairs) == expected  # none lost or twice
    assert len({r["prompt_hash"] for r in rows}) == len(rows) == report.generations_computed
    assert report.generations_computed == 6 * 3 + 6 * 3 + report.counts["aggregator_calls"]  # + annotation
    failures = [e for e in store.events(run_id) if e["kind"] == "failure"]
    assert failures and {e["expert"] for e in failures} == {victim}
    assert stats["counters"][victim]["loads"] == 2  # the restart reloaded it
    # one model resident at a time: Ray gave each worker 0.6 of the GPU, and lifetimes never overlap
    assert all(r["GPU"] == pytest.approx(0.6) and r[MEMORY_RESOURCE] == pytest.approx(0.6)
               for r in stats["resources"].values())  # fmt: skip
    lives = sorted(stats["lives"], key=lambda x: x["started_at"])
    assert len(lives) == 4
    for before, after in zip(lives, lives[1:], strict=False):
        assert before["ended_at"] is not None and before["ended_at"] <= after["started_at"]
    # streaming: instances that do not need the aggregator's own expert answers are aggregated before
    # the expert stage has finished
    times = {r["stage"]: [] for r in rows}
    for r in rows:
        times[r["stage"]].append(r["created_at"])
    assert min(times["aggregate"]) < max(times["experts"])


@pytest.mark.ray
def test_a_worker_that_cannot_start_fails_naming_expert_and_cause(ray_cluster: Any, tmp_path: Path) -> None:
    from orchestrator.ray.backend import RayBackend

    bad = ReplayExpertConfig(name="ghost", recordings_dir=str(tmp_path))  # no ghost.jsonl there
    [good] = _replay_pool(tmp_path, ["real"], 2)
    failures: list[tuple[str, str]] = []

    def on_event(stage: str, expert: str, kind: str, seconds: float, detail: str) -> None:
        failures.append((expert, detail))

    backend = RayBackend(
        ControllerConfig(max_attempts=2), [bad, good], run_id="bad", batch_size=4, on_event=on_event
    )
    try:
        with pytest.raises(EngineDeadError, match=r"expert 'ghost'.*failed 2 times.*no recording 'ghost'"):
            backend.generate("ghost", _requests("ghost", 2))
        stream = backend.stream(
            StageSpec(stage="experts", groups={"ghost": _requests("ghost", 2)}, batch_size=1)
        )
        stream.close()
        with pytest.raises(EngineDeadError, match=r"expert 'ghost'.*no recording 'ghost'"):
            list(stream)  # a failed group ends the streamed stage with the same error
        assert {e for e, _ in failures} == {"ghost"} and len(failures) >= 2  # each try reached the driver
        assert backend.generate("real", _requests("real", 2))[1].text == "real says A"  # the rest still works
    finally:
        backend.close()


@pytest.mark.ray
def test_two_nodes_run_groups_in_parallel_one_node_each(ray_cluster: Any, tmp_path: Path) -> None:
    from orchestrator.local_ray import loopback_only
    from orchestrator.ray.backend import RayBackend

    with loopback_only():
        node = ray_cluster.add_node(num_cpus=1, num_gpus=1, resources={MEMORY_RESOURCE: 1.0})
    ray_cluster.wait_for_nodes()
    names = ["a", "b", "c", "d"]
    models = [m.model_copy(update={"footprint_gib": 0.6}) for m in _replay_pool(tmp_path, names, 4)]
    backend = RayBackend(ControllerConfig(), models, run_id="two-nodes", batch_size=2)
    try:
        assert backend.layout["slots"] == 2
        groups = {e: _requests(e, 4 if e in "ab" else 2) for e in names}
        stream = backend.stream(StageSpec(stage="experts", groups=groups, batch_size=2))
        stream.close()
        items = list(stream)
        stats = backend.stats()
    finally:
        backend.close()
        ray_cluster.remove_node(node)
    assert [sorted(len(groups[e]) for e in slot) for slot in stream.assignment] == [[2, 4], [2, 4]]  # LPT
    nodes = {i.expert: i.node_id for i in items}
    assert {len(x.results) for x in items} == {2} and sum(len(x.results) for x in items) == 12
    assert all(i.results[0].text == f"{i.expert} says A" for i in items)
    assert len(set(nodes.values())) == 2  # the two slots live on the two nodes
    for slot in stream.assignment:
        assert len({nodes[e] for e in slot}) == 1
    assert all(c["loads"] == 1 for c in stats["counters"].values())


# -- listening sockets -------------------------------------------------------------------------------
LOCAL_RAY = """
import json, sys, time
import psutil
from orchestrator.ray.backend import connect_ray
from orchestrator.ray.slots import ControllerConfig

connect_ray(ControllerConfig(num_cpus=1))
time.sleep(3)  # let the raylet start its workers and agents
tree = [psutil.Process()] + psutil.Process().children(recursive=True)
print(json.dumps([p.pid for p in tree]))
"""


def _listeners(pids: set[int]) -> list[tuple[str, str]]:
    """(local address, process) of every TCP listener ``ss -ltnp`` shows for ``pids``."""
    import re
    import subprocess

    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        owners = {int(p) for p in re.findall(r"pid=(\d+)", line)}
        if owners & pids:
            found.append((line.split()[3], line.split("users:")[-1]))
    return found


def _loopback(address: str) -> bool:
    host = address.rsplit(":", 1)[0].strip("[]")
    return host.startswith(("127.", "::ffff:127.")) or host in ("::1", "localhost")


@pytest.mark.ray
def test_a_local_ray_listens_on_loopback_only(ray_cluster: Any) -> None:
    import os
    import shutil
    import subprocess
    import sys

    import psutil

    if shutil.which("ss") is None:
        pytest.skip("needs ss (iproute2) to list listening sockets")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.Popen([sys.executable, "-c", LOCAL_RAY], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        pids = set(json.loads(proc.stdout.readline()))
        runs_listeners = _listeners(pids)
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
    assert len(runs_listeners) >= 3, runs_listeners  # gcs_server, raylet, workers...
    assert all(_loopback(address) for address, _ in runs_listeners), runs_listeners
    ours = psutil.Process()
    tests_listeners = _listeners({p.pid for p in [ours, *ours.children(recursive=True)]})
    assert tests_listeners and all(_loopback(address) for address, _ in tests_listeners), tests_listeners
