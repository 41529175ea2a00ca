"""The HTTP routes of batch jobs: ``/v1/files`` and ``/v1/batches`` in OpenAI's shapes.

Routes are plain ``def`` (FastAPI runs them in its threadpool) because they touch SQLite and the disk.
Every route acts for the authenticated caller: it sees only the files and batches its key created, and
another key's id answers 404 like a missing one (see :mod:`~.batch_files`). Ids in paths are
checked against strict patterns (400 otherwise); errors are ``ServiceError`` subclasses that the
service's exception handler turns into OpenAI-shaped bodies.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import Response

from orchestrator.service.auth import ServiceError
from orchestrator.service.batch_files import (
    BATCH_ID_PATTERN,
    FILE_ID_PATTERN,
    MAX_LINES,
    BatchCatalog,
    BatchCreateRequest,
    BatchRecord,
    FileRecord,
)
from orchestrator.service.batch_jobs import cancel_batch, new_batch
from orchestrator.service.batch_worker import BatchWorker

__all__ = ["batch_router"]

FileId = Annotated[str, PathParam(pattern=FILE_ID_PATTERN, max_length=40)]
BatchId = Annotated[str, PathParam(pattern=BATCH_ID_PATTERN, max_length=40)]


def batch_router(
    catalog: BatchCatalog,
    worker: Callable[[], BatchWorker],
    max_upload_bytes: int,
    owner: Callable[..., Awaitable[str]],
) -> APIRouter:
    """The ``/v1/files`` and ``/v1/batches`` routes (plain ``def``: FastAPI runs them in its threadpool).

    Args:
        catalog: the records.
        worker: returns the running worker (raises ``EngineUnavailableError`` while the service is not ready).
        max_upload_bytes: the largest accepted upload (the body limit middleware enforces it first).
        owner: the FastAPI dependency that authenticates (and rate-limits) a request and returns the
            caller's owner digest; every route depends on it and sees only what that owner owns.
    """
    router = APIRouter()

    @router.post("/v1/files")
    def upload_file(
        file: Annotated[UploadFile, File()],
        purpose: Annotated[Literal["batch"], Form()],
        who: str = Depends(owner),
    ) -> FileRecord:
        content = file.file.read(max_upload_bytes + 1)
        if len(content) > max_upload_bytes:
            raise ServiceError(f"file is over {max_upload_bytes} bytes")
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ServiceError(f"file is not UTF-8 text (byte {exc.start}); upload JSONL") from None
        n = sum(1 for line in text.splitlines() if line.strip())
        if n == 0 or n > MAX_LINES:
            raise ServiceError(f"file has {n} non-blank lines; a batch input needs 1 to {MAX_LINES}")
        return catalog.add_file(content, file.filename or "upload.jsonl", "batch", owner=who)

    @router.get("/v1/files")
    def list_files(who: str = Depends(owner), purpose: str | None = None) -> dict[str, Any]:
        data = [f.model_dump() for f in catalog.list_files(purpose, owner=who)]
        return {"object": "list", "data": data, "has_more": False}

    @router.get("/v1/files/{file_id}")
    def get_file(file_id: FileId, who: str = Depends(owner)) -> FileRecord:
        return catalog.get_file(file_id, owner=who)

    @router.get("/v1/files/{file_id}/content")
    def file_content(file_id: FileId, who: str = Depends(owner)) -> Response:
        return Response(catalog.read_file(file_id, owner=who), media_type="application/octet-stream")

    @router.delete("/v1/files/{file_id}")
    def delete_file(file_id: FileId, who: str = Depends(owner)) -> dict[str, Any]:
        catalog.delete_file(file_id, owner=who)
        return {"id": file_id, "object": "file", "deleted": True}

    @router.post("/v1/batches")
    def create_batch(body: BatchCreateRequest, who: str = Depends(owner)) -> BatchRecord:
        running = worker()
        record = new_batch(catalog, body, owner=who)
        running.submit(record.id)
        return record

    @router.get("/v1/batches")
    def list_batches(
        who: str = Depends(owner),
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        after: Annotated[str | None, Query(pattern=BATCH_ID_PATTERN)] = None,
    ) -> dict[str, Any]:
        data = [b.model_dump() for b in catalog.list_batches(limit + 1, after, owner=who)]
        page = data[:limit]
        return {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(data) > limit,
        }

    @router.get("/v1/batches/{batch_id}")
    def get_batch(batch_id: BatchId, who: str = Depends(owner)) -> BatchRecord:
        return catalog.get_batch(batch_id, owner=who)

    @router.post("/v1/batches/{batch_id}/cancel")
    def cancel(batch_id: BatchId, who: str = Depends(owner)) -> BatchRecord:
        return cancel_batch(catalog, batch_id, owner=who)

    return router
