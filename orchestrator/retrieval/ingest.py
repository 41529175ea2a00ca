"""Idempotent ingestion: only new or changed files are chunked, embedded and committed.

Each input's content hash is compared with the ``origin_sha256`` its chunks carry in the table: an
unchanged input adds nothing; a changed one has its old chunks deleted and its new ones inserted in the
same LanceDB commit. Inputs are committed in groups of whole files (``commit_bytes`` of source each), so a
killed ingest leaves the last committed version queryable and the next run redoes only the groups that
never committed (their embeddings come back from the disk cache).

The chunk-and-embed step is a *pipeline*: the local one (below) embeds in this process; the Ray one
(:mod:`.ray_ingest`) runs read, chunk and embed as a Ray Data pipeline. Both feed the same commit.

Example::

    store = KnowledgeStore.open(KnowledgeConfig(uri="/tmp/kb"), create=True)
    report = ingest(store, ["docs/", "facts.jsonl"])
    report.added, report.replaced, report.unchanged, report.skipped, report.chunks_added
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from orchestrator.retrieval.chunking import chunk_text
from orchestrator.retrieval.readers import Checked, Skipped, discover, inspect_source, read_documents
from orchestrator.retrieval.schema import ChunkRow, chunk_id, meta_table, with_vectors
from orchestrator.retrieval.store import KnowledgeStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileChunks:
    """One input's chunks, and what parsing it found (unusable rows, the first problem)."""

    origin: str
    rows: list[ChunkRow]
    documents: int
    bad_rows: int = 0
    first_error: str | None = None

    @property
    def status(self) -> FileStatus:
        return FileStatus(self.origin, len(self.rows), self.documents, self.bad_rows, self.first_error)


@dataclass(frozen=True)
class FileStatus:
    """What a pipeline reports about one input besides its chunk batches."""

    origin: str
    chunks: int
    documents: int
    bad_rows: int = 0
    first_error: str | None = None


@dataclass(frozen=True)
class IngestProgress:
    """Where an ingest stands: inputs checked, then chunks embedded and written, group by group.

    ``chunks_total`` counts the chunks of the inputs parsed so far (None while checking); it grows as
    later commit groups are parsed.
    """

    files_done: int
    files_total: int
    chunks_done: int
    chunks_total: int | None
    group: int = 0
    groups: int = 0


ProgressHook = Callable[[IngestProgress], None]
Pipeline = Callable[[Sequence[Checked]], Iterator["pa.RecordBatch | FileStatus"]]
"""Chunks and embeds a group of inputs: yields chunk-table batches and one :class:`FileStatus` per input."""


@dataclass
class IngestReport:
    """The outcome of one ingest, for the CLI and the caller."""

    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    bad_rows: dict[str, int] = field(default_factory=dict)
    chunks_added: int = 0
    chunks_deleted: int = 0
    version_before: int = 0
    version_after: int = 0
    seconds: float = 0.0


def chunk_file(item: Checked, chunk_chars: int, overlap: int) -> FileChunks:
    """Parse one checked input and split its documents into chunk rows."""
    parsed = read_documents(item)
    rows: list[ChunkRow] = []
    for d, doc in enumerate(parsed.documents):
        for c, span in enumerate(chunk_text(doc.text, chunk_chars, overlap)):
            rows.append(
                ChunkRow(
                    id=chunk_id(item.origin, item.sha256, d, c),
                    origin=item.origin,
                    origin_sha256=item.sha256,
                    doc_id=doc.doc_id,
                    source=doc.source,
                    title=doc.title,
                    text=span.text,
                    chunk_index=c,
                    start=span.start,
                    end=span.end,
                )
            )
    return FileChunks(item.origin, rows, len(parsed.documents), parsed.bad_rows, parsed.first_error)


def local_pipeline(store: KnowledgeStore) -> Pipeline:
    """Chunk a group in this process, report every input, then embed its chunks in batches."""
    cfg = store.config

    def run(group: Sequence[Checked]) -> Iterator[pa.RecordBatch | FileStatus]:
        files = [chunk_file(item, cfg.chunk_chars, cfg.chunk_overlap) for item in group]
        for f in files:
            yield f.status
        rows = [r for f in files for r in f.rows]
        for i in range(0, len(rows), cfg.embed_batch_size):
            batch = rows[i : i + cfg.embed_batch_size]
            vectors = store.embedder.embed([r.text for r in batch])
            yield with_vectors(meta_table(batch), vectors, store.dim)

    return run


