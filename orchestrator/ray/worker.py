"""Expert workers: the Ray actor that owns one model's engine, and the controller's handle on it.

:class:`ModelWorker` builds and loads its engine in ``__init__`` from the expert's pydantic config (so a
Ray restart simply reloads the model); :class:`WorkerHandle` lets the plain
:class:`~batching.residency.ResidencyManager` manage workers like engines: ``load`` spawns the actor,
``unload`` kills it.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ray

from batching.engines.base import Engine
from batching.engines.registry import build_engine
from common.generation import GenRequest, GenResult


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerBatch:
    """One answered batch, with the worker's counters so far and who it is (a restart is a new pid)."""

    results: list[GenResult]
    seconds: float
    counters: dict[str, float]
    incarnation: tuple[int, float]  # (pid, started_at): a restart is a new incarnation
    node_id: str
    resources: dict[str, float]  # what Ray assigned this worker (GPU share, memory resource)


# Ray's stubs lack `concurrency_groups` (a documented actor option), hence the ignore
@ray.remote(num_cpus=0, max_task_retries=0, concurrency_groups={"health": 1})  # type: ignore[call-overload]
class ModelWorker:
    """Owns one expert's engine, built and loaded in ``__init__`` (idempotent: a restart reloads it)."""

    def __init__(self, config: Any) -> None:
        self.started_at = time.time()
        self.engine = build_engine(config)
        self.engine.load()
        ctx = ray.get_runtime_context()
        self.node_id = ctx.get_node_id()
        self.resources = {k: float(v) for k, v in ctx.get_assigned_resources().items()}  # type: ignore[no-untyped-call]
        self.pid = os.getpid()

    def generate(self, requests: list[GenRequest]) -> WorkerBatch:
        """Answer one batch (in request order); engine errors propagate and are fatal to the run."""
        start = time.perf_counter()
        results = self.engine.generate(requests)
        c = self.engine.counters.as_dict()
        incarnation = (self.pid, self.started_at)
        return WorkerBatch(
            results=results,
            seconds=time.perf_counter() - start,
            counters=c,
            incarnation=incarnation,
            node_id=self.node_id,
            resources=self.resources,
        )

    @ray.method(concurrency_group="health")
    def health(self) -> dict[str, Any]:
        """Liveness, answered even while a long batch generates (its own concurrency group)."""
        return {"loaded": self.engine.is_loaded, "pid": self.pid, "node_id": self.node_id}

    def shutdown(self) -> None:
        """Release the model; the controller calls it before killing the actor."""
        self.engine.close()


class WorkerHandle(Engine):
    """The residency manager's view of a worker: ``load`` spawns the actor, ``unload`` kills it."""

    kind = "ray_worker"

    def __init__(self, config: Any, options: dict[str, Any]) -> None:
        super().__init__(config)
        self.options = options
        self.actor: Any = None
        self.started_at: float | None = None
        self.inflight = 0
        self.idle = asyncio.Event()
        self.idle.set()

    def respawn(self) -> None:
        worker_cls: Any = ModelWorker  # a Ray actor class; its stubs do not show `.options`
        self.actor = worker_cls.options(**self.options).remote(self.config)

    def _load(self) -> None:
        self.started_at = None
        self.respawn()

    def _unload(self) -> None:
        ray.kill(self.actor, no_restart=True)
        self.actor = None

    def _generate(self, batch: Sequence[GenRequest]) -> list[GenResult]:  # pragma: no cover
        raise NotImplementedError("workers generate through the controller")
