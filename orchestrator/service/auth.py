"""Request gates of the HTTP service: bearer API keys, a per-key rate limit, a body size limit, bind host.

A request's key identifies its :class:`Caller`: a label for logs and the rate limit (``key-<index>``)
and an owner for batch files and batches (the key's sha256 digest, so no key is ever stored).
Auth and rate-limit failures are ``ServiceError`` subclasses, mapped to OpenAI-shaped error bodies by the
service's one exception handler. The body limit is an ASGI middleware because it must act before FastAPI
reads the body; it answers 413 itself with the same error shape.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from common.errors import SymbolicMoEError
from common.secrets import RedactingFilter, redact_text
from orchestrator.service.openai_protocol import error_response

logger = logging.getLogger(__name__)

LOOPBACK_HOST = "127.0.0.1"
ANONYMOUS = "anonymous"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ServiceError(SymbolicMoEError):
    """An HTTP-level rejection with its status code, OpenAI error type and extra response headers."""

    status = 400
    kind = "invalid_request_error"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.headers = headers or {}


class AuthenticationError(ServiceError):
    """Missing or unknown bearer API key (401)."""

    status = 401
    kind = "invalid_api_key"


class RateLimitError(ServiceError):
    """The key sent more requests than its per-minute budget (429, with ``Retry-After``)."""

    status = 429
    kind = "rate_limit_exceeded"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent a request.

    Attributes:
        label: how logs and the rate limiter name the caller (``key-<index>`` or ``anonymous``).
        owner: what owns the caller's files and batches: the sha256 hex digest of its API key (never the
            key itself), or ``anonymous`` when the service has no keys.
    """

    label: str
    owner: str


ANONYMOUS_CALLER = Caller(ANONYMOUS, ANONYMOUS)


def bind_host(requested_host: str, api_keys: Sequence[str]) -> str:
    """The interface to bind: ``requested_host`` when API keys are configured, else loopback only.

    Args:
        requested_host: the host the user asked for (e.g. ``0.0.0.0``).
        api_keys: the configured bearer keys.

    Returns:
        ``requested_host``, or ``127.0.0.1`` (with a warning) when no keys are configured.
    """
    if api_keys:
        return requested_host
    if requested_host != LOOPBACK_HOST:
        logger.warning(
            "no API keys configured: binding %s instead of %s so only this machine can connect; "
            "set SYMOE_API_KEYS (comma-separated) to serve other hosts",
            LOOPBACK_HOST,
            requested_host,
        )
    return LOOPBACK_HOST


def redact_secrets(text: str) -> str:
    """``text`` with secret query values (``api_key``, ``api%5Fkey``, ``token``, ``secret``, ``auth``...,
    any case), URL passwords and Authorization headers replaced by ``REDACTED`` (what an access log may
    print of a request; :func:`common.secrets.redact_text`)."""
    return redact_text(text)


class RedactSecretsFilter(RedactingFilter):
    """Redacts secrets (:func:`redact_secrets`) in a record's message and string arguments, so a key a
    client put in a URL never reaches the access log."""


def redact_access_log(logger_names: Sequence[str] = ("uvicorn.access", "uvicorn.error")) -> None:
    """Install :class:`RedactSecretsFilter` on the server's loggers (once each)."""
    for name in logger_names:
        target = logging.getLogger(name)
        if not any(isinstance(f, RedactSecretsFilter) for f in target.filters):
            target.addFilter(RedactSecretsFilter())


class KeyChecker:
    """Checks ``Authorization: Bearer <key>`` against the configured keys (constant-time compare).

    Args:
        api_keys: accepted keys; empty means every request is accepted as ``anonymous``.
    """

    def __init__(self, api_keys: Sequence[str]) -> None:
        self._keys = [k.encode() for k in api_keys if k]
        # the label is never the secret itself (it appears in logs); the owner is a digest, never the key
        self._callers = [Caller(f"key-{i}", hashlib.sha256(k).hexdigest()) for i, k in enumerate(self._keys)]

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def identify(self, authorization: str | None) -> Caller:
        """Return the caller: its key's label and owner digest, or the anonymous caller when auth is off.

        Raises:
            AuthenticationError: auth is on and the header is missing, malformed or has an unknown key.
        """
        if not self._keys:
            return ANONYMOUS_CALLER
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError(
                "missing API key: send 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        given = token.strip().encode()
        for key, caller in zip(self._keys, self._callers, strict=True):
            if hmac.compare_digest(given, key):
                return caller
        raise AuthenticationError("invalid API key", headers={"WWW-Authenticate": "Bearer"})


class RateLimiter:
    """A sliding one-minute window per identity.

    Args:
        per_min: requests allowed per identity in any 60 s window; ``None`` disables the limit.
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(self, per_min: int | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_min = per_min
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, identity: str) -> None:
        """Count one request for ``identity``.

        Raises:
            RateLimitError: the identity used its budget; ``Retry-After`` says when a slot frees.
        """
        if self.per_min is None:
            return
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(identity, deque())
            while hits and hits[0] <= now - 60.0:
                hits.popleft()
            if len(hits) >= self.per_min:
                retry_s = max(1, math.ceil(hits[0] + 60.0 - now))
                raise RateLimitError(
                    f"rate limit of {self.per_min} requests/min exceeded; retry in {retry_s} s",
                    headers={"Retry-After": str(retry_s)},
                )
            hits.append(now)


class AuthMiddleware:
    """Checks the API key of every request before the app reads its body (a 401 comes before any 400
    for bad JSON), except on ``open_paths`` (health probes). The routes' own dependencies still
    identify the caller and apply the rate limit.

    Args:
        app: the wrapped ASGI app.
        keys: the key checker; with no keys configured every request passes.
        open_paths: exact paths served without a key.
    """

    def __init__(self, app: ASGIApp, keys: KeyChecker, open_paths: Sequence[str]) -> None:
        self.app = app
        self.keys = keys
        self.open_paths = frozenset(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.keys.enabled and scope["path"] not in self.open_paths:
            header = dict(scope["headers"]).get(b"authorization")
            try:
                self.keys.identify(header.decode("latin-1") if header is not None else None)
            except AuthenticationError as exc:
                await error_response(exc.status, str(exc), exc.kind, exc.headers)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """Rejects request bodies over ``max_body_bytes`` with 413 before the app reads them.

    A declared ``Content-Length`` over the limit is refused without reading; a chunked body is read up to
    the limit and refused as soon as it passes it.

    Args:
        app: the wrapped ASGI app.
        max_body_bytes: the largest accepted body.
        path_limits: other limits for exact paths (e.g. a larger one for file uploads).
    """

    def __init__(
        self, app: ASGIApp, max_body_bytes: int, path_limits: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.path_limits = dict(path_limits or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.path_limits.get(scope["path"], self.max_body_bytes)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await error_response(400, "invalid Content-Length header", "invalid_request_error")(
                    scope, receive, send
                )
                return
            if int(declared) > limit:
                await self._too_large(scope, receive, send, int(declared), limit)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                await self._too_large(scope, receive, send, size, limit)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, size: int, limit: int) -> None:
        logger.debug("service: refused a body of %d bytes (limit %d)", size, limit)
        message = f"request body is {size}+ bytes; the limit is {limit} bytes"
        await error_response(413, message, "request_too_large")(scope, receive, send)
