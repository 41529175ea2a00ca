"""A small OpenAI-compatible HTTP server that serves any `Engine`, micro-batching concurrent requests.

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
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.params import Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

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
from common.generation import GenRequest, GenResult, SamplingParams

logger = logging.getLogger(__name__)

ErrorStatus = tuple[type[SymbolicMoEError], int, str]  # (error class, HTTP status, OpenAI error type)
_STATUS: tuple[ErrorStatus, ...] = (
    (RegistryError, 404, "model_not_found"),
    (ReplayMissError, 404, "not_found"),
    (GenerationError, 422, "generation_error"),  # request-specific: clients must not retry it
    (EngineUnavailableError, 503, "service_unavailable"),
)


class _SamplingFields(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(min_length=1)
    temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(default=512, ge=1)
    seed: int | None = None
    stop: str | list[str] | None = None
    n: Literal[1] = 1
    stream: Literal[False] = False
    user: str | None = None

    def sampling(self) -> SamplingParams:
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())
        return SamplingParams(self.temperature, self.top_p, self.max_tokens, self.seed, stop)


class ChatMessage(BaseModel):
    """One chat turn (text content only)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["system", "developer", "user", "assistant"]
    content: str


class JSONSchemaFormat(BaseModel):
    """``response_format.json_schema``: the schema the reply must follow."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str = "output"
    schema_: dict[str, Any] = Field(alias="schema")


class ResponseFormat(BaseModel):
    """``response_format``: ``text``, ``json_object`` or ``json_schema`` (passed to the engine, which
    constrains decoding to it where it can)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JSONSchemaFormat | None = None

    def constraint_json(self) -> str | None:
        if self.type != "json_schema" or self.json_schema is None:
            return None
        return json.dumps(self.json_schema.schema_, sort_keys=True)


class ChatCompletionRequest(_SamplingFields):
    """Body of ``POST /v1/chat/completions``."""

    messages: list[ChatMessage] = Field(min_length=1)
    response_format: ResponseFormat | None = None


class CompletionRequest(_SamplingFields):
    """Body of ``POST /v1/completions`` (one prompt string)."""

    prompt: str


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

    return WindowBatcher(f"openai_server:{name}", engine.generate, window_s, max_batch, on_error=on_error)


def error_response(
    status: int,
    message: str,
    kind: str,
    headers: dict[str, str] | None = None,
    *,
    code: str | None = None,
    param: str | None = None,
) -> JSONResponse:
    """An OpenAI-shaped error body: ``{"error": {"message", "type", "param", "code"}}`` (``code``: the
    status unless given, e.g. ``context_length_exceeded``)."""
    body = {"error": {"message": message, "type": kind, "param": param, "code": code or status}}
    return JSONResponse(body, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI, statuses: Sequence[ErrorStatus]) -> None:
    """Answer the project's errors and request validation errors with OpenAI-shaped bodies.

    Args:
        app: the app to install the handlers on.
        statuses: the first entry whose class matches an error gives its status and type (500 otherwise).
            Handlers an app registers for a subclass of ``SymbolicMoEError`` take precedence.
    """

    @app.exception_handler(SymbolicMoEError)
    async def _on_error(_: Request, exc: SymbolicMoEError) -> JSONResponse:
        for cls, status, kind in statuses:
            if isinstance(exc, cls):
                return error_response(status, str(exc), kind)
        return error_response(500, str(exc), "server_error")

    @app.exception_handler(RequestValidationError)
    async def _on_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        return error_response(400, f"invalid request: {problems}", "invalid_request_error")


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
        logger.info("openai_server: serving %s (batch_window_s=%s)", sorted(engines), batch_window_s)
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
        request = GenRequest(rid, messages=turns, sampling=body.sampling(), json_schema=schema)
        result = await _run(body.model, request)
        message = {"role": "assistant", "content": result.text or ""}
        return _response(rid, "chat.completion", body.model, result, {"message": message})

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest) -> dict[str, Any]:
        rid = f"cmpl-{uuid.uuid4().hex}"
        result = await _run(body.model, GenRequest(rid, prompt=body.prompt, sampling=body.sampling()))
        return _response(
            rid, "text_completion", body.model, result, {"text": result.text or "", "logprobs": None}
        )

    return app


@contextlib.contextmanager
def serve_in_thread(
    app: FastAPI,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    start_timeout_s: float = 10.0,
    access_log: bool = False,
) -> Iterator[tuple[str, Callable[[], None]]]:
    """Run ``app`` with uvicorn in a daemon thread; yields ``(base_url, stop_fn)`` and stops on exit.

    Args:
        app: the ASGI app.
        host: interface to bind; loopback by default, so nothing outside this machine can connect.
        port: TCP port; 0 picks a free one.
        start_timeout_s: how long to wait for the server to accept connections.
        access_log: log each request to the ``uvicorn.access`` logger (at INFO), as ``symoe serve`` does.

    Raises:
        SymbolicMoEError: the server did not start in time.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    # log_config=None: library code never configures logging; uvicorn logs through its own loggers.
    config = uvicorn.Config(app, log_config=None, access_log=access_log, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="uvicorn")
    thread.start()

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()

    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            stop()
            raise SymbolicMoEError(f"openai_server: uvicorn did not start on {host}:{bound_port}")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{bound_port}/v1", stop
    finally:
        stop()
