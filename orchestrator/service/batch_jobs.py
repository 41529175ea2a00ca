"""A batch job's lines and transitions: parsing its input file, and creating, cancelling, finishing or
expiring a batch (writing its output and error files).

A batch's life (OpenAI's statuses)::

    validating -> in_progress -> completed | failed          (finish_batch)
         |              |------> expired                     (expire_batch, past expires_at)
         '--------------'------> cancelling -> cancelled     (cancel_batch, then the worker)

Records and storage are in :mod:`~.batch_files`, the thread that runs batches through the run
store in :mod:`~.batch_worker`, the HTTP routes in :mod:`~.batch_routes`.

Example::

    body = BatchCreateRequest(input_file_id=file_id, endpoint=ENDPOINT, completion_window="24h")
    record = new_batch(catalog, body, owner=caller.owner)      # status "validating"
    parsed = read_input(catalog, record, codec)                 # what the worker runs
    BatchFinisher(catalog, codec).finish(record, parsed, finals)  # output and error files, "completed"
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from common.errors import SymbolicMoEError
from common.records import FinalAnswer, Instance
from orchestrator.service.auth import ServiceError
from orchestrator.service.batch_files import (
    ENDPOINT,
    OPEN,
    BatchCatalog,
    BatchCreateRequest,
    BatchError,
    BatchErrors,
    BatchRecord,
    BatchTrace,
    ConflictError,
    RequestCounts,
    now_s,
    window_seconds,
)

logger = logging.getLogger(__name__)

EXPIRED_MESSAGE = "this request was not answered before the batch's completion_window ended"


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
class BatchLine:
    """One valid input line: its ``custom_id``, the model asked for and the question."""

    custom_id: str
    model: str
    instance: Instance


@dataclass(frozen=True, slots=True)
class BatchInput:
    """A parsed input file: its valid lines, and one error-file line per invalid line."""

    lines: list[BatchLine]
    errors: list[dict[str, Any]]

    @property
    def total(self) -> int:
        """The input's non-blank lines."""
        return len(self.lines) + len(self.errors)


def error_line(custom_id: str | None, message: str, code: str = "invalid_request") -> dict[str, Any]:
    """One error-file line (OpenAI's batch output shape with ``response: null``)."""
    return {
        "id": f"batch_req_{secrets.token_hex(12)}",
        "custom_id": custom_id,
        "response": None,
        "error": {"code": code, "message": message},
    }


def _parse_row(raw: str, lineno: int, codec: ChatCodec, seen: dict[str, int]) -> BatchLine:
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
    return BatchLine(custom_id, model, instance)


def parse_input(text: str, codec: ChatCodec) -> BatchInput:
    """Split an input file into valid requests and error-file lines (blank lines are skipped)."""
    lines: list[BatchLine] = []
    errors: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            lines.append(_parse_row(raw, lineno, codec, seen))
        except SymbolicMoEError as exc:
            errors.append(error_line(_custom_id_of(raw), str(exc)))
    return BatchInput(lines, errors)


def _custom_id_of(raw: str) -> str | None:
    try:
        row = json.loads(raw)
    except json.JSONDecodeError:
        return None
    cid = row.get("custom_id") if isinstance(row, dict) else None
    return cid if isinstance(cid, str) else None


def read_input(catalog: BatchCatalog, record: BatchRecord, codec: ChatCodec) -> BatchInput:
    """Parse ``record``'s input file (the server's view: the file was checked to be the owner's)."""
    text = catalog.read_file(record.input_file_id, owner=None).decode("utf-8", errors="replace")
    return parse_input(text, codec)


def new_batch(catalog: BatchCatalog, body: BatchCreateRequest, *, owner: str) -> BatchRecord:
    """Register a batch (status ``validating``) of ``owner`` for ``body``'s input file.

    Raises:
        NotFoundError: no input file of ``owner`` with that id.
        ServiceError: the file is not a batch input.
    """
    source = catalog.get_file(body.input_file_id, owner=owner)
    if source.purpose != "batch":
        raise ServiceError(f"file {source.id} has purpose {source.purpose!r}; upload with purpose 'batch'")
    now = now_s()
    batch_id = f"batch_{secrets.token_hex(12)}"
    record = BatchRecord(
        id=batch_id,
        endpoint=body.endpoint,
        input_file_id=body.input_file_id,
        completion_window=body.completion_window,
        status="validating",
        created_at=now,
        expires_at=now + window_seconds(body.completion_window),
        metadata=body.metadata,
        symoe=BatchTrace(run_id=batch_id),
    )
    catalog.add_batch(record, owner=owner)
    return record


def cancel_batch(catalog: BatchCatalog, batch_id: str, *, owner: str) -> BatchRecord:
    """Mark an unfinished batch of ``owner`` ``cancelling``; the worker stops it at its next engine batch.

    Raises:
        NotFoundError: no such batch of ``owner``.
        ConflictError: the batch is already finished.
    """
    current = catalog.get_batch(batch_id, owner=owner)
    record = catalog.update_batch(
        batch_id, OPEN, status="cancelling", cancelling_at=current.cancelling_at or now_s()
    )
    if record is None:
        raise ConflictError(f"batch {batch_id} is {current.status}; only unfinished batches can be cancelled")
    return record


