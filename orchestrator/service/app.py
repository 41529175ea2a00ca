"""The OpenAI-compatible HTTP service in front of a pool: ``create_app(config)`` (run it with uvicorn).

Routes:

- ``POST /v1/chat/completions``: ``model`` is the pool's name (or ``symbolic-moe``); the last ``user``
  message is the question; the extension field ``options`` (a list of strings) makes it multiple choice.
  Non-streaming, or ``stream: true`` for server-sent events in OpenAI's ``chat.completion.chunk`` shape,
  ending with ``data: [DONE]``. The response (the last chunk when streaming) carries the routing trace in the
  extension field ``symoe``: keywords, skills, recruited experts, their answers, the aggregation used.
  Sampling fields (``temperature``, ``max_tokens``...) are accepted for compatibility but the pool's
  per-expert sampling applies.
- Batch jobs in OpenAI's Batch format (:mod:`~.batch_routes`): ``POST /v1/files`` (JSONL,
  ``purpose=batch``), ``GET /v1/files[/{id}[/content]]``, ``DELETE /v1/files/{id}``, ``POST /v1/batches``,
  ``GET /v1/batches[/{id}]``, ``POST /v1/batches/{id}/cancel``. Files and records live under ``data_dir``,
  owned by the API key that made them (:mod:`~.batch_files`); each batch is one durable run in
  the run store (``store_path``, default ``data_dir/runs.sqlite``) run by the worker
  (:mod:`~.batch_worker`), with live ``request_counts`` and expiry after ``completion_window``;
  batches left unfinished by a crash resume at startup from their journaled generations.
- ``GET /v1/models``; ``GET /health`` (the process is up); ``GET /ready`` (the pool config is valid, its
  models resolved and the run store readable; 503 with the reason otherwise); ``GET /metrics`` (Prometheus
  text: requests, latency histogram, expert calls, model loads, solve batches and their sizes, queue
  depth; it needs an API key like the API unless ``public_metrics``).

**Online micro-batching.** The first request to arrive waits ``batch_window_s`` (default 20 ms) for others;
every request that arrives in that window (up to ``max_batch_size``) goes into ONE ``SymbolicMoE.solve``
call, which runs in a single worker thread, one batch at a time. The service holds one long-lived
session (:class:`~orchestrator.api.SymbolicMoE`): a model loaded for one call stays resident for the next
within the pool's memory budget, so a steady load pays no model loads at all, and batch jobs share the
same resident models (interleaving with online calls batch by batch). The price of the window is latency:
every request waits up to ``batch_window_s`` more, plus the
time the batch in flight needs to finish (requests queue behind it; ``symoe_queue_depth`` shows them).
Use a small window for interactive use and a larger one (0.1-1 s) for throughput under load.

The settings are a :class:`~orchestrator.service.config.ServiceConfig`.

**Security.** Bearer API keys (``api_keys``); without keys every request is accepted, so the CLI binds
loopback only (`bind_host`). Bodies over ``max_body_bytes`` get 413 before they are read; bad JSON or
fields get 400 in OpenAI's error shape (never 5xx); ``rate_limit_per_min`` caps requests per key (429 with
``Retry-After``); uploads to ``/v1/files`` have their own limit, ``max_upload_bytes``. Errors map to
status codes in one exception handler for the project's errors: a question longer than its experts'
context gets 400 ``context_length_exceeded`` naming the limit, never an empty answer. API keys put in a URL
query (``api_key`` in any case or URL encoding, ``key``, ``token``, ``secret``, ``auth``...) are redacted
from the access log. The key is checked before the body is read (bad JSON without a key is a 401);
booleans are strict (``"stream": "yes"`` is a 400). ``/openapi.json`` needs a key like the API; the
browser docs (``/docs``, ``/redoc``) are off; ``/health`` and ``/ready`` need none.

Example::

    app = create_app(ServiceConfig(pool="configs/pools/tiny-cpu.yaml", api_keys=["secret"], data_dir="svc"))
    uvicorn.run(app, host=bind_host("0.0.0.0", ["secret"]), port=8000)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from batching.journal.store import RunStore
from batching.microbatch import WindowBatcher
from common.errors import (
    ConfigError,
    ContextLengthError,
    DataError,
    EngineError,
    EngineUnavailableError,
    GenerationError,
    RegistryError,
    RoutingError,
    SymbolicMoEError,
)
from common.generation import CONTEXT_LENGTH_EXCEEDED
from common.records import FinalAnswer, Instance
from orchestrator.api import SymbolicMoE
from orchestrator.datasets.questions import question_instance
from orchestrator.pool import PoolConfig
from orchestrator.service.auth import (
    AuthMiddleware,
    BodyLimitMiddleware,
    Caller,
    KeyChecker,
    RateLimiter,
    ServiceError,
    bind_host,
    redact_access_log,
)
from orchestrator.service.batch_files import BatchCatalog
from orchestrator.service.batch_jobs import ChatCodec
from orchestrator.service.batch_routes import batch_router
from orchestrator.service.batch_worker import BatchWorker
from orchestrator.service.config import ServiceConfig
from orchestrator.service.openai_protocol import (
    ChatCompletionRequest,
    ErrorStatus,
    error_response,
    install_error_handlers,
)
from skills.embedding import Embedder

logger = logging.getLogger(__name__)

DEFAULT_MODEL_ID = "symbolic-moe"
_ROUTES = ("/v1/chat/completions", "/v1/models", "/v1/files", "/v1/batches", "/health", "/ready", "/metrics")
_STATUS: tuple[ErrorStatus, ...] = (
    (DataError, 400, "invalid_request_error"),
    (RegistryError, 404, "model_not_found"),
    (RoutingError, 422, "routing_error"),
    (GenerationError, 422, "generation_error"),  # every recruited expert failed on this question
    (EngineUnavailableError, 503, "service_unavailable"),
    (ConfigError, 503, "service_unavailable"),
)

__all__ = ["ChatRequest", "ServiceConfig", "StreamOptions", "bind_host", "chat_codec", "create_app"]


class StreamOptions(BaseModel):
    """OpenAI's ``stream_options``; usage is always sent on the last chunk."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    include_usage: StrictBool = False


