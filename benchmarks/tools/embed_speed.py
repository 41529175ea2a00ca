"""Embedding backends side by side: cold `symoe bench` time, ingestion rate, neighbours and accuracies.

For each backend (``torch``, ``onnx``, ``onnx-int8``; see :mod:`skills.embedding`), in one run:

1. **Cold bench.** ``symoe bench CONFIG`` in a subprocess with an empty ``SYMOE_HOME`` (empty embedding
   cache) and ``SYMOE_EMBEDDING_BACKEND`` set: wall and CPU seconds of the whole run and of its
   embedding stage, and every method's accuracy. The ONNX exports are made once beforehand into a
   shared folder that each fresh home links to (``$SYMOE_HOME/onnx``), as they would be on any machine
   after its first run; the export time is reported separately.
2. **Neighbours.** The questions' vectors from each run's cache: for every test question, the overlap of
   its 10 nearest profiling questions (what kNN routing reads) with the torch backend's 10.
3. **Ingestion.** Passages per second of knowledge-store ingestion (embedding plus the LanceDB write),
   on the synthetic corpus of :mod:`benchmarks.tools.kb`, with CPU seconds.

The thin entrypoint is ``benchmarks/embedding_speed.py``.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from rich.table import Table

from benchmarks.tools.cold import BenchProcessConfig, BenchProcessRun, fresh_home, run_bench_process
from common.settings import restore_env
from orchestrator.bench.record import BenchmarkRecord, record_header

EMBED_STAGE = "embeddings + skills"
_PACKAGES = ("symbolic-moe", "torch", "sentence-transformers", "onnxruntime", "onnx")


class EmbedSpeedConfig(BaseModel):
    """Settings of the embedding-backend benchmark."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    config: str = Field(default="configs/bench/mmlu_pro_paper_small.yaml", description="The bench YAML.")
    backends: str = Field(default="torch,onnx,onnx-int8", description="Comma-separated; torch first.")
    data_dir: str | None = Field(default=None, description="Data folder (default: ../shared/data).")
    limit: int | None = Field(default=None, ge=1, description="Only the first N test questions.")
    passages: int = Field(default=2000, ge=0, description="Passages ingested per backend (0 skips it).")
    neighbours: int = Field(default=10, ge=1, description="k of the neighbour overlap.")
    timeout_s: float = Field(default=1800.0, gt=0, description="Bound on one bench run.")


class IngestRate(BaseModel):
    """Knowledge-store ingestion with one backend."""

    model_config = ConfigDict(extra="forbid")

    passages: int
    embed_s: float
    embed_cpu_s: float
    write_s: float
    passages_per_s: float


class BackendRow(BaseModel):
    """One backend's figures."""

    model_config = ConfigDict(extra="forbid")

    backend: str
    export_s: float
    bench: BenchProcessRun
    neighbour_overlap: float | None
    ingest: IngestRate | None


class EmbedSpeedResult(BenchmarkRecord):
    """The JSON record of one embedding-backend run."""

    name: str = "embedding_speed"
    load_average: tuple[float, float, float]
    rows: list[BackendRow]


def prepare_export(backend: str, onnx_dir: Path) -> float:
    """Export the packaged MiniLM for ``backend`` into ``onnx_dir`` (no-op for torch); seconds taken."""
    if backend == "torch":
        return 0.0
    from skills.embedding import DEFAULT_MODEL_NAME, default_model_path
    from skills.onnx_encoder import export_onnx

    start = time.perf_counter()
    export_onnx(
        default_model_path(), onnx_dir / DEFAULT_MODEL_NAME, "int8" if backend == "onnx-int8" else "fp32"
    )
    return round(time.perf_counter() - start, 2)


def bench_texts(cfg: EmbedSpeedConfig) -> tuple[list[str], list[str]]:
    """The bench's profiling and test question texts (what the bench embeds)."""
    from orchestrator.bench.config import load_bench_config
    from orchestrator.bench.data import load_bench_data, needs_data_dir, resolve_data_dir
    from orchestrator.bench.suite import load_suite

    (bench_cfg,) = load_suite([Path(cfg.config)], cfg.limit) if cfg.limit else [load_bench_config(cfg.config)]
    data_dir = resolve_data_dir(cfg.data_dir) if needs_data_dir(bench_cfg) else None
    data = load_bench_data(bench_cfg, data_dir)
    return [i.question for i in data.profile], [i.question for i in data.test]


def cached_vectors(home: Path, backend: str, texts: Sequence[str]) -> np.ndarray:
    """``texts``' vectors from a finished run's embedding cache (encoding any the run did not store)."""
    from skills.embedding import Embedder

    return Embedder(cache_dir=home / "embeddings", backend=backend).embed(list(texts))  # type: ignore[arg-type]


def neighbour_overlap(
    ref: tuple[np.ndarray, np.ndarray], other: tuple[np.ndarray, np.ndarray], k: int
) -> float:
    """Mean share of each test question's ``k`` nearest profiling questions that both backends agree on.

    Args:
        ref: (profile vectors, test vectors) of the reference backend.
        other: the same of the compared backend.
    """

    def top(profile: np.ndarray, test: np.ndarray) -> np.ndarray:
        sims = test @ profile.T
        kk = min(k, profile.shape[0])
        return np.argpartition(-sims, kk - 1, axis=1)[:, :kk]

    a, b = top(*ref), top(*other)
    kk = a.shape[1]
    return float(np.mean([len(set(x) & set(y)) / kk for x, y in zip(a, b, strict=True)]))


