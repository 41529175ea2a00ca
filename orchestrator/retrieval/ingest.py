"""Idempotent, resumable ingestion: only new or changed content is chunked, embedded and committed.

Each input's content hash is compared with the source table's record of it: an unchanged input adds
nothing; a changed one has its new chunks upserted and its old ones deleted; a copy of content the
store already holds (under a path that still has it) adds nothing; a moved file's chunks move to its
new path. Chunks are committed in bounded batches (``commit_chunks`` chunks or ``commit_bytes`` of
source, whichever first), so a killed ingest keeps every batch it committed; an input is recorded as
complete only after its last chunk commits, and the next run finishes the incomplete ones (chunk ids
come from content, so what was committed is not inserted twice, and embeddings come back from the
disk cache). The whole run holds the store's write lock (:mod:`.lock`).

Memory stays bounded: files are hashed in blocks, JSONL files and datasets stream row by row, and at
most one commit's chunks are held (a text file is held whole while it is chunked, up to
``max_file_bytes``).

The chunk-and-embed step is a *pipeline*: the local one (below) embeds in this process; the Ray one
(:mod:`.ray_ingest`) runs read, chunk and embed as a Ray Data pipeline. Both feed the same commits.

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

from common.errors import DataError
from orchestrator.retrieval.chunking import chunk_text
from orchestrator.retrieval.lock import write_lock
from orchestrator.retrieval.readers import (
    Checked,
    Input,
    Parsed,
    Skipped,
    discover,
    inspect_source,
    iter_documents,
)
from orchestrator.retrieval.schema import ChunkRow, chunk_id, meta_table, with_vectors
from orchestrator.retrieval.store import KnowledgeStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class FileChunks:
    """One input's chunks, and what parsing it found (unusable rows, the first problem)."""

    origin: str
    rows: list[ChunkRow]
    documents: int
    bad_rows: int = 0
    first_error: str | None = None

    @property
    def status(self) -> FileStatus:
        return FileStatus(
            origin=self.origin,
            chunks=len(self.rows),
            documents=self.documents,
            bad_rows=self.bad_rows,
            first_error=self.first_error,
        )


@dataclass(frozen=True, kw_only=True)
class FileStatus:
    """What a pipeline reports about one input besides its chunk batches."""

    origin: str
    chunks: int
    documents: int
    bad_rows: int = 0
    first_error: str | None = None


@dataclass(frozen=True, kw_only=True)
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


@dataclass(kw_only=True)
class IngestReport:
    """The outcome of one ingest, for the CLI and the caller."""

    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    moved: list[tuple[str, str]] = field(default_factory=list)
    """(old origin, new origin) of files whose content moved."""
    skipped: list[Skipped] = field(default_factory=list)
    bad_rows: dict[str, int] = field(default_factory=dict)
    chunks_added: int = 0
    chunks_deleted: int = 0
    version_before: int = 0
    version_after: int = 0
    commits: int = 0
    duplicates_removed: int = 0
    index_repaired: bool = False
    seconds: float = 0.0


def iter_chunks(item: Checked, chunk_chars: int, overlap: int, counts: Parsed) -> Iterator[ChunkRow]:
    """One checked input's chunk rows, streamed document by document (unusable rows go to ``counts``)."""
    for d, doc in enumerate(iter_documents(item, counts)):
        counts.seen += 1
        for c, span in enumerate(chunk_text(doc.text, chunk_chars, overlap)):
            yield ChunkRow(
                id=chunk_id(item.sha256, d, c),
                origin=item.origin,
                origin_sha256=item.sha256,
                doc_id=doc.doc_id,
                source=doc.source,
                title=doc.title,
                text=span.text,
                chunk_index=c,
                start=span.start,
                end=span.end,
                metadata=doc.metadata,
            )


def chunk_file(item: Checked, chunk_chars: int, overlap: int) -> FileChunks:
    """Parse one checked input and split its documents into chunk rows (all in memory)."""
    counts = Parsed()
    rows = list(iter_chunks(item, chunk_chars, overlap, counts))
    return FileChunks(
        origin=item.origin,
        rows=rows,
        documents=counts.seen,
        bad_rows=counts.bad_rows,
        first_error=counts.first_error,
    )