class ChatRequest(ChatCompletionRequest):
    """Body of ``POST /v1/chat/completions``: OpenAI's fields plus ``options`` and streaming."""

    stream: StrictBool = False  # type: ignore[assignment]  # "yes", "true" or 1 is a 400, not True
    stream_options: StreamOptions | None = None
    options: list[str] | None = Field(
        default=None, description="Extension: answer options; the question becomes multiple choice."
    )


class _Metrics:
    """The app's Prometheus collectors, in a registry of its own (two apps never share counters)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("symoe_http_requests", "HTTP requests.", ["route", "status"], registry=r)
        self.latency = Histogram(
            "symoe_http_request_duration_seconds",
            "Time to the response headers (the whole solve for completions).",
            ["route"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
            registry=r,
        )
        self.expert_calls = Counter("symoe_expert_calls", "Expert answers generated.", ["expert"], registry=r)
        self.model_loads = Counter("symoe_model_loads", "Model loads by the engines.", ["model"], registry=r)
        self.generation_seconds = Counter(
            "symoe_generation_seconds", "Seconds the engines spent generating.", ["model"], registry=r
        )
        self.load_seconds = Counter(
            "symoe_load_seconds", "Seconds the engines spent loading models.", ["model"], registry=r
        )
        self.solve_batches = Counter("symoe_solve_batches", "SymbolicMoE.solve calls.", registry=r)
        self.batch_size = Histogram(
            "symoe_solve_batch_size",
            "Questions per solve call.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=r,
        )
        self.queue_depth = Gauge("symoe_queue_depth", "Questions waiting for a solve call.", registry=r)


class _MetricsMiddleware:
    """Counts every HTTP request by route and status and times it to the response headers."""

    def __init__(self, app: Any, metrics: _Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = _route_label(scope["path"])
        start = time.perf_counter()

        async def send_timed(message: Any) -> None:
            if message["type"] == "http.response.start":
                self.metrics.latency.labels(route).observe(time.perf_counter() - start)
                self.metrics.requests.labels(route, str(message["status"])).inc()
            await send(message)

        await self.app(scope, receive, send_timed)


def _route_label(path: str) -> str:
    """The metrics label of a path: a known route, ``<route>/{id}`` below files and batches, or ``other``."""
    if path in _ROUTES:
        return path
    for prefix in ("/v1/files", "/v1/batches"):
        if path.startswith(prefix + "/"):
            return prefix + "/{id}"
    return "other"


class _SolveBatcher:
    """Groups questions that arrive within ``window_s`` into one ``solve`` call, one call at a time.

    With ``per_call`` every solve opens and closes its own session (models load per call): the behaviour
    before sessions, kept only so the load test can measure the two side by side.
    """

    def __init__(
        self, moe: SymbolicMoE, window_s: float, max_batch: int, metrics: _Metrics, *, per_call: bool = False
    ) -> None:
        self.moe, self.metrics, self.per_call = moe, metrics, per_call
        self.batcher: WindowBatcher[Instance, FinalAnswer] = WindowBatcher(
            "service",
            self._solve_in_order,
            window_s,
            max_batch,
            on_error=_solve_error,
            on_queue=metrics.queue_depth.set,
        )

    async def submit(self, instance: Instance) -> tuple[FinalAnswer, int]:
        """Queue one question; returns its answer and the size of the batch it was solved in."""
        return await self.batcher.submit(instance)

    def _solve_in_order(self, instances: list[Instance]) -> list[FinalAnswer | BaseException]:
        by_id = {f.instance_id: f for f in self._solve(instances)}
        missing = "solve returned no answer for request {}"
        return [by_id.get(i.id) or EngineError(missing.format(i.id)) for i in instances]

    def _solve(self, instances: list[Instance]) -> list[FinalAnswer]:
        start = time.perf_counter()
        if self.per_call:
            with SymbolicMoE(self.moe.pool, embedder=self.moe.session.embedder()) as once:
                finals = once.solve(instances)
                report = once.last_report
        else:
            finals = self.moe.solve(instances)
            report = self.moe.last_report
        self.metrics.solve_batches.inc()
        self.metrics.batch_size.observe(len(instances))
        for final in finals:
            for ea in final.expert_answers:
                self.metrics.expert_calls.labels(ea.expert).inc()
        for model, stats in (report.models if report else {}).items():
            if stats.loads:
                self.metrics.model_loads.labels(model).inc(stats.loads)
            self.metrics.generation_seconds.labels(model).inc(stats.generation_seconds)
            self.metrics.load_seconds.labels(model).inc(stats.load_seconds)
        logger.info("service: solved a batch of %d in %.2f s", len(instances), time.perf_counter() - start)
        return finals

    async def close(self) -> None:
        await self.batcher.close()


def _solve_error(exc: Exception) -> BaseException:
    if isinstance(exc, SymbolicMoEError):
        return exc
    err = EngineError(f"solve raised {exc!r}")
    err.__cause__ = exc
    return err


class _Runtime:
    """What the app starts and stops with its lifespan: the solve batcher and the batch worker."""

    def __init__(
        self,
        pool: PoolConfig,
        embedder: Embedder | None,
        metrics: _Metrics,
        catalog: BatchCatalog,
        store: RunStore,
        codec: ChatCodec,
        window_s: float,
        max_batch: int,
    ) -> None:
        self.pool, self.embedder, self.metrics = pool, embedder, metrics
        self.catalog, self.store, self.codec = catalog, store, codec
        self.window_s, self.max_batch = window_s, max_batch
        self.not_ready: str | None = "starting"
        self._batcher: _SolveBatcher | None = None
        self._worker: BatchWorker | None = None
        self.moe: SymbolicMoE | None = None
        self.per_call = False

    async def start(self) -> None:
        """Check the run store, resolve the pool, start the solve batcher, and start the batch worker
        (resuming open batches)."""
        try:
            await asyncio.to_thread(self.store.check, full=True)
        except ConfigError as exc:
            logger.error("service: %s", exc)
            self.not_ready = str(exc)
            return
        try:
            # one session for online requests and batch jobs: models stay resident across calls, and the
            # policy, profiles and embedder are built once (its lock interleaves the two per model batch)
            moe = await asyncio.to_thread(SymbolicMoE, self.pool, embedder=self.embedder or Embedder())
        except SymbolicMoEError as exc:
            logger.error("service: pool %s is not usable: %s", self.pool.name, exc)
            self.not_ready = str(exc)
            return
        self.moe = moe
        self._batcher = _SolveBatcher(
            moe, self.window_s, self.max_batch, self.metrics, per_call=self.per_call
        )
        self._worker = BatchWorker(self.catalog, self.pool, self.codec, self.store, session=moe.session)
        resumed = self._worker.start()
        logger.info("service: ready; %d unfinished batch(es) queued to resume", resumed)
        self.not_ready = None

    async def stop(self) -> None:
        self.not_ready = "shutting down"
        if self._worker is not None:
            await asyncio.to_thread(self._worker.close)
        if self._batcher is not None:
            await self._batcher.close()
        if self.moe is not None:
            await asyncio.to_thread(self.moe.close)
        self.catalog.close()
        self.store.close()

    async def not_ready_reason(self) -> str | None:
        """Why the service cannot serve now (starting, an unusable pool, a damaged run store), or None."""
        if self.not_ready is not None:
            return self.not_ready
        try:
            await asyncio.to_thread(self.store.check)
        except ConfigError as exc:  # damaged since startup: batches cannot be journaled
            return str(exc)
        return None

    def batcher(self) -> _SolveBatcher:
        if self._batcher is None:
            raise EngineUnavailableError(f"service not ready: {self.not_ready}")
        return self._batcher

    def worker(self) -> BatchWorker:
        if self._worker is None:
            raise EngineUnavailableError(f"service not ready: {self.not_ready}")
        return self._worker


def _question(body: ChatRequest, rid: str) -> Instance:
    """The last user message (with ``options``) as an instance with the request's id.

    Raises:
        DataError: no user message, or invalid options.
    """
    user = [m.content for m in body.messages if m.role == "user"]
    if not user or not user[-1].strip():
        raise DataError("messages: the last 'user' message is the question and must be non-empty")
    return question_instance({"question": user[-1], "options": body.options or [], "id": rid}, 0)


def _batch_request(body: Any, custom_id: str, model_ids: Sequence[str]) -> tuple[str, Instance]:
    """A batch line's ``body`` as (model, question with id ``custom_id``).

    Raises:
        DataError: the body is not a valid non-streaming chat request.
        RegistryError: the model is not served here.
    """
    try:
        request = ChatRequest.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise DataError(problems) from None
    if request.stream:
        raise DataError("stream: batch requests cannot stream; drop 'stream'")
    if request.model not in model_ids:
        raise RegistryError(f"model {request.model!r} is not served here; available: {', '.join(model_ids)}")
    return request.model, _question(request, custom_id)


def chat_codec(model_ids: Sequence[str]) -> ChatCodec:
    """How batch lines become questions and answers become responses: the body of each line is a
    non-streaming chat request for one of ``model_ids``, each answer a ``chat.completion`` body."""
    return ChatCodec(
        parse=lambda body, custom_id: _batch_request(body, custom_id, model_ids),
        render=lambda final, model, size: _completion(f"chatcmpl-{uuid.uuid4().hex}", model, final, size),
    )


def _usage(final: FinalAnswer) -> dict[str, int]:
    p = sum(a.prompt_tokens for a in final.expert_answers)
    c = sum(a.generated_tokens for a in final.expert_answers)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _unanswered(final: FinalAnswer) -> GenerationError:
    """The error of a question no recruited expert answered (never an empty 200)."""
    if final.error_code == CONTEXT_LENGTH_EXCEEDED:
        detail = (final.error or "").replace(f"{CONTEXT_LENGTH_EXCEEDED}: ", "")
        return ContextLengthError(f"the question does not fit its experts' context ({detail})")
    return GenerationError(f"every recruited expert failed ({final.error})")


def _trace(final: FinalAnswer, batch_size: int) -> dict[str, Any]:
    return {"batch_size": batch_size, **final.model_dump(mode="json")}


def _content(final: FinalAnswer) -> str:
    return final.answer if final.answer is not None else (final.text or "")


def _completion(rid: str, model: str, final: FinalAnswer, batch_size: int) -> dict[str, Any]:
    """The ``chat.completion`` body of one answer, with usage and the routing trace."""
    return {
        "id": rid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": _content(final)},
                     "finish_reason": "stop"}],
        "usage": _usage(final),
        "symoe": _trace(final, batch_size),
    }  # fmt: skip


def _sse_chunks(rid: str, model: str, final: FinalAnswer, batch_size: int) -> Iterator[str]:
    """OpenAI ``chat.completion.chunk`` events: role, content, the finish (with trace and usage), [DONE]."""
    base = {"id": rid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
    deltas: list[tuple[dict[str, Any], str | None, dict[str, Any]]] = [
        ({"role": "assistant", "content": ""}, None, {}),
        ({"content": _content(final)}, None, {}),
        ({}, "stop", {"usage": _usage(final), "symoe": _trace(final, batch_size)}),
    ]
    for delta, finish, extra in deltas:
        chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        yield f"data: {json.dumps(chunk)}\n\n"
    yield "data: [DONE]\n\n"


def _install_error_handlers(app: FastAPI) -> None:
    """Map the project's errors, validation errors and HTTP errors to OpenAI-shaped bodies."""
    install_error_handlers(app, _STATUS)

    @app.exception_handler(ServiceError)
    async def _on_service_error(_: Request, exc: ServiceError) -> JSONResponse:
        return error_response(exc.status, str(exc), exc.kind, exc.headers)

    @app.exception_handler(ContextLengthError)
    async def _on_too_long(_: Request, exc: ContextLengthError) -> JSONResponse:
        return error_response(400, str(exc), "invalid_request_error", code=CONTEXT_LENGTH_EXCEEDED,
                              param="messages")  # fmt: skip

    @app.exception_handler(StarletteHTTPException)
    async def _on_http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), "invalid_request_error")


