"""Batch jobs in OpenAI's Batch format: uploaded files, batch records, and the worker that runs them.

A batch is one durable run in the :class:`~orchestrator.store.RunStore` (run id = batch id), so a server
killed mid-batch resumes it on restart through :func:`~orchestrator.run.resume_run`: every generation
journaled before the kill is read back, none is computed twice.

Everything lives under one data directory::

    <data_dir>/batches.sqlite        file and batch records (JSON rows; the generations are in the run store)
    <data_dir>/files/<file-id>.jsonl uploaded inputs, output and error files

File and batch ids are made here (``file-<24 hex>``, ``batch_<24 hex>``) and checked against those
patterns before any lookup; no path or name from a request reaches the file system, and every resolved
path is checked to stay inside ``<data_dir>/files``.

Example::

    catalog = BatchCatalog(data_dir)
    worker = BatchWorker(catalog, pool, codec, RunStore(data_dir / "runs.sqlite"))
    worker.start()                                 # resumes unfinished batches in a daemon thread
    body = BatchCreateRequest(input_file_id=file_id, endpoint=ENDPOINT, completion_window="24h")
    record = new_batch(catalog, body)              # status "validating"
    worker.submit(record.id)

The HTTP routes are in :mod:`orchestrator.batch_routes`.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import queue
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from common.errors import ConfigError, SymbolicMoEError
from common.records import FinalAnswer, Instance
from orchestrator.pool import PoolConfig
from orchestrator.run import RunOptions, RunReport, resume_run, run_pool
from orchestrator.service_auth import ServiceError
from orchestrator.store import RunStore
from skills.embedding import Embedder

logger = logging.getLogger(__name__)

DEFAULT_DATA_DIR = Path("~/.cache/symbolic-moe/service")
ENDPOINT = "/v1/chat/completions"
FILE_ID_PATTERN = r"^file-[0-9a-f]{24}$"
BATCH_ID_PATTERN = r"^batch_[0-9a-f]{24}$"
MAX_LINES = 50_000
_WINDOW_S = 24 * 3600
_OPEN = ("validating", "in_progress", "cancelling")
_CATALOG = """
CREATE TABLE IF NOT EXISTS files (id TEXT PRIMARY KEY, record_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS batches (id TEXT PRIMARY KEY, status TEXT NOT NULL, record_json TEXT NOT NULL);
"""

BatchStatus = Literal[
    "validating", "failed", "in_progress", "finalizing", "completed", "expired", "cancelling", "cancelled"
]


class NotFoundError(ServiceError):
    """No file or batch with that id (404)."""

    status = 404


class ConflictError(ServiceError):
    """The request conflicts with a batch's state (409)."""

    status = 409


class BatchCancelledError(SymbolicMoEError):
    """Raised inside a batch run when its batch was cancelled."""


class _StoppingError(SymbolicMoEError):
    """Raised inside a batch run when the server shuts down; the batch stays in_progress and resumes."""


class FileRecord(BaseModel):
    """OpenAI's file object."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    filename: str
    purpose: Literal["batch", "batch_output"]
    status: Literal["processed"] = "processed"
    status_details: str | None = None


class RequestCounts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    total: int = 0
    completed: int = 0
    failed: int = 0


class BatchError(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    message: str
    param: str | None = None
    line: int | None = None


class BatchErrors(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    object: Literal["list"] = "list"
    data: list[BatchError]


class BatchTrace(BaseModel):
    """Extension field ``symoe`` of a batch: its run in the run store and what the run reused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    attempts: int = 0
    generations_computed: int | None = None
    generations_reused: int | None = None


class BatchRecord(BaseModel):
    """OpenAI's batch object, plus the ``symoe`` extension."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    object: Literal["batch"] = "batch"
    endpoint: str
    errors: BatchErrors | None = None
    input_file_id: str
    completion_window: str
    status: BatchStatus
    output_file_id: str | None = None
    error_file_id: str | None = None
    created_at: int
    in_progress_at: int | None = None
    expires_at: int | None = None
    finalizing_at: int | None = None
    completed_at: int | None = None
    failed_at: int | None = None
    expired_at: int | None = None
    cancelling_at: int | None = None
    cancelled_at: int | None = None
    request_counts: RequestCounts = RequestCounts()
    metadata: dict[str, str] | None = None
    symoe: BatchTrace


class BatchCreateRequest(BaseModel):
    """Body of ``POST /v1/batches``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_file_id: str = Field(pattern=FILE_ID_PATTERN)
    endpoint: Literal["/v1/chat/completions"]
    completion_window: Literal["24h"]
    metadata: dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=512)]] | None = (
        Field(default=None, max_length=16)
    )


