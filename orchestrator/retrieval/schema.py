"""The chunk table's columns, the chunk rows ingestion builds, and their Arrow batches.

One row per chunk. The chunk table is the only record of what was ingested: the ``origin`` and
``origin_sha256`` columns say which file (or dataset) each chunk came from and which content of it,
so the store's view of its sources can never disagree with the table version being read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

META_COLUMNS = (
    "id",
    "origin",
    "origin_sha256",
    "doc_id",
    "source",
    "title",
    "text",
    "chunk_index",
    "start",
    "end",
    "ingested_at",
)
"""Every column but ``vector``, in table order."""

HIT_COLUMNS = ("id", "origin", "doc_id", "source", "title", "text", "start", "end")
"""The columns a search reads back."""


def chunk_schema(dim: int) -> pa.Schema:
    """The chunk table's schema for embeddings of size ``dim``."""
    return pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            pa.field("origin", pa.string(), nullable=False),
            pa.field("origin_sha256", pa.string(), nullable=False),
            pa.field("doc_id", pa.string(), nullable=False),
            pa.field("source", pa.string(), nullable=False),
            pa.field("title", pa.string()),
            pa.field("text", pa.string(), nullable=False),
            pa.field("chunk_index", pa.int32(), nullable=False),
            pa.field("start", pa.int64(), nullable=False),
            pa.field("end", pa.int64(), nullable=False),
            pa.field("ingested_at", pa.timestamp("us", tz="UTC"), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dim), nullable=False),
        ]
    )


@dataclass(frozen=True)
class ChunkRow:
    """One chunk before embedding (every column of the table but ``vector``)."""

    id: str
    origin: str
    origin_sha256: str
    doc_id: str
    source: str
    title: str | None
    text: str
    chunk_index: int
    start: int
    end: int


def chunk_id(origin: str, sha256: str, doc_index: int, chunk_index: int) -> str:
    """A chunk's id: stable for the same content of the same origin, new when the content changes."""
    key = f"{origin}\0{sha256}\0{doc_index}\0{chunk_index}".encode()
    return hashlib.sha256(key).hexdigest()[:24]


def meta_table(rows: Sequence[ChunkRow], ingested_at: datetime | None = None) -> pa.Table:
    """The rows' metadata columns as an Arrow table (what the Ray pipeline passes to its embedders)."""
    when = ingested_at or datetime.now(UTC)
    cols: dict[str, list[object]] = {c: [getattr(r, c) for r in rows] for c in META_COLUMNS[:-1]}
    cols["ingested_at"] = [when] * len(rows)
    schema = chunk_schema(1).remove(len(META_COLUMNS))
    return pa.Table.from_pydict(cols, schema=schema)


def with_vectors(meta: pa.Table | pa.RecordBatch, vectors: np.ndarray, dim: int) -> pa.RecordBatch:
    """A batch of the chunk table: ``meta`` columns plus ``vectors`` (one float32 row per chunk)."""
    if vectors.shape != (meta.num_rows, dim):
        raise ValueError(f"vectors of shape {vectors.shape} for {meta.num_rows} chunks of dim {dim}")
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1))
    vec = pa.FixedSizeListArray.from_arrays(flat, dim)
    schema = chunk_schema(dim)
    arrays = [meta.column(name) for name in META_COLUMNS]
    if isinstance(meta, pa.Table):
        arrays = [a.combine_chunks() for a in arrays]
    return pa.RecordBatch.from_arrays([*arrays, vec], schema=schema)
