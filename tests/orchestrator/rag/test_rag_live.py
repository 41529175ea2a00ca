"""ExpertRAG live on the skill zoo (transformers engines, a real LanceDB store in tmp_path, the run store).

The store holds facts about fictional entities that no zoo expert can know. The pool is profiled
closed- and open-book (``profile_pool(retrieval=True)``), then runs with retrieval ``gated``, ``always``
and ``never``. Engines are wrapped in a recording engine so the tests read the prompts the experts got.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rag_helpers import facts_rows, record_engines

from batching.journal.store import RunStore
from common.records import FinalAnswer, Passage
from orchestrator.aggregation.choice import build_aggregator_prompt
from orchestrator.pool import PoolConfig
from orchestrator.prompts import context_block
from orchestrator.retrieval.config import KnowledgeConfig
from orchestrator.runs.runner import RunOptions, open_session, run_pool


def _run(
    env: dict[str, Any], pool: PoolConfig, store: RunStore | None = None
) -> tuple[Any, list[FinalAnswer], Any]:
    """One run in its own session with recording engines: (report, answers, the engines' recorded calls)."""
    with open_session(pool, embedder=env["embedder"]) as session:
        engines = record_engines(session)
        report, finals = run_pool(pool, env["test"], embedder=env["embedder"], session=session,
                                  options=RunOptions(store=store))  # fmt: skip
    return report, finals, engines


def _prompts(engines: dict[str, Any]) -> dict[str, list[str]]:
    """Every prompt each question's experts got, by instance id."""
    out: dict[str, list[str]] = {}
    for engine in engines.values():
        for call in engine.calls:
            for r in call:
                out.setdefault(r.instance_id, []).append(r.prompt)
    return out


def _with_gate(pool: PoolConfig, **changes: Any) -> PoolConfig:
    gate = pool.retrieval.gate.model_copy(update=changes.pop("gate", {}))
    return pool.model_copy(update={"retrieval": pool.retrieval.model_copy(update={"gate": gate, **changes})})


def test_profiles_record_both_books_and_coverage(env: dict[str, Any]) -> None:
    record = env["record"]
    n = len(record.questions)
    assert record.has_open_book and len(record.answers_rag) == n and len(record.coverage) == n
    assert record.retrieval["k"] == 2 and record.retrieval["search"] == "hybrid"
    facts = [i for i, q in enumerate(record.questions) if "Veltrin" in q or "Zorvan" in q]
    assert all(record.coverage[i]["top_bm25"] is not None for i in facts)
    # no zoo expert knows the fictional facts, closed- or open-book (none was trained to read)
    assert not any(any(record.correct[i]) or any(record.correct_rag[i]) for i in facts)


def test_gated_retrieves_only_for_flagged_questions_with_passages_in_prompts_and_traces(
    env: dict[str, Any], tmp_path: Path
) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    report, finals, engines = _run(env, env["pool"], store)
    prompts = _prompts(engines)
    traces = {f.instance_id: f.retrieval for f in finals}
    assert all(t is not None and t.mode == "gated" for t in traces.values())
    retrieved = {i for i, t in traces.items() if t.retrieved}
    facts = {i.id for i in env["test"] if i.category == "facts"}
    assert facts <= retrieved < set(traces)  # every facts question, and not everything
    for iid, t in traces.items():
        assert t.retrieved == (t.reason == "gain") and t.stage == ("pre" if t.retrieved else None)
        assert t.reason in ("gain", "no_gain", "skill", "coverage")
        assert t.score is not None and t.p_closed is not None and t.p_open is not None
        assert (t.reason == "skill") == (t.coverage == {})  # a strong skill's questions are not searched
        context = [p for p in prompts[iid] if p.startswith("Context:\n")]
        if t.retrieved:
            assert t.passages and all(p.source.startswith("facts/") and p.id for p in t.passages)
            assert len(context) == len(prompts[iid]) and all(context_block(t.passages) in p for p in context)
        else:
            assert not t.passages and not context
    searched = sum(1 for t in traces.values() if t.reason != "skill")
    r = report.retrieval
    assert r is not None and r.store_queries == searched and r.retrieved == len(retrieved)
    assert r.retrieval_rate == pytest.approx(len(retrieved) / len(finals))
    assert r.branches["open"].questions == len(retrieved)
    assert r.cost.c_experts_tokens and r.cost.c_retrieve_tokens and r.saving_tokens is not None
    # retrieved questions were recruited with the open-book profiles; the journal holds their prompts
    by_id = {f.instance_id: f for f in finals}
    assert all("open-book profiles" in by_id[i].routing.why for i in retrieved)  # type: ignore[union-attr]
    rows = store.generations(report.run_id)
    assert {r["instance_id"] for r in rows if r["stage"] == "experts"} == set(traces)


def test_second_pass_reruns_only_disagreeing_questions_batched_per_expert(
    env: dict[str, Any], tmp_path: Path
) -> None:
    """The paper's policy (3 draws, so an expert drawn twice backs its own answer); the pre-generation gate
    never retrieves (min_gain 1) and the post one always may (-1): exactly the questions whose recruits
    back their answer less than half the time get a second pass."""
    method = env["pool"].method.model_copy(update={"policy": "paper", "k": 3, "options": {}})
    pool = env["pool"].model_copy(update={"method": method})
    pool = _with_gate(pool, agreement_threshold=0.5, gate={"min_gain": 1.0, "post_min_gain": -1.0,
                                                           "min_skill_questions": 1000})  # fmt: skip
    store = RunStore(tmp_path / "runs.sqlite")
    report, finals, engines = _run(env, pool, store)
    traces = {f.instance_id: f.retrieval for f in finals}
    assert not any(t.stage == "pre" for t in traces.values())  # min_gain 1: nothing before generation
    assert all(t.agreement is not None for t in traces.values())
    disagreeing = {i for i, t in traces.items() if t.agreement < 0.5}
    second = {i for i, t in traces.items() if t.stage == "post"}
    assert second == disagreeing and second and second != set(traces)
    for i, t in traces.items():
        assert (t.score_post is not None) == (i in second)
        if i in second:
            assert (
                t.retrieved and t.reason == "disagreement" and t.passages and len(t.first_pass_experts) == 3
            )
    rows = store.generations(report.run_id)
    assert {r["instance_id"] for r in rows if r["stage"] == "second_pass"} == second
    # batched per expert: one generate call per expert holds all of its second-pass questions
    for engine in engines.values():
        calls = [c for c in engine.calls if any(r.prompt.startswith("Context:\n") for r in c)]
        assert len(calls) <= 1
        if calls:
            assert all(r.prompt.startswith("Context:\n") and r.instance_id in second for r in calls[0])
    assert report.retrieval.retrieved_post == len(second)  # type: ignore[union-attr]


def test_always_audit_and_never(env: dict[str, Any]) -> None:
    report, finals, engines = _run(env, _with_gate(env["pool"], mode="always"))
    assert all(f.retrieval.retrieved and f.retrieval.reason == "always" for f in finals)  # type: ignore[union-attr]
    assert all(p.startswith("Context:\n") for ps in _prompts(engines).values() for p in ps)
    assert report.retrieval.retrieval_rate == 1.0 and report.retrieval.always_cost_source == "this run"  # type: ignore[union-attr]

    report, finals, _ = _run(env, _with_gate(env["pool"], audit_share=1.0))
    audit = report.retrieval.audit  # type: ignore[union-attr]
    assert audit is not None and audit.questions == len(finals) == audit.graded
    for f in finals:
        a = f.retrieval.audit  # type: ignore[union-attr]
        assert a is not None and a.branch == ("closed" if f.retrieval.retrieved else "open")  # type: ignore[union-attr]
    assert audit.regret is not None and audit.regret >= 0
    assert report.retrieval.always_cost_source.startswith("audit")  # type: ignore[union-attr]

    never = _with_gate(env["pool"], mode="never", store=KnowledgeConfig(uri=str(env["tmp"] / "no-such-kb")))
    with open_session(never, embedder=env["embedder"]) as session:
        report, finals = run_pool(never, env["test"], embedder=env["embedder"], session=session)
        assert session._knowledge is None  # never opened
    assert report.retrieval is None and all(f.retrieval is None for f in finals)


def test_the_service_answer_carries_the_retrieval_trace(env: dict[str, Any], tmp_path: Path) -> None:
    import httpx

    from orchestrator.service.app import create_app
    from orchestrator.service.config import ServiceConfig
    from orchestrator.service.thread_server import serve_in_thread

    app = create_app(
        ServiceConfig(
            pool=env["pool"],
            api_keys=["k"],
            batch_window_s=0.0,
            embedder=env["embedder"],
            data_dir=tmp_path / "svc",
        )
    )
    question = facts_rows(("osk",), "s")[0]["question"]
    body = {"model": "symbolic-moe", "messages": [{"role": "user", "content": question}]}
    with serve_in_thread(app) as (base_url, _):
        reply = httpx.post(f"{base_url}/chat/completions", json=body, headers={"Authorization": "Bearer k"},
                           timeout=120).json()  # fmt: skip
    trace = reply["symoe"]["retrieval"]
    assert trace["mode"] == "gated" and trace["retrieved"] and trace["reason"] == "gain"
    assert trace["passages"][0]["source"] == "facts/osk" and trace["score"] is not None


def test_the_llm_aggregator_sees_the_passages() -> None:
    from common.records import AnswerFormat

    passages = [Passage(id="c1", source="facts/osk", text="Osk had 640 inhabitants.")]
    prompt = build_aggregator_prompt("How many?", ["The answer is 640."], AnswerFormat(kind="math"),
                                     passages=passages)  # fmt: skip
    assert "Context:\n[1] (facts/osk) Osk had 640 inhabitants." in prompt and "Question: How many?" in prompt
    assert "Context:" not in build_aggregator_prompt("How many?", ["x"], AnswerFormat(kind="math"))
