"""A model-free ``Engine`` for the executor and residency tests; the base class counts loads and unloads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from batching.engines.base import Engine
from common.generation import GenRequest, GenResult


@dataclass(frozen=True)
class CountingConfig:
    """The config fields the executor and residency manager read."""

    name: str
    footprint_gib: float | None = None
    engine: str = "counting"


class CountingEngine(Engine):
    """A real Engine with no model; answers ``name:instance_id``.

    Args:
        name: the model name.
        footprint_gib: what :func:`~batching.residency.resolve_footprint_gib` reads from the config;
            None makes a residency manager that is not given this model's footprint raise.
    """

    kind = "counting"

    def __init__(self, name: str, footprint_gib: float | None = None) -> None:
        super().__init__(CountingConfig(name, footprint_gib))

    def _load(self) -> None:
        pass

    def _unload(self) -> None:
        pass

    def _generate(self, batch: Sequence[GenRequest]) -> list[GenResult]:
        return [GenResult(request_id=r.request_id, text=f"{self.name}:{r.instance_id}") for r in batch]
