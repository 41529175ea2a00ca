"""The committed retrieval test bed (configs/bench/zoo_rag.yaml: the zoo pool plus the reader, the facts
knowledge base, 30% facts questions) meets the retrieval targets live, on a spread of its test split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rag_helpers import REPO

from orchestrator.bench import run_bench
from orchestrator.bench.config import load_bench_config

ZOO_RAG = REPO / "configs" / "bench" / "zoo_rag.yaml"


@pytest.mark.slow  # every expert answers 400 validation and 300 test questions both ways (about a minute)
@pytest.mark.xdist_group("facts-kb")  # the facts KB's embeddings are shared with test_kb_facts.py
def test_gated_retrieval_meets_the_targets_on_the_zoo_test_bed(tmp_path: Path, session_embedder: Any) -> None:
    cfg = load_bench_config(ZOO_RAG)
    store = cfg.retrieval.store.model_copy(update={"uri": str(tmp_path / "kb")})  # type: ignore[union-attr]
    cfg = cfg.model_copy(
        update={"sample": 300, "retrieval": cfg.retrieval.model_copy(update={"store": store})}
    )  # type: ignore[union-attr]
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
