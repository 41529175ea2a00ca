"""The committed retrieval test beds meet their targets live: configs/bench/zoo_rag.yaml (the zoo pool plus
the reader, the facts knowledge base, 30% facts questions; on a spread of its test split) and
configs/bench/zoo_recall.yaml (facts questions only, half about entities the recall experts learnt)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rag_helpers import REPO

from orchestrator.bench import run_bench
from orchestrator.bench.config import BenchConfig, load_bench_config
from orchestrator.datasets import load_questions
from orchestrator.pool import load_pool_config
from orchestrator.runs.runner import profile_pool, run_pool

ZOO_RAG = REPO / "configs" / "bench" / "zoo_rag.yaml"
ZOO_RECALL = REPO / "configs" / "bench" / "zoo_recall.yaml"
ZOO_RECALL_POOL = REPO / "configs" / "pools" / "zoo-recall-cpu.yaml"


def _in_tmp_store(cfg: BenchConfig, tmp_path: Path) -> BenchConfig:
    """The bench config with its knowledge store under ``tmp_path``."""
    assert cfg.retrieval is not None
    store = cfg.retrieval.store.model_copy(update={"uri": str(tmp_path / "kb")})
    return cfg.model_copy(update={"retrieval": cfg.retrieval.model_copy(update={"store": store})})


@pytest.mark.slow  # every expert answers 400 validation and 300 test questions both ways (about a minute)
@pytest.mark.xdist_group("facts-kb")  # the facts KB's embeddings are shared with test_kb_facts.py
def test_gated_retrieval_meets_the_targets_on_the_zoo_test_bed(tmp_path: Path, session_embedder: Any) -> None:
    cfg = _in_tmp_store(load_bench_config(ZOO_RAG), tmp_path).model_copy(update={"sample": 300})
    report, traces = run_bench(cfg, None, embedder=session_embedder)
    never, always, gated = (report.methods[m] for m in ("never", "always", "gated"))
    assert gated.accuracy >= 0.99 * always.accuracy
    assert gated.retrieval_rate is not None and gated.retrieval_rate <= 0.40
    assert gated.per_category["facts"] - never.per_category["facts"] >= 50
    others = [c for c in gated.per_category if c != "facts"]
    assert all(gated.per_category[c] == never.per_category[c] for c in others)  # strong skills never retrieve
    assert all(always.per_category[c] < never.per_category[c] for c in others)  # passages derail them
    retrieved = {
        t.instance_id for t in traces if t.method == "gated" and t.retrieval and t.retrieval.retrieved
    }
    facts = {t.instance_id for t in traces if t.method == "gated" and "-facts-" in t.instance_id}
    assert retrieved and retrieved <= facts


@pytest.fixture(scope="module")
def recall_bench(tmp_path_factory: pytest.TempPathFactory, session_embedder: Any) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("zoo-recall")
    cfg = _in_tmp_store(load_bench_config(ZOO_RECALL), tmp)
    report, traces = run_bench(cfg, None, embedder=session_embedder)
    return {"tmp": tmp, "cfg": cfg, "report": report, "traces": traces}


@pytest.mark.slow  # four experts answer 160 validation and 240 test questions both ways
@pytest.mark.xdist_group("facts-kb")
def test_the_gate_defers_where_experts_know_half_and_meets_the_targets(recall_bench: dict[str, Any]) -> None:
    report, traces = recall_bench["report"], recall_bench["traces"]
    never, always, gated = (report.methods[m] for m in ("never", "always", "gated"))
    assert always.accuracy - never.accuracy >= 30  # the test bed: half the answers need the store
    assert gated.accuracy >= always.accuracy
    assert gated.retrieval_rate is not None and gated.retrieval_rate <= 0.60
    assert gated.accuracy - never.accuracy >= 20
    gated_traces = [t.retrieval for t in traces if t.method == "gated" and t.retrieval is not None]
    waited = [t for t in gated_traces if t.reason in ("deferred", "disagreement")]
    assert len(waited) >= 0.8 * len(gated_traces)  # most questions wait for the experts' answers
    assert all(t.stage == "post" for t in gated_traces if t.retrieved and t.reason == "disagreement")


@pytest.mark.slow  # a live profile of the validation split (both books) and a live gated run of 48 questions
@pytest.mark.xdist_group("facts-kb")
def test_a_live_pool_defers_and_decides_as_the_bench(
    recall_bench: dict[str, Any], session_embedder: Any
) -> None:
    cfg, tmp = recall_bench["cfg"], recall_bench["tmp"]
    pool = load_pool_config(ZOO_RECALL_POOL).model_copy(update={"retrieval": cfg.retrieval})
    record = profile_pool(pool, load_questions(cfg.data.profile).instances, embedder=session_embedder,
                          retrieval=True)  # fmt: skip
    record.save(tmp / "profiles.json")
    live = pool.model_copy(update={"profiles": str(tmp / "profiles.json")})
    tests = load_questions(cfg.data.test).instances[::5]
    _, finals = run_pool(live, tests, embedder=session_embedder)
    bench = {t.instance_id: t for t in recall_bench["traces"] if t.method == "gated"}
    assert len(finals) == len(tests)
    for f in finals:
        b = bench[f.instance_id]
        assert f.retrieval is not None and b.retrieval is not None
        assert (f.retrieval.retrieved, f.retrieval.reason, f.retrieval.stage) == (
            b.retrieval.retrieved, b.retrieval.reason, b.retrieval.stage,
        )  # fmt: skip
        assert f.answer == b.answer
    assert {"deferred", "disagreement"} <= {f.retrieval.reason for f in finals if f.retrieval is not None}
