"""OpenAI's wire format as the services speak it: request bodies and OpenAI-shaped error bodies.

Both HTTP apps use it: the pool service (:mod:`~orchestrator.service.app`) and the engine stub
(:mod:`~orchestrator.service.openai_stub`). ``install_error_handlers`` maps the project's errors to
status codes in one exception handler per app, from a table of ``(error class, status, OpenAI type)``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from common.errors import SymbolicMoEError
from common.generation import SamplingParams

ErrorStatus = tuple[type[SymbolicMoEError], int, str]  # (error class, HTTP status, OpenAI error type)

__all__ = [
    "ChatCompletionRequest",
    "ChatMessage",
    "CompletionRequest",
    "ErrorStatus",
    "JSONSchemaFormat",
    "ResponseFormat",
    "error_response",
    "install_error_handlers",
]


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
        return SamplingParams(
            temperature=self.temperature,
            top_p=self.top_p,
            max_tokens=self.max_tokens,
            seed=self.seed,
            stop=stop,
        )


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