def create_app(config: ServiceConfig) -> FastAPI:
    """Build the service that ``config`` describes (its pool, auth, limits, batching and storage).

    Args:
        config: the service's settings (:class:`~orchestrator.service.config.ServiceConfig`); its pool's
            models are resolved at startup (``/ready`` says when).

    Returns:
        The FastAPI app; run it with uvicorn or `orchestrator.service.thread_server.serve_in_thread`.

    Raises:
        ConfigError: ``data_dir`` or the run store cannot be opened.
    """
    pool = config.pool
    redact_access_log()  # a key sent in a URL query never reaches the access log
    metrics = _Metrics()
    keys = KeyChecker(config.keys())
    limiter = RateLimiter(config.rate_limit_per_min)
    model_ids = sorted({pool.name, DEFAULT_MODEL_ID})
    catalog = BatchCatalog(config.data_dir)
    store = RunStore(config.store_path or catalog.data_dir / "runs.sqlite")
    codec = chat_codec(model_ids)
    runtime = _Runtime(
        pool, config.embedder, metrics, catalog, store, codec, config.batch_window_s, config.max_batch_size
    )
    runtime.per_call = config.session_per_call

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        logger.info(
            "service: pool %s (%d experts, policy=%s, k=%d), models %s, batch_window_s=%s, auth=%s, "
            "rate_limit_per_min=%s, max_body_bytes=%d, max_upload_bytes=%d, data_dir=%s, store=%s",
            pool.name, len(pool.experts), pool.method.policy, pool.method.k, model_ids,
            config.batch_window_s, "on" if keys.enabled else "off", config.rate_limit_per_min,
            config.max_body_bytes, config.max_upload_bytes, catalog.data_dir, store.path,
        )  # fmt: skip
        await runtime.start()
        yield
        await runtime.stop()

    # no redirect from "/path/" to "/path": a malformed id path gets a 4xx, not a 307 to follow
    # no browser docs (/docs, /redoc: they cannot send a key, and load scripts from a CDN); the schema,
    # /openapi.json, needs a key like the API
    app = FastAPI(title="symbolic-moe", lifespan=lifespan, redirect_slashes=False, docs_url=None,
                  redoc_url=None)  # fmt: skip
    app.add_middleware(
        BodyLimitMiddleware,
        max_body_bytes=config.max_body_bytes,
        path_limits={"/v1/files": config.max_upload_bytes},
    )
    open_paths = ("/health", "/ready", "/metrics") if config.public_metrics else ("/health", "/ready")
    app.add_middleware(AuthMiddleware, keys=keys, open_paths=open_paths)  # the key before the body
    app.add_middleware(_MetricsMiddleware, metrics=metrics)  # outermost: counts 413s too

    _install_error_handlers(app)

    def gate(request: Request, *, limited: bool) -> Caller:
        caller = keys.identify(request.headers.get("authorization"))
        if limited:
            limiter.check(caller.label)
        return caller

    async def authenticated(request: Request) -> str:
        return gate(request, limited=False).label

    async def rate_limited(request: Request) -> str:
        return gate(request, limited=True).label

    async def owner(request: Request) -> str:
        """The rate-limited caller's owner digest: batch routes see only what it owns."""
        return gate(request, limited=True).owner

    # every batch route depends on `owner` (auth + rate limit), so no router-wide dependency counts twice
    app.include_router(batch_router(catalog, runtime.worker, config.max_upload_bytes, owner))

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready")
    async def ready() -> JSONResponse:
        reason = await runtime.not_ready_reason()
        if reason is not None:
            return JSONResponse({"status": "not_ready", "reason": reason}, status_code=503)
        return JSONResponse({"status": "ready", "pool": pool.name, "models": model_ids})

    @app.get("/metrics", dependencies=[] if config.public_metrics else [Depends(authenticated)])
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/models", dependencies=[Depends(rate_limited)])
    async def list_models() -> dict[str, Any]:
        owner = {"object": "model", "created": 0, "owned_by": "symbolic-moe"}
        return {"object": "list", "data": [{"id": m, **owner} for m in model_ids]}

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(
        body: ChatRequest, caller: str = Depends(rate_limited)
    ) -> dict[str, Any] | StreamingResponse:
        if body.model not in model_ids:
            raise RegistryError(f"model {body.model!r} is not served here; available: {', '.join(model_ids)}")
        rid = f"chatcmpl-{uuid.uuid4().hex}"
        instance = _question(body, rid)
        logger.debug("service: %s from %s: %.200s", rid, caller, instance.question)
        final, batch_size = await runtime.batcher().submit(instance)
        if final.error is not None:
            raise _unanswered(final)
        if body.stream:
            return StreamingResponse(
                _sse_chunks(rid, body.model, final, batch_size), media_type="text/event-stream"
            )
        return _completion(rid, body.model, final, batch_size)

    return app
