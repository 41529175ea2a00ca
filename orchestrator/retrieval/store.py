"""The knowledge store: one LanceDB chunk table with dense vectors and a BM25 full-text index.

Dense search is LanceDB's exact (flat) cosine search over all-MiniLM-L6-v2 embeddings; BM25 is
LanceDB's own full-text index (an inverted index with BM25 scoring, English stemming and stop words).
Hybrid search fuses the two lists by reciprocal rank fusion (:mod:`.hits`).

Why LanceDB's full-text index and not ``bm25s`` (``benchmarks/kb_bench.py`` on the 2-core shared CPU,
2026-12-02): both give about the same recall@10 (0.807 vs 0.807 at 10k
passages, 0.677 vs 0.687 at 100k); bm25s answers one query faster (p50 0.2 vs 3.7 ms at 10k, 3.1 vs
8.0 ms at 100k) but indexes at half the rate (17k vs 35k passages/s at 10k, 12k vs 31k at 100k) and
can only rebuild its whole index after each commit. LanceDB's index is part of the table version, so
every commit (and every crash) leaves table and index consistent with nothing beside the table to
rebuild or keep in step, rows added since the last index update are still searched, and it works
unchanged on object storage and remote LanceDB, where a local bm25s folder does not exist. The few
milliseconds it costs are small next to embedding the query (about 28 ms), which hybrid search pays
anyway.

Every write is one LanceDB commit (a new table version); a process killed mid-write leaves the
previous version as the latest, fully queryable.

Example::

    store = KnowledgeStore.open(KnowledgeConfig(uri="/tmp/kb"))
    results = store.retrieve(["Who founded Velmora?", "river lengths"], k=5, mode="hybrid")
    results[0].hits[0].source, results[0].coverage.top_dense
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from common.extras import missing_extra, require_extra

try:
    import pyarrow as pa
except ImportError as exc:  # the `retrieval` extra
    raise missing_extra("retrieval", "the knowledge store") from exc

from common.errors import ConfigError, DataError
from common.settings import expand_path
from orchestrator.retrieval.config import SEARCH_MODES, KnowledgeConfig, SearchMode
from orchestrator.retrieval.hits import Hit, Retrieval, coverage_of, rrf_fuse
from orchestrator.retrieval.schema import HIT_COLUMNS, chunk_schema

logger = logging.getLogger(__name__)

_FTS_COLUMN = "text"


@dataclass(frozen=True)
class SourceRecord:
    """What the store holds of one ingested file or dataset (read from the chunk table itself)."""

    origin: str
    sha256: str
    chunk_ids: tuple[str, ...]
    ingested_at: datetime


@dataclass(frozen=True)
class VersionInfo:
    """One committed version of the chunk table."""

    version: int
    timestamp: datetime
    rows: int


@dataclass(frozen=True)
class WriteResult:
    """One commit's effect."""

    version: int
    inserted: int
    deleted: int


@dataclass(frozen=True)
class KnowledgeStats:
    """What ``symoe kb stats`` shows."""

    uri: str
    table: str
    chunks: int
    sources: int
    version: int
    versions: int
    size_bytes: int | None
    indices: list[str] = field(default_factory=list)
    embedding_model: str = ""
    dim: int = 0


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def in_filter(column: str, values: Iterable[str]) -> str:
    """A LanceDB SQL filter ``column IN ('a', 'b')`` with quotes escaped."""
    return f"{column} IN ({', '.join(_quote(v) for v in values)})"


