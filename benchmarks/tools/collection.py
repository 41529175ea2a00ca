"""Benchmark of the knowledge store on a BEIR-format collection: dense, BM25, hybrid, hybrid + reranker.

The collection is a local folder in BEIR's layout (``corpus.jsonl``, ``queries.jsonl``,
``qrels/<split>.tsv``); ``corpus.jsonl`` is ingested with :func:`~orchestrator.retrieval.ingest.ingest`
exactly as ``symoe kb add`` does, then every judged query is searched one at a time (embedding
included) in each mode and scored with nDCG@10, recall@k and MRR (:mod:`orchestrator.retrieval.evaluation`).

:func:`tiny_collection` writes a small collection of the project's own (synthetic passages about
fictional entities, one judged document per query) for tests and a quick look.

Example::

    result = run_collection_bench(CollectionBenchConfig(folder="beir/scifact", reranker="/models/ce"))
    for row in result.rows: row.label, row.ndcg_at_10, row.recall_at_k, row.p50_ms
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from common.errors import DataError
from orchestrator.bench.record import BenchmarkRecord, record_header
from orchestrator.retrieval.config import KnowledgeConfig
from orchestrator.retrieval.evaluation import Query, evaluate, read_qrels, read_queries, write_beir
from orchestrator.retrieval.synthetic import synthetic_corpus, synthetic_queries

logger = logging.getLogger(__name__)


class CollectionBenchConfig(BaseModel):
    """What ``benchmarks/kb_collection.py`` measures."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    folder: str = Field(description="A BEIR-format folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv.")
    split: str = Field(default="test", description="The qrels file under qrels/.")
    store: str | None = Field(
        default=None,
        description="Where the store is built (a temporary folder when None; reused if present).",
    )
    k: int = Field(default=10, ge=1, le=1000, description="Documents per query (recall@k).")
    reranker: str | None = Field(default=None, description="A local CrossEncoder folder (the last row).")
    rerank_depth: int = Field(default=20, ge=1, description="Hits the reranker rescores.")
    max_queries: int | None = Field(default=None, ge=1, description="Score only the first N judged queries.")


class CollectionRow(BaseModel):
    """One search configuration's scores."""

    model_config = ConfigDict(extra="forbid")

    label: str
    ndcg_at_10: float
    recall_at_k: float
    mrr: float
    p50_ms: float
    p99_ms: float


class CollectionBenchResult(BenchmarkRecord):
    """The JSON record of one collection benchmark."""

    name: str = "kb_collection"
    documents: int
    chunks: int
    queries: int
    ingest_s: float
    ingest_cpu_s: float
    rows: list[CollectionRow]


def tiny_collection(folder: Path, documents: int = 120, queries: int = 30, seed: int = 0) -> Path:
    """Write a small BEIR-format collection of the project's own (synthetic, one judged doc per query)."""
    corpus = synthetic_corpus(documents, seed=seed)
    qs = synthetic_queries(corpus, queries, seed=seed + 1)
    return write_beir(
        folder,
        corpus,
        [Query(f"q{i}", q.text) for i, q in enumerate(qs)],
        {f"q{i}": {q.target: 1.0} for i, q in enumerate(qs)},
    )


def run_collection_bench(
    cfg: CollectionBenchConfig, *, embedder: object | None = None
) -> CollectionBenchResult:
    """Ingest the collection's corpus and score each search mode (see the module docstring).

    Raises:
        DataError: the folder lacks a BEIR file.
    """
    from orchestrator.retrieval.ingest import ingest
    from orchestrator.retrieval.store import KnowledgeStore

    folder = Path(cfg.folder)
    files = [folder / "corpus.jsonl", folder / "queries.jsonl", folder / "qrels" / f"{cfg.split}.tsv"]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise DataError(f"not a BEIR-format folder: missing {', '.join(missing)}", path=str(folder))
    queries = read_queries(str(files[1]))
    qrels = read_qrels(str(files[2]))
    judged = [q for q in queries if q.id in qrels]
    if cfg.max_queries is not None:
        judged = judged[: cfg.max_queries]
    with tempfile.TemporaryDirectory(prefix="kb-collection-") as tmp:
        kcfg = KnowledgeConfig(
            uri=cfg.store or str(Path(tmp) / "kb"),
            reranker=cfg.reranker,
            rerank_depth=cfg.rerank_depth,
        )
        store = KnowledgeStore.open(kcfg, embedder=embedder, create=True)
        wall, cpu = time.perf_counter(), time.process_time()
        report = ingest(store, [files[0]])
        ingest_s, ingest_cpu = time.perf_counter() - wall, time.process_time() - cpu
        logger.info("collection: ingested %d chunks in %.1fs", report.chunks_added, ingest_s)
        runs: list[tuple[str, str, bool]] = [
            ("dense", "dense", False),
            ("bm25", "bm25", False),
            ("hybrid (RRF)", "hybrid", False),
        ]
        if cfg.reranker:
            runs.append(("hybrid + reranker", "hybrid", True))
        rows = []
        for label, mode, rerank in runs:
            r = evaluate(store, judged, qrels, k=cfg.k, mode=mode, rerank=rerank)
            rows.append(
                CollectionRow(
                    label=label,
                    ndcg_at_10=round(r.ndcg_at_10, 4),
                    recall_at_k=round(r.recall_at_k, 4),
                    mrr=round(r.mrr, 4),
                    p50_ms=round(r.p50_ms, 2),
                    p99_ms=round(r.p99_ms, 2),
                )
            )
        documents = len(store._scan(["doc_id"]).column("doc_id").unique())
        chunks = store.count()
    return CollectionBenchResult(
        **record_header(cfg, ["lancedb", "sentence-transformers", "torch"]),
        documents=documents,
        chunks=chunks,
        queries=len(judged),
        ingest_s=round(ingest_s, 2),
        ingest_cpu_s=round(ingest_cpu, 2),
        rows=rows,
    )