def plan(
    store: KnowledgeStore,
    paths: Sequence[str | Path],
    report: IngestReport,
    progress: ProgressHook | None = None,
) -> tuple[list[Checked], set[str]]:
    """Check and hash every input and fill ``report.unchanged`` and ``report.skipped``.

    Returns:
        The inputs that must be (re)ingested, and the origins the store already holds.
    """
    inputs, skipped = discover(paths)
    report.skipped.extend(skipped)
    known = {o: s.sha256 for o, s in store.sources().items()}
    todo: list[Checked] = []
    for n, item in enumerate(inputs, start=1):
        checked = inspect_source(item, max_file_bytes=store.config.max_file_bytes)
        if isinstance(checked, Skipped):
            report.skipped.append(checked)
        elif known.get(checked.origin) == checked.sha256:
            report.unchanged.append(checked.origin)
        else:
            todo.append(checked)
        if progress is not None:
            progress(IngestProgress(n, len(inputs), 0, None))
    for s in report.skipped:  # the report carries them; one warning below sums them up
        logger.info("knowledge store: skipped %s: %s", s.origin, s.reason)
    return todo, set(known)


def commit_groups(items: Sequence[Checked], commit_bytes: int) -> list[list[Checked]]:
    """Consecutive groups of whole inputs of at most ``commit_bytes`` (an input larger is a group alone)."""
    groups: list[list[Checked]] = []
    size = 0
    for item in items:
        if not groups or size + item.size_bytes > commit_bytes:
            groups.append([])
            size = 0
        groups[-1].append(item)
        size += item.size_bytes
    return groups


def ingest(
    store: KnowledgeStore,
    paths: Sequence[str | Path],
    *,
    pipeline: Pipeline | None = None,
    progress: ProgressHook | None = None,
) -> IngestReport:
    """Add files, directories and ``hf:`` datasets to the store, idempotently.

    Args:
        store: an open store (``KnowledgeStore.open(config, create=True)``).
        paths: files, directories (walked recursively) and ``hf:NAME[:CONFIG][@SPLIT]`` specs.
        pipeline: how groups are chunked and embedded; :func:`local_pipeline` when None
            (:func:`~orchestrator.retrieval.ray_ingest.ray_pipeline` for Ray).
        progress: called after each checked input and each embedded batch (driver side).

    Returns:
        What was added, replaced, left unchanged and skipped (with reasons), chunk counts and versions.
    """
    start = time.perf_counter()
    report = IngestReport(version_before=store.version)
    todo, known = plan(store, paths, report, progress)
    run = pipeline or local_pipeline(store)
    n_files = len(report.unchanged) + len(report.skipped) + len(todo)
    counts = {"chunks": 0, "total": 0}
    statuses: dict[str, FileStatus] = {}
    groups = commit_groups(todo, store.config.commit_bytes)
    for number, group in enumerate(groups, start=1):

        def batches(group: Sequence[Checked] = group, number: int = number) -> Iterator[pa.RecordBatch]:
            for item in run(group):
                if isinstance(item, FileStatus):
                    statuses[item.origin] = item
                    counts["total"] += item.chunks
                    continue
                counts["chunks"] += item.num_rows
                if progress is not None:
                    total = max(counts["total"], counts["chunks"])
                    progress(IngestProgress(n_files, n_files, counts["chunks"], total, number, len(groups)))
                yield item

        result = store.write([c.origin for c in group], batches())
        report.chunks_added += result.inserted
        report.chunks_deleted += result.deleted
        _record(report, group, statuses, known)
    if todo:
        store.optimize()
    report.version_after = store.version
    report.seconds = time.perf_counter() - start
    if report.skipped or report.bad_rows:
        logger.warning(
            "knowledge store: skipped %d inputs and %d unusable rows (reasons in the ingest report)",
            len(report.skipped),
            sum(report.bad_rows.values()),
        )
    logger.info(
        "knowledge store: %d added, %d replaced, %d unchanged, %d skipped; +%d/-%d chunks in %.1fs",
        len(report.added),
        len(report.replaced),
        len(report.unchanged),
        len(report.skipped),
        report.chunks_added,
        report.chunks_deleted,
        report.seconds,
    )
    return report


def _record(
    report: IngestReport, group: Sequence[Checked], statuses: dict[str, FileStatus], known: set[str]
) -> None:
    for item in group:
        status = statuses.get(item.origin)
        if status is not None and status.bad_rows:
            report.bad_rows[item.origin] = status.bad_rows
            logger.info(
                "knowledge store: %s: %d unusable rows skipped (first: %s)",
                item.origin,
                status.bad_rows,
                status.first_error,
            )
        if status is None or status.chunks == 0:
            why = "no text after parsing"
            if status is not None and status.bad_rows:
                why = f"no usable rows ({status.bad_rows} bad; first: {status.first_error})"
            if item.origin in known:
                why += "; its previous chunks were removed"
            report.skipped.append(Skipped(item.origin, why))
        elif item.origin in known:
            report.replaced.append(item.origin)
        else:
            report.added.append(item.origin)
