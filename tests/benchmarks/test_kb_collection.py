"""The BEIR-format collection benchmark on a tiny collection the project builds, and the reranker."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from benchmarks.tools.collection import CollectionBenchConfig, run_collection_bench, tiny_collection
from orchestrator.retrieval.synthetic import synthetic_corpus, synthetic_queries


@pytest.mark.slow  # embeds 60 passages and runs 36 timed searches
def test_the_benchmark_scores_every_mode_on_a_tiny_collection(tmp_path: Path, embedder: Any) -> None:
    folder = tiny_collection(tmp_path / "tiny", documents=60, queries=12)
    result = run_collection_bench(CollectionBenchConfig(folder=str(folder), k=10), embedder=embedder)
    assert [r.label for r in result.rows] == ["dense", "bm25", "hybrid (RRF)"]
    assert result.documents == 60 and result.queries == 12
    by = {r.label: r for r in result.rows}
    assert all(0 < r.ndcg_at_10 <= 1 and 0 < r.p50_ms <= r.p99_ms for r in result.rows)
    assert by["hybrid (RRF)"].recall_at_k >= min(by["dense"].recall_at_k, by["bm25"].recall_at_k)


@pytest.fixture(scope="session")
def tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cross-encoder fine-tuned here from the packaged MiniLM on synthetic (query, passage) pairs."""
    from orchestrator.retrieval.rerank import train_cross_encoder

    corpus = synthetic_corpus(60, seed=7)
    rng = random.Random(7)
    pairs = []
    for q in synthetic_queries(corpus, 60, seed=8):
        pos = next(d for d in corpus if d["id"] == q.target)
        neg = rng.choice([d for d in corpus if d["id"] != q.target])
        pairs += [
            (q.text, f"{pos['title']}\n{pos['text']}", 1.0),
            (q.text, f"{neg['title']}\n{neg['text']}", 0.0),
        ]
    return train_cross_encoder(pairs, tmp_path_factory.mktemp("ce") / "tiny-ce", epochs=1)


@pytest.mark.slow  # fine-tunes a MiniLM cross-encoder for a few hundred pairs
def test_hybrid_plus_a_local_reranker(tmp_path: Path, embedder: Any, tiny_cross_encoder: Path) -> None:
    folder = tiny_collection(tmp_path / "tiny", documents=60, queries=12)
    cfg = CollectionBenchConfig(folder=str(folder), reranker=str(tiny_cross_encoder), rerank_depth=10)
    result = run_collection_bench(cfg, embedder=embedder)
    rows = {r.label: r for r in result.rows}
    assert "hybrid + reranker" in rows and rows["hybrid + reranker"].ndcg_at_10 > 0
    from orchestrator.retrieval.config import KnowledgeConfig
    from orchestrator.retrieval.ingest import ingest
    from orchestrator.retrieval.store import KnowledgeStore

    store = KnowledgeStore.open(
        KnowledgeConfig(uri=str(tmp_path / "kb"), reranker=str(tiny_cross_encoder)),
        embedder=embedder,
        create=True,
    )
    ingest(store, [folder / "corpus.jsonl"])
    hits = store.search(["What is the river famous for?"], k=5)[0]
    scores = [h.rerank_score for h in hits]
    assert None not in scores and scores == sorted(scores, reverse=True)  # type: ignore[type-var]
