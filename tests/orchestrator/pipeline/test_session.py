"""Long-lived sessions, one method schema for the bench and live runs, and `aggregator: auto`.

Real engines throughout: the skill zoo's committed experts on transformers, replay engines over
recordings written here, the run store in SQLite.
"""

from __future__ import annotations

import gzip
import json
import threading
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from pydantic import ValidationError

from common.errors import ConfigError, RegistryError
from common.records import RoutingDecision
from orchestrator import SymbolicMoE
from orchestrator.bench import run_bench
from orchestrator.bench.demo import demo_config
from orchestrator.datasets import load_questions
from orchestrator.method import MethodConfig
from orchestrator.policies import PolicyOptions, QueryBatch, RoutingPolicy, policy_registry
from orchestrator.policies.base import ranked_decision
from orchestrator.pool import PoolConfig, load_pool_config
from orchestrator.runs.runner import profile_pool, run_pool
from skills.embedding import Embedder

REPO = Path(__file__).resolve().parents[3]
ZOO_POOL = REPO / "configs" / "pools" / "zoo-cpu.yaml"
ZOO_TEST = REPO / "zoo" / "data" / "zoo_test.jsonl"


def _zoo_rows(skills: tuple[str, ...], per_skill: int) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in ZOO_TEST.read_text().splitlines()]
    out: list[dict[str, Any]] = []
    for skill in skills:
        out += [r for r in rows if r["category"] == skill][:per_skill]
    return out


@pytest.fixture
def embedder(tmp_path: Path, minilm: Any) -> Embedder:
    return Embedder(cache_dir=tmp_path / "emb", model=minilm)


def test_models_stay_loaded_across_calls(embedder: Embedder) -> None:
    """Loads over several calls equal the distinct models used; close() unloads each exactly once."""
    pool = load_pool_config(ZOO_POOL)
    with SymbolicMoE(pool, embedder=embedder) as moe:
        first = moe.solve(_zoo_rows(("add", "roman"), 4))
        used = {e for a in first for e in a.routing.experts}  # type: ignore[union-attr]
        assert moe.last_report is not None
        assert sum(m.loads for m in moe.last_report.models.values()) == len(used)
        again = moe.solve(_zoo_rows(("add", "roman"), 4)[::-1])  # the same experts: nothing loads
        assert sum(m.loads for m in moe.last_report.models.values()) == 0
        assert {a.instance_id: a.answer for a in again} == {a.instance_id: a.answer for a in first}
        more = moe.solve(_zoo_rows(("sort",), 3))
        used |= {e for a in more for e in a.routing.experts}  # type: ignore[union-attr]
        loads = moe.model_loads()
        assert sum(loads.values()) == len(used) and all(loads[e] == 1 for e in used)
        engines = moe.session.engines
    assert all(e.counters.unloads == e.counters.loads for e in engines.values())
    assert not any(e.is_loaded for e in engines.values())


def test_threads_share_one_session(embedder: Embedder) -> None:
    """Two threads solving at once on one session get the answers a single thread gets."""
    pool = load_pool_config(ZOO_POOL)
    rows = _zoo_rows(("add", "mul", "reverse", "alphabet"), 3)
    with SymbolicMoE(pool, embedder=embedder) as moe:
        expected = {a.instance_id: a.answer for a in moe.solve(rows)}
        got: dict[str, str | None] = {}
        errors: list[BaseException] = []

        def solve(part: list[dict[str, Any]]) -> None:
            try:
                got.update({a.instance_id: a.answer for a in moe.solve(part)})
            except BaseException as exc:  # surfaced by the assert below
                errors.append(exc)

        threads = [threading.Thread(target=solve, args=(rows[i::2],)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors and got == expected


COMPARED = ("ours", "knn_top3_weighted", "adaptive", "paper")


@pytest.fixture(scope="module")
def bench_run() -> tuple[Any, dict[str, dict[str, Any]]]:
    """The zoo demo's bench on a 35-question slice with the compared methods: its report and traces."""
    cfg = demo_config("transformers", sample=35)
    methods = [m for m in cfg.methods if m.name in COMPARED]
    report, traces = run_bench(cfg.model_copy(update={"methods": methods, "best_policy": None}), None)
    by_method: dict[str, dict[str, Any]] = {}
    for t in traces:
        by_method.setdefault(t.method, {})[t.instance_id] = t
    return report, by_method


@pytest.mark.parametrize("name", COMPARED)
def test_bench_and_live_decide_alike(
    name: str, bench_run: tuple[Any, dict[str, dict[str, Any]]], tmp_path: Path, embedder: Embedder
) -> None:
    """Bench and live run, same method and questions: the same decisions, question by question."""
    report, by_method = bench_run
    bench = by_method[name]
    method = next(m for m in demo_config("transformers").methods if m.name == name)
    rows = [json.loads(line) for line in ZOO_TEST.read_text().splitlines()]
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows if r["id"] in bench))
    pool = load_pool_config(ZOO_POOL).model_copy(update={"method": method})
    live_report, finals = run_pool(pool, load_questions(path).instances, embedder=embedder)
    assert len(finals) == len(bench) == 35
    for f in finals:
        b = bench[f.instance_id]
        assert f.routing.experts == b.routing.experts, f.instance_id  # type: ignore[union-attr]
        assert (f.answer, f.aggregation) == (b.answer, b.aggregation), f.instance_id
    assert live_report.accuracy == pytest.approx(report.methods[name].accuracy)


