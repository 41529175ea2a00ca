"""The `Engine` interface every backend implements: load, generate a batch, unload, counters.

Example::

    engine = build_engine(expert_cfg)
    engine.load()
    results = engine.generate([GenRequest("r1", prompt="2+2?", instance_id="q1")])
    engine.unload()
    engine.counters.loads  # 1

Guarantees every engine gives: ``generate`` is batch-in, batch-out and returns one result per request in
input order; a request the engine cannot serve yields a result with ``error`` (or ``missing`` for replay)
instead of an exception, unless the engine itself is dead. Engines are not thread-safe; one caller at a time.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from common.errors import EngineError
from common.generation import GenRequest, GenResult


@dataclass(slots=True)
class EngineCounters:
    """What every engine reports, summed over its life."""

    loads: int = 0
    unloads: int = 0
    load_seconds: float = 0.0
    prompt_tokens: int = 0
    generated_tokens: int = 0
    generation_seconds: float = 0.0
    requests: int = 0
    missing: int = 0
    errors: int = 0

    def as_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in self.__slots__}


@dataclass
class _State:
    loaded: bool = False
    counters: EngineCounters = field(default_factory=EngineCounters)


class Engine(abc.ABC):
    """A model backend. Subclasses implement ``_load``, ``_generate`` and ``_unload``.

    The public ``load``/``generate``/``unload`` wrap them with timing and counters, so every engine
    reports the same figures. ``generate`` on an unloaded engine loads it first (and counts the load).
    """

    kind: ClassVar[str] = "base"

    def __init__(self, config: Any) -> None:
        self.config = config
        self._state = _State()

    @property
    def name(self) -> str:
        return str(getattr(self.config, "name", self.kind))

    @property
    def counters(self) -> EngineCounters:
        return self._state.counters

    @property
    def is_loaded(self) -> bool:
        return self._state.loaded

    @property
    def can_load_concurrently(self) -> bool:
        """Whether ``load()`` may run in another thread while a different engine generates (the
        executor then starts the next model during the current one's work). Engines whose load touches
        process-wide state shared with a live engine say False."""
        return True

    def load(self) -> None:
        """Load the model; a second call while loaded does nothing."""
        if self._state.loaded:
            return
        start = time.perf_counter()
        self._load()
        self._state.loaded = True
        self.counters.loads += 1
        self.counters.load_seconds += time.perf_counter() - start

    def unload(self) -> None:
        """Release the model's memory; a call while unloaded does nothing."""
        if not self._state.loaded:
            return
        self._unload()
        self._state.loaded = False
        self.counters.unloads += 1

    def generate(self, batch: Sequence[GenRequest]) -> list[GenResult]:
        """Return one result per request, in input order."""
        if not batch:
            return []
        self.load()
        start = time.perf_counter()
        results = self._generate(batch)
        self.counters.generation_seconds += time.perf_counter() - start
        if len(results) != len(batch):
            raise EngineError(
                f"engine returned {len(results)} results for {len(batch)} requests", engine=self.kind
            )
        c = self.counters
        c.requests += len(batch)
        for r in results:
            c.prompt_tokens += r.prompt_tokens
            c.generated_tokens += r.generated_tokens
            c.missing += int(r.missing)
            c.errors += int(r.error is not None)
        return results

    def close(self) -> None:
        self.unload()

    def __enter__(self) -> Engine:
        self.load()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abc.abstractmethod
    def _load(self) -> None: ...

    @abc.abstractmethod
    def _generate(self, batch: Sequence[GenRequest]) -> list[GenResult]: ...

    @abc.abstractmethod
    def _unload(self) -> None: ...