def local_pipeline(store: KnowledgeStore) -> Pipeline:
    """Chunk and embed in this process, streaming: each input's batches, then its status."""
    cfg = store.config

    def run(group: Sequence[Checked]) -> Iterator[pa.RecordBatch | FileStatus]:
        for item in group:
            counts = Parsed()
            n = 0
            batch: list[ChunkRow] = []
            for row in iter_chunks(item, cfg.chunk_chars, cfg.chunk_overlap, counts):
                batch.append(row)
                if len(batch) == cfg.embed_batch_size:
                    yield _embedded(store, batch)
                    n += len(batch)
                    batch = []
            if batch:
                yield _embedded(store, batch)
                n += len(batch)
            yield FileStatus(
                origin=item.origin,
                chunks=n,
                documents=counts.seen,
                bad_rows=counts.bad_rows,
                first_error=counts.first_error,
            )

    return run


def _embedded(store: KnowledgeStore, rows: Sequence[ChunkRow]) -> pa.RecordBatch:
    vectors = store.embedder.embed([r.text for r in rows])
    return with_vectors(meta_table(rows), vectors, store.dim)


@dataclass
class _Plan:
    todo: list[Checked] = field(default_factory=list)
    known: dict[str, str] = field(default_factory=dict)
    moves: dict[str, str] = field(default_factory=dict)
    """new origin -> old origin"""


def plan(
    store: KnowledgeStore,
    paths: Sequence[str | Path],
    report: IngestReport,
    progress: ProgressHook | None = None,
    *,
    follow_links: bool = False,
) -> _Plan:
    """Check and hash every input; fill ``report.unchanged`` and ``report.skipped`` (copies included).

    Raises:
        DataError: a named path does not exist (nothing is written then).
    """
    inputs, skipped = discover(paths, follow_links=follow_links)
    missing = [s.origin for s in skipped if s.reason == "no such file or directory"]
    if missing:
        raise DataError(f"kb add: no such file or directory: {', '.join(missing[:5])}"
                        + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))  # fmt: skip
    report.skipped.extend(skipped)
    out = _Plan(known=store.completed())
    holder = {sha: origin for origin, sha in out.known.items()}
    for n, item in enumerate(inputs, start=1):
        checked = inspect_source(item, max_file_bytes=store.config.max_file_bytes)
        if isinstance(checked, Skipped):
            report.skipped.append(checked)
        elif out.known.get(checked.origin) == checked.sha256:
            report.unchanged.append(checked.origin)
        elif (other := holder.get(checked.sha256)) is not None and other != checked.origin:
            if _still_holds(other, checked.sha256, store.config.max_file_bytes):
                report.skipped.append(Skipped(checked.origin, f"same content as {other} (stored once)"))
            else:
                out.moves[checked.origin] = other
                holder[checked.sha256] = checked.origin
                out.todo.append(checked)
        else:
            holder[checked.sha256] = checked.origin
            out.todo.append(checked)
        if progress is not None:
            progress(IngestProgress(files_done=n, files_total=len(inputs), chunks_done=0, chunks_total=None))
    for s in report.skipped:  # the report carries them; one warning below sums them up
        logger.info("knowledge store: skipped %s: %s", s.origin, s.reason)
    return out


def _still_holds(origin: str, sha256: str, max_file_bytes: int) -> bool:
    """Whether ``origin`` (a stored input) still has this content (a copy) or not (a move)."""
    if origin.startswith("hf:"):
        return True
    if not Path(origin).is_file():
        return False
    checked = inspect_source(Input(origin, "text"), max_file_bytes=max_file_bytes)
    return isinstance(checked, Checked) and checked.sha256 == sha256


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
    follow_links: bool = False,
) -> IngestReport:
    """Add files, directories and ``hf:`` datasets to the store, idempotently and resumably.

    Args:
        store: an open store (``KnowledgeStore.open(config, create=True)``).
        paths: files, directories (walked recursively) and ``hf:NAME[:CONFIG][@SPLIT]`` specs.
        pipeline: how inputs are chunked and embedded; :func:`local_pipeline` when None
            (:func:`~orchestrator.retrieval.ray_ingest.ray_pipeline` for Ray).
        progress: called after each checked input and each embedded batch (driver side).
        follow_links: follow symbolic links whose targets lie outside ``paths`` (skipped otherwise).

    Returns:
        What was added, replaced, moved, left unchanged and skipped (with reasons), chunk counts,
        versions and commits.

    Raises:
        DataError: a named path does not exist, or another process keeps the store's write lock.
    """
    from orchestrator.retrieval.maintenance import remove_duplicates

    start = time.perf_counter()
    with write_lock(store.config):
        store.refresh()
        report = IngestReport(version_before=store.version)
        work = plan(store, paths, report, progress, follow_links=follow_links)
        report.duplicates_removed = remove_duplicates(store)
        _run_groups(store, work, report, pipeline or local_pipeline(store), progress)
        if report.commits:
            store.optimize()
        else:
            report.index_repaired = store.repair_index()
        report.version_after = store.version
    report.seconds = time.perf_counter() - start
    if report.skipped or report.bad_rows:
        logger.warning(
            "knowledge store: skipped %d inputs and %d unusable rows (reasons in the ingest report)",
            len(report.skipped),
            sum(report.bad_rows.values()),
        )
    logger.info(
        "knowledge store: %d added, %d replaced, %d moved, %d unchanged, %d skipped; +%d/-%d chunks in "
        "%d commits, %.1fs",
        len(report.added),
        len(report.replaced),
        len(report.moved),
        len(report.unchanged),
        len(report.skipped),
        report.chunks_added,
        report.chunks_deleted,
        report.commits,
        report.seconds,
    )
    return report


