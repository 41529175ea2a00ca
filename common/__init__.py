"""Pieces every layer shares: the error root, the generic registry, boundary records and settings."""

from __future__ import annotations

from common.errors import (
    ConfigError,
    DataError,
    EngineDeadError,
    EngineError,
    EngineUnavailableError,
    GenerationError,
    RegistryError,
    ReplayMissError,
    ResidencyError,
    RoutingError,
    SymbolicMoEError,
)
from common.registry import Registry

__all__ = [
    "ConfigError",
    "DataError",
    "EngineDeadError",
    "EngineError",
    "EngineUnavailableError",
    "GenerationError",
    "Registry",
    "RegistryError",
    "ReplayMissError",
    "ResidencyError",
    "RoutingError",
    "SymbolicMoEError",
]
