"""The knowledge store on a real LanceDB folder with real MiniLM embeddings: search, hits, coverage."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from common.errors import ConfigError, DataError
from common.records import Passage
from orchestrator.retrieval.config import KnowledgeConfig
from orchestrator.retrieval.hits import Coverage, Hit, coverage_of, rrf_fuse
from orchestrator.retrieval.ingest import ingest
from orchestrator.retrieval.store import KnowledgeStore


def _hit(i: str, dense: float | None = None, bm25: float | None = None) -> Hit:
    return Hit(
        id=i,
        source=f"src-{i}",
        title=None,
        text=f"text {i}",
        origin="o",
        doc_id=i,
        start=0,
        end=6,
        dense_score=dense,
        bm25_score=bm25,
    )


def test_rrf_fuses_ranks_and_keeps_both_scores() -> None:
    dense = [_hit("a", dense=0.9), _hit("b", dense=0.8), _hit("c", dense=0.7)]
    bm25 = [_hit("c", bm25=5.0), _hit("d", bm25=4.0), _hit("a", bm25=1.0)]
    fused = rrf_fuse(dense, bm25, k=3, rrf_k=60)
    assert [h.id for h in fused] == ["a", "c", "b"]  # a: 1/61+1/63, c: 1/63+1/61 (tie, a has more dense)
    assert fused[0].dense_score == 0.9 and fused[0].bm25_score == 1.0
    assert fused[0].fused_score == pytest.approx(1 / 61 + 1 / 63)
    assert fused[2].bm25_score is None and fused[2].score == pytest.approx(1 / 62)


def test_coverage_of_ranked_lists() -> None:
    cov = coverage_of([_hit("a", dense=0.9), _hit("b", dense=0.6)], [_hit("a", bm25=7.0)])
    assert cov == Coverage(top_dense=0.9, top_bm25=7.0, dense_margin=pytest.approx(0.3), bm25_margin=None)
    assert coverage_of(None, []) == Coverage()


def test_search_modes_find_the_right_document(
    open_store: Callable[..., KnowledgeStore], corpus: Path
) -> None:
    store = open_store()
    ingest(store, [corpus])
    queries = [
        "Which painter taught at the Drell academy?",
        "How long is the Zorvan river?",
        "Telliq volcano",
    ]
    targets = ["velmora.md", "zorvan.html", "facts.jsonl"]
    for mode in ("dense", "bm25", "hybrid"):
        results = store.retrieve(queries, k=3, mode=mode)  # type: ignore[arg-type]
        assert [Path(r.hits[0].origin).name for r in results] == targets, mode
        assert all(len(r.hits) <= 3 for r in results)
    (r,) = store.retrieve(["Telliq volcano"], k=3, mode="hybrid")
    top = r.hits[0]
    assert (top.source, top.title, top.doc_id) == ("facts#telliq", "Telliq", "telliq")
    assert top.text.startswith("Telliq is a volcano") and top.end - top.start == len(top.text)
    assert top.dense_score is not None and top.bm25_score is not None and top.fused_score is not None
    cov = r.coverage
    assert cov.top_dense == pytest.approx(top.dense_score) and cov.top_bm25 == pytest.approx(top.bm25_score)
    assert cov.dense_margin is not None and cov.dense_margin > 0
    passage = top.to_passage()
    assert isinstance(passage, Passage) and passage.id == top.id and passage.score == top.fused_score
    (dense_only,) = store.retrieve(["Telliq volcano"], k=2, mode="dense")
    assert dense_only.coverage.top_bm25 is None and all(h.bm25_score is None for h in dense_only.hits)
    assert store.search(["Telliq volcano"], k=1, mode="bm25")[0][0].dense_score is None


class _CountingEmbedder:
    """Wraps the real embedder and counts calls (to check that a batch of queries is embedded once)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls = inner, 0
        self.dim, self.model_name = inner.dim, inner.model_name

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        return self.inner.embed(texts)


def test_a_batch_of_queries_is_embedded_in_one_call(
    open_store: Callable[..., KnowledgeStore], corpus: Path, kb_config: KnowledgeConfig, embedder: Any
) -> None:
    ingest(open_store(), [corpus])
    counting = _CountingEmbedder(embedder)
    store = KnowledgeStore.open(kb_config, embedder=counting)
    results = store.retrieve([f"query number {i} about rivers" for i in range(7)], k=2, mode="hybrid")
    assert len(results) == 7 and counting.calls == 1
    store.retrieve(["copper"], k=2, mode="bm25")
    assert counting.calls == 1  # BM25 needs no embedding
    vecs = embedder.embed(["How long is the Zorvan river?"])
    (r,) = store.retrieve(["ignored text"], k=1, mode="dense", query_vectors=vecs)
    assert r.hits[0].doc_id.endswith("zorvan.html") and counting.calls == 1


def test_errors_name_the_place_and_the_fix(
    open_store: Callable[..., KnowledgeStore], tmp_path: Path, embedder: Any
) -> None:
    with pytest.raises(DataError, match=r"no knowledge store.*symoe kb add"):
        KnowledgeStore.open(KnowledgeConfig(uri=str(tmp_path / "missing")))
    store = open_store()
    with pytest.raises(ConfigError, match="mode='fuzzy' is not one of dense, bm25, hybrid"):
        store.retrieve(["q"], mode="fuzzy")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="k=0 must be between 1 and 1000"):
        store.retrieve(["q"], k=0)
    assert store.retrieve([], k=3) == [] and store.search(["anything"], k=3, mode="hybrid") == [[]]
    with pytest.raises(DataError, match="no version 99"):
        KnowledgeStore.open(store.config, embedder=embedder, version=99)

    class Wide:
        dim, model_name = 512, "other"

    with pytest.raises(ConfigError, match="384 dims but the embedder makes 512"):
        KnowledgeStore.open(store.config, embedder=Wide())
    with pytest.raises(ValueError, match="chunk_overlap=900 must be smaller than chunk_chars=800"):
        KnowledgeConfig(chunk_overlap=900)


def test_stats_and_versions(open_store: Callable[..., KnowledgeStore], corpus: Path) -> None:
    store = open_store()
    ingest(store, [corpus])
    s = store.stats()
    assert (s.chunks, s.sources, s.dim) == (5, 4, 384)
    assert s.size_bytes is not None and s.size_bytes > 0
    assert "FTS on search_text" in s.indices and s.versions == len(store.versions()) >= 3
    assert store.versions()[-1].rows == 5 and store.versions()[0].rows == 0
    facts = str((corpus / "facts.jsonl").resolve())
    assert store.delete_sources([facts, "never-ingested"]) == 2
    assert facts not in store.sources() and store.count() == 3 and store.delete_sources([]) == 0


def test_the_package_exports_the_api_lazily() -> None:
    import orchestrator.retrieval as retrieval

    assert sorted(retrieval.__all__) == sorted(retrieval._EXPORTS)
    assert all(getattr(retrieval, name) is not None for name in retrieval.__all__)
    assert retrieval.KnowledgeStore is KnowledgeStore
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = retrieval.Nope