class _Committer:
    """Cuts a pipeline's stream into bounded commits and records inputs once all their chunks are in."""

    def __init__(self, store: KnowledgeStore, work: _Plan, report: IngestReport) -> None:
        self.store = store
        self.work = work
        self.report = report
        self.statuses: dict[str, FileStatus] = {}
        self.committed: dict[str, int] = {}
        self.recorded: set[str] = set()
        self.cleaned: set[str] = set()
        self.sha = {c.origin: c.sha256 for c in work.todo}
        # Content no row holds yet can be appended: its ids (made from it) cannot be stored already,
        # and the write lock keeps other writers out. Appending skips the upsert's join with the whole
        # table, whose memory grows with the store. Remote stores (no lock) always upsert.
        self.fresh = store.fresh_contents({c.sha256 for c in work.todo}) if store.config.is_local else set()

    def commit(self, batches: list[pa.RecordBatch]) -> None:
        origins = {o for b in batches for o in b.column("origin").to_pylist()}
        origins |= {o for o in self.statuses if o not in self.recorded}
        replace = {o: self.sha[o] for o in origins if o in self.sha}
        # a changed file goes through the upsert: its old chunks go in the same commit
        if all(sha in self.fresh for sha in replace.values()) and not set(replace) & set(self.work.known):
            new = [o for o in replace if o not in self.cleaned]
            # rows of another content under a new origin: a killed add, then the file changed
            self.report.chunks_deleted += self.store.delete_stale({o: replace[o] for o in new})
            self.cleaned.update(new)
            result = self.store.append(iter(batches))
        else:
            result = self.store.write(replace, iter(batches))
        self.report.commits += 1
        self.report.chunks_added += result.inserted
        self.report.chunks_deleted += result.deleted
        for b in batches:
            for o in b.column("origin").to_pylist():
                self.committed[o] = self.committed.get(o, 0) + 1
        self.record_finished()

    def record_finished(self) -> None:
        done = {
            o: (self.sha[o], st.chunks)
            for o, st in self.statuses.items()
            if o not in self.recorded and st.chunks > 0 and self.committed.get(o, 0) >= st.chunks
        }
        if not done:
            return
        self.store.mark_complete(done)
        self.recorded |= set(done)
        moved_from = [self.work.moves[o] for o in done if o in self.work.moves]
        if moved_from:
            self.report.chunks_deleted += self.store.delete_sources(moved_from)
            self.report.moved.extend((self.work.moves[o], o) for o in done if o in self.work.moves)


def _run_groups(
    store: KnowledgeStore, work: _Plan, report: IngestReport, run: Pipeline, progress: ProgressHook | None
) -> None:
    cfg = store.config
    n_files = len(report.unchanged) + len(report.skipped) + len(work.todo)
    committer = _Committer(store, work, report)
    done = total = 0
    groups = commit_groups(work.todo, cfg.commit_bytes)
    for number, group in enumerate(groups, start=1):
        pending: list[pa.RecordBatch] = []
        rows = 0
        for item in run(group):
            if isinstance(item, FileStatus):
                committer.statuses[item.origin] = item
                total += item.chunks
                continue
            pending.append(item)
            rows += item.num_rows
            done += item.num_rows
            if progress is not None:
                progress(
                    IngestProgress(
                        files_done=n_files,
                        files_total=n_files,
                        chunks_done=done,
                        chunks_total=max(total, done),
                        group=number,
                        groups=len(groups),
                    )
                )
            if rows >= cfg.commit_chunks:
                committer.commit(pending)
                pending, rows = [], 0
        if pending:
            committer.commit(pending)
        committer.record_finished()
        _record(report, group, committer.statuses, set(work.known))
        empty = [c.origin for c in group if c.origin in work.known and c.origin not in committer.recorded]
        if empty:  # its new content has no chunks: its old ones go
            report.chunks_deleted += store.delete_sources(empty)
            report.commits += 1


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
