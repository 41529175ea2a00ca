"""The driver's side of the Ray backend: connect, start the controller, proxy engines, consume stage streams.

The driver talks only to the :class:`~orchestrator.ray.controller.ExpertController` actor. Expert engines
appear to the live run as :class:`RemoteEngine` s (so the LLM annotator and the journal wrapper work
unchanged), and a stage is a :class:`StageStream` of batches the driver journals as they arrive.

Example::

    backend = RayBackend(ControllerConfig(num_gpus=1, gpu_mem_gib=80), pool.models, run_id=run_id)
    stream = backend.stream(StageSpec("experts", groups, batch_size=64))
    for item in stream:        # StreamItem per answered batch
        ...
        stream.close()         # once nothing more will be submitted
    backend.close()
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from common.extras import missing_extra

try:
    import ray
    from ray.exceptions import RayError, RayTaskError
except ImportError as exc:  # the `ray` extra
    raise missing_extra("ray", "the Ray backend") from exc

from batching.engines.base import Engine, EngineCounters
from common.errors import EngineDeadError, SymbolicMoEError
from common.generation import GenRequest, GenResult
from orchestrator.local_ray import init_local_ray
from orchestrator.ray.controller import ExpertController
from orchestrator.ray.slots import MEMORY_RESOURCE, ControllerConfig, StageSpec, StreamItem

logger = logging.getLogger(__name__)

EventHook = Callable[[str, str, str, float, str], None]  # (stage, expert, kind, seconds, detail)


def connect_ray(cfg: ControllerConfig) -> bool:
    """Connect this process to Ray: attach to ``cfg.address``, or start an embedded local instance.

    The local instance listens on 127.0.0.1 only (:mod:`orchestrator.local_ray`) and gets explicit
    resources (``num_cpus``, ``num_gpus`` and, when both GPUs and ``gpu_mem_gib`` are given, the
    GPU-memory resource) and ``RAY_AUTH_MODE=disabled``; an attached cluster keeps its own resources and
    settings.

    Returns:
        True when this call connected (so :meth:`RayBackend.close` disconnects), False when this process
        was already connected.
    """
    if ray.is_initialized():
        return False
    if cfg.address:
        logger.info("ray: attaching to %s", cfg.address)
        ray.init(address=cfg.address, namespace=cfg.namespace)
        return True
    os.environ["RAY_AUTH_MODE"] = "disabled"  # the embedded instance is private to this process
    resources = None
    if cfg.num_gpus and cfg.gpu_mem_gib:
        resources = {MEMORY_RESOURCE: cfg.num_gpus * cfg.gpu_mem_gib}
    logger.info(
        "ray: starting a local instance on 127.0.0.1 (cpus=%s gpus=%s %s)",
        cfg.num_cpus,
        cfg.num_gpus,
        resources,
    )
    init_local_ray(num_cpus=cfg.num_cpus, num_gpus=cfg.num_gpus, resources=resources, namespace=cfg.namespace)
    return True


def _get(ref: Any) -> Any:
    """``ray.get`` that re-raises our own errors from the controller as themselves."""
    try:
        return ray.get(ref)
    except RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, SymbolicMoEError):
            raise cause from None
        raise EngineDeadError(f"ray controller failed: {exc}", engine="ray") from exc
    except RayError as exc:
        raise EngineDeadError(f"ray controller died: {exc}", engine="ray") from exc


class RayBackend:
    """Starts the controller for a run and keeps the delivered per-expert counters.

    Args:
        cfg: the controller config.
        models: every model of the pool (experts and extra models).
        run_id: names the controller actor ``symoe-controller-<run_id>``.
        batch_size: requests per worker call.
        on_event: called for worker failures (journaled by the live run).
    """

    def __init__(
        self,
        cfg: ControllerConfig,
        models: Sequence[Any],
        *,
        run_id: str,
        batch_size: int,
        on_event: EventHook | None = None,
    ) -> None:
        self.cfg = cfg
        self.batch_size = cfg.batch_size or batch_size
        self.on_event = on_event
        self.stage = "setup"
        self.counters = {m.name: EngineCounters() for m in models}
        self._connected = connect_ray(cfg)
        actor_cls: Any = ExpertController  # a Ray actor class; its stubs do not show `.options`
        self.controller = actor_cls.options(name=f"symoe-controller-{run_id}").remote(cfg, list(models))
        self.layout: dict[str, Any] = _get(self.controller.start.remote())
        logger.info("ray: controller up: %s", self.layout)

    def engine(self, config: Any) -> RemoteEngine:
        """An engine proxy for one model (generation runs on its worker)."""
        return RemoteEngine(self, config)

    def note(self, item: StreamItem) -> None:
        """Count a delivered batch (or journal a failure) of any stream or direct call."""
        c = self.counters[item.expert]
        if item.failure is not None:
            if self.on_event is not None:
                self.on_event(item.stage, item.expert, "failure", 0.0, item.failure)
            return
        c.loads += item.new_loads
        c.load_seconds += item.new_load_seconds
        c.generation_seconds += item.seconds
        c.requests += len(item.results)
        for r in item.results:
            c.prompt_tokens += r.prompt_tokens
            c.generated_tokens += r.generated_tokens
            c.missing += int(r.missing)
            c.errors += int(r.error is not None)

    def generate(self, expert: str, requests: Sequence[GenRequest]) -> list[GenResult]:
        """Answer ``requests`` on ``expert``'s worker (made resident first), in request order.

        The requests go as one batch, as a local engine gets them, so sampled outputs do not depend on
        the backend (the engine batches internally).
        """
        size = max(len(requests), 1)
        items = _get(self.controller.generate.remote(expert, list(requests), self.stage, size))
        by_id: dict[str, GenResult] = {}
        for item in items:
            self.note(item)
            by_id.update((r.request_id, r) for r in item.results)
        return [by_id[r.request_id] for r in requests]

    def stream(self, spec: StageSpec) -> StageStream:
        """Start a stage; iterate the returned stream for its batches."""
        return StageStream(self, spec)

    def stats(self) -> dict[str, Any]:
        """The controller's view: counters per expert (over restarts), failures, worker lifetimes."""
        return _get(self.controller.stats.remote())  # type: ignore[no-any-return]

    def worker(self, expert: str) -> Any:
        """The live worker actor of ``expert`` (tests use it to kill one)."""
        return _get(self.controller.worker.remote(expert))

    def close(self) -> None:
        """Shut the workers down, stop the controller, and disconnect if this backend connected."""
        try:
            _get(self.controller.shutdown.remote())
        except SymbolicMoEError as exc:
            logger.warning("ray: controller shutdown failed: %s", exc)
        ray.kill(self.controller)
        if self._connected:
            ray.shutdown()


