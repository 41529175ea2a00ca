"""Retrieval in the benchmark (never / always / gated on live zoo engines), and bench and live runs deciding
alike: the same gate, fitted on the same profiling questions, retrieves for the same test questions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from rag_helpers import REPO, ZOO_POOL, facts_rows, write_facts_kb, write_rows, zoo_rows

from orchestrator.bench import run_bench
from orchestrator.bench.config import load_bench_config, with_retrieval_mode
from orchestrator.datasets import load_questions
from orchestrator.pool import load_pool_config
from orchestrator.rag.config import RetrievalConfig
from orchestrator.runs.runner import profile_pool, run_pool
from skills.embedding import Embedder

pytestmark = pytest.mark.slow  # about 40 s: two books of live zoo answers, a profile and a live run

KNN = {"policy": "knn_top_k", "k": 1, "options": {"neighbours": 30, "alpha": 3.0, "tau": 1.0}}
GATE = {"min_gain": -0.5, "min_skill_questions": 5}


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory, minilm: Any) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("rag-bench")
    kb = write_facts_kb(tmp / "facts.jsonl")
    facts = facts_rows(("veltrin", "quist", "zorvan", "telliq", "brenna"), "v")
    val = write_rows(tmp / "val.jsonl", zoo_rows("validation", 6) + facts)
    test = write_rows(tmp / "test.jsonl", zoo_rows("test", 2) + facts_rows(("drell", "mirren", "osk"), "t"))
    retrieval = {"store": {"uri": str(tmp / "kb")}, "documents": [str(kb)], "k": 2, "gate": GATE}
    raw = {
        "version": 1,
        "name": "rag_slice",
        "task": "zoo",
        "data": {"kind": "question_files", "profile": str(val), "test": str(test)},
        "pool_config": str(ZOO_POOL),
        "answer_source": "extracted",
        "skills": {"vocabulary": str(REPO / "configs" / "skills" / "zoo_skills.yaml"), "top_n": 3},
        "retrieval": retrieval,
        "methods": [
            {"name": "never", **KNN, "retrieval": "never"},
            {"name": "always", **KNN, "retrieval": "always"},
            {"name": "gated", **KNN, "retrieval": "gated"},
            {"name": "plain", **KNN},
        ],
    }
    path = tmp / "bench.yaml"
    path.write_text(yaml.safe_dump(raw))
    cfg = load_bench_config(path)
    embedder = Embedder(cache_dir=tmp / "emb", model=minilm)
    report, traces = run_bench(cfg, None, embedder=embedder)
    return {"tmp": tmp, "cfg": cfg, "report": report, "traces": traces, "embedder": embedder,
            "val": val, "test": test, "retrieval": retrieval}  # fmt: skip


def test_never_always_gated_report_rates_branches_and_costs(bench: dict[str, Any]) -> None:
    report = bench["report"]
    never, always, gated, plain = (report.methods[m] for m in ("never", "always", "gated", "plain"))
    assert never.retrieval_rate == 0.0 and always.retrieval_rate == 1.0
    assert gated.retrieval_rate is not None and 0 < gated.retrieval_rate < 1
    assert plain.retrieval_rate is None and plain.accuracy == never.accuracy  # the same method, closed-book
    assert "facts" in gated.per_category and "facts" in always.per_category
    for r in (never, always, gated):
        s = r.retrieval_stats
        assert s["tokens_per_question"] > 0 and s["seconds_per_question"] > 0
    assert always.retrieval_stats["tokens_per_question"] > never.retrieval_stats["tokens_per_question"]
    assert always.retrieval_stats["store_queries_per_question"] == 1.0
    g = gated.retrieval_stats
    assert g["regret"] >= 0 and g["accuracy_best_of_both"] >= gated.accuracy
    assert g["accuracy_all_closed_book"] == pytest.approx(never.accuracy)
    assert g["accuracy_all_open_book"] == pytest.approx(always.accuracy)
    assert report.methods["oracle"].description.startswith("any expert right, closed- or open-book")
    assert any(line.startswith("gated reaches") for line in report.retrieval_summary)
    by = {(t.method, t.instance_id): t for t in bench["traces"]}
    facts = [t for (m, _), t in by.items() if m == "gated" and t.instance_id.startswith("t-")]
    assert facts and all(t.retrieval.retrieved and t.retrieval.passages for t in facts)  # type: ignore[union-attr]
    assert all(by[("never", t.instance_id)].retrieval.reason == "never" for t in facts)  # type: ignore[union-attr]


def test_bench_and_live_gate_decide_alike(bench: dict[str, Any]) -> None:
    """The live gate, fitted on a profiling record of the same questions, decides as the bench's gated."""
    method = next(m for m in bench["cfg"].methods if m.name == "gated").model_copy(update={"retrieval": None})
    retrieval = RetrievalConfig.model_validate({**bench["retrieval"], "mode": "gated"})
    pool = load_pool_config(ZOO_POOL).model_copy(update={"retrieval": retrieval, "method": method})
    embedder = bench["embedder"]
    record = profile_pool(pool, load_questions(bench["val"]).instances, embedder=embedder, retrieval=True)
    record.save(bench["tmp"] / "profiles.json")
    live = pool.model_copy(update={"profiles": str(bench["tmp"] / "profiles.json")})
    _, finals = run_pool(live, load_questions(bench["test"]).instances, embedder=embedder)
    traces = {t.instance_id: t for t in bench["traces"] if t.method == "gated"}
    assert len(finals) == len(traces)
    for f in finals:
        b = traces[f.instance_id]
        assert (f.retrieval.retrieved, f.retrieval.reason) == (b.retrieval.retrieved, b.retrieval.reason)  # type: ignore[union-attr]
        assert f.retrieval.score == pytest.approx(b.retrieval.score, abs=1e-6)  # type: ignore[union-attr]
        assert f.routing.experts == b.routing.experts and f.answer == b.answer  # type: ignore[union-attr]


def test_bench_retrieval_flag_sets_every_method(bench: dict[str, Any], tmp_path: Path) -> None:
    cfg = with_retrieval_mode(bench["cfg"], "gated")
    assert {m.retrieval for m in cfg.methods} == {"gated"}
    from common.errors import ConfigError

    with pytest.raises(ConfigError, match="--retrieval sometimes"):
        with_retrieval_mode(bench["cfg"], "sometimes")
    no_store = bench["cfg"].model_copy(update={"retrieval": None})
    with pytest.raises(ConfigError, match="no knowledge store"):
        with_retrieval_mode(no_store, "always")
