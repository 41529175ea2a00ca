"""Knowledge-store benchmark: ingestion rate, query latency and recall@k of dense, BM25 and hybrid search.

Corpora are synthetic (:mod:`orchestrator.retrieval.synthetic`: one short passage per fictional
entity), so every query has exactly one right passage. Two sizes:

- ``small_n`` (10k): real all-MiniLM-L6-v2 embeddings of passages and queries; latency and recall@k of
  all three modes.
- ``large_n`` (100k): random unit vectors stand in for embeddings (unless ``embed_large``), so dense and
  hybrid latency are real but their recall is not measured; BM25 is real.

At each size the BM25 side is measured twice: LanceDB's full-text index (what the store uses) and
``bm25s`` over the same texts, so the choice between them rests on numbers. Ingestion is timed per
part: embedding (passages/s of MiniLM), writing the vectors to LanceDB, and building each BM25 index.
Query latency is one query per call (as the retrieval gate asks), warmup queries first and untimed,
wall and CPU time per query (the machine is shared, so CPU time tells contention from work).

The thin entrypoint is ``benchmarks/kb_bench.py``.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from rich.table import Table

from benchmarks.tools.speed import _torch_threads, percentile
from orchestrator.bench.record import BenchmarkRecord, record_header
from orchestrator.retrieval.config import KnowledgeConfig
from orchestrator.retrieval.schema import ChunkRow, meta_table, with_vectors
from orchestrator.retrieval.store import KnowledgeStore
from orchestrator.retrieval.synthetic import SyntheticQuery, synthetic_corpus, synthetic_queries

logger = logging.getLogger(__name__)

_PACKAGES = ("symbolic-moe", "lancedb", "bm25s", "pyarrow", "torch", "sentence-transformers")
_WRITE_BATCH = 4096


class KbBenchConfig(BaseModel):
    """Settings of the knowledge-store benchmark."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    small_n: int = Field(default=10_000, ge=10, description="Passages of the embedded corpus.")
    large_n: int = Field(default=100_000, ge=0, description="Passages of the large corpus (0 skips it).")
    embed_large: bool = Field(
        default=False, description="Embed the large corpus for real (slow) instead of random vectors."
    )
    queries: int = Field(default=300, ge=3, description="Timed queries per size (styles in turn).")
    warmup: int = Field(default=20, ge=0, description="Untimed queries first, per mode.")
    k: int = Field(default=10, ge=1, description="Hits per query; recall is recall@k.")
    embed_batch_size: int = Field(default=64, ge=1, description="Passages per embedding call.")
    torch_threads: int | None = Field(
        default=1,
        ge=1,
        description="torch intra-op threads while embedding (restored after); 1 avoids oversubscription on "
        "a shared CPU (on this 2-core machine 2 threads cost 2-3x the CPU time). torch's default when unset.",
    )
    seed: int = 0
    workdir: str | None = Field(
        default=None, description="Where the LanceDB tables go (a temp dir if unset)."
    )


class IngestStats(BaseModel):
    """Ingestion of one corpus, part by part (passages per second of wall time; CPU seconds beside)."""

    model_config = ConfigDict(extra="forbid")

    passages: int
    vectors: str = Field(description="'minilm' or 'random'.")
    embed_per_s: float | None = Field(description="MiniLM embedding rate (None with random vectors).")
    embed_cpu_s: float | None
    lance_write_per_s: float = Field(description="Writing passages with vectors to LanceDB (one commit).")
    dense_per_s: float | None = Field(description="Embedding and writing together: the dense ingestion rate.")
    lance_fts_per_s: float = Field(description="Building LanceDB's full-text (BM25) index.")
    lance_fts_cpu_s: float
    bm25s_per_s: float = Field(description="Tokenising and indexing the same texts with bm25s.")
    bm25s_cpu_s: float


class ModeStats(BaseModel):
    """One search mode at one size: per-query latency and recall@k."""

    model_config = ConfigDict(extra="forbid")

    mode: str
    p50_ms: float
    p99_ms: float
    mean_ms: float
    cpu_ms_per_query: float
    recall: float | None = Field(description="recall@k over all queries (None where vectors are random).")
    recall_by_style: dict[str, float] = Field(default_factory=dict)


class SizeResult(BaseModel):
    """Everything measured at one corpus size."""

    model_config = ConfigDict(extra="forbid")

    passages: int
    ingest: IngestStats
    modes: list[ModeStats]


class KbBenchResult(BenchmarkRecord):
    """The JSON record of one knowledge-store benchmark run."""

    name: str = "kb_bench"
    k: int
    sizes: list[SizeResult]
    notes: list[str]


# -- measurement ---------------------------------------------------------------------------------


def synthetic_rows(corpus: Sequence[dict[str, str]]) -> list[ChunkRow]:
    """One chunk row per synthetic passage (the whole passage, chunk 0), ready to embed and write."""
    return [
        ChunkRow(
            id=d["id"],
            origin="synthetic",
            origin_sha256="0",
            doc_id=d["id"],
            source=d["source"],
            title=d["title"],
            text=d["text"],
            chunk_index=0,
            start=0,
            end=len(d["text"]),
        )
        for d in corpus
    ]