class _FirstHalfOptions(PolicyOptions):
    reverse: bool = False


class _FirstHalfPolicy(RoutingPolicy):
    """A policy defined in a test: one class plus a registry entry is all a new policy needs."""

    name = "test_first_half"
    Options = _FirstHalfOptions
    needs_profiles = False
    needs_embeddings = True
    seen_embeddings: ClassVar[list[np.ndarray]] = []

    def __init__(self, k: int = 1, reverse: bool = False) -> None:
        super().__init__(k)
        self.reverse = reverse

    def _recruit(self, queries: QueryBatch, rng: np.random.Generator) -> list[RoutingDecision]:
        self.seen_embeddings.append(queries.embeddings)
        m = len(self.experts)
        scores = np.arange(m, 0, -1, dtype=float)
        scores = scores[::-1] if self.reverse else scores
        return [ranked_decision(i, self.experts, scores, self.k, self.name, "test") for i in queries.ids]


def test_a_new_policy_is_one_class_and_a_registry_entry(embedder: Embedder) -> None:
    policy_registry.register("test_first_half", _FirstHalfPolicy)
    try:
        method = MethodConfig(policy="test_first_half", k=2, options={"reverse": True})
        pool = load_pool_config(ZOO_POOL).model_copy(update={"method": method, "profiles": None})
        report, finals = run_pool(pool, load_questions(ZOO_TEST).instances[:3], embedder=embedder)
        assert all(f.routing.experts == ["zoo-generalist", "zoo-alpha"] for f in finals)  # type: ignore[union-attr]
        assert _FirstHalfPolicy.seen_embeddings[-1].shape == (3, 384)  # it declared needs_embeddings
        with pytest.raises(ValidationError, match="reverse"):
            MethodConfig(policy="test_first_half", options={"reverse": "sideways"})
    finally:
        policy_registry._items.pop("test_first_half")


def test_method_config_checks_options_and_lifts_old_pools() -> None:
    with pytest.raises(RegistryError, match="knn_top_k"):
        MethodConfig(policy="knn_topk")  # did you mean
    with pytest.raises(ValidationError, match="neighbors"):
        MethodConfig(policy="knn_top_k", options={"neighbors": 10})
    with pytest.raises(ValidationError, match="k_max=2 must be >= k=3"):
        MethodConfig(policy="adaptive_k", k=3, options={"k_max": 2})
    old = {
        "version": 1,
        "name": "old",
        "experts": [{"name": "a", "engine": "replay"}, {"name": "b", "engine": "replay"}],
        "policy": "knn_top_k",
        "k": 1,
        "policy_options": {"neighbours": 5},
        "aggregation": "majority",
    }
    pool = PoolConfig.model_validate(old)
    assert (
        pool.version == 2 and pool.method.policy == "knn_top_k" and pool.method.options == {"neighbours": 5}
    )
    assert PoolConfig.model_validate(pool.model_dump()) == pool  # a stored (new) config reads back alike
    with pytest.raises(ValidationError, match="belong under `method:`"):
        PoolConfig.model_validate({**old, "version": 2, "method": {"policy": "paper"}})


def _write_gz(path: Path, rows: list[dict[str, Any]]) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)


