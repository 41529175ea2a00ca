"""The knowledge store's settings: where the table lives, how documents are chunked, how search fuses."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

DEFAULT_KB_DIR = "$SYMOE_HOME/kb"
"""The one default location of the knowledge store (a local LanceDB directory)."""

DEFAULT_EMBEDDING_CACHE_DIR = "$SYMOE_HOME/embeddings"
"""Where embeddings of chunks and queries are cached (shared with the rest of the project)."""

SearchMode = Literal["dense", "bm25", "hybrid"]
SEARCH_MODES: tuple[SearchMode, ...] = ("dense", "bm25", "hybrid")
SearchUnit = Literal["documents", "chunks"]
SEARCH_UNITS: tuple[SearchUnit, ...] = ("documents", "chunks")

MAX_K = 1000
"""The most hits one query may ask for (a bigger k is refused with a clear error, not a table dump)."""

MiB = 1024 * 1024


class KnowledgeConfig(BaseModel):
    """Where the knowledge store lives and how it ingests and searches.

    The same config points at a local directory (the embedded default), object storage
    (``s3://bucket/prefix``, ``gs://...``, ``az://...``, with ``storage_options``) or a remote LanceDB
    (``db://name`` with ``api_key`` and ``region``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    uri: str = Field(
        default=DEFAULT_KB_DIR,
        min_length=1,
        description="LanceDB location: a local directory (~, $SYMOE_HOME expanded), s3://, gs://, az:// or db://.",
    )
    table: str = Field(default="chunks", pattern=r"^[A-Za-z0-9_.-]+$", description="The chunk table's name.")
    storage_options: dict[str, str] = Field(
        default_factory=dict, description="Object-store options passed to LanceDB (region, endpoint...)."
    )
    api_key: SecretStr | None = Field(
        default=None, description="Key of a remote db:// LanceDB; pass it from the environment, never YAML."
    )
    region: str = Field(default="us-east-1", description="Region of a remote db:// LanceDB.")
    chunk_chars: int = Field(
        default=800,
        ge=50,
        description="Chunk length in characters. 800 characters is about 200 MiniLM word pieces, under "
        "its 256-piece window, so no chunk is truncated when embedded.",
    )
    chunk_overlap: int = Field(
        default=100, ge=0, description="Characters shared by consecutive chunks of one document."
    )
    embed_batch_size: int = Field(
        default=64, ge=1, description="Chunks per embedding call (each call's vectors go to the disk cache)."
    )
    embedding_cache_dir: str | None = Field(
        default=DEFAULT_EMBEDDING_CACHE_DIR,
        description="Disk cache of embeddings keyed by text; None keeps them in memory only.",
    )
    commit_bytes: int = Field(
        default=8 * MiB,
        ge=1,
        description="Source bytes per LanceDB commit during ingestion (with commit_chunks, whichever comes "
        "first): a killed ingest loses at most one commit's work (its embeddings stay cached).",
    )
    commit_chunks: int = Field(
        default=2048,
        ge=1,
        description="Chunks per LanceDB commit during ingestion: a large file is committed in several "
        "parts, and memory holds at most this many chunks (about 2048 x (800 chars + 1.5 KiB vector)).",
    )
    max_file_bytes: int = Field(
        default=64 * MiB,
        ge=1,
        description="Files larger than this are reported and skipped (a text file is held whole while "
        "it is chunked; JSONL streams row by row).",
    )
    lock_timeout_s: float = Field(
        default=3600.0,
        ge=0,
        description="How long a write waits for another writer of the same local store (kb add, remove, "
        "repair) before giving up.",
    )
    default_k: int = Field(
        default=5, ge=1, le=MAX_K, description="Hits per query when the caller gives no k."
    )
    default_mode: SearchMode = "hybrid"
    default_unit: SearchUnit = Field(
        default="documents",
        description="What k counts: documents (a document's chunks collapse into its best one) or chunks.",
    )
    reranker: str | None = Field(
        default=None,
        description="A local sentence-transformers CrossEncoder folder that reorders the best "
        "rerank_depth hits (nothing is downloaded; see docs/knowledge-store.md).",
    )
    rerank_depth: int = Field(
        default=20, ge=1, le=MAX_K, description="Hits the reranker rescores per query (at least k)."
    )
    candidates: int = Field(
        default=50,
        ge=1,
        description="Hits each retriever contributes to hybrid fusion (at least k are always taken).",
    )
    rrf_k: int = Field(
        default=60, ge=1, description="Reciprocal rank fusion constant: score = sum 1 / (rrf_k + rank)."
    )

    @model_validator(mode="after")
    def _check(self) -> KnowledgeConfig:
        if self.chunk_overlap >= self.chunk_chars:
            raise ValueError(
                f"knowledge store: chunk_overlap={self.chunk_overlap} must be smaller than "
                f"chunk_chars={self.chunk_chars}; lower the overlap or raise the chunk size"
            )
        return self

    @property
    def is_local(self) -> bool:
        """True when ``uri`` is a local directory (not object storage or a remote LanceDB)."""
        return "://" not in self.uri
