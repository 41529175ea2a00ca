"""An engine that answers every request at once with one fixed text, for tests that need a pool's plumbing
(an OpenAI-compatible stand-in server, a CLI run, a property harness) and not a model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from batching.engines.base import Engine
from common.generation import GenRequest, GenResult


@dataclass(frozen=True)
class _Config:
    name: str


class FixedAnswerEngine(Engine):
    """Answers ``text`` to every request (5 prompt and 4 generated tokens each); ``broken`` answers every
    request with an out-of-memory error instead."""

    kind = "fixed-answer"

    def __init__(self, text: str = "The answer is 7", *, broken: bool = False) -> None:
        super().__init__(_Config("fixed-answer"))
        self.text, self.broken = text, broken

    def _load(self) -> None:
        pass

    def _unload(self) -> None:
        pass

    def _generate(self, batch: Sequence[GenRequest]) -> list[GenResult]:
        if self.broken:
            return [GenResult(request_id=r.request_id, text=None, error="out of memory") for r in batch]
        return [
            GenResult(
                request_id=r.request_id,
                text=self.text,
                prompt_tokens=5,
                generated_tokens=4,
                finish_reason="stop",
            )
            for r in batch
        ]
