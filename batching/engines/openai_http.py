"""Engine for a model behind an OpenAI-compatible HTTP server (``vllm serve``, our own server, any API).

Example::

    cfg = OpenAIHTTPExpertConfig(name="qwen", base_url="http://127.0.0.1:8000/v1", api_key_env="QWEN_KEY")
    with OpenAIHTTPEngine(cfg) as engine:
        results = engine.generate([GenRequest(request_id="r1", prompt="2+2?")])

Guarantees:

* **Ordering:** ``generate`` returns one result per request, in input order.
* **Batching:** a batch is sent as up to ``max_concurrency`` concurrent HTTP requests (one per prompt);
  the server does its own batching.
* **Threads and event loops:** the ``httpx.AsyncClient`` lives on a private event loop that runs in a
  daemon thread owned by the engine (started by ``load``, stopped by ``unload``). ``generate`` blocks the
  calling thread until the batch is done, so it works from any thread, with or without a running event
  loop of its own (that loop is blocked meanwhile). Like every engine, one caller at a time.
* **Failures:** 429, 5xx, connection errors and timeouts are retried with exponential backoff and jitter
  (``Retry-After`` wins when the server sends it). Other 4xx are not retried. A request that still fails
  becomes a result with ``error`` set. If the server cannot be reached at all during a batch (no response
  to any request), ``generate`` raises ``EngineUnavailableError`` instead.
* **Secrets:** the API key is read by the *name* in ``api_key_env`` and only ever sent as
  ``Authorization: Bearer``; it is never logged nor put in an error message.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import math
import os
import random
import threading
import time
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from batching.config import OpenAIHTTPExpertConfig
from batching.engines.base import Engine
from common.errors import ConfigError, EngineError, EngineUnavailableError
from common.generation import CONTEXT_LENGTH_EXCEEDED, GenRequest, GenResult, context_length_error
from common.secrets import redact_text, redact_url

logger = logging.getLogger(__name__)

T = TypeVar("T")

_MAX_BODY_IN_ERROR = 500  # characters of a server's error body kept in a result's `error`
_MAX_RETRY_AFTER_S = 60.0  # a longer Retry-After is capped: the caller is blocked meanwhile
_CONNECT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout)  # nothing reached the server


class _UnreachableError(Exception):
    """Internal: a request only ever saw connection errors and no request of its batch got a response."""

    def __init__(self, cause: httpx.TransportError) -> None:
        super().__init__(str(cause))
        self.cause = cause


@dataclass(slots=True)
class _BatchState:
    """What the requests of one batch share: whether the server answered any, and retry counts."""

    got_response: bool = False
    retries: int = 0
    unreachable: httpx.TransportError | None = None  # set once a request proved the server unreachable


class _LoopThread:
    """A private asyncio loop running in a daemon thread; coroutines are submitted from other threads."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        if threading.current_thread() is self._thread:
            raise EngineError("openai_http: generate() called from the engine's own event-loop thread")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        self.run(self.loop.shutdown_asyncgens())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