class KnowledgeStore:
    """A LanceDB chunk table plus the embedder that fills and queries it.

    Build it with :meth:`open`. Reads see the version current when the store was opened (or last
    :meth:`refresh` ed); each write commits a new version.
    """

    def __init__(self, config: KnowledgeConfig, db: Any, table: Any, embedder: Any | None) -> None:
        self.config = config
        self._db = db
        self._table = table
        self._embedder = embedder

    # -- opening ---------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        config: KnowledgeConfig | None = None,
        *,
        embedder: Any | None = None,
        create: bool = False,
        version: int | None = None,
    ) -> KnowledgeStore:
        """Open the chunk table ``config.table`` at ``config.uri`` (creating it when asked).

        Args:
            config: where the store is; the defaults when None.
            embedder: an :class:`~skills.embedding.Embedder` to share; one is built from the config
                (all-MiniLM-L6-v2, cached at ``config.embedding_cache_dir``) on first use otherwise.
            create: create an empty table when there is none (ingestion does; search does not).
            version: open this older version, read-only (see :meth:`versions`).

        Raises:
            DataError: there is no table and ``create`` is False, or ``version`` does not exist.
            ConfigError: the table's vectors do not match the embedder's size.
        """
        require_extra("retrieval", "the knowledge store")
        import lancedb

        config = config or KnowledgeConfig()
        db = lancedb.connect(
            _connect_uri(config, create=create),
            api_key=config.api_key.get_secret_value() if config.api_key else None,
            region=config.region,
            storage_options=config.storage_options or None,
        )
        names = set(db.list_tables().tables)
        if config.table in names:
            table = db.open_table(config.table)
        elif create:
            store = cls(config, db, None, embedder)
            table = db.create_table(config.table, schema=chunk_schema(store.embedder.dim))
            table.create_index(_FTS_COLUMN, config=_fts_config())
            logger.info("knowledge store: created table %r at %s", config.table, config.uri)
        else:
            raise DataError(
                f"no knowledge store table {config.table!r} here; ingest documents first with "
                f"`symoe kb add PATH... --kb {config.uri}`",
                path=config.uri,
            )
        if version is not None:
            try:
                table.checkout(version)
            except (ValueError, OSError, RuntimeError) as exc:
                raise DataError(
                    f"no version {version} of table {config.table!r} ({exc}); see `symoe kb stats`",
                    path=config.uri,
                ) from exc
        store = cls(config, db, table, embedder)
        store._check_dim()
        return store

    def _check_dim(self) -> None:
        field_type = self._table.schema.field("vector").type
        if self._embedder is not None and field_type.list_size != self._embedder.dim:
            raise ConfigError(
                f"knowledge store {self.config.uri}: table vectors have {field_type.list_size} dims but "
                f"the embedder makes {self._embedder.dim}; use the embedder the store was built with or a "
                "new --kb"
            )

    @property
    def embedder(self) -> Any:
        """The embedder (built from the config on first use)."""
        if self._embedder is None:
            from skills.embedding import Embedder

            self._embedder = Embedder(
                cache_dir=self.config.embedding_cache_dir, batch_size=self.config.embed_batch_size
            )
        return self._embedder

    @property
    def table(self) -> Any:
        """The underlying LanceDB table (for what this class does not wrap)."""
        return self._table

    @property
    def dim(self) -> int:
        """The embedding size the table stores."""
        return int(self._table.schema.field("vector").type.list_size)

    @property
    def version(self) -> int:
        """The table version this store reads."""
        return int(self._table.version)

    def refresh(self) -> None:
        """Read the latest committed version from now on (another process may have written)."""
        self._table.checkout_latest()

    # -- reading the table -----------------------------------------------------------------------

    def count(self) -> int:
        """Chunks in the table."""
        return int(self._table.count_rows())

    def sources(self) -> dict[str, SourceRecord]:
        """Every ingested file or dataset, with its content hash and chunk ids, by origin."""
        cols = ["origin", "origin_sha256", "id", "ingested_at"]
        data = self._scan(cols)
        grouped: dict[str, tuple[str, list[str], datetime]] = {}
        origins, shas, ids, when = (data.column(c).to_pylist() for c in cols)
        for origin, sha, cid, at in zip(origins, shas, ids, when, strict=True):
            entry = grouped.setdefault(origin, (sha, [], at))
            entry[1].append(cid)
        return {o: SourceRecord(o, sha, tuple(sorted(c)), at) for o, (sha, c, at) in grouped.items()}

    def _scan(self, columns: Sequence[str]) -> pa.Table:
        return self._table.search().select(list(columns)).limit(None).to_arrow()

    def versions(self) -> list[VersionInfo]:
        """Every version still kept, oldest first."""
        out = []
        for v in self._table.list_versions():
            rows = int(v.get("metadata", {}).get("total_rows", 0) or 0)
            out.append(VersionInfo(int(v["version"]), v["timestamp"], rows))
        return out

    def stats(self) -> KnowledgeStats:
        """Chunks, sources, versions, size on disk (local stores) and index kinds."""
        indices = [f"{i.index_type} on {', '.join(i.columns)}" for i in self._table.list_indices()]
        if not any("vector" in i for i in indices):
            indices.append("flat (exact) cosine search on vector")
        return KnowledgeStats(
            uri=self.config.uri,
            table=self.config.table,
            chunks=self.count(),
            sources=len(self._scan(["origin"]).column("origin").unique()),
            version=self.version,
            versions=len(self._table.list_versions()),
            size_bytes=_dir_size(expand_path(self.config.uri)) if self.config.is_local else None,
            indices=indices,
            embedding_model=getattr(self._embedder, "model_name", "all-MiniLM-L6-v2"),
            dim=self.dim,
        )

    # -- writing ---------------------------------------------------------------------------------

    def write(self, replace_origins: Sequence[str], batches: Iterable[pa.RecordBatch]) -> WriteResult:
        """In one commit: delete every chunk of ``replace_origins`` and insert ``batches``.

        The batches stream into LanceDB (they may be produced lazily, e.g. while embedding); nothing
        is visible until the commit, and a process killed before it leaves the previous version.

        Args:
            replace_origins: origins whose old chunks go (those of the new chunks, normally).
            batches: record batches of :func:`~orchestrator.retrieval.schema.chunk_schema`.

        Returns:
            The new version and the inserted and deleted row counts.
        """
        schema = chunk_schema(self.dim)
        reader = pa.RecordBatchReader.from_batches(schema, (b.cast(schema) for b in batches))
        merge = self._table.merge_insert("id").when_not_matched_insert_all()
        if replace_origins:
            merge = merge.when_not_matched_by_source_delete(in_filter("origin", replace_origins))
        start = time.perf_counter()
        result = merge.execute(reader)
        logger.info(
            "knowledge store: version %d: +%d chunks, -%d chunks in %.2fs",
            result.version,
            result.num_inserted_rows,
            result.num_deleted_rows,
            time.perf_counter() - start,
        )
        return WriteResult(int(result.version), int(result.num_inserted_rows), int(result.num_deleted_rows))

    def delete_sources(self, origins: Sequence[str]) -> int:
        """Delete every chunk of ``origins`` in one commit; returns how many chunks went."""
        if not origins:
            return 0
        before = self.count()
        self._table.delete(in_filter("origin", origins))
        return before - self.count()

    def optimize(self) -> None:
        """Bring the BM25 index up to date with new rows and compact small files (one commit each)."""
        start = time.perf_counter()
        if not any(_FTS_COLUMN in i.columns for i in self._table.list_indices()):
            self._table.create_index(_FTS_COLUMN, config=_fts_config())
        self._table.optimize()
        logger.info("knowledge store: indices updated in %.2fs", time.perf_counter() - start)

    # -- searching -------------------------------------------------------------------------------

    def search(
        self, queries: Sequence[str], k: int | None = None, mode: SearchMode | None = None
    ) -> list[list[Hit]]:
        """The best ``k`` hits per query (see :meth:`retrieve`, which adds the coverage signal)."""
        return [list(r.hits) for r in self.retrieve(queries, k=k, mode=mode)]

    def retrieve(
        self,
        queries: Sequence[str],
        k: int | None = None,
        mode: SearchMode | None = None,
        *,
        query_vectors: np.ndarray | None = None,
    ) -> list[Retrieval]:
        """Search a batch of queries: one embedding call for all of them, then dense, BM25 or both.

        Args:
            queries: the query texts.
            k: hits per query (``config.default_k`` when None).
            mode: ``dense``, ``bm25`` or ``hybrid`` (``config.default_mode`` when None).
            query_vectors: precomputed unit-norm query embeddings, one row per query (benchmarks
                pass random ones); embedded with the store's embedder when None.

        Returns:
            One :class:`Retrieval` per query, in order: hits best first, and the coverage signal from
            the unfused lists of the retrievers that ran.

        Raises:
            ConfigError: unknown ``mode`` or ``k < 1``.
        """
        k = self.config.default_k if k is None else k
        mode = mode or self.config.default_mode
        if mode not in SEARCH_MODES:
            raise ConfigError(
                f"knowledge store search: mode={mode!r} is not one of {', '.join(SEARCH_MODES)}"
            )
        if k < 1:
            raise ConfigError(f"knowledge store search: k={k} must be >= 1")
        if not queries:
            return []
        depth = max(k, 2) if mode != "hybrid" else max(k, self.config.candidates)
        vectors = None
        if mode != "bm25":
            vectors = query_vectors if query_vectors is not None else self.embedder.embed(list(queries))
        dense = self._dense(vectors, depth) if vectors is not None else None
        bm25 = (
            [self._bm25(q, depth, vectors[i] if vectors is not None else None) for i, q in enumerate(queries)]
            if mode != "dense"
            else None
        )
        out = []
        for i, query in enumerate(queries):
            d = dense[i] if dense is not None else None
            b = bm25[i] if bm25 is not None else None
            if mode == "hybrid":
                hits = rrf_fuse(d or [], b or [], k=k, rrf_k=self.config.rrf_k)
            else:
                hits = (d if mode == "dense" else b) or []
                hits = hits[:k]
            out.append(Retrieval(query, tuple(hits), coverage_of(d, b)))
        return out

    def _dense(self, vectors: np.ndarray, depth: int) -> list[list[Hit]]:
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ConfigError(
                f"knowledge store search: query vectors of shape {vectors.shape}, need (n, {self.dim})"
            )
        table = (
            self._table.search(vectors, vector_column_name="vector")
            .distance_type("cosine")
            .limit(depth)
            .select([*HIT_COLUMNS, "_distance"])
            .to_arrow()
        )
        out: list[list[Hit]] = [[] for _ in range(len(vectors))]
        rows = table.to_pylist()
        for row in rows:
            qi = int(row.get("query_index", 0) or 0)
            out[qi].append(_hit(row, dense_score=1.0 - float(row["_distance"])))
        for hits in out:
            hits.sort(key=lambda h: -(h.dense_score or 0.0))
        return out

    def _bm25(self, query: str, depth: int, vector: np.ndarray | None) -> list[Hit]:
        if not query.strip():
            return []
        columns = [*HIT_COLUMNS, "_score", *(["vector"] if vector is not None else [])]
        rows = self._table.search(query, query_type="fts").limit(depth).select(columns).to_arrow().to_pylist()
        hits = []
        for row in rows:
            dense = None
            if vector is not None:  # unit-norm vectors: the dot product is the cosine similarity
                dense = float(np.dot(np.asarray(row["vector"], dtype=np.float32), vector))
            hits.append(_hit(row, bm25_score=float(row["_score"]), dense_score=dense))
        return hits


def _hit(row: dict[str, Any], **scores: float | None) -> Hit:
    return Hit(
        id=row["id"],
        source=row["source"],
        title=row["title"],
        text=row["text"],
        origin=row["origin"],
        doc_id=row["doc_id"],
        start=int(row["start"]),
        end=int(row["end"]),
        **scores,
    )


def _fts_config() -> Any:
    from lancedb.index import FTS

    return FTS()


def _connect_uri(config: KnowledgeConfig, *, create: bool) -> str:
    if not config.is_local:
        return config.uri
    path = expand_path(config.uri)
    if create:
        path.mkdir(parents=True, exist_ok=True)
    elif not path.is_dir():
        raise DataError(
            f"no knowledge store here; ingest documents first with `symoe kb add PATH... --kb {config.uri}`",
            path=config.uri,
        )
    return str(path)


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
