"""Controller: pipeline stages, policies, the benchmark runner, the Python API and the CLI.

The Python API is re-exported here: ``from orchestrator import SymbolicMoE``. It is imported lazily so
``import orchestrator.policies`` (and the CLI's start-up) stay light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["AsyncSymbolicMoE", "SymbolicMoE"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from orchestrator import api

        return getattr(api, name)
    raise AttributeError(f"module 'orchestrator' has no attribute {name!r}")