class StageStream:
    """A running stage: iterate for :class:`StreamItem` s; ``submit`` more work; ``close`` when done."""

    def __init__(self, backend: RayBackend, spec: StageSpec) -> None:
        self.backend = backend
        self.spec = spec
        self.assignment: list[list[str]] = _get(backend.controller.begin_stage.remote(spec))
        self._gen = backend.controller.stream.options(num_returns="streaming").remote()
        self._submitted = 0
        self._closed = False

    def __iter__(self) -> Iterator[StreamItem]:
        # A streaming generator hands out each ref once its value exists, so this get never waits on
        # more than the next batch: the Ray-documented way to consume one, not a serial ray.get loop.
        for ref in self._gen:
            item: StreamItem = _get(ref)
            self.backend.note(item)
            yield item

    def submit(self, expert: str, requests: Sequence[GenRequest], stage: str) -> None:
        """Queue requests for ``expert`` (made resident when its turn comes); results join the stream."""
        self.backend.controller.submit.remote(expert, list(requests), stage, self.backend.batch_size)
        self._submitted += 1

    def close(self) -> None:
        """Announce that nothing more will be submitted (idempotent)."""
        if not self._closed:
            self._closed = True
            self.backend.controller.close_stage.remote(self._submitted)


class RemoteEngine(Engine):
    """An engine proxy: ``generate`` runs on the model's worker; counters are the delivered ones."""

    kind = "ray"

    def __init__(self, backend: RayBackend, config: Any) -> None:
        super().__init__(config)
        self.backend = backend

    @property
    def counters(self) -> EngineCounters:
        return self.backend.counters[self.name]

    def load(self) -> None:
        """Workers load their model when they start; nothing to do here."""

    def unload(self) -> None:
        """The controller's residency decides when a worker goes; nothing to do here."""

    def generate(self, batch: Sequence[GenRequest]) -> list[GenResult]:
        return self.backend.generate(self.name, batch) if batch else []

    def _load(self) -> None:  # pragma: no cover - load() is overridden
        raise NotImplementedError

    def _generate(self, batch: Sequence[GenRequest]) -> list[GenResult]:  # pragma: no cover
        raise NotImplementedError

    def _unload(self) -> None:  # pragma: no cover
        raise NotImplementedError