def _retry_after_s(response: httpx.Response) -> float | None:
    """Parse ``Retry-After`` (delta-seconds or an HTTP date); None when absent or unreadable."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER_S)


def _excerpt(response: httpx.Response) -> str:
    """The server's message: OpenAI's ``error.message`` when present, else the raw body, truncated."""
    try:
        body = response.json()
        message = body["error"]["message"] if isinstance(body.get("error"), dict) else body.get("detail")
        text = str(message) if message is not None else response.text
    except (ValueError, AttributeError, KeyError, TypeError):
        text = response.text
    return text if len(text) <= _MAX_BODY_IN_ERROR else text[:_MAX_BODY_IN_ERROR] + "..."


def _describe(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"timeout ({type(exc).__name__})"
    return redact_text(f"connection error ({type(exc).__name__}: {exc})")


class OpenAIHTTPEngine(Engine):
    """Generates through an OpenAI-compatible ``/chat/completions`` or ``/completions`` endpoint.

    Args:
        config: the expert's config (base URL, key variable name, concurrency, timeout, retries).
        environ: where ``config.api_key_env`` is looked up; defaults to ``os.environ``.
        transport: an httpx transport to use instead of the network (tests pass ``httpx.MockTransport``).
        check_on_load: ``load`` calls ``GET {base_url}/models`` so that a load means a working connection.
    """

    kind = "openai_http"

    def __init__(
        self,
        config: OpenAIHTTPExpertConfig,
        *,
        environ: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        check_on_load: bool = True,
    ) -> None:
        super().__init__(config)
        self.config: OpenAIHTTPExpertConfig = config
        self._environ = os.environ if environ is None else environ
        self._transport = transport
        self._check_on_load = check_on_load
        self._base = httpx.URL(config.base_url)
        self._base_url = redact_url(config.base_url.rstrip("/"))  # for messages: no token in a log
        self._random = random.Random()
        self._loop: _LoopThread | None = None
        self._client: httpx.AsyncClient | None = None

    # -- lifecycle -----------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        env = self.config.api_key_env
        if env is None:
            return {}
        key = self._environ.get(env)
        if not key:
            raise ConfigError(
                f"openai_http expert {self.config.name!r}: environment variable {env} (api_key_env) is "
                "not set; export it or remove api_key_env"
            )
        return {"Authorization": f"Bearer {key}"}

    def _load(self) -> None:
        headers = self._headers()
        limits = httpx.Limits(
            max_connections=self.config.max_concurrency, max_keepalive_connections=self.config.max_concurrency
        )
        self._loop = _LoopThread(f"openai-http-{self.config.name}")
        try:
            self._client = self._loop.run(self._make_client(headers, limits))
            if self._check_on_load:
                self._loop.run(self._check_models())
        except BaseException:
            self._shutdown()
            raise
        logger.info(
            "openai_http: connected to %s (model=%s, max_concurrency=%d, timeout_s=%s, max_retries=%d)",
            self._base_url,
            self.config.model_id,
            self.config.max_concurrency,
            self.config.timeout_s,
            self.config.max_retries,
        )

    async def _make_client(self, headers: dict[str, str], limits: httpx.Limits) -> httpx.AsyncClient:
        # Built on the loop thread: the client's pool belongs to the loop that uses it.
        return httpx.AsyncClient(
            headers=headers, timeout=self.config.timeout_s, limits=limits, transport=self._transport
        )

    async def _check_models(self) -> None:
        assert self._client is not None
        endpoint = self._endpoint("/models")
        url = redact_url(str(endpoint))
        try:
            response = await self._client.get(endpoint)
        except httpx.TransportError as exc:
            raise EngineUnavailableError(
                f"openai_http: cannot reach {url}: {_describe(exc)}; is the server running?",
                engine=self.kind,
                model=self.config.model_id,
            ) from exc
        if response.status_code in (401, 403):
            raise ConfigError(
                f"openai_http expert {self.config.name!r}: {url} rejected the API key from "
                f"{self.config.api_key_env} (HTTP {response.status_code}: {_excerpt(response)})"
            )
        if response.status_code == 429 or response.status_code >= 500:
            raise EngineUnavailableError(
                f"openai_http: {url} answered HTTP {response.status_code}: {_excerpt(response)}",
                engine=self.kind,
                model=self.config.model_id,
            )
        if response.is_success:
            try:
                ids = {str(m["id"]) for m in response.json()["data"]}
            except (ValueError, KeyError, TypeError):
                ids = set()
            if ids and self.config.model_id not in ids:
                logger.warning(
                    "openai_http: %s does not list model %r (it lists %s)",
                    url,
                    self.config.model_id,
                    sorted(ids),
                )

    def _unload(self) -> None:
        self._shutdown()

    def _shutdown(self) -> None:
        if self._loop is None:
            return
        if self._client is not None:
            self._loop.run(self._client.aclose())
            self._client = None
        self._loop.close()
        self._loop = None

    # -- generation ----------------------------------------------------------------------------------

    def _generate(self, batch: Sequence[GenRequest]) -> list[GenResult]:
        assert self._loop is not None
        start = time.perf_counter()
        state = _BatchState()
        results = self._loop.run(self._generate_async(batch, state))
        errors = sum(r.error is not None for r in results)
        tokens = sum(r.generated_tokens for r in results)
        seconds = time.perf_counter() - start
        logger.info(
            "openai_http: %s batch of %d done in %.2fs (%d tokens, %.1f tokens/s, %d retries, %d errors)",
            self.config.name,
            len(batch),
            seconds,
            tokens,
            tokens / seconds if seconds > 0 else 0.0,
            state.retries,
            errors,
        )
        return results

    async def _generate_async(self, batch: Sequence[GenRequest], state: _BatchState) -> list[GenResult]:
        semaphore = asyncio.Semaphore(self.config.max_concurrency)
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._one(req, semaphore, state)) for req in batch]
        except* _UnreachableError as eg:
            first = eg.exceptions[0]
            assert isinstance(first, _UnreachableError)
            raise EngineUnavailableError(
                f"openai_http: {self._base_url} unreachable for the whole batch of {len(batch)} "
                f"after {self.config.max_retries + 1} attempts: {_describe(first.cause)}; "
                "is the server running and is base_url right?",
                engine=self.kind,
                model=self.config.model_id,
            ) from first.cause
        return [t.result() for t in tasks]

    def _payload(self, req: GenRequest) -> tuple[str, dict[str, Any]] | str:
        """The endpoint and JSON body for a request, or an error message when it cannot be sent."""
        s = req.sampling
        body: dict[str, Any] = {"model": self.config.model_id}
        if self.config.use_chat:
            turns = req.messages or (("user", req.prompt),)
            body["messages"] = [{"role": role, "content": content} for role, content in turns]
            path = "/chat/completions"
        else:
            if not req.prompt:
                return "openai_http: use_chat=False needs `prompt`, but the request only has `messages`"
            body["prompt"] = req.prompt
            path = "/completions"
        body.update(temperature=s.temperature, top_p=s.top_p, max_tokens=s.max_tokens)
        if s.seed is not None:
            body["seed"] = s.seed
        if s.stop:
            body["stop"] = list(s.stop)
        if req.json_schema is not None:
            schema = {"name": "output", "schema": json.loads(req.json_schema)}
            body["response_format"] = {"type": "json_schema", "json_schema": schema}
        return str(self._endpoint(path)), body

    def _endpoint(self, path: str) -> httpx.URL:
        """``path`` under ``base_url``, keeping its query (a token some servers take there) and userinfo."""
        return self._base.copy_with(path=self._base.path.rstrip("/") + path)

    async def _one(self, req: GenRequest, semaphore: asyncio.Semaphore, state: _BatchState) -> GenResult:
        payload = self._payload(req)
        if isinstance(payload, str):
            return GenResult(request_id=req.request_id, text=None, error=payload)
        # Held through the retries: a struggling server gets no new requests while it is backed off.
        async with semaphore:
            return await self._send(req, *payload, state)

    async def _send(self, req: GenRequest, url: str, body: dict[str, Any], state: _BatchState) -> GenResult:
        """POST with retries; a result (maybe with ``error``), or _UnreachableError for a dead server."""
        assert self._client is not None
        attempts = self.config.max_retries + 1
        last_transport_error: httpx.TransportError | None = None
        last = ""
        for attempt in range(attempts):
            if state.unreachable is not None:  # another request already gave up on this server
                raise _UnreachableError(state.unreachable)
            retry_after: float | None = None
            try:
                response = await self._client.post(url, json=body)
            except httpx.TransportError as exc:
                last_transport_error, last = exc, _describe(exc)
            except httpx.RequestError as exc:  # not a transport failure (e.g. undecodable body)
                state.got_response = True
                return GenResult(request_id=req.request_id, text=None, error=f"{type(exc).__name__}: {exc}")
            else:
                state.got_response = True
                last_transport_error = None
                if response.is_success:
                    return self._parse(req, response)
                last = f"HTTP {response.status_code} from {redact_url(url)}: {_excerpt(response)}"
                if response.status_code != 429 and response.status_code < 500:
                    too_long = response.status_code == 400 and CONTEXT_LENGTH_EXCEEDED in response.text
                    return GenResult(request_id=req.request_id, text=None,
                                     error=context_length_error(last) if too_long else last)  # fmt: skip
                retry_after = _retry_after_s(response)
            if attempt + 1 == attempts:
                break
            delay = self._backoff_s(attempt) if retry_after is None else retry_after
            state.retries += 1
            logger.debug(
                "openai_http: request %s attempt %d/%d failed (%s); retrying in %.2fs",
                req.request_id,
                attempt + 1,
                attempts,
                last,
                delay,
            )
            await asyncio.sleep(delay)
        if isinstance(last_transport_error, _CONNECT_ERRORS) and not state.got_response:
            state.unreachable = last_transport_error
            raise _UnreachableError(last_transport_error)
        return GenResult(
            request_id=req.request_id, text=None, error=f"gave up after {attempts} attempts: {last}"
        )

    def _backoff_s(self, attempt: int) -> float:
        """Exponential backoff with up to 25% jitter, so retries of one batch do not arrive in lockstep."""
        base = self.config.backoff_s * 2.0**attempt
        return base * (1.0 + 0.25 * self._random.random())

    def _parse(self, req: GenRequest, response: httpx.Response) -> GenResult:
        try:
            data = response.json()
            choice = data["choices"][0]
            text = choice["message"]["content"] if self.config.use_chat else choice["text"]
            usage = data.get("usage") or {}
            result = GenResult(
                request_id=req.request_id,
                text=text if text is not None else "",
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                generated_tokens=int(usage.get("completion_tokens") or 0),
                finish_reason=choice.get("finish_reason"),
            )
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            return GenResult(
                request_id=req.request_id,
                text=None,
                error=f"malformed response from {redact_url(str(response.url))} "
                f"({type(exc).__name__}: {exc}): {response.text[:_MAX_BODY_IN_ERROR]}",
            )
        logger.debug("openai_http: request %s done (%d tokens)", req.request_id, result.generated_tokens)
        return result
