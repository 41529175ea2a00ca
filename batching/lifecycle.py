"""The model lifecycle every engine and generator shares: load once, generate a batch, unload, count.

An LLM engine (:class:`~batching.engines.base.Engine`) and a non-LLM generator (speech, music, sound:
:class:`~agents.generator.ExpertGenerator`) are both a :class:`ModelLifecycle`. Subclasses implement
``_load``, ``_generate`` and ``_unload``; the public ``load`` / ``generate`` / ``unload`` wrap them with
timing and the same counters (:class:`LifecycleCounters`), so every model reports the same figures under
the same names.

Example::

    class UpperModel(ModelLifecycle[str, str, LifecycleCounters]):
        kind = "upper"

        def __init__(self, config: object) -> None:
            super().__init__(config, counters=LifecycleCounters())

        def _load(self) -> None: ...
        def _generate(self, batch: Sequence[str]) -> list[str]:
            return [s.upper() for s in batch]
        def _unload(self) -> None: ...

    model = UpperModel(config)
    model.generate(["a", "b"])      # loads first: counters.loads == 1, counters.requests == 2
    model.unload()                  # counters.unloads == 1
"""

from __future__ import annotations

import abc
import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Self, TypeVar

from common.errors import EngineError

RequestT = TypeVar("RequestT")
ResultT = TypeVar("ResultT")
CountersT = TypeVar("CountersT", bound="LifecycleCounters")


@dataclass(kw_only=True)
class LifecycleCounters:
    """What every model reports, summed over its life (engines add token and error counts); code that
    sums or subtracts counters reads them by name through :meth:`as_dict`."""

    loads: int = 0
    unloads: int = 0
    load_seconds: float = 0.0
    generation_seconds: float = 0.0
    requests: int = 0

    def as_dict(self) -> dict[str, float]:
        """Every counter by name, in declaration order."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def count(self, batch: Sequence[Any], results: Sequence[Any]) -> None:
        """Count one generated batch (subclasses also count what the results carry)."""
        self.requests += len(batch)


@dataclass(slots=True)
class _State(Generic[CountersT]):
    counters: CountersT
    loaded: bool = False


class ModelLifecycle(abc.ABC, Generic[RequestT, ResultT, CountersT]):
    """A model that loads once, generates batches (one result per request, in input order) and unloads.

    Args:
        config: the model's config (its ``name``, when it has one, names the model).
        counters: the counters to sum into (a :class:`LifecycleCounters` or a subclass).
    """

    kind: ClassVar[str] = "base"
    """Registry key of the implementation (names the model in errors when its config has no name)."""

    def __init__(self, config: Any, *, counters: CountersT) -> None:
        self.config = config
        self._state = _State(counters)

    @property
    def name(self) -> str:
        return str(getattr(self.config, "name", self.kind))

    @property
    def counters(self) -> CountersT:
        return self._state.counters

    @property
    def is_loaded(self) -> bool:
        return self._state.loaded

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

    def generate(self, batch: Sequence[RequestT]) -> list[ResultT]:
        """Return one result per request, in input order (loads first when needed).

        Raises:
            EngineError: the implementation returned a different number of results than requests.
        """
        if not batch:
            return []
        self.load()
        start = time.perf_counter()
        results = self._generate(batch)
        self.counters.generation_seconds += time.perf_counter() - start
        if len(results) != len(batch):
            raise EngineError(
                f"{self.kind} {self.name!r} returned {len(results)} results for {len(batch)} requests",
                engine=self.kind,
            )
        self.counters.count(batch, results)
        return results

    def close(self) -> None:
        self.unload()

    def __enter__(self) -> Self:
        self.load()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abc.abstractmethod
    def _load(self) -> None: ...

    @abc.abstractmethod
    def _generate(self, batch: Sequence[RequestT]) -> list[ResultT]: ...

    @abc.abstractmethod
    def _unload(self) -> None: ...
