"""Ingestion of a large corpus as a Ray Data pipeline: read and chunk in tasks, embed in parallel actors.

For each commit group the driver builds ``from_items(inputs) -> flat_map(read + chunk) ->
map_batches(embedding actor, concurrency=N)`` and streams the embedded batches into the same
single-commit write as local ingestion (:func:`~orchestrator.retrieval.ingest.ingest`), so idempotency,
replacement of changed files and crash safety are the same; only the work is spread over Ray workers.
Each actor holds one :class:`~skills.embedding.Embedder` sharing the on-disk embedding cache (safe for
concurrent writers).

Example::

    with ray_pipeline(store, RayIngestConfig(concurrency=4)) as pipeline:
        report = ingest(store, ["corpus/"], pipeline=pipeline)
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from common.extras import require_extra
from orchestrator.local_ray import init_local_ray
from orchestrator.retrieval.ingest import FileStatus, Pipeline, chunk_file
from orchestrator.retrieval.readers import Checked
from orchestrator.retrieval.schema import ROW_COLUMNS, ChunkRow, meta_table, with_vectors
from orchestrator.retrieval.store import KnowledgeStore

logger = logging.getLogger(__name__)

_STATUS = "_status"  # "" on chunk rows; a JSON FileStatus on the one status row per input


class RayIngestConfig(BaseModel):
    """How ``--backend ray`` runs ingestion."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    address: str | None = Field(
        default=None, description="Ray cluster to attach to; None starts a local Ray."
    )
    num_cpus: int | None = Field(default=None, ge=1, description="Local Ray only: CPUs (default all).")
    concurrency: int = Field(default=2, ge=1, description="Embedding actors (each loads MiniLM once).")
    actor_batch_size: int = Field(default=256, ge=1, description="Chunks per embedding-actor call.")
    namespace: str = "symbolic-moe"
    show_progress: bool = Field(default=False, description="Ray Data's own progress bars.")


def connect_local_ray(cfg: RayIngestConfig) -> bool:
    """Attach to ``cfg.address``, or start a local Ray on 127.0.0.1 without a dashboard.

    (:func:`orchestrator.ray.backend.connect_ray` takes the expert controller's GPU settings; both start
    a local Ray through :func:`orchestrator.local_ray.init_local_ray`.)

    Returns:
        True when this call connected (the caller disconnects), False when already connected.

    Raises:
        MissingExtraError: the ``ray`` extra is not installed.
    """
    require_extra("ray", "the Ray ingestion pipeline (--backend ray)")
    import ray

    if ray.is_initialized():
        return False
    if cfg.address:
        logger.info("ray ingest: attaching to %s", cfg.address)
        ray.init(address=cfg.address, namespace=cfg.namespace)
        return True
    logger.info("ray ingest: starting a local Ray on 127.0.0.1 (cpus=%s)", cfg.num_cpus)
    init_local_ray(num_cpus=cfg.num_cpus, namespace=cfg.namespace)
    return True


class ChunkInput:
    """Ray Data ``flat_map`` step: one checked input -> its chunk rows and one status row."""

    def __init__(self, chunk_chars: int, overlap: int) -> None:
        self.chunk_chars = chunk_chars
        self.overlap = overlap

    def __call__(self, item: dict[str, Any]) -> list[dict[str, Any]]:
        checked = Checked(**item)
        chunks = chunk_file(checked, self.chunk_chars, self.overlap)
        rows = [{**_row_dict(r), _STATUS: ""} for r in chunks.rows]
        status = {c: "" for c in ROW_COLUMNS} | {
            "chunk_index": -1,
            "start": 0,
            "end": 0,
        }
        status |= {"origin": checked.origin, _STATUS: json.dumps(asdict(chunks.status))}
        return [*rows, status]


def _row_dict(row: ChunkRow) -> dict[str, Any]:
    d = asdict(row)
    d["title"] = d["title"] or ""  # a column of only nulls would get Arrow's null type in some blocks
    d["metadata"] = d["metadata"] or ""
    return d


class EmbedBatch:
    """Ray Data actor: embeds the ``text`` of chunk rows (status rows get zero vectors)."""

    def __init__(self, cache_dir: str | None, batch_size: int) -> None:
        from skills.embedding import Embedder

        self.embedder = Embedder(cache_dir=cache_dir, batch_size=batch_size)

    def __call__(self, batch: pa.Table) -> pa.Table:
        is_chunk = np.asarray([s == "" for s in batch.column(_STATUS).to_pylist()], dtype=bool)
        texts = [t for t, c in zip(batch.column("text").to_pylist(), is_chunk, strict=True) if c]
        vectors = np.zeros((batch.num_rows, self.embedder.dim), dtype=np.float32)
        if texts:
            vectors[is_chunk] = self.embedder.embed(texts)
        flat = pa.array(vectors.reshape(-1))
        return batch.append_column("vector", pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1]))


@contextlib.contextmanager
def ray_pipeline(store: KnowledgeStore, cfg: RayIngestConfig | None = None) -> Iterator[Pipeline]:
    """A :data:`~orchestrator.retrieval.ingest.Pipeline` running on Ray (connecting for the block's
    duration; a Ray this call started is shut down at the end)."""
    import ray

    cfg = cfg or RayIngestConfig()
    connected = connect_local_ray(cfg)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = cfg.show_progress
    kcfg = store.config

    def run(group: Sequence[Checked]) -> Iterator[pa.RecordBatch | FileStatus]:
        ds: ray.data.Dataset = ray.data.from_items(
            [asdict(c) for c in group], override_num_blocks=max(1, len(group))
        )
        # Reading and chunking reserve no CPU: they are light, and the embedding actors may hold every
        # CPU of a small local Ray (2 actors on 2 CPUs would otherwise starve the reads forever).
        ds = ds.flat_map(ChunkInput(kcfg.chunk_chars, kcfg.chunk_overlap), num_cpus=0)
        ds = ds.map_batches(
            EmbedBatch,
            fn_constructor_kwargs={
                "cache_dir": kcfg.embedding_cache_dir,
                "batch_size": kcfg.embed_batch_size,
            },
            concurrency=cfg.concurrency,
            batch_size=cfg.actor_batch_size,
            batch_format="pyarrow",
        )
        for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None):
            yield from _split(batch, store.dim)

    try:
        yield run
    finally:
        if connected:
            ray.shutdown()


def _split(batch: pa.Table, dim: int) -> Iterator[pa.RecordBatch | FileStatus]:
    """A pipeline batch as status items and one chunk-table batch."""
    statuses = batch.column(_STATUS).to_pylist()
    keep = [i for i, s in enumerate(statuses) if s == ""]
    for s in statuses:
        if s:
            yield FileStatus(**json.loads(s))
    if not keep:
        return
    chunks = batch.take(pa.array(keep))
    cols = {c: chunks.column(c).to_pylist() for c in ROW_COLUMNS}
    rows = [
        ChunkRow(
            **{c: cols[c][i] for c in cols}
            | {"title": cols["title"][i] or None, "metadata": cols["metadata"][i] or None}
        )
        for i in range(len(keep))
    ]
    vectors = np.asarray(chunks.column("vector").combine_chunks().flatten(), dtype=np.float32).reshape(
        -1, dim
    )
    yield with_vectors(meta_table(rows), vectors, dim)
