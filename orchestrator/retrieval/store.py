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
previous version as the latest, fully queryable. Writes are upserts keyed by chunk id (ids come from
content), made by one process at a time (:mod:`.lock`), so no chunk can be stored twice. Opening a
store checks that the BM25 index covers every row and brings it up to date when it does not (a kill
between a commit and the index update leaves rows unindexed); :mod:`.maintenance` reports and repairs.

Search counts ``k`` in documents by default (a document's chunks collapse into its best-ranked one),
takes metadata filters (:mod:`.filters`) and may rerank with a cross-encoder (:mod:`.rerank`).

Example::

    store = KnowledgeStore.open(KnowledgeConfig(uri="/tmp/kb"))
    results = store.retrieve(["Who founded Velmora?", "river lengths"], k=5, mode="hybrid")
    results[0].hits[0].source, results[0].coverage.top_dense
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
from orchestrator.retrieval.config import (
    MAX_K,
    SEARCH_MODES,
    SEARCH_UNITS,
    KnowledgeConfig,
    SearchMode,
    SearchUnit,
)
from orchestrator.retrieval.filters import where_sql
from orchestrator.retrieval.hits import Hit, Retrieval, collapse_documents, coverage_of, rrf_fuse
from orchestrator.retrieval.lock import write_lock
from orchestrator.retrieval.schema import HIT_COLUMNS, chunk_schema, sources_schema

logger = logging.getLogger(__name__)

_FTS_COLUMN = "search_text"


@dataclass(frozen=True, kw_only=True)
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


@dataclass(frozen=True, kw_only=True)
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
    indexed_rows: int = 0
    unindexed_rows: int = 0
    duplicate_rows: int = 0
    incomplete_sources: int = 0


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def in_filter(column: str, values: Iterable[str]) -> str:
    """A LanceDB SQL filter ``column IN ('a', 'b')`` with quotes escaped."""
    return f"{column} IN ({', '.join(_quote(v) for v in values)})"


class KnowledgeStore:
    """A LanceDB chunk table, its source table, and the embedder that fills and queries it.

    Build it with :meth:`open`. Reads see the version current when the store was opened (or last
    :meth:`refresh` ed); each write commits a new version.
    """

    def __init__(
        self, config: KnowledgeConfig, db: Any, table: Any, embedder: Any | None, sources: Any = None
    ) -> None:
        self.config = config
        self._db = db
        self._table = table
        self._sources = sources
        self._embedder = embedder
        self._reranker: Any | None = None

    # -- opening ---------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        config: KnowledgeConfig | None = None,
        *,
        embedder: Any | None = None,
        create: bool = False,
        version: int | None = None,
        repair: bool = True,
    ) -> KnowledgeStore:
        """Open the chunk table ``config.table`` at ``config.uri`` (creating it when asked).

        Args:
            config: where the store is; the defaults when None.
            embedder: an :class:`~skills.embedding.Embedder` to share; one is built from the config
                (all-MiniLM-L6-v2, cached at ``config.embedding_cache_dir``) on first use otherwise.
            create: create an empty table when there is none (ingestion does; search does not).
            version: open this older version, read-only (see :meth:`versions`).
            repair: bring the BM25 index up to date when it does not cover every row (skipped when
                another process is writing: that writer does it).

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
        if config.table not in _tables(db):
            if not create:
                raise DataError(
                    f"no knowledge store table {config.table!r} here; ingest documents first with "
                    f"`symoe kb add PATH... --kb {config.uri}`",
                    path=config.uri,
                )
            with write_lock(config):  # two first adds at once: one creates, the other opens
                if config.table not in _tables(db):
                    dim = cls(config, db, None, embedder).embedder.dim
                    table = db.create_table(config.table, schema=chunk_schema(dim))
                    table.create_index(_FTS_COLUMN, config=_fts_config())
                    db.create_table(_sources_name(config), schema=sources_schema())
                    logger.info("knowledge store: created table %r at %s", config.table, config.uri)
        table = db.open_table(config.table)
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
        if version is None:
            store._upgrade()
            if repair:
                store.repair_index()
        store._sources = _open_sources(db, config)
        return store

    def _upgrade(self) -> None:
        """Bring a table of an earlier layout (FTS on ``text`` alone, no metadata) to this one."""
        names = set(self._table.schema.names)
        if _FTS_COLUMN in names and "metadata" in names and _sources_name(self.config) in _tables(self._db):
            return
        with write_lock(self.config):
            self.refresh()
            names = set(self._table.schema.names)
            if "metadata" not in names:
                self._table.add_columns(pa.field("metadata", pa.json_()))
            if _FTS_COLUMN not in names:
                self._table.add_columns({_FTS_COLUMN: "concat_ws('\n', title, text)"})
                for index in self._table.list_indices():
                    if index.index_type == "FTS" and _FTS_COLUMN not in index.columns:
                        self._table.drop_index(index.name)
            if _sources_name(self.config) not in _tables(self._db):  # every origin was one commit then
                data = self._scan(["origin", "origin_sha256", "id"])
                records = _records_of(data)
                table = self._db.create_table(_sources_name(self.config), schema=sources_schema())
                if records:
                    table.add(_sources_batch(records))
            logger.info("knowledge store %s: upgraded to the current table layout", self.config.uri)

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
        if self._sources is not None:
            self._sources.checkout_latest()

    # -- reading the table -----------------------------------------------------------------------

    def count(self) -> int:
        """Chunks in the table."""
        return int(self._table.count_rows())

    def completed(self) -> dict[str, str]:
        """The content hash of every input whose chunks were all committed, by origin."""
        if self._sources is None:
            return {}
        data = self._sources.search().select(["origin", "sha256"]).limit(None).to_arrow()
        return dict(zip(data.column("origin").to_pylist(), data.column("sha256").to_pylist(), strict=True))

    def sources(self) -> dict[str, SourceRecord]:
        """Every completely ingested file or dataset, with its content hash and chunk ids, by origin."""
        done = self.completed()
        cols = ["origin", "origin_sha256", "id", "ingested_at"]
        data = self._scan(cols)
        grouped: dict[str, tuple[str, list[str], datetime]] = {}
        origins, shas, ids, when = (data.column(c).to_pylist() for c in cols)
        for origin, sha, cid, at in zip(origins, shas, ids, when, strict=True):
            if done.get(origin) != sha:
                continue
            entry = grouped.setdefault(origin, (sha, [], at))
            entry[1].append(cid)
        return {
            o: SourceRecord(origin=o, sha256=sha, chunk_ids=tuple(sorted(c)), ingested_at=at)
            for o, (sha, c, at) in grouped.items()
        }

    def _scan(self, columns: Sequence[str], where: str | None = None) -> pa.Table:
        query = self._table.search().select(list(columns)).limit(None)
        if where:
            query = query.where(where)
        return query.to_arrow()

    def versions(self) -> list[VersionInfo]:
        """Every version still kept, oldest first."""
        out = []
        for v in self._table.list_versions():
            rows = int(v.get("metadata", {}).get("total_rows", 0) or 0)
            out.append(VersionInfo(int(v["version"]), v["timestamp"], rows))
        return out

    def index_coverage(self) -> tuple[int, int]:
        """Rows the BM25 index covers and rows it does not (``(0, rows)`` when there is no index)."""
        for index in self._table.list_indices():
            if _FTS_COLUMN in index.columns:
                st = self._table.index_stats(index.name)
                if st is not None:
                    return int(st.num_indexed_rows), int(st.num_unindexed_rows)
        return 0, self.count()

    def stats(self) -> KnowledgeStats:
        """Chunks, sources, versions, size on disk (local stores), index kinds and coverage, duplicates."""
        indices = [f"{i.index_type} on {', '.join(i.columns)}" for i in self._table.list_indices()]
        if not any("vector" in i for i in indices):
            indices.append("flat (exact) cosine search on vector")
        indexed, unindexed = self.index_coverage()
        data = self._scan(["id", "origin", "origin_sha256"])
        done = self.completed()
        pairs = set(
            zip(data.column("origin").to_pylist(), data.column("origin_sha256").to_pylist(), strict=True)
        )
        return KnowledgeStats(
            uri=self.config.uri,
            table=self.config.table,
            chunks=data.num_rows,
            sources=len(done),
            version=self.version,
            versions=len(self._table.list_versions()),
            size_bytes=_dir_size(expand_path(self.config.uri)) if self.config.is_local else None,
            indices=indices,
            embedding_model=getattr(self._embedder, "model_name", "all-MiniLM-L6-v2"),
            dim=self.dim,
            indexed_rows=indexed,
            unindexed_rows=unindexed,
            duplicate_rows=data.num_rows - len(data.column("id").unique()),
            incomplete_sources=sum(1 for o, sha in pairs if done.get(o) != sha),
        )

    # -- writing (callers hold the write lock: see .lock) -----------------------------------------

    def write(
        self, replace: Mapping[str, str] | Sequence[str], batches: Iterable[pa.RecordBatch]
    ) -> WriteResult:
        """In one commit: upsert ``batches`` by chunk id and delete stale chunks of ``replace``.

        A chunk whose id is already stored is not inserted again (under another origin, it moves to
        the new one: a moved file); nothing is visible until the commit, and a process killed before
        it leaves the previous version.

        Args:
            replace: origin -> the content hash to keep: that origin's chunks of any other content go
                (a plain sequence of origins: every chunk of them not in ``batches`` goes).
            batches: record batches of :func:`~orchestrator.retrieval.schema.chunk_schema`.

        Returns:
            The new version and the inserted and deleted row counts.
        """
        order = self._table.schema.names
        schema = chunk_schema(self.dim)
        schema = pa.schema([schema.field(n) for n in order])
        reader = pa.RecordBatchReader.from_batches(
            schema, (pa.RecordBatch.from_arrays([b.column(n) for n in order], schema=schema) for b in batches)
        )
        merge = (
            self._table.merge_insert("id")
            .when_matched_update_all(where="target.origin != source.origin")
            .when_not_matched_insert_all()
        )
        stale = _stale_filter(replace)
        if stale:
            merge = merge.when_not_matched_by_source_delete(stale)
        start = time.perf_counter()
        result = merge.execute(reader)
        logger.info(
            "knowledge store: version %d: +%d chunks, %d moved, -%d chunks in %.2fs",
            result.version,
            result.num_inserted_rows,
            result.num_updated_rows,
            result.num_deleted_rows,
            time.perf_counter() - start,
        )
        return WriteResult(int(result.version), int(result.num_inserted_rows), int(result.num_deleted_rows))

    def fresh_contents(self, shas: Iterable[str]) -> set[str]:
        """The content hashes among ``shas`` that no chunk row holds yet."""
        wanted = sorted(set(shas))
        held: set[str] = set()
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            data = self._scan(["origin_sha256"], where=in_filter("origin_sha256", part))
            held.update(data.column("origin_sha256").unique().to_pylist())
        return set(wanted) - held

    def append(self, batches: Iterable[pa.RecordBatch]) -> WriteResult:
        """Insert ``batches`` in one commit without matching ids (the caller knows they are new: see
        :meth:`fresh_contents`; under the write lock)."""
        order = self._table.schema.names
        schema = chunk_schema(self.dim)
        schema = pa.schema([schema.field(n) for n in order])
        rows = 0

        def counted() -> Iterable[pa.RecordBatch]:
            nonlocal rows
            for b in batches:
                rows += b.num_rows
                yield pa.RecordBatch.from_arrays([b.column(n) for n in order], schema=schema)

        start = time.perf_counter()
        self._table.add(pa.RecordBatchReader.from_batches(schema, counted()))
        logger.info("knowledge store: version %d: +%d chunks in %.2fs", self.version, rows,
                    time.perf_counter() - start)  # fmt: skip
        return WriteResult(self.version, rows, 0)

    def delete_stale(self, keep: Mapping[str, str]) -> int:
        """Delete the chunks of each origin in ``keep`` whose content is not the one kept (origin ->
        content hash); their records go first. Returns the chunks deleted."""
        if not keep:
            return 0
        data = self._scan(["origin", "origin_sha256"], where=in_filter("origin", keep))
        stale = [
            o
            for o, sha in zip(
                data.column("origin").to_pylist(), data.column("origin_sha256").to_pylist(), strict=True
            )
            if sha != keep[o]
        ]
        if not stale:
            return 0
        filt = _stale_filter({o: keep[o] for o in set(stale)})
        self.forget(sorted(set(stale)))
        self._table.delete(filt)
        return len(stale)

    def mark_complete(self, records: Mapping[str, tuple[str, int]]) -> None:
        """Record inputs whose chunks are all committed: origin -> (content hash, chunks)."""
        if not records or self._sources is None:
            return
        batch = _sources_batch(records)
        self._sources.merge_insert("origin").when_matched_update_all().when_not_matched_insert_all().execute(
            batch
        )

    def forget(self, origins: Sequence[str]) -> None:
        """Drop the completion records of ``origins`` (their chunks stay)."""
        if origins and self._sources is not None:
            self._sources.delete(in_filter("origin", origins))

    def delete_sources(self, origins: Sequence[str]) -> int:
        """Delete every chunk of ``origins`` and their records; returns how many chunks went."""
        if not origins:
            return 0
        self.forget(origins)  # first: a kill in between leaves chunks marked incomplete, never the reverse
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

    def repair_index(self) -> bool:
        """Index the rows the BM25 index does not cover, if any (skipped while another process writes).

        Returns:
            True when the index was brought up to date.
        """
        indexed, unindexed = self.index_coverage()
        if unindexed == 0 and (indexed > 0 or self.count() == 0):
            return False
        from orchestrator.retrieval.lock import is_locked

        try:
            if self.config.is_local and is_locked(self.config):
                logger.info("knowledge store %s: %d rows not indexed yet", self.config.uri, unindexed)
                return False
            with write_lock(self.config, timeout_s=0):
                self.refresh()
                logger.warning(
                    "knowledge store %s: the BM25 index misses %d of %d rows (an interrupted add?); indexing",
                    self.config.uri,
                    unindexed,
                    indexed + unindexed,
                )
                self.optimize()
        except (OSError, DataError) as exc:  # a read-only store, or a writer that started meanwhile
            logger.warning("knowledge store %s: %d rows not indexed (%s)", self.config.uri, unindexed, exc)
            return False
        return True

    # -- searching -------------------------------------------------------------------------------

    def search(
        self,
        queries: Sequence[str],
        k: int | None = None,
        mode: SearchMode | None = None,
        **options: Any,
    ) -> list[list[Hit]]:
        """The best ``k`` hits per query (see :meth:`retrieve`, which adds the coverage signal)."""
        return [list(r.hits) for r in self.retrieve(queries, k=k, mode=mode, **options)]

    def retrieve(
        self,
        queries: Sequence[str],
        k: int | None = None,
        mode: SearchMode | None = None,
        *,
        query_vectors: np.ndarray | None = None,
        unit: SearchUnit | None = None,
        where: Sequence[str] | str | None = None,
        rerank: bool | None = None,
    ) -> list[Retrieval]:
        """Search a batch of queries: one embedding call for all of them, then dense, BM25 or both.

        Args:
            queries: the query texts.
            k: hits per query (``config.default_k`` when None; at most :data:`MAX_K`).
            mode: ``dense``, ``bm25`` or ``hybrid`` (``config.default_mode`` when None).
            query_vectors: precomputed unit-norm query embeddings, one row per query (benchmarks
                pass random ones); embedded with the store's embedder when None.
            unit: what ``k`` counts: ``documents`` (each document's best chunk) or ``chunks``
                (``config.default_unit`` when None).
            where: metadata filters (:func:`~orchestrator.retrieval.filters.where_sql`), all must hold.
            rerank: reorder the best ``rerank_depth`` hits with the configured cross-encoder (on when
                ``config.reranker`` is set and this is None).

        Returns:
            One :class:`Retrieval` per query, in order: hits best first, and the coverage signal from
            the unfused lists of the retrievers that ran.

        Raises:
            ConfigError: unknown ``mode`` or ``unit``, ``k`` out of range, a bad filter, or
                ``rerank`` without a configured reranker.
        """
        k = self.config.default_k if k is None else k
        mode = mode or self.config.default_mode
        unit = unit or self.config.default_unit
        if mode not in SEARCH_MODES:
            raise ConfigError(
                f"knowledge store search: mode={mode!r} is not one of {', '.join(SEARCH_MODES)}"
            )
        if unit not in SEARCH_UNITS:
            raise ConfigError(
                f"knowledge store search: unit={unit!r} is not one of {', '.join(SEARCH_UNITS)}"
            )
        if not 1 <= k <= MAX_K:
            raise ConfigError(f"knowledge store search: k={k} must be between 1 and {MAX_K}")
        use_reranker = self.config.reranker is not None if rerank is None else rerank
        if use_reranker and self.config.reranker is None:
            raise ConfigError("knowledge store search: rerank asked for but no reranker is configured")
        if not queries:
            return []
        sql = where_sql([where] if isinstance(where, str) else list(where or ()))
        want = max(k, self.config.rerank_depth) if use_reranker else k
        depth = max(want, 2)
        if mode == "hybrid" or unit == "documents":
            depth = max(want * (3 if unit == "documents" else 1), self.config.candidates)
        vectors = None
        if mode != "bm25":
            vectors = query_vectors if query_vectors is not None else self.embedder.embed(list(queries))
        dense = self._dense(vectors, depth, sql) if vectors is not None else None
        bm25 = (
            [
                self._bm25(q, depth, vectors[i] if vectors is not None else None, sql)
                for i, q in enumerate(queries)
            ]
            if mode != "dense"
            else None
        )
        out = []
        for i, query in enumerate(queries):
            d = dense[i] if dense is not None else None
            b = bm25[i] if bm25 is not None else None
            if mode == "hybrid":
                hits = rrf_fuse(d or [], b or [], k=2 * depth, rrf_k=self.config.rrf_k)
            else:
                hits = list((d if mode == "dense" else b) or [])
            if unit == "documents":
                hits = collapse_documents(hits)
            hits = hits[:want]
            if use_reranker:
                hits = self._rerank(query, hits)
            out.append(Retrieval(query, tuple(hits[:k]), coverage_of(d, b)))
        return out

    def _rerank(self, query: str, hits: list[Hit]) -> list[Hit]:
        if self._reranker is None:
            from orchestrator.retrieval.rerank import CrossEncoderReranker

            assert self.config.reranker is not None  # checked by retrieve
            self._reranker = CrossEncoderReranker(self.config.reranker)
        return list(self._reranker.rerank(query, hits))

    def _dense(self, vectors: np.ndarray, depth: int, where: str | None = None) -> list[list[Hit]]:
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ConfigError(
                f"knowledge store search: query vectors of shape {vectors.shape}, need (n, {self.dim})"
            )
        query = (
            self._table.search(vectors, vector_column_name="vector")
            .distance_type("cosine")
            .limit(depth)
            .select([*HIT_COLUMNS, "_distance"])
        )
        if where:
            query = query.where(where, prefilter=True)
        table = _run(query, where)
        out: list[list[Hit]] = [[] for _ in range(len(vectors))]
        rows = table.to_pylist()
        for row in rows:
            qi = int(row.get("query_index", 0) or 0)
            out[qi].append(_hit(row, dense_score=1.0 - float(row["_distance"])))
        for hits in out:
            hits.sort(key=lambda h: -(h.dense_score or 0.0))
        return out

    def _bm25(self, query: str, depth: int, vector: np.ndarray | None, where: str | None = None) -> list[Hit]:
        if not query.strip():
            return []
        columns = [*HIT_COLUMNS, "_score", *(["vector"] if vector is not None else [])]
        search = (
            self._table.search(query, query_type="fts", fts_columns=_FTS_COLUMN).limit(depth).select(columns)
        )
        if where:
            search = search.where(where, prefilter=True)
        rows = _run(search, where).to_pylist()
        hits = []
        for row in rows:
            dense = None
            if vector is not None:  # unit-norm vectors: the dot product is the cosine similarity
                dense = float(np.dot(np.asarray(row["vector"], dtype=np.float32), vector))
            hits.append(_hit(row, bm25_score=float(row["_score"]), dense_score=dense))
        return hits


def _run(query: Any, where: str | None) -> pa.Table:
    """Execute a LanceDB query; a bad user filter becomes a ConfigError naming it."""
    if not where:
        return query.to_arrow()
    try:
        return query.to_arrow()
    except (ValueError, RuntimeError, OSError) as exc:
        raise ConfigError(f"knowledge store search: filter {where!r} failed: {str(exc)[:300]}") from exc


def _tables(db: Any) -> set[str]:
    return set(db.list_tables().tables)


def _sources_name(config: KnowledgeConfig) -> str:
    return f"{config.table}__sources"


def _open_sources(db: Any, config: KnowledgeConfig) -> Any:
    name = _sources_name(config)
    return db.open_table(name) if name in _tables(db) else None


def _records_of(data: pa.Table) -> dict[str, tuple[str, int]]:
    out: dict[str, tuple[str, int]] = {}
    for origin, sha in zip(
        data.column("origin").to_pylist(), data.column("origin_sha256").to_pylist(), strict=True
    ):
        _, n = out.get(origin, (sha, 0))
        out[origin] = (sha, n + 1)
    return out


def _sources_batch(records: Mapping[str, tuple[str, int]]) -> pa.Table:
    now = datetime.now(UTC)
    return pa.Table.from_pydict(
        {
            "origin": list(records),
            "sha256": [sha for sha, _ in records.values()],
            "chunks": [n for _, n in records.values()],
            "ingested_at": [now] * len(records),
        },
        schema=sources_schema(),
    )


def _stale_filter(replace: Mapping[str, str] | Sequence[str]) -> str | None:
    if not replace:
        return None
    if isinstance(replace, Mapping):
        return " OR ".join(
            f"(origin = {_quote(o)} AND origin_sha256 != {_quote(sha)})" for o, sha in replace.items()
        )
    return in_filter("origin", replace)


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
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    elif not path.is_dir():
        raise DataError(
            f"no knowledge store here; ingest documents first with `symoe kb add PATH... --kb {config.uri}`",
            path=config.uri,
        )
    return str(path)


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
