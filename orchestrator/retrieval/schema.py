"""The chunk table's and the source table's columns, the chunk rows ingestion builds, and their Arrow batches.

One row per chunk. The ``origin`` and ``origin_sha256`` columns say which file (or dataset) each chunk
came from and which content of it. A chunk's id is made from that content (not from the path), so the
same content always gets the same ids: writes are upserts keyed by id, a copied file adds nothing and a
moved one keeps its rows. The source table (one row per input whose chunks were all committed) is
written after an input's last chunk commits: an input without a row there is incomplete and is
finished by the next ``kb add``.

``search_text`` (what the BM25 index covers) is the title, the metadata values and the text, so titles
and metadata are searchable; ``metadata`` is Lance's JSON type, filterable with ``json_get_string`` etc.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

ROW_COLUMNS = (
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
    "metadata",
)
"""The fields of a :class:`ChunkRow`, in table order."""

META_COLUMNS = (*ROW_COLUMNS, "ingested_at", "search_text")
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
            pa.field("metadata", pa.json_()),
            pa.field("ingested_at", pa.timestamp("us", tz="UTC"), nullable=False),
            pa.field("search_text", pa.string(), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dim), nullable=False),
        ]
    )


def sources_schema() -> pa.Schema:
    """The source table: one row per input whose chunks are all committed."""
    return pa.schema(
        [
            pa.field("origin", pa.string(), nullable=False),
            pa.field("sha256", pa.string(), nullable=False),
            pa.field("chunks", pa.int64(), nullable=False),
            pa.field("ingested_at", pa.timestamp("us", tz="UTC"), nullable=False),
        ]
    )


@dataclass(frozen=True, kw_only=True)
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
    metadata: str | None = None
    """The document's other fields as a JSON object (JSONL rows), or None."""


def chunk_id(sha256: str, doc_index: int, chunk_index: int) -> str:
    """A chunk's id, from its input's content only: the same content has the same ids wherever it lives."""
    key = f"{sha256}\0{doc_index}\0{chunk_index}".encode()
    return hashlib.sha256(key).hexdigest()[:24]


def search_text(title: str | None, metadata: str | None, text: str) -> str:
    """What BM25 indexes for a chunk: its title, its metadata's values and its text."""
    parts = [title or ""]
    if metadata:
        parts.extend(_values(json.loads(metadata)))
    parts.append(text)
    return "\n".join(p for p in parts if p)


def _values(value: object) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _values(v)]
    if isinstance(value, list):
        return [s for v in value for s in _values(v)]
    return [] if value is None else [str(value)]


def meta_table(rows: Sequence[ChunkRow], ingested_at: datetime | None = None) -> pa.Table:
    """The rows' metadata columns as an Arrow table (what the Ray pipeline passes to its embedders)."""
    when = ingested_at or datetime.now(UTC)
    cols: dict[str, list[object]] = {c: [getattr(r, c) for r in rows] for c in ROW_COLUMNS}
    cols["ingested_at"] = [when] * len(rows)
    cols["search_text"] = [search_text(r.title, r.metadata, r.text) for r in rows]
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