def random_unit_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    """``n`` random float32 rows of norm 1 (stand-ins for embeddings)."""
    vecs = np.random.default_rng(seed).standard_normal((n, dim), dtype=np.float32)
    out: np.ndarray = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    return out


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def build_size(
    cfg: KbBenchConfig, n: int, root: Path, embedder: Any, *, real_vectors: bool
) -> tuple[KnowledgeStore, IngestStats, Any, list[str]]:
    """Make the corpus, embed (or draw) its vectors, write it to a fresh table, build both BM25 indexes.

    Returns:
        The store, the ingestion figures, the bm25s retriever, and the passage ids in bm25s order.
    """
    import bm25s

    corpus = synthetic_corpus(n, seed=cfg.seed)
    rows = synthetic_rows(corpus)
    texts = [r.text for r in rows]
    kcfg = KnowledgeConfig(uri=str(root / f"kb-{n}"), embedding_cache_dir=None)
    store = KnowledgeStore.open(kcfg, embedder=embedder, create=True)
    embed_s = embed_cpu = None
    if real_vectors:
        embedder.embed(texts[: cfg.embed_batch_size])  # load the model outside the timing
        vectors, embed_s, embed_cpu = _timed(lambda: embedder.embed(texts))
    else:
        vectors = random_unit_vectors(n, store.dim, cfg.seed)

    def batches() -> Any:
        for i in range(0, n, _WRITE_BATCH):
            part = rows[i : i + _WRITE_BATCH]
            yield with_vectors(meta_table(part), vectors[i : i + _WRITE_BATCH], store.dim)

    _, write_s, _ = _timed(lambda: store.write([], batches()))
    _, fts_s, fts_cpu = _timed(store.optimize)

    def bm25s_index() -> Any:
        retriever = bm25s.BM25()
        retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
        return retriever

    retriever, bm25s_s, bm25s_cpu = _timed(bm25s_index)
    stats = IngestStats(
        passages=n,
        vectors="minilm" if real_vectors else "random",
        embed_per_s=round(n / embed_s, 1) if embed_s else None,
        embed_cpu_s=round(embed_cpu, 2) if embed_cpu is not None else None,
        lance_write_per_s=round(n / write_s, 1),
        dense_per_s=round(n / (embed_s + write_s), 1) if embed_s else None,
        lance_fts_per_s=round(n / fts_s, 1),
        lance_fts_cpu_s=round(fts_cpu, 2),
        bm25s_per_s=round(n / bm25s_s, 1),
        bm25s_cpu_s=round(bm25s_cpu, 2),
    )
    return store, stats, retriever, [r.id for r in rows]


def measure_mode(
    mode: str,
    search: Callable[[int], list[str]],
    queries: Sequence[SyntheticQuery],
    warmup: int,
    *,
    recall: bool,
) -> ModeStats:
    """Call ``search(i)`` (the hit ids of ``queries[i]``) untimed for the first ``warmup`` queries, then
    time one call per remaining query and score recall over those."""
    for i in range(min(warmup, len(queries))):
        search(i)
    lat: list[float] = []
    cpu = 0.0
    found: dict[str, list[bool]] = {}
    for i in range(warmup, len(queries)):
        ids, wall_s, cpu_s = _timed(partial(search, i))
        lat.append(wall_s)
        cpu += cpu_s
        found.setdefault(queries[i].style, []).append(queries[i].target in ids)
    every = [x for xs in found.values() for x in xs]
    return ModeStats(
        mode=mode,
        p50_ms=round(1000 * percentile(lat, 50), 2),
        p99_ms=round(1000 * percentile(lat, 99), 2),
        mean_ms=round(1000 * sum(lat) / len(lat), 2),
        cpu_ms_per_query=round(1000 * cpu / len(lat), 2),
        recall=round(sum(every) / len(every), 4) if recall else None,
        recall_by_style={s: round(sum(v) / len(v), 4) for s, v in found.items()} if recall else {},
    )


