"""ExpertRAG on the Ray backend: the streamed expert stage carries the passages (through requests_for) and
the second pass streams too; decisions and answers are those of the local backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from batching.journal.store import RunStore, model_key, prompt_hash
from common.generation import GenRequest
from orchestrator.pool import PoolConfig
from orchestrator.prompts import expert_prompt
from orchestrator.ray.slots import ControllerConfig
from orchestrator.runs.runner import RunOptions, run_pool

pytestmark = [pytest.mark.ray, pytest.mark.slow]  # three zoo workers on a local Ray: about a minute

EXPERTS = ("zoo-add", "zoo-times", "zoo-letters")


def _pool(env: dict[str, Any]) -> PoolConfig:
    """Three experts of the zoo, two recruited per question (two specialists rarely agree, so the
    post-generation gate has work)."""
    pool: PoolConfig = env["pool"]
    gate = pool.retrieval.gate.model_copy(update={"post_min_gain": -1.0, "min_skill_questions": 1000})
    return pool.model_copy(update={
        "experts": [e for e in pool.experts if e.name in EXPERTS],
        "method": pool.method.model_copy(update={"k": 2}),
        "retrieval": pool.retrieval.model_copy(update={"gate": gate, "agreement_threshold": 0.75}),
    })  # fmt: skip


def test_ray_streams_passages_and_the_second_pass_like_the_local_backend(
    env: dict[str, Any], ray_cluster: Any, tmp_path: Path
) -> None:
    pool = _pool(env)
    store = RunStore(tmp_path / "runs.sqlite")
    local_report, local = run_pool(pool, env["test"], embedder=env["embedder"])
    opts = RunOptions(store=store, run_id="rag-ray", backend="ray", ray=ControllerConfig())
    report, finals = run_pool(pool, env["test"], embedder=env["embedder"], options=opts)
    assert report.ray is not None
    by_local = {f.instance_id: f for f in local}
    for f in finals:
        lf = by_local[f.instance_id]
        assert f.retrieval == lf.retrieval, f.instance_id  # the same gate decisions, passages, scores
        assert (f.answer, f.routing.experts) == (lf.answer, lf.routing.experts)  # type: ignore[union-attr]
    retrieved = {f.instance_id: f for f in finals if f.retrieval.retrieved}  # type: ignore[union-attr]
    assert {f.retrieval.stage for f in retrieved.values()} == {"pre", "post"}  # type: ignore[union-attr]
    # every journaled prompt of a retrieved question is the expert prompt with its passages
    configs = {m.name: m for m in pool.resolved().models}
    by_id = {i.id: i for i in env["test"]}
    rows = store.generations("rag-ray")
    for r in rows:
        f = retrieved.get(r["instance_id"])
        if f is None or r["stage"] != ("experts" if f.retrieval.stage == "pre" else "second_pass"):  # type: ignore[union-attr]
            continue
        prompt = expert_prompt(by_id[f.instance_id], f.retrieval.passages)  # type: ignore[union-attr]
        cfg = configs[r["expert"]]
        request = GenRequest.chat("x", prompt, cfg.sampling.params(), f.instance_id)
        assert r["prompt_hash"] == prompt_hash(model_key(cfg), request)
    post = {i for i, f in retrieved.items() if f.retrieval.stage == "post"}  # type: ignore[union-attr]
    assert {r["instance_id"] for r in rows if r["stage"] == "second_pass"} == post