def is_expired(record: BatchRecord, now: float) -> bool:
    """Whether an unfinished batch is past its ``expires_at``."""
    return record.status in OPEN and record.expires_at is not None and now >= record.expires_at


class BatchFinisher:
    """Ends batches: writes their output file (answered lines, in input order) and error file (invalid
    and unanswered lines), owned by the batch's owner, and sets their final status and counts.

    Args:
        catalog: the records and files.
        codec: renders each answer as a response body.
    """

    def __init__(self, catalog: BatchCatalog, codec: ChatCodec) -> None:
        self.catalog, self.codec = catalog, codec

    def finish(
        self, record: BatchRecord, parsed: BatchInput, finals: Sequence[FinalAnswer]
    ) -> BatchRecord | None:
        """Mark a batch whose run ended ``completed`` (``failed`` when no line was answered), with
        ``record.symoe``; a batch cancelled after the run's last check is ``cancelled``, with its files."""
        unanswered = {"message": "the run returned no answer for this request"}
        changes = self._results(record, parsed, finals, unanswered)
        changes["symoe"] = record.symoe
        if changes["request_counts"].completed:
            changes.update(status="completed", completed_at=now_s())
        else:
            message = "no line of the input file is a valid request; see the error file"
            errs = BatchErrors(data=[BatchError(code="no_valid_requests", message=message)])
            changes.update(status="failed", failed_at=now_s(), errors=errs)
        done = self.catalog.update_batch(record.id, ("in_progress",), **changes)
        if done is None:  # cancelled after its last progress check: keep what was computed, as OpenAI does
            changes.update(status="cancelled", cancelled_at=now_s(), completed_at=None, failed_at=None)
            done = self.catalog.update_batch(record.id, ("cancelling",), **changes)
        return self._log(record, done, changes)

    def expire(
        self, record: BatchRecord, parsed: BatchInput, finals: Sequence[FinalAnswer] = ()
    ) -> BatchRecord | None:
        """Mark an unfinished batch ``expired``: the lines answered so far (``finals``) go to the output
        file, every other valid line to the error file with code ``batch_expired``."""
        unanswered = {"message": EXPIRED_MESSAGE, "code": "batch_expired"}
        changes = self._results(record, parsed, finals, unanswered)
        done = self.catalog.update_batch(record.id, OPEN, status="expired", expired_at=now_s(), **changes)
        return self._log(record, done, changes)

    def _results(
        self,
        record: BatchRecord,
        parsed: BatchInput,
        finals: Sequence[FinalAnswer],
        unanswered: dict[str, str],
    ) -> dict[str, Any]:
        """Write both files; returns the record changes (file ids, counts). A valid line without a final
        answer goes to the error file as ``error_line(custom_id, **unanswered)``."""
        by_id = {f.instance_id: f for f in finals}
        out: list[dict[str, Any]] = []
        errors = list(parsed.errors)
        for line in parsed.lines:
            final = by_id.get(line.custom_id)
            if final is None:
                errors.append(error_line(line.custom_id, **unanswered))
                continue
            if final.error is not None:  # every recruited expert failed (e.g. the question is too long)
                errors.append(
                    error_line(line.custom_id, final.error, final.error_code or "generation_failed")
                )
                continue
            response = {
                "status_code": 200,
                "request_id": f"req_{secrets.token_hex(12)}",
                "body": self.codec.render(final, line.model, len(parsed.lines)),
            }
            out.append({"id": f"batch_req_{secrets.token_hex(12)}", "custom_id": line.custom_id,
                        "response": response, "error": None})  # fmt: skip
        changes: dict[str, Any] = {"finalizing_at": now_s()}
        owner = self.catalog.owner_of(record.id)
        for key, rows, suffix in (("output_file_id", out, "output"), ("error_file_id", errors, "error")):
            if rows:
                name = f"{record.id}_{suffix}.jsonl"
                changes[key] = self.catalog.add_file(_jsonl(rows), name, "batch_output", owner=owner).id
        changes["request_counts"] = RequestCounts(total=parsed.total, completed=len(out), failed=len(errors))
        return changes

    @staticmethod
    def _log(record: BatchRecord, done: BatchRecord | None, changes: dict[str, Any]) -> BatchRecord | None:
        c = changes["request_counts"]
        status = done.status if done is not None else f"{record.status} (not updated)"
        logger.info("batch %s: %s, %d answered, %d not", record.id, status, c.completed, c.failed)
        return done


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


__all__ = [
    "EXPIRED_MESSAGE",
    "BatchFinisher",
    "BatchInput",
    "BatchLine",
    "ChatCodec",
    "cancel_batch",
    "error_line",
    "is_expired",
    "new_batch",
    "parse_input",
    "read_input",
]
