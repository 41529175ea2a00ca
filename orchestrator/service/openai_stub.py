"""A small OpenAI-compatible HTTP server that serves any `Engine`, micro-batching concurrent requests.

A stand-in for a real OpenAI-compatible server (vLLM's, a hosted API): the tests and benchmarks serve the
project's tiny engines through it to exercise the ``openai_http`` engine, the run store's secrets and the
agents' LLM planning over real HTTP on 127.0.0.1. No CLI command serves it (``symoe serve`` serves a pool,
:mod:`~orchestrator.service.app`). It lives here, not in ``batching/engines/``, because it is a server, not
an engine, and needs the ``serve`` extra.

Example::

    app = create_openai_app({"qwen": engine})
    with serve_in_thread(app) as (base_url, stop):  # base_url == "http://127.0.0.1:<port>/v1"
        ...

Routes: ``GET /v1/models``, ``POST /v1/chat/completions``, ``POST /v1/completions`` (no streaming, n=1).
Requests for one model that arrive within ``batch_window_s`` of each other are sent to
``engine.generate`` as one batch, in a single worker thread per model, so an engine never sees two
calls at once. The app does not own the engines: load/close them yourself. Errors map to OpenAI-shaped
error bodies in one exception handler: bad input -> 400, unknown model -> 404, a result with ``error``
-> 422 (not worth retrying), unavailable -> 503, any other engine failure -> 500.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.params import Depends

from batching.engines.base import Engine
from batching.microbatch import WindowBatcher
from common.errors import (
    EngineError,
    EngineUnavailableError,
    GenerationError,
    RegistryError,
    ReplayMissError,
    SymbolicMoEError,
)
from common.generation import GenRequest, GenResult
from orchestrator.service.openai_protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    ErrorStatus,
    install_error_handlers,
)
from orchestrator.service.thread_server import serve_in_thread

logger = logging.getLogger(__name__)

__all__ = ["create_openai_app", "serve_in_thread"]

_STATUS: tuple[ErrorStatus, ...] = (
    (RegistryError, 404, "model_not_found"),
    (ReplayMissError, 404, "not_found"),
    (GenerationError, 422, "generation_error"),  # request-specific: clients must not retry it
    (EngineUnavailableError, 503, "service_unavailable"),
)


def _model_batcher(
    name: str, engine: Engine, window_s: float, max_batch: int
) -> WindowBatcher[GenRequest, GenResult]:
    """Queues requests for one engine and runs them in batches, one ``generate`` at a time."""

    def on_error(exc: Exception) -> BaseException:
        if isinstance(exc, SymbolicMoEError):
            return exc
        err = EngineError(f"engine raised {exc!r}", model=name)
        err.__cause__ = exc
        return err

    return WindowBatcher(f"openai_stub:{name}", engine.generate, window_s, max_batch, on_error=on_error)


def _response(rid: str, obj: str, model: str, result: GenResult, choice: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI-shaped completion body with one choice and token usage."""
    choice = {"index": 0, **choice, "finish_reason": result.finish_reason or "stop"}
    p, c = result.prompt_tokens, result.generated_tokens
    usage = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
    return {
        "id": rid,
        "object": obj,
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
        "usage": usage,
    }


def create_openai_app(
    engines: Mapping[str, Engine],
    *,
    batch_window_s: float = 0.01,
    max_batch_size: int = 256,
    dependencies: Sequence[Depends] | None = None,
) -> FastAPI:
    """Build the app serving ``engines`` under their mapping keys as model ids.

    Args:
        engines: model id -> engine. Engines are loaded on first use and never closed by the app.
        batch_window_s: how long the first request of a batch waits for others to join it.
        max_batch_size: the most requests passed to one ``engine.generate`` call.
        dependencies: FastAPI dependencies run on every route (e.g. a bearer-token check).

    Returns:
        The FastAPI app; run it with uvicorn or `serve_in_thread`.
    """
    batchers: dict[str, WindowBatcher[GenRequest, GenResult]] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        logger.info("openai_stub: serving %s (batch_window_s=%s)", sorted(engines), batch_window_s)
        yield
        for batcher in batchers.values():
            await batcher.close()
        batchers.clear()

    app = FastAPI(title="symbolic-moe OpenAI-compatible server", lifespan=lifespan, dependencies=dependencies)

    install_error_handlers(app, _STATUS)

    async def _run(model: str, req: GenRequest) -> GenResult:
        if model not in engines:
            raise RegistryError(
                f"model {model!r} is not served here; available: {', '.join(sorted(engines))}"
            )
        if model not in batchers:
            batchers[model] = _model_batcher(model, engines[model], batch_window_s, max_batch_size)
        result, _ = await batchers[model].submit(req)
        if result.missing:
            raise ReplayMissError(f"model {model!r} has no output for request {req.request_id}")
        if result.error is not None:
            raise GenerationError(result.error, model=model, request_id=req.request_id)
        return result

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        owner = {"object": "model", "created": 0, "owned_by": "symbolic-moe"}
        return {"object": "list", "data": [{"id": m, **owner} for m in sorted(engines)]}

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatCompletionRequest) -> dict[str, Any]:
        rid = f"chatcmpl-{uuid.uuid4().hex}"
        turns = tuple((m.role, m.content) for m in body.messages)
        schema = body.response_format.constraint_json() if body.response_format else None
        request = GenRequest(request_id=rid, messages=turns, sampling=body.sampling(), json_schema=schema)
        result = await _run(body.model, request)
        message = {"role": "assistant", "content": result.text or ""}
        return _response(rid, "chat.completion", body.model, result, {"message": message})

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest) -> dict[str, Any]:
        rid = f"cmpl-{uuid.uuid4().hex}"
        result = await _run(
            body.model, GenRequest(request_id=rid, prompt=body.prompt, sampling=body.sampling())
        )
        return _response(
            rid, "text_completion", body.model, result, {"text": result.text or "", "logprobs": None}
        )

    return app
