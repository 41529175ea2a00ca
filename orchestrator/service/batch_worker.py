"""The batch worker: a daemon thread that runs batches one at a time, each as one durable run in the run
store, and keeps their records current (live counts, cancel, expiry).

**Durable.** A batch is one run in the :class:`~batching.journal.store.RunStore` (run id = batch id), so a
server killed mid-batch resumes it on restart through :func:`~orchestrator.runs.runner.resume_run`: every
generation journaled before the kill is read back, none is computed twice.

**Live progress.** ``request_counts.completed`` of a running batch is the number of its questions whose
recruited experts have all answered (journaled in the run store): for such a question only the
aggregation is left (a vote, at once, or the LLM aggregator's call at the end of the run). The pool's
experts run one after another, so questions complete while the last of their experts works through them.
A policy that recruits fewer than the pool's ``k`` distinct experts for a question leaves that question
uncounted until the end, so the count never runs ahead. It is refreshed from the run's progress hook (after
every engine batch) at most once per ``progress_interval_s`` (1 s), and only written when it changed;
``failed`` counts the invalid input lines from the start. When the batch ends, both become the number of
lines in its output and error files.

**Cancel and expiry.** The progress hook also stops the run when its batch is cancelled, when the
server shuts down (the batch stays ``in_progress`` and resumes at the next start) and when the batch
passes ``expires_at``. Expiry is checked at startup, for each batch the loop takes, in the running
batch's progress hook, and there also for the batches waiting behind it. An expired batch writes the
answers it has to its output file (a run stopped by expiry has none, since answers are aggregated when
its expert stage ends) and every other line to its error file with code ``batch_expired``.

Example::

    worker = BatchWorker(BatchCatalog(data_dir), pool, codec, RunStore(data_dir / "runs.sqlite"))
    worker.start()                 # expires overdue batches, queues the unfinished ones to resume
    worker.submit(record.id)       # a batch made by new_batch
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sqlite3
import threading
import time
from pathlib import Path

from batching.journal.store import RunStore
from common.errors import ConfigError, SymbolicMoEError
from common.records import FinalAnswer, Instance
from orchestrator.pipeline import ProgressHook, Session
from orchestrator.pool import PoolConfig
from orchestrator.runs.report import RunReport
from orchestrator.runs.runner import RunOptions, resume_run, run_pool, stored_pool
from orchestrator.service.batch_files import (
    OPEN,
    BatchCatalog,
    BatchError,
    BatchErrors,
    BatchRecord,
    RequestCounts,
    now_s,
)
from orchestrator.service.batch_jobs import BatchFinisher, ChatCodec, is_expired, read_input
from skills.embedding import Embedder

logger = logging.getLogger(__name__)


class BatchCancelledError(SymbolicMoEError):
    """Raised inside a batch run when its batch was cancelled."""


class BatchExpiredError(SymbolicMoEError):
    """Raised inside a batch run when its batch passed ``expires_at``."""


class _StoppingError(SymbolicMoEError):
    """Raised inside a batch run when the server shuts down; the batch stays in_progress and resumes."""


def experts_per_question(pool: PoolConfig) -> int:
    """How many distinct experts answer each question of ``pool`` (its ``k``, at most its experts)."""
    return min(pool.method.k, len(pool.experts))


def answered_questions(store_path: str | Path, run_id: str, experts: int) -> int | None:
    """The questions of ``run_id`` that at least ``experts`` distinct experts have answered (journaled).

    Reads the run store through a read-only connection of its own (the store is in WAL mode, so this
    never blocks the run's writes); the query groups the run's expert-stage rows by question.

    Returns:
        The count, or None when the store cannot be read this way (an in-memory store).
    """
    if str(store_path) == ":memory:":
        return None
    uri = Path(store_path).resolve().as_uri() + "?mode=ro"
    try:
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=5.0)) as db:
            row = db.execute(
                "SELECT COUNT(*) FROM (SELECT instance_id FROM generations WHERE run_id = ? "
                "AND stage = 'experts' AND instance_id IS NOT NULL GROUP BY instance_id "
                "HAVING COUNT(DISTINCT expert) >= ?)",
                (run_id, experts),
            ).fetchone()
    except sqlite3.Error as exc:
        logger.debug("batch %s: cannot count answered questions in %s: %s", run_id, store_path, exc)
        return None
    return int(row[0])


class BatchWorker:
    """Runs batches one at a time in a daemon thread, each as one durable run in the run store.

    Args:
        catalog: the file and batch records.
        pool: the pool new batches run with (a resumed batch uses the pool stored with its run).
        codec: the service's request parsing and response rendering.
        store: the run store that journals every generation.
        embedder: the question embedder for batch runs (without a session).
        session: the service's open session: batch runs use its resident models (interleaving with
            online requests batch by batch); a resumed batch whose stored pool differs gets its own.
        progress_interval_s: the least time between two refreshes of a running batch's counts (and
            expiry sweeps of the batches waiting behind it).
    """

    def __init__(
        self,
        catalog: BatchCatalog,
        pool: PoolConfig,
        codec: ChatCodec,
        store: RunStore,
        embedder: Embedder | None = None,
        *,
        session: Session | None = None,
        progress_interval_s: float = 1.0,
    ) -> None:
        self.catalog, self.pool, self.codec, self.store, self.embedder = catalog, pool, codec, store, embedder
        self.session = session
        self.progress_interval_s = progress_interval_s
        self._finisher = BatchFinisher(catalog, codec)
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="symoe-batch")

    def start(self) -> int:
        """Expire overdue batches, then start the thread and queue every other unfinished batch (resumed
        from its journal); returns how many were queued."""
        self.expire_due()
        self._thread.start()
        unfinished = self.catalog.open_batches()
        for record in unfinished:
            logger.info("batch %s: %s at startup; resuming", record.id, record.status)
            self.submit(record.id)
        return len(unfinished)

    def submit(self, batch_id: str) -> None:
        self._queue.put(batch_id)

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop after the current engine batch; an interrupted batch stays ``in_progress`` for a restart."""
        self._stopping.set()
        self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout=timeout_s)

    def expire_due(self, running: str | None = None) -> int:
        """Expire every unfinished batch past its ``expires_at`` except ``running``; returns how many."""
        now, n = time.time(), 0
        for record in self.catalog.open_batches():
            if record.id == running or not is_expired(record, now):
                continue
            try:
                parsed = read_input(self.catalog, record, self.codec)
            except (OSError, SymbolicMoEError) as exc:
                self._fail(record.id, "input_unreadable", f"cannot read input file: {exc}")
                continue
            self._finisher.expire(record, parsed)
            self._close_run(record.id)
            n += 1
        return n

    def _loop(self) -> None:
        while (batch_id := self._queue.get()) is not None:
            try:
                self._process(batch_id)
            except _StoppingError:
                logger.info("batch %s: interrupted by shutdown; it resumes on restart", batch_id)
                return
            except Exception as exc:  # worker boundary: one bad batch must not stop the others
                logger.exception("batch %s: failed", batch_id)
                self._fail(batch_id, "run_failed", f"{type(exc).__name__}: {exc}")

    def _fail(self, batch_id: str, code: str, message: str) -> None:
        errors = BatchErrors(data=[BatchError(code=code, message=message[:2000])])
        self.catalog.update_batch(batch_id, OPEN, status="failed", failed_at=now_s(), errors=errors)

    def _cancelled(self, record: BatchRecord) -> None:
        counts = record.request_counts.model_copy(update={"completed": 0})  # no answer is delivered
        self.catalog.update_batch(
            record.id, OPEN, status="cancelled", cancelled_at=now_s(), request_counts=counts
        )
        logger.info("batch %s: cancelled", record.id)

    def _close_run(self, batch_id: str) -> None:
        """Mark the run of a batch that ended without it (expired) failed, if it was left running."""
        try:
            if self.store.get_run(batch_id).status == "running":
                self.store.finish_run(batch_id, "failed", error="the batch expired before its run finished")
        except ConfigError:
            pass  # the batch never started a run

    def _process(self, batch_id: str) -> None:
        record = self.catalog.get_batch(batch_id, owner=None)
        if record.status not in OPEN:  # finished meanwhile (e.g. expired while it waited)
            return
        if record.status == "cancelling":
            self._cancelled(record)
            return
        parsed = read_input(self.catalog, record, self.codec)
        if is_expired(record, time.time()):
            self._finisher.expire(record, parsed)
            self._close_run(batch_id)
            return
        counts = RequestCounts(total=parsed.total, failed=len(parsed.errors))
        trace = record.symoe.model_copy(update={"attempts": record.symoe.attempts + 1})
        started = self.catalog.update_batch(
            batch_id, ("validating", "in_progress"), status="in_progress", request_counts=counts,
            in_progress_at=record.in_progress_at or now_s(), symoe=trace,
        )  # fmt: skip
        if started is None:  # cancelled meanwhile
            self._cancelled(record)
            return
        finals: list[FinalAnswer] = []
        if parsed.lines:
            try:
                report, finals = self._run(batch_id, [x.instance for x in parsed.lines])
            except BatchCancelledError:
                self._cancelled(started)
                return
            except BatchExpiredError:
                self._finisher.expire(started, parsed)
                return
            update = {"generations_computed": report.generations_computed,
                      "generations_reused": report.generations_reused}  # fmt: skip
            started = started.model_copy(update={"symoe": started.symoe.model_copy(update=update)})
        self._finisher.finish(started, parsed, finals)

    def _run(self, batch_id: str, instances: list[Instance]) -> tuple[RunReport, list[FinalAnswer]]:
        if _has_run(self.store, batch_id):
            logger.info("batch %s: resuming its run from the journal", batch_id)
            stored = stored_pool(self.store.get_run(batch_id), self.pool)  # our pool when it is the run's
            check = self._hook(batch_id, experts_per_question(stored))
            same = self.session is not None and self.session.config == stored
            _, report, finals = resume_run(self.store, batch_id, embedder=self.embedder, progress=check,
                                           session=self.session if same else None, pool=stored)  # fmt: skip
        else:
            logger.info("batch %s: %d requests, pool %s", batch_id, len(instances), self.pool.name)
            opts = RunOptions(store=self.store, run_id=batch_id)
            check = self._hook(batch_id, experts_per_question(self.pool))
            report, finals = run_pool(
                self.pool,
                instances,
                embedder=self.embedder,
                progress=check,
                options=opts,
                session=self.session,
            )
        return report, finals

    def _hook(self, batch_id: str, experts: int) -> ProgressHook:
        """The run's progress hook: stops the run when needed and refreshes the batch's counts."""
        next_at = 0.0

        def check(stage: str, model: str, done: int, total: int) -> None:
            nonlocal next_at
            if self._stopping.is_set():
                raise _StoppingError("server shutting down")
            record = self.catalog.get_batch(batch_id, owner=None)
            if record.status == "cancelling":
                raise BatchCancelledError(f"batch {batch_id} cancelled")
            if is_expired(record, time.time()):
                raise BatchExpiredError(f"batch {batch_id} expired")
            if time.monotonic() < next_at:
                return
            next_at = time.monotonic() + self.progress_interval_s
            answered = answered_questions(self.store.path, batch_id, experts)
            if answered is not None and answered != record.request_counts.completed:
                counts = record.request_counts.model_copy(update={"completed": answered})
                self.catalog.update_batch(batch_id, ("in_progress",), request_counts=counts)
            self.expire_due(running=batch_id)

        return check


def _has_run(store: RunStore, run_id: str) -> bool:
    try:
        store.get_run(run_id)
    except ConfigError:
        return False
    return True


__all__ = [
    "BatchCancelledError",
    "BatchExpiredError",
    "BatchWorker",
    "answered_questions",
    "experts_per_question",
]