@dataclass(frozen=True, slots=True)
class ChatCodec:
    """How the service turns a batch line's body into a question and an answer into a response body.

    Attributes:
        parse: ``(body, custom_id) -> (model, instance)``; raises a ``SymbolicMoEError`` on a bad body.
        render: ``(final, model, batch size) -> chat.completion`` body.
    """

    parse: Callable[[Any, str], tuple[str, Instance]]
    render: Callable[[FinalAnswer, str, int], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class _Line:
    custom_id: str
    model: str
    instance: Instance


def _now() -> int:
    return int(time.time())


def _error_line(custom_id: str | None, message: str) -> dict[str, Any]:
    """One error-file line (OpenAI's batch output shape with ``response: null``)."""
    error = {"code": "invalid_request", "message": message}
    return {
        "id": f"batch_req_{secrets.token_hex(12)}",
        "custom_id": custom_id,
        "response": None,
        "error": error,
    }


def _parse_row(raw: str, lineno: int, codec: ChatCodec, seen: dict[str, int]) -> _Line:
    """One input line -> a request. Raises ``SymbolicMoEError`` with a message naming line and field."""
    try:
        row = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ServiceError(f"line {lineno}: not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(row, dict):
        raise ServiceError(f"line {lineno}: expected a JSON object, got {type(row).__name__}")
    custom_id = row.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id or len(custom_id) > 512:
        raise ServiceError(f"line {lineno}: 'custom_id' must be a non-empty string (at most 512 chars)")
    if custom_id in seen:
        raise ServiceError(f"line {lineno}: custom_id {custom_id!r:.80} repeats line {seen[custom_id]}")
    seen[custom_id] = lineno
    if row.get("method") != "POST":
        raise ServiceError(f"line {lineno}: 'method' must be 'POST', got {row.get('method')!r:.40}")
    if row.get("url") != ENDPOINT:
        raise ServiceError(f"line {lineno}: 'url' must be {ENDPOINT!r}, got {row.get('url')!r:.80}")
    extra = set(row) - {"custom_id", "method", "url", "body"}
    if extra:
        raise ServiceError(f"line {lineno}: unknown fields {sorted(extra)!r:.120}")
    try:
        model, instance = codec.parse(row.get("body"), custom_id)
    except SymbolicMoEError as exc:
        raise ServiceError(f"line {lineno}: body: {exc}") from None
    return _Line(custom_id, model, instance)


def parse_input(text: str, codec: ChatCodec) -> tuple[list[_Line], list[dict[str, Any]], int]:
    """Split an input file into valid requests and error-file lines; returns (requests, errors, total)."""
    lines: list[_Line] = []
    errors: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    total = 0
    for lineno, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        total += 1
        try:
            lines.append(_parse_row(raw, lineno, codec, seen))
        except SymbolicMoEError as exc:
            custom_id = _custom_id_of(raw)
            errors.append(_error_line(custom_id, str(exc)))
    return lines, errors, total


def _custom_id_of(raw: str) -> str | None:
    try:
        row = json.loads(raw)
    except json.JSONDecodeError:
        return None
    cid = row.get("custom_id") if isinstance(row, dict) else None
    return cid if isinstance(cid, str) else None


class BatchCatalog:
    """File and batch records in ``<data_dir>/batches.sqlite``, and file contents in ``<data_dir>/files``.

    Thread-safe: one SQLite connection behind a lock, shared by the HTTP handlers and the worker. The
    catalog holds the directory's lock file until :meth:`close`.

    Args:
        data_dir: the service's data directory (created if missing).

    Raises:
        ConfigError: the directory or the database cannot be created, or another server uses it.
    """

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.files_dir = self.data_dir / "files"
        try:
            self.files_dir.mkdir(parents=True, exist_ok=True)
            self._owner = _lock_dir(self.data_dir)
            self._db = sqlite3.connect(
                self.data_dir / "batches.sqlite", timeout=30.0, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_CATALOG)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(
                f"service data dir {self.data_dir}: cannot use it ({exc}); pass --data-dir"
            ) from exc
        self._lock = threading.Lock()

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def path(self, file_id: str) -> Path:
        """The content path of ``file_id``, after checking the id and that the path stays in ``files/``."""
        if not re.fullmatch(FILE_ID_PATTERN, file_id):
            raise NotFoundError(f"no file {file_id!r:.80}: file ids look like 'file-<24 hex digits>'")
        path = (self.files_dir / f"{file_id}.jsonl").resolve()
        if path.parent != self.files_dir:
            raise NotFoundError(f"no file {file_id!r:.80}")
        return path

    # -- files -----------------------------------------------------------------------------------
    def add_file(
        self, content: bytes, filename: str, purpose: Literal["batch", "batch_output"]
    ) -> FileRecord:
        """Store ``content`` under a new id (written to a temporary name, then renamed into place)."""
        file_id = f"file-{secrets.token_hex(12)}"
        path = self.path(file_id)
        tmp = path.with_name(f".{file_id}.tmp")
        tmp.write_bytes(content)
        os.replace(tmp, path)
        # display only (never a path): the last component, without NULs, at most 255 characters
        name = PurePosixPath(filename.replace("\\", "/").replace("\x00", "")).name[:255] or "upload.jsonl"
        record = FileRecord(id=file_id, bytes=len(content), created_at=_now(), filename=name, purpose=purpose)
        with self._lock:
            self._db.execute("INSERT INTO files VALUES (?, ?)", (file_id, record.model_dump_json()))
        return record

    def get_file(self, file_id: str) -> FileRecord:
        """The record of ``file_id``. Raises ``NotFoundError``."""
        self.path(file_id)
        rows = self._rows("SELECT record_json FROM files WHERE id = ?", (file_id,))
        if not rows:
            raise NotFoundError(f"no file {file_id!r}")
        return FileRecord.model_validate_json(rows[0][0])

    def read_file(self, file_id: str) -> bytes:
        self.get_file(file_id)
        return self.path(file_id).read_bytes()

    def list_files(self, purpose: str | None) -> list[FileRecord]:
        rows = self._rows("SELECT record_json FROM files ORDER BY rowid DESC")
        records = [FileRecord.model_validate_json(r[0]) for r in rows]
        return [r for r in records if purpose is None or r.purpose == purpose]

    def delete_file(self, file_id: str) -> None:
        """Delete a file. Raises ``ConflictError`` while an unfinished batch reads it."""
        self.get_file(file_id)
        for batch in self.open_batches():
            if batch.input_file_id == file_id:
                raise ConflictError(
                    f"file {file_id} is the input of {batch.id} ({batch.status}); cancel it first"
                )
        with self._lock:
            self._db.execute("DELETE FROM files WHERE id = ?", (file_id,))
        self.path(file_id).unlink(missing_ok=True)

    # -- batches ---------------------------------------------------------------------------------
    def add_batch(self, record: BatchRecord) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO batches VALUES (?, ?, ?)", (record.id, record.status, record.model_dump_json())
            )

    def get_batch(self, batch_id: str) -> BatchRecord:
        """The record of ``batch_id``. Raises ``NotFoundError``."""
        if not re.fullmatch(BATCH_ID_PATTERN, batch_id):
            raise NotFoundError(f"no batch {batch_id!r:.80}: batch ids look like 'batch_<24 hex digits>'")
        rows = self._rows("SELECT record_json FROM batches WHERE id = ?", (batch_id,))
        if not rows:
            raise NotFoundError(f"no batch {batch_id!r}")
        return BatchRecord.model_validate_json(rows[0][0])

    def update_batch(self, batch_id: str, allowed: tuple[str, ...], **changes: Any) -> BatchRecord | None:
        """Apply ``changes`` if the batch's status is in ``allowed`` (atomically); None otherwise."""
        with self._lock:
            rows = self._db.execute("SELECT record_json FROM batches WHERE id = ?", (batch_id,)).fetchall()
            if not rows:
                return None
            current = BatchRecord.model_validate_json(rows[0][0])
            if current.status not in allowed:
                return None
            new = BatchRecord.model_validate({**current.model_dump(), **changes})
            self._db.execute(
                "UPDATE batches SET status = ?, record_json = ? WHERE id = ?",
                (new.status, new.model_dump_json(), batch_id),
            )
            return new

    def list_batches(self, limit: int, after: str | None) -> list[BatchRecord]:
        """Newest first; ``after`` is the last id of the previous page."""
        if after is None:
            rows = self._rows("SELECT record_json FROM batches ORDER BY rowid DESC LIMIT ?", (limit,))
        else:
            self.get_batch(after)
            rows = self._rows(
                "SELECT record_json FROM batches WHERE rowid < (SELECT rowid FROM batches WHERE id = ?) "
                "ORDER BY rowid DESC LIMIT ?",
                (after, limit),
            )
        return [BatchRecord.model_validate_json(r[0]) for r in rows]

    def open_batches(self) -> list[BatchRecord]:
        """Batches not finished yet (validating, in progress or cancelling), oldest first."""
        marks = ",".join("?" * len(_OPEN))
        rows = self._rows(f"SELECT record_json FROM batches WHERE status IN ({marks}) ORDER BY rowid", _OPEN)
        return [BatchRecord.model_validate_json(r[0]) for r in rows]

    def close(self) -> None:
        """Close the database and release the data directory for another server."""
        with self._lock:
            self._db.close()
            self._owner.close()


def _lock_dir(data_dir: Path) -> IO[str]:
    """Hold ``data_dir/service.lock``: one server per data dir, so no batch runs twice at once.

    The OS drops the lock when the process dies, even by SIGKILL, so a restart can take it at once.

    Raises:
        ConfigError: another live server holds the data dir.
    """
    fh = (data_dir / "service.lock").open("a")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        fh.close()
        raise ConfigError(
            f"service data dir {data_dir} is in use by another server; stop it or pass another --data-dir"
        ) from exc
    return fh


def new_batch(catalog: BatchCatalog, body: BatchCreateRequest) -> BatchRecord:
    """Register a batch (status ``validating``) for ``body``'s input file."""
    source = catalog.get_file(body.input_file_id)
    if source.purpose != "batch":
        raise ServiceError(f"file {source.id} has purpose {source.purpose!r}; upload with purpose 'batch'")
    now = _now()
    batch_id = f"batch_{secrets.token_hex(12)}"
    record = BatchRecord(
        id=batch_id,
        endpoint=body.endpoint,
        input_file_id=body.input_file_id,
        completion_window=body.completion_window,
        status="validating",
        created_at=now,
        expires_at=now + _WINDOW_S,
        metadata=body.metadata,
        symoe=BatchTrace(run_id=batch_id),
    )
    catalog.add_batch(record)
    return record


def cancel_batch(catalog: BatchCatalog, batch_id: str) -> BatchRecord:
    """Mark an unfinished batch ``cancelling``; the worker stops it at its next engine batch.

    Raises:
        NotFoundError: no such batch.
        ConflictError: the batch is already finished.
    """
    current = catalog.get_batch(batch_id)
    record = catalog.update_batch(
        batch_id, _OPEN, status="cancelling", cancelling_at=current.cancelling_at or _now()
    )
    if record is None:
        raise ConflictError(f"batch {batch_id} is {current.status}; only unfinished batches can be cancelled")
    return record


class BatchWorker:
    """Runs batches one at a time in a daemon thread, each as one durable run in the run store.

    Args:
        catalog: the file and batch records.
        pool: the pool new batches run with (a resumed batch uses the pool stored with its run).
        codec: the service's request parsing and response rendering.
        store: the run store that journals every generation.
        embedder: the question embedder for batch runs.
    """

    def __init__(
        self,
        catalog: BatchCatalog,
        pool: PoolConfig,
        codec: ChatCodec,
        store: RunStore,
        embedder: Embedder | None = None,
    ) -> None:
        self.catalog, self.pool, self.codec, self.store, self.embedder = catalog, pool, codec, store, embedder
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="symoe-batch")

    def start(self) -> int:
        """Start the thread and queue every unfinished batch (resumed from its journal); returns how many."""
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
        self.catalog.update_batch(batch_id, _OPEN, status="failed", failed_at=_now(), errors=errors)

    def _cancelled(self, batch_id: str) -> None:
        self.catalog.update_batch(batch_id, _OPEN, status="cancelled", cancelled_at=_now())
        logger.info("batch %s: cancelled", batch_id)

    def _process(self, batch_id: str) -> None:
        record = self.catalog.get_batch(batch_id)
        if record.status == "cancelling":
            self._cancelled(batch_id)
            return
        text = self.catalog.read_file(record.input_file_id).decode("utf-8", errors="replace")
        lines, errors, total = parse_input(text, self.codec)
        counts = RequestCounts(total=total, failed=len(errors))
        trace = record.symoe.model_copy(update={"attempts": record.symoe.attempts + 1})
        started = self.catalog.update_batch(
            batch_id, ("validating", "in_progress"), status="in_progress", request_counts=counts,
            in_progress_at=record.in_progress_at or _now(), symoe=trace,
        )  # fmt: skip
        if started is None:  # cancelled meanwhile
            self._cancelled(batch_id)
            return
        finals: list[FinalAnswer] = []
        report = None
        if lines:
            try:
                report, finals = self._run(batch_id, [x.instance for x in lines])
            except BatchCancelledError:
                self._cancelled(batch_id)
                return
        self._finish(started, lines, errors, finals, report)

    def _run(self, batch_id: str, instances: list[Instance]) -> tuple[RunReport, list[FinalAnswer]]:
        def check(stage: str, model: str, done: int, total: int) -> None:
            if self._stopping.is_set():
                raise _StoppingError("server shutting down")
            if self.catalog.get_batch(batch_id).status == "cancelling":
                raise BatchCancelledError(f"batch {batch_id} cancelled")

        if _has_run(self.store, batch_id):
            logger.info("batch %s: resuming its run from the journal", batch_id)
            _, report, finals = resume_run(self.store, batch_id, embedder=self.embedder, progress=check)
        else:
            logger.info("batch %s: %d requests, pool %s", batch_id, len(instances), self.pool.name)
            opts = RunOptions(store=self.store, run_id=batch_id)
            report, finals = run_pool(
                self.pool, instances, embedder=self.embedder, progress=check, options=opts
            )
        return report, finals

    def _finish(
        self,
        record: BatchRecord,
        lines: list[_Line],
        errors: list[dict[str, Any]],
        finals: list[FinalAnswer],
        report: RunReport | None,
    ) -> None:
        by_id = {f.instance_id: f for f in finals}
        out: list[dict[str, Any]] = []
        for line in lines:
            final = by_id.get(line.custom_id)
            if final is None:
                errors.append(_error_line(line.custom_id, "the run returned no answer for this request"))
                continue
            response = {
                "status_code": 200,
                "request_id": f"req_{secrets.token_hex(12)}",
                "body": self.codec.render(final, line.model, len(lines)),
            }
            out.append({"id": f"batch_req_{secrets.token_hex(12)}", "custom_id": line.custom_id,
                        "response": response, "error": None})  # fmt: skip
        changes: dict[str, Any] = {"finalizing_at": _now()}
        if out:
            changes["output_file_id"] = self.catalog.add_file(
                _jsonl(out), f"{record.id}_output.jsonl", "batch_output"
            ).id
        if errors:
            changes["error_file_id"] = self.catalog.add_file(
                _jsonl(errors), f"{record.id}_error.jsonl", "batch_output"
            ).id
        changes["request_counts"] = RequestCounts(total=record.request_counts.total, completed=len(out),
                                                  failed=len(errors))  # fmt: skip
        if report is not None:
            changes["symoe"] = record.symoe.model_copy(
                update={"generations_computed": report.generations_computed,
                        "generations_reused": report.generations_reused}
            )  # fmt: skip
        if out:
            changes.update(status="completed", completed_at=_now())
        else:
            message = "no line of the input file is a valid request; see the error file"
            errs = BatchErrors(data=[BatchError(code="no_valid_requests", message=message)])
            changes.update(status="failed", failed_at=_now(), errors=errs)
        if self.catalog.update_batch(record.id, ("in_progress",), **changes) is None:
            # cancelled after its last progress check: keep what was computed, as OpenAI does
            changes.update(status="cancelled", cancelled_at=_now(), completed_at=None, failed_at=None)
            self.catalog.update_batch(record.id, ("cancelling",), **changes)
        logger.info("batch %s: %d answered, %d failed", record.id, len(out), len(errors))


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _has_run(store: RunStore, run_id: str) -> bool:
    try:
        store.get_run(run_id)
    except ConfigError:
        return False
    return True


__all__ = [
    "DEFAULT_DATA_DIR",
    "ENDPOINT",
    "BatchCancelledError",
    "BatchCatalog",
    "BatchCreateRequest",
    "BatchRecord",
    "BatchWorker",
    "ChatCodec",
    "ConflictError",
    "FileRecord",
    "NotFoundError",
    "cancel_batch",
    "new_batch",
    "parse_input",
]
