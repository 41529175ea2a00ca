"""What one generation is, for every layer: a request (prompt + sampling), its result, and who generates.

These are plain frozen dataclasses (cheap on the hot path, validated once in ``__post_init__``), shared by
the engines (``batching``), the skill annotator and aggregator benchmark (``skills``), the run journal and
the pipeline, so no lower layer has to import the engines to speak about a generation.

Example::

    req = GenRequest("q1:expert-a", prompt="2+2?", sampling=SamplingParams(max_tokens=8), instance_id="q1")
    [result] = engine.generate([req])   # any object with ``generate`` is a :class:`Generator`
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True, kw_only=True)
class SamplingParams:
    """Per-request sampling (validated once here, cheap to pass around)."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 512
    seed: int | None = None
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")


@dataclass(frozen=True, slots=True, kw_only=True)
class GenRequest:
    """One prompt for one model.

    ``messages`` (chat turns as ``(role, content)``) takes precedence over ``prompt`` for chat engines.
    ``instance_id`` lets the replay engine find a recorded output. ``json_schema`` (a JSON Schema, as
    JSON text) asks for output constrained to it: vLLM and ``openai_http`` engines pass it on, the others
    ignore it, so callers still validate what comes back.
    """

    request_id: str
    prompt: str = ""
    messages: tuple[tuple[str, str], ...] = ()
    sampling: SamplingParams = SamplingParams()
    instance_id: str | None = None
    json_schema: str | None = None

    @classmethod
    def chat(
        cls, request_id: str, prompt: str, sampling: SamplingParams, instance_id: str | None = None
    ) -> GenRequest:
        """A request whose chat is one user message, ``prompt`` (also the plain-completion prompt)."""
        return cls(request_id=request_id, prompt=prompt, messages=(("user", prompt),), sampling=sampling,
                   instance_id=instance_id)  # fmt: skip


CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded"
"""How ``GenResult.error`` starts when the prompt does not fit the model's context (``<code>: <message>``);
the HTTP service answers such a question with a 400 of this code, as OpenAI does."""


def context_length_error(message: str) -> str:
    """A ``GenResult.error`` for a prompt longer than the model's context (``message`` names the limit)."""
    return f"{CONTEXT_LENGTH_EXCEEDED}: {message}"


def is_context_length_error(error: str | None) -> bool:
    """Whether ``error`` (a ``GenResult.error``) says the prompt did not fit the model's context."""
    return error is not None and error.startswith(CONTEXT_LENGTH_EXCEEDED + ":")


@dataclass(frozen=True, slots=True, kw_only=True)
class GenResult:
    """The outcome of one request (``error`` set and ``text`` None when it was not generated)."""

    request_id: str
    text: str | None
    prompt_tokens: int = 0
    generated_tokens: int = 0
    finish_reason: str | None = None
    missing: bool = False
    error: str | None = None
    extracted: str | None = None  # an answer the backend already parsed (replay's recorded `pred`)
    verdict: bool | None = None  # the recording harness's own right/wrong (replay's `correct`; code is
    # scored by it, since only running the tests can tell)


class Generator(Protocol):
    """Anything that answers a batch of requests, one result per request in input order (every engine)."""

    @property
    def name(self) -> str: ...

    @property
    def is_loaded(self) -> bool: ...

    def generate(self, batch: Sequence[GenRequest]) -> list[GenResult]: ...

    def unload(self) -> None: ...
