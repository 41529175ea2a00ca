"""Storage of batch jobs: OpenAI's file and batch objects, and the catalog that keeps them per owner.

Everything lives under one data directory::

    <data_dir>/batches.sqlite        file and batch records, with their owners (generations: run store)
    <data_dir>/files/<file-id>.jsonl uploaded inputs, output and error files
    <data_dir>/service.lock          held by the one server using the directory

**Ownership.** Every file and batch belongs to an *owner*: the sha256 hex digest of the API key that
created it (never the key), or ``anonymous`` when the service has no keys (see
:class:`~orchestrator.service.auth.Caller`). Lookups take the caller's owner and answer a record of
another owner exactly as a missing one (``NotFoundError``, same message), so ids of other keys' records
cannot be probed. Only the server itself (the batch worker) passes ``owner=None`` to see every record.
Records from a data dir made before ownership belong to ``anonymous``.

File and batch ids are made here (``file-<24 hex>``, ``batch_<24 hex>``) and checked against those
patterns before any lookup; no path or name from a request reaches the file system, and every resolved
path is checked to stay inside ``<data_dir>/files``.

Example::

    catalog = BatchCatalog(data_dir)
    file = catalog.add_file(content, "in.jsonl", "batch", owner=caller.owner)
    catalog.get_file(file.id, owner=other.owner)   # NotFoundError, as for a missing id
"""

from __future__ import annotations

import fcntl
import re
import secrets
import sqlite3
import threading
import time
from pathlib import Path, PurePosixPath
from typing import IO, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from common.errors import ConfigError
from common.private_files import private_dir, touch_private, write_private_bytes
from common.settings import expand_path
from orchestrator.service.auth import ANONYMOUS, ServiceError

DEFAULT_DATA_DIR = Path("$SYMOE_HOME/service")
ENDPOINT = "/v1/chat/completions"
FILE_ID_PATTERN = r"^file-[0-9a-f]{24}$"
BATCH_ID_PATTERN = r"^batch_[0-9a-f]{24}$"
WINDOW_PATTERN = r"^[1-9][0-9]{0,3}h$"
MAX_LINES = 50_000
OPEN = ("validating", "in_progress", "cancelling")
_TABLES = """
CREATE TABLE IF NOT EXISTS files (id TEXT PRIMARY KEY, record_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS batches (id TEXT PRIMARY KEY, status TEXT NOT NULL, record_json TEXT NOT NULL);
"""

BatchStatus = Literal[
    "validating", "failed", "in_progress", "finalizing", "completed", "expired", "cancelling", "cancelled"
]


class NotFoundError(ServiceError):
    """No file or batch with that id for this caller (404)."""

    status = 404


class ConflictError(ServiceError):
    """The request conflicts with a batch's state (409)."""

    status = 409


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
    completion_window: str = Field(
        pattern=WINDOW_PATTERN,
        description="Hours the batch may take, '<N>h' with N from 1 to 9999 (OpenAI accepts only '24h'); "
        "a batch not finished by then expires.",
    )
    metadata: dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=512)]] | None = (
        Field(default=None, max_length=16)
    )


def window_seconds(completion_window: str) -> int:
    """Seconds in a ``completion_window`` such as ``"24h"``."""
    if not re.fullmatch(WINDOW_PATTERN, completion_window):
        raise ServiceError(f"completion_window {completion_window!r:.40} must look like '24h' (1 to 9999 h)")
    return int(completion_window[:-1]) * 3600


def now_s() -> int:
    """The current Unix time in whole seconds, as OpenAI's timestamps are."""
    return int(time.time())