def measure_size(cfg: KbBenchConfig, n: int, root: Path, embedder: Any, *, real_vectors: bool) -> SizeResult:
    """Ingest one corpus and measure every mode on ``cfg.queries`` queries built from it."""
    import bm25s

    store, ingest, retriever, ids = build_size(cfg, n, root, embedder, real_vectors=real_vectors)
    corpus = synthetic_corpus(n, seed=cfg.seed)
    qs = synthetic_queries(corpus, cfg.queries + cfg.warmup, seed=cfg.seed + 1)  # warmup ones first
    # Dense and hybrid rows time the search with precomputed query vectors; embedding one query is its
    # own row (the end-to-end latency of a dense or hybrid query is the sum of the two).
    if real_vectors:
        qvecs = embedder.embed([q.text for q in qs])
    else:
        qvecs = random_unit_vectors(len(qs), store.dim, cfg.seed + 2)

    def store_search(mode: str) -> Callable[[int], list[str]]:
        def run(i: int) -> list[str]:
            qv = qvecs[i : i + 1] if mode != "bm25" else None
            (result,) = store.retrieve([qs[i].text], k=cfg.k, mode=mode, query_vectors=qv)  # type: ignore[arg-type]
            return [h.id for h in result.hits]

        return run

    def embed_query(i: int) -> list[str]:
        embedder.model.encode([qs[i].text], normalize_embeddings=True)  # no cache: a real encode
        return []

    def bm25s_search(i: int) -> list[str]:
        tokens = bm25s.tokenize([qs[i].text], stopwords="en", show_progress=False)
        docs, _ = retriever.retrieve(tokens, k=cfg.k, show_progress=False)
        return [ids[j] for j in docs[0]]

    modes = [
        measure_mode(mode, fn, qs, cfg.warmup, recall=has_recall)
        for mode, fn, has_recall in (
            ("query embedding (MiniLM)", embed_query, False),
            ("dense", store_search("dense"), real_vectors),
            ("bm25 (LanceDB FTS)", store_search("bm25"), True),
            ("bm25s", bm25s_search, True),
            ("hybrid", store_search("hybrid"), real_vectors),
        )
    ]
    return SizeResult(passages=n, ingest=ingest, modes=modes)


def run_kb_bench(cfg: KbBenchConfig, *, model: Any | None = None) -> KbBenchResult:
    """Measure the small (embedded) and large (random-vector) corpora; see the module docstring.

    Args:
        cfg: the settings.
        model: an already-loaded all-MiniLM-L6-v2 ``SentenceTransformer`` to reuse (tests pass theirs);
            the packaged one is loaded when None.
    """
    from skills.embedding import Embedder

    # no disk cache, and a fresh in-memory one: every passage is really encoded
    embedder = Embedder(cache_dir=None, batch_size=cfg.embed_batch_size, model=model)
    notes = [
        "synthetic corpora: one passage (~190 characters) per fictional entity; queries built from them "
        "(styles: name, typo in the name, description without the name)",
        f"{cfg.small_n:,} passages: real all-MiniLM-L6-v2 embeddings",
        "dense and hybrid rows time the search with the query already embedded; add the query "
        "embedding row for end to end",
    ]
    with tempfile.TemporaryDirectory(dir=cfg.workdir) as tmp:
        root = Path(tmp)
        with _torch_threads(cfg.torch_threads):
            sizes = _measure_sizes(cfg, root, embedder, notes)
    return KbBenchResult(**record_header(cfg, _PACKAGES), k=cfg.k, sizes=sizes, notes=notes)


def _measure_sizes(cfg: KbBenchConfig, root: Path, embedder: Any, notes: list[str]) -> list[SizeResult]:
    sizes = [measure_size(cfg, cfg.small_n, root, embedder, real_vectors=True)]
    if cfg.large_n:
        real = cfg.embed_large
        if not real:
            notes.append(
                f"{cfg.large_n:,} passages: RANDOM unit vectors for passages and queries (dense and "
                "hybrid latency are real, their recall is not measured); BM25 is real"
            )
        sizes.append(measure_size(cfg, cfg.large_n, root, embedder, real_vectors=real))
    return sizes


# -- presentation --------------------------------------------------------------------------------


def kb_tables(result: KbBenchResult) -> list[Table]:
    """An ingestion table and a query table."""
    ingest = Table(title="knowledge store ingestion (passages/s, wall; CPU seconds in brackets)")
    for col in (
        "passages",
        "vectors",
        "MiniLM embed",
        "LanceDB write",
        "dense total",
        "LanceDB FTS",
        "bm25s",
    ):
        ingest.add_column(col, justify="right")
    for s in result.sizes:
        i = s.ingest
        ingest.add_row(
            f"{i.passages:,}",
            i.vectors,
            f"{i.embed_per_s:,.0f} ({i.embed_cpu_s:.0f})" if i.embed_per_s else "-",
            f"{i.lance_write_per_s:,.0f}",
            f"{i.dense_per_s:,.0f}" if i.dense_per_s else "-",
            f"{i.lance_fts_per_s:,.0f} ({i.lance_fts_cpu_s:.1f})",
            f"{i.bm25s_per_s:,.0f} ({i.bm25s_cpu_s:.1f})",
        )
    queries = Table(title=f"queries: one per call, latency in ms, recall@{result.k}")
    for col in (
        "passages",
        "mode",
        "p50",
        "p99",
        "mean",
        "CPU/query",
        f"recall@{result.k}",
        "name",
        "typo",
        "describe",
    ):
        queries.add_column(col, justify="left" if col == "mode" else "right")
    for s in result.sizes:
        for m in s.modes:
            by = m.recall_by_style
            queries.add_row(
                f"{s.passages:,}",
                m.mode,
                f"{m.p50_ms:.1f}",
                f"{m.p99_ms:.1f}",
                f"{m.mean_ms:.1f}",
                f"{m.cpu_ms_per_query:.1f}",
                f"{m.recall:.3f}" if m.recall is not None else "-",
                *(f"{by[k]:.2f}" if k in by else "-" for k in ("name", "typo", "describe")),
            )
    queries.caption = "; ".join(result.notes)
    return [ingest, queries]