def ingest_rate(backend: str, passages: int) -> IngestRate:
    """Ingest ``passages`` synthetic passages into a fresh knowledge store with ``backend``.

    The model is loaded (and one batch embedded) before the timing, so the rate is the steady one.
    """
    from benchmarks.tools.kb import synthetic_rows
    from orchestrator.retrieval.config import KnowledgeConfig
    from orchestrator.retrieval.schema import meta_table, with_vectors
    from orchestrator.retrieval.store import KnowledgeStore
    from orchestrator.retrieval.synthetic import synthetic_corpus
    from skills.embedding import Embedder

    corpus = synthetic_corpus(passages, seed=0)
    texts = [d["text"] for d in corpus]
    embedder = Embedder(cache_dir=None, backend=backend)  # type: ignore[arg-type]
    embedder.embed(["warm up the model before timing"])
    with tempfile.TemporaryDirectory(prefix="symoe-ingest-") as tmp:
        store = KnowledgeStore.open(
            KnowledgeConfig(uri=str(Path(tmp) / "kb"), embedding_cache_dir=None),
            embedder=embedder,
            create=True,
        )
        wall, cpu = time.perf_counter(), time.process_time()
        vectors = embedder.embed(texts)
        embed_s, embed_cpu = time.perf_counter() - wall, time.process_time() - cpu
        rows = synthetic_rows(corpus)
        start = time.perf_counter()
        store.write([], iter([with_vectors(meta_table(rows), vectors, store.dim)]))
        write_s = time.perf_counter() - start
    return IngestRate(
        passages=passages,
        embed_s=round(embed_s, 2),
        embed_cpu_s=round(embed_cpu, 2),
        write_s=round(write_s, 2),
        passages_per_s=round(passages / (embed_s + write_s), 1),
    )


def run_embed_speed(cfg: EmbedSpeedConfig) -> EmbedSpeedResult:
    """Every backend's cold bench, neighbours and ingestion (see the module docstring)."""
    backends = [b.strip() for b in cfg.backends.split(",") if b.strip()]
    rows: list[BackendRow] = []
    with tempfile.TemporaryDirectory(prefix="symoe-embed-speed-") as tmp:
        root = Path(tmp)
        onnx_dir = root / "exports"
        profile_texts, test_texts = bench_texts(cfg)
        ref: tuple[np.ndarray, np.ndarray] | None = None
        for backend in backends:
            export_s = prepare_export(backend, onnx_dir)
            home = fresh_home(root, backend, onnx_dir)
            run = run_bench_process(
                BenchProcessConfig(
                    config=cfg.config,
                    data_dir=cfg.data_dir,
                    limit=cfg.limit,
                    env={"SYMOE_EMBEDDING_BACKEND": backend},
                    timeout_s=cfg.timeout_s,
                ),
                home,
            )
            os.environ["SYMOE_HOME"], previous = str(home), os.environ.get("SYMOE_HOME")
            try:
                vecs = (
                    cached_vectors(home, backend, profile_texts),
                    cached_vectors(home, backend, test_texts),
                )
                ingest = ingest_rate(backend, cfg.passages) if cfg.passages else None
            finally:
                restore_env("SYMOE_HOME", previous)
            ref = ref if ref is not None else vecs
            rows.append(
                BackendRow(
                    backend=backend,
                    export_s=export_s,
                    bench=run,
                    neighbour_overlap=round(neighbour_overlap(ref, vecs, cfg.neighbours), 4),
                    ingest=ingest,
                )
            )
    return EmbedSpeedResult(**record_header(cfg, _PACKAGES), load_average=os.getloadavg(), rows=rows)


def embed_speed_table(result: EmbedSpeedResult) -> Table:
    """Backends as rows, the first one as the reference of every ratio."""
    ref = result.rows[0]
    table = Table(title=f"embedding backends, cold `symoe bench` (reference: {ref.backend})")
    for col in ("backend", "bench wall s", "bench CPU s", "embed stage s (CPU)", "CPU ratio",
                "top-10 overlap", "ingest passages/s", "ingest ratio", "export s"):  # fmt: skip
        table.add_column(col, justify="left" if col == "backend" else "right")
    for r in result.rows:
        stage = r.bench.stage_seconds.get(EMBED_STAGE, 0.0)
        stage_cpu = r.bench.stage_cpu_seconds.get(EMBED_STAGE, 0.0)
        rate = r.ingest.passages_per_s if r.ingest else None
        ref_rate = ref.ingest.passages_per_s if ref.ingest else None
        table.add_row(
            r.backend, f"{r.bench.wall_s:.1f}", f"{r.bench.cpu_s:.1f}", f"{stage:.1f} ({stage_cpu:.1f})",
            f"{ref.bench.cpu_s / r.bench.cpu_s:.2f}x" if r.bench.cpu_s else "-",
            f"{r.neighbour_overlap:.3f}" if r.neighbour_overlap is not None else "-",
            f"{rate:.0f}" if rate is not None else "-",
            f"{rate / ref_rate:.2f}x" if rate and ref_rate else "-",
            f"{r.export_s:.1f}",
        )  # fmt: skip
    return table


def accuracy_table(result: EmbedSpeedResult) -> Table:
    """Every method's accuracy (percent) per backend, with the difference from the reference."""
    ref = result.rows[0]
    table = Table(title="bench accuracies per embedding backend (difference from the first)")
    table.add_column("method")
    for r in result.rows:
        table.add_column(r.backend, justify="right")
    for method, acc in ref.bench.accuracies.items():
        cells = [f"{acc:.2f}"]
        for r in result.rows[1:]:
            other = r.bench.accuracies.get(method)
            cells.append("-" if other is None else f"{other:.2f} ({other - acc:+.2f})")
        table.add_row(method, *cells)
    return table
