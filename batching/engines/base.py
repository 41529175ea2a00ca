"""The `Engine` interface every backend implements: load, generate a batch, unload, counters.

The lifecycle and its counters are :mod:`batching.lifecycle`'s, shared with the audio generators.

Example::

    engine = build_engine(expert_cfg)
    engine.load()
    results = engine.generate([GenRequest(request_id="r1", prompt="2+2?", instance_id="q1")])
    engine.unload()
    engine.counters.loads  # 1

Guarantees every engine gives: ``generate`` is batch-in, batch-out and returns one result per request in
input order; a request the engine cannot serve yields a result with ``error`` (or ``missing`` for replay)
instead of an exception, unless the engine itself is dead. Engines are not thread-safe; one caller at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from batching.lifecycle import LifecycleCounters, ModelLifecycle
from common.generation import GenRequest, GenResult


@dataclass(slots=True, kw_only=True)
class EngineCounters(LifecycleCounters):
    """What every engine reports, summed over its life: the lifecycle's counters plus tokens and errors."""

    prompt_tokens: int = 0
    generated_tokens: int = 0
    missing: int = 0
    errors: int = 0

    def count(self, batch: Sequence[GenRequest], results: Sequence[GenResult]) -> None:
        self.requests += len(batch)
        for r in results:
            self.prompt_tokens += r.prompt_tokens
            self.generated_tokens += r.generated_tokens
            self.missing += int(r.missing)
            self.errors += int(r.error is not None)


class Engine(ModelLifecycle[GenRequest, GenResult, EngineCounters]):
    """A model backend. Subclasses implement ``_load``, ``_generate`` and ``_unload``.

    The public ``load``/``generate``/``unload`` (:class:`~batching.lifecycle.ModelLifecycle`) wrap them
    with timing and counters, so every engine reports the same figures. ``generate`` on an unloaded
    engine loads it first (and counts the load).
    """

    def __init__(self, config: Any) -> None:
        super().__init__(config, counters=EngineCounters())

    @property
    def can_load_concurrently(self) -> bool:
        """Whether ``load()`` may run in another thread while a different engine generates (the
        executor then starts the next model during the current one's work). Engines whose load touches
        process-wide state shared with a live engine say False."""
        return True
