"""Controller: pipeline stages, policies, the benchmark runner, the Python API and the CLI.

The Python API is re-exported here: ``from orchestrator import SymbolicMoE``. It is imported lazily so
``import orchestrator.policies`` (and the CLI's start-up) stay light.

Importing any part of the package makes idle OpenMP threads sleep instead of spin
(:func:`batching.engines.cpu_threads.passive_openmp`), so the Python API, the service and Ray workers
(which import it to run our tasks) get the thread setting the CLI has, before anything imports torch.
"""

from __future__ import annotations

from typing import Any

from batching.engines.cpu_threads import passive_openmp

passive_openmp()

__all__ = ["AsyncSymbolicMoE", "SymbolicMoE"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from orchestrator import api

        return getattr(api, name)
    raise AttributeError(f"module 'orchestrator' has no attribute {name!r}")