def _replay_pool(tmp_path: Path, accuracy: dict[str, float], n: int = 60) -> tuple[PoolConfig, Path]:
    """Recorded experts that are right on a seeded share of ``n`` four-option questions."""
    rng = np.random.default_rng(3)
    rec = tmp_path / "recs"
    rec.mkdir()
    questions = [
        {"id": f"q{i}", "question": f"Which option is number {i}?", "options": ["w", "x", "y", "z"],
         "answer": "ABCD"[i % 4]}
        for i in range(n)
    ]  # fmt: skip
    for name, acc in accuracy.items():
        rows = []
        for i, q in enumerate(questions):
            pred = q["answer"] if rng.random() < acc else "ABCD"[(i + 1 + int(rng.integers(3))) % 4]
            rows.append({"question_id": q["id"], "pred": pred, "text": f"The answer is ({pred})."})
        _write_gz(rec / f"{name}.jsonl.gz", rows)
    path = tmp_path / "val.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in questions))
    experts = [{"name": m, "engine": "replay", "recordings_dir": str(rec)} for m in accuracy]
    pool = PoolConfig.model_validate(
        {"name": "replayed", "experts": experts, "aggregator": "auto",
         "method": {"policy": "global_top_k", "k": 3, "aggregation": "llm"}}
    )  # fmt: skip
    return pool, path


def test_aggregator_auto_records_the_benchmark_best(tmp_path: Path, embedder: Embedder) -> None:
    """`symoe profile` with `aggregator: auto` benchmarks every candidate and records the best one.

    The candidates are replay engines: asked to aggregate a question, each answers as it did alone, so
    its benchmark accuracy is its accuracy on the benchmark's questions, and the ranking is known.
    """
    from orchestrator.aggregation.choice import build_aggregation_prompt, rank_aggregators
    from orchestrator.answers import extract_answer
    from orchestrator.pipeline import Session
    from skills.aggregator_bench import ReasoningChain, build_bench_items

    pool, path = _replay_pool(tmp_path, {"weak": 0.3, "strong": 0.8, "middle": 0.55})
    instances = load_questions(path).instances
    record = profile_pool(pool, instances, embedder=embedder)
    assert record.aggregator == "strong"
    # the same benchmark run by hand gives the same ranking and scores
    with Session(pool, embedder=embedder) as session:
        engines = session.engines
        chains = {
            i.id: [
                ReasoningChain(expert=e, text=r.text or "", answer=a, is_correct=a == i.gold)
                for e in session.experts
                for r in engines[e].generate([_req(i)])
                for a in (extract_answer(r.text, i.answer_format),)
            ]
            for i in instances
        }
        items = build_bench_items(
            instances, chains, prompt=build_aggregation_prompt, seed=pool.seed, max_items=200
        )
        ranking = rank_aggregators(engines, items, lambda t: extract_answer(t, instances[0].answer_format))
    assert ranking[0][0] == "strong" and dict(ranking) == pytest.approx(record.aggregator_scores)
    # a run of the pool aggregates with the recorded winner
    profiles = tmp_path / "profiles.json"
    record.save(profiles)
    report, finals = run_pool(pool.model_copy(update={"profiles": str(profiles)}), instances[:10],
                              embedder=embedder)  # fmt: skip
    assert report.counts["aggregator_calls"] > 0
    assert {s.expert for s in report.experts if s.stage == "aggregate"} == {"strong"}
    with pytest.raises(ConfigError, match="aggregator: auto"):
        run_pool(pool, instances[:2], embedder=embedder)


def _req(inst: Any) -> Any:
    from common.generation import GenRequest

    return GenRequest(request_id=f"{inst.id}:x", prompt="p", instance_id=inst.id)


def test_service_keeps_one_session_and_metrics_count_its_loads(tmp_path: Path, embedder: Embedder) -> None:
    """A served zoo pool: sequential requests load each recruited expert once in all (`/metrics`)."""
    import httpx

    from orchestrator.service.app import create_app
    from orchestrator.service.config import ServiceConfig
    from orchestrator.service.thread_server import serve_in_thread

    app = create_app(
        ServiceConfig(
            pool=load_pool_config(ZOO_POOL),
            api_keys=["k"],
            batch_window_s=0.0,
            embedder=embedder,
            data_dir=tmp_path / "svc",
        )
    )
    rows = _zoo_rows(("add", "roman", "add", "roman"), 1) + _zoo_rows(("add",), 3)
    headers = {"Authorization": "Bearer k"}
    with serve_in_thread(app) as (base_url, _):
        experts = set()
        for r in rows:
            body = {"model": "symbolic-moe", "messages": [{"role": "user", "content": r["question"]}]}
            reply = httpx.post(f"{base_url}/chat/completions", json=body, headers=headers, timeout=120).json()
            experts |= set(reply["symoe"]["routing"]["experts"])
        text = httpx.get(base_url.removesuffix("/v1") + "/metrics", headers=headers, timeout=10).text
    loads = sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("symoe_model_loads_total{")
    )
    assert loads == len(experts) and len(experts) < len(rows)  # never a load per request
