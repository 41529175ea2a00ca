"""Expert generators: non-LLM models (speech, music, sound) behind a batch-in/batch-out interface.

Like an :class:`~batching.engines.base.Engine`, a generator loads once, generates a whole batch of tasks,
and unloads; the public methods add timing and counters so every generator reports the same figures.
Each generator class declares the task kinds it serves (``kinds``); its config gives a prior quality per
kind, which :mod:`agents.profiles` refines from supervisor verdicts.

Example::

    gen = generator_registry.get("espeak_ng")(config)
    clips = gen.generate(tasks)        # loads on first use
    gen.unload()
"""

from __future__ import annotations

import abc
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from common.errors import GenerationError

T = TypeVar("T")
R = TypeVar("R")


@dataclass(slots=True)
class GeneratorCounters:
    """What every generator reports, summed over its life."""

    loads: int = 0
    load_s: float = 0.0
    batches: int = 0
    items: int = 0
    generation_s: float = 0.0


class ExpertGenerator(abc.ABC, Generic[T, R]):
    """A generator model. Subclasses implement ``_load``, ``_generate`` and ``_unload``.

    Args:
        config: the generator's config (must have ``name``).
    """

    kinds: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Any) -> None:
        self.config = config
        self.counters = GeneratorCounters()
        self._loaded = False

    @property
    def name(self) -> str:
        return str(self.config.name)

    @property
    def is_loaded(self) -> bool:
        return self._loaded

    def load(self) -> None:
        """Load the model; a second call while loaded does nothing."""
        if self._loaded:
            return
        start = time.perf_counter()
        self._load()
        self._loaded = True
        self.counters.loads += 1
        self.counters.load_s += time.perf_counter() - start

    def unload(self) -> None:
        if self._loaded:
            self._unload()
            self._loaded = False

    def generate(self, batch: Sequence[T]) -> list[R]:
        """One result per task, in input order (loads first when needed)."""
        if not batch:
            return []
        self.load()
        start = time.perf_counter()
        out = self._generate(batch)
        if len(out) != len(batch):
            raise GenerationError(
                f"generator {self.name!r} returned {len(out)} results for {len(batch)} tasks"
            )
        self.counters.generation_s += time.perf_counter() - start
        self.counters.batches += 1
        self.counters.items += len(batch)
        return out

    @abc.abstractmethod
    def _load(self) -> None: ...

    @abc.abstractmethod
    def _generate(self, batch: Sequence[T]) -> list[R]: ...

    def _unload(self) -> None:  # noqa: B027 - most generators hold nothing to release
        """Release what ``_load`` took (nothing by default)."""