class BatchCatalog:
    """File and batch records in ``<data_dir>/batches.sqlite``, and file contents in ``<data_dir>/files``.

    Thread-safe: one SQLite connection behind a lock, shared by the HTTP handlers and the worker. The
    catalog holds the directory's lock file until :meth:`close`. Every lookup takes ``owner``: the
    caller's owner digest, or ``None`` for the server's own view of every record.

    Args:
        data_dir: the service's data directory (created if missing).

    Raises:
        ConfigError: the directory or the database cannot be created, or another server uses it.
    """

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = expand_path(data_dir).resolve()
        self.files_dir = self.data_dir / "files"
        try:
            private_dir(self.data_dir)  # users' batch files and records: 0700/0600 whatever the umask
            private_dir(self.files_dir)
            self._owner = _lock_dir(self.data_dir)
            touch_private(self.data_dir / "batches.sqlite")
            self._db = sqlite3.connect(
                self.data_dir / "batches.sqlite", timeout=30.0, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_TABLES)
            _add_owner_columns(self._db)
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
        self, content: bytes, filename: str, purpose: Literal["batch", "batch_output"], *, owner: str
    ) -> FileRecord:
        """Store ``content`` under a new id owned by ``owner`` (written to a temporary name, then renamed)."""
        file_id = f"file-{secrets.token_hex(12)}"
        path = self.path(file_id)
        write_private_bytes(path, content)  # 0600, via a temporary name and a rename
        # display only (never a path): the last component, without NULs, at most 255 characters
        name = PurePosixPath(filename.replace("\\", "/").replace("\x00", "")).name[:255] or "upload.jsonl"
        record = FileRecord(
            id=file_id, bytes=len(content), created_at=now_s(), filename=name, purpose=purpose
        )
        with self._lock:
            self._db.execute(
                "INSERT INTO files (id, record_json, owner) VALUES (?, ?, ?)",
                (file_id, record.model_dump_json(), owner),
            )
        return record

    def get_file(self, file_id: str, *, owner: str | None) -> FileRecord:
        """The record of ``file_id``. Raises ``NotFoundError`` (also for another owner's file)."""
        self.path(file_id)
        rows = self._rows(
            "SELECT record_json FROM files WHERE id = ? AND (? IS NULL OR owner = ?)", (file_id, owner, owner)
        )
        if not rows:
            raise NotFoundError(f"no file {file_id!r}")
        return FileRecord.model_validate_json(rows[0][0])

    def read_file(self, file_id: str, *, owner: str | None) -> bytes:
        self.get_file(file_id, owner=owner)
        return self.path(file_id).read_bytes()

    def list_files(self, purpose: str | None, *, owner: str) -> list[FileRecord]:
        """``owner``'s files, newest first, of ``purpose`` when given."""
        rows = self._rows("SELECT record_json FROM files WHERE owner = ? ORDER BY rowid DESC", (owner,))
        records = [FileRecord.model_validate_json(r[0]) for r in rows]
        return [r for r in records if purpose is None or r.purpose == purpose]

    def delete_file(self, file_id: str, *, owner: str) -> None:
        """Delete a file. Raises ``ConflictError`` while an unfinished batch reads it."""
        self.get_file(file_id, owner=owner)
        for batch in self.open_batches():
            if batch.input_file_id == file_id:
                raise ConflictError(
                    f"file {file_id} is the input of {batch.id} ({batch.status}); cancel it first"
                )
        with self._lock:
            self._db.execute("DELETE FROM files WHERE id = ?", (file_id,))
        self.path(file_id).unlink(missing_ok=True)

    # -- batches ---------------------------------------------------------------------------------
    def add_batch(self, record: BatchRecord, *, owner: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO batches (id, status, record_json, owner) VALUES (?, ?, ?, ?)",
                (record.id, record.status, record.model_dump_json(), owner),
            )

    def get_batch(self, batch_id: str, *, owner: str | None) -> BatchRecord:
        """The record of ``batch_id``. Raises ``NotFoundError`` (also for another owner's batch)."""
        if not re.fullmatch(BATCH_ID_PATTERN, batch_id):
            raise NotFoundError(f"no batch {batch_id!r:.80}: batch ids look like 'batch_<24 hex digits>'")
        rows = self._rows(
            "SELECT record_json FROM batches WHERE id = ? AND (? IS NULL OR owner = ?)",
            (batch_id, owner, owner),
        )
        if not rows:
            raise NotFoundError(f"no batch {batch_id!r}")
        return BatchRecord.model_validate_json(rows[0][0])

    def owner_of(self, batch_id: str) -> str:
        """The owner of ``batch_id`` (the server's view: its output files go to the same owner)."""
        rows = self._rows("SELECT owner FROM batches WHERE id = ?", (batch_id,))
        if not rows:
            raise NotFoundError(f"no batch {batch_id!r}")
        return str(rows[0][0])

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

    def list_batches(self, limit: int, after: str | None, *, owner: str) -> list[BatchRecord]:
        """``owner``'s batches, newest first; ``after`` is the last id of the previous page (theirs too)."""
        if after is None:
            rows = self._rows(
                "SELECT record_json FROM batches WHERE owner = ? ORDER BY rowid DESC LIMIT ?", (owner, limit)
            )
        else:
            self.get_batch(after, owner=owner)
            rows = self._rows(
                "SELECT record_json FROM batches WHERE owner = ? AND "
                "rowid < (SELECT rowid FROM batches WHERE id = ?) ORDER BY rowid DESC LIMIT ?",
                (owner, after, limit),
            )
        return [BatchRecord.model_validate_json(r[0]) for r in rows]

    def open_batches(self) -> list[BatchRecord]:
        """Every owner's unfinished batches (validating, in progress or cancelling), oldest first."""
        marks = ",".join("?" * len(OPEN))
        rows = self._rows(f"SELECT record_json FROM batches WHERE status IN ({marks}) ORDER BY rowid", OPEN)
        return [BatchRecord.model_validate_json(r[0]) for r in rows]

    def close(self) -> None:
        """Close the database and release the data directory for another server."""
        with self._lock:
            self._db.close()
            self._owner.close()


def _add_owner_columns(db: sqlite3.Connection) -> None:
    """Give both tables their ``owner`` column; rows from before ownership belong to ``anonymous``."""
    for table in ("files", "batches"):
        columns = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if "owner" not in columns:
            db.execute(f"ALTER TABLE {table} ADD COLUMN owner TEXT NOT NULL DEFAULT '{ANONYMOUS}'")
        db.execute(f"CREATE INDEX IF NOT EXISTS {table}_by_owner ON {table} (owner)")


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


__all__ = [
    "BATCH_ID_PATTERN",
    "DEFAULT_DATA_DIR",
    "ENDPOINT",
    "FILE_ID_PATTERN",
    "MAX_LINES",
    "OPEN",
    "BatchCatalog",
    "BatchCreateRequest",
    "BatchError",
    "BatchErrors",
    "BatchRecord",
    "BatchTrace",
    "ConflictError",
    "FileRecord",
    "NotFoundError",
    "RequestCounts",
    "now_s",
    "window_seconds",
]
