"""The Ray backend of the expert stage: a controller actor owning one ``ModelWorker`` per resident model.

Supervisor tree: the driver talks only to one named :class:`ExpertController` actor; the controller owns
anonymous :class:`ModelWorker` actors, each of which builds and loads one expert's engine in ``__init__``.

- **Slots.** One placement-group bundle per GPU (``{"GPU": 1, symoe_gpu_mem_gib: <GPU memory>}``, or one
  CPU per slot on a cluster without GPUs), spread over the nodes. Each slot has a plain
  :class:`~batching.residency.ResidencyManager` (lazy load, LRU evict, memory budget) deciding which
  workers live; workers ask Ray for their model's share of the GPU and of the memory resource, so Ray's
  scheduler enforces the same fit: on one GPU models are resident one (or a fitting few) at a time.
- **Groups.** Each expert's prompts form a group; :func:`~orchestrator.ray.slots.assign_groups` spreads
  groups over slots (greedy LPT on estimated seconds); each slot runs its groups in order, at most
  ``max_inflight_batches`` batches queued per worker.
- **Streaming.** Results stream back to the driver batch by batch (a Ray streaming generator), so the
  driver journals each batch at once and aggregates an instance as soon as all its experts answered;
  the driver's aggregation requests join the same stream.
- **Failures.** Workers have ``max_restarts``; a batch whose worker died is retried (only that batch:
  finished batches were streamed already), up to ``max_attempts`` times, then the run fails with an
  :class:`~common.errors.EngineDeadError` naming the expert and the cause. Engine errors raised inside a
  worker are fatal and re-raised as they are.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ray
from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError, RayError, RayTaskError
from ray.util.placement_group import placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from batching.engines.base import EngineCounters
from batching.residency import ResidencyManager, resolve_footprint_gib
from common.errors import ConfigError, EngineDeadError, SymbolicMoEError
from common.generation import GenRequest
from orchestrator.ray.slots import (
    MEMORY_RESOURCE,
    ControllerConfig,
    GroupCost,
    StageSpec,
    StreamItem,
    assign_groups,
    gpu_fraction,
)
from orchestrator.ray.worker import WorkerBatch, WorkerHandle

logger = logging.getLogger(__name__)


@dataclass
class _Slot:
    residency: ResidencyManager
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@ray.remote(num_cpus=0, max_restarts=0, concurrency_groups={"health": 1})  # type: ignore[call-overload]
class ExpertController:
    """Owns the workers, the slots and the stage schedule; streams results to the driver."""

    def __init__(self, cfg: ControllerConfig, models: list[Any]) -> None:
        self.cfg = cfg
        self.models = {m.name: m for m in models}
        res = ray.cluster_resources()  # type: ignore[no-untyped-call]
        gpus = int(res.get("GPU", 0))
        self.kind = "GPU" if gpus else "CPU"
        self.has_mem = bool(gpus and res.get(MEMORY_RESOURCE))
        self.slot_mem = res[MEMORY_RESOURCE] / gpus if self.has_mem else cfg.gpu_mem_gib
        n = gpus or 1
        self.n_slots = min(n, cfg.max_slots) if cfg.max_slots else n
        self.footprints = {name: self._footprint(m) for name, m in self.models.items()}
        bundle: dict[str, float] = {self.kind: 1.0}
        if self.has_mem:
            bundle[MEMORY_RESOURCE] = float(self.slot_mem or 0)
        self.pg = placement_group([dict(bundle) for _ in range(self.n_slots)], strategy="SPREAD")
        budget = self.slot_mem or 1.0
        self.slots = [_Slot(ResidencyManager(budget, self.footprints)) for _ in range(self.n_slots)]
        self.handles = {name: WorkerHandle(m, self._options(name)) for name, m in self.models.items()}
        self.slot_of: dict[str, int] = {}
        self.resident_evt = {name: asyncio.Event() for name in self.models}
        self.incarnations: dict[str, dict[tuple[int, float], dict[str, float]]] = {n: {} for n in self.models}
        self.reported: dict[str, tuple[float, float]] = dict.fromkeys(self.models, (0.0, 0.0))
        self.lives: list[dict[str, Any]] = []
        self.failures: dict[str, int] = dict.fromkeys(self.models, 0)
        self.assigned: dict[str, dict[str, float]] = {}
        self.out: asyncio.Queue[Any] = asyncio.Queue()
        self.tasks: set[asyncio.Task[None]] = set()
        self.submissions: set[asyncio.Task[None]] = set()
        self.groups_done: asyncio.Event | None = None
        self.pending_groups: set[str] = set()
        self.submitted = 0
        self.expected: int | None = None

    def _footprint(self, m: Any) -> float:
        if not self.slot_mem:
            return 1.0  # memory unknown: one model per slot
        try:
            return resolve_footprint_gib(m)
        except ConfigError:  # a hub id without `footprint_gib`: give it the whole slot
            return float(self.slot_mem)

    def _options(self, name: str) -> dict[str, Any]:
        frac = gpu_fraction(self.footprints[name], self.slot_mem)
        opts: dict[str, Any] = {
            "num_cpus": frac if self.kind == "CPU" else 0,
            "num_gpus": frac if self.kind == "GPU" else 0,
            "max_restarts": self.cfg.max_restarts,
            "max_task_retries": 0,
        }
        if self.has_mem and self.footprints[name] > 0:
            opts["resources"] = {MEMORY_RESOURCE: round(self.footprints[name], 4)}
        return opts

    async def start(self) -> dict[str, Any]:
        """Wait for the slots' placement group; return the layout (slots, resource kind, memory)."""
        await self.pg.ready()
        return {"slots": self.n_slots, "kind": self.kind, "slot_mem_gib": self.slot_mem}

    # -- residency -------------------------------------------------------------------------------
    async def _acquire(self, slot: int, expert: str) -> None:
        if self.slot_of.get(expert) not in (None, slot):
            await self._release(expert)
        residency = self.slots[slot].residency
        if expert not in self.slot_of:
            need = residency.footprint_gib(expert)
            for victim in residency.resident():  # evict gracefully (shutdown, then kill), LRU first
                if residency.free_gib >= need:
                    break
                await self._release(victim)
        handle = self.handles[expert]
        handle.options["scheduling_strategy"] = PlacementGroupSchedulingStrategy(
            self.pg, placement_group_bundle_index=slot
        )
        residency.acquire(expert, handle)
        self.slot_of[expert] = slot
        self.resident_evt[expert].set()

    async def _release(self, expert: str) -> None:
        handle = self.handles[expert]
        await handle.idle.wait()
        self.resident_evt[expert].clear()
        slot = self.slot_of.pop(expert)
        try:
            await asyncio.wait_for(handle.actor.shutdown.remote(), timeout=self.cfg.shutdown_timeout_s)
        except (RayError, TimeoutError) as exc:  # dead or hung: the kill below is all that is left to do
            logger.warning("worker %s did not shut down cleanly: %s", expert, _cause(exc))
        self.lives.append(
            {"expert": expert, "slot": slot, "started_at": handle.started_at, "ended_at": time.time()}
        )
        self.slots[slot].residency.release(expert)

    async def _ensure_resident(self, expert: str) -> None:
        if expert in self.slot_of:
            return
        if expert in self.pending_groups:
            await self.resident_evt[expert].wait()
            return
        if self.groups_done is not None:
            await self.groups_done.wait()
        slot = max(range(self.n_slots), key=lambda s: self.slots[s].residency.free_gib)
        async with self.slots[slot].lock:
            if expert not in self.slot_of:
                await self._acquire(slot, expert)

    # -- calls -----------------------------------------------------------------------------------
    async def _call(
        self, expert: str, stage: str, chunk: list[GenRequest], emit: Callable[[Any], None]
    ) -> None:
        handle, last = self.handles[expert], ""
        for attempt in range(1, self.cfg.max_attempts + 1):
            if handle.actor is None:  # evicted since the caller made it resident
                await self._ensure_resident(expert)
            actor = handle.actor
            handle.inflight += 1
            handle.idle.clear()
            try:
                batch = await actor.generate.remote(chunk)
            except RayTaskError as exc:  # the engine itself raised: fatal, never retried
                raise _engine_error(expert, stage, exc) from None
            except RayActorError as exc:
                last = _cause(exc)
                self.failures[expert] += 1
                logger.warning(
                    "worker %s failed (attempt %d/%d): %s", expert, attempt, self.cfg.max_attempts, last
                )
                emit(StreamItem(stage=stage, expert=expert, failure=f"attempt {attempt}: {last}"))
                if isinstance(exc, ActorDiedError):
                    if handle.actor is actor:
                        handle.respawn()  # restarts exhausted (or never started): a fresh actor
                else:
                    await self._await_restart(actor)
                continue
            finally:
                handle.inflight -= 1
                if handle.inflight == 0:
                    handle.idle.set()
            emit(self._item(expert, stage, batch))
            return
        raise EngineDeadError(
            f"expert {expert!r}: its worker failed {self.cfg.max_attempts} times in a row, giving up; last "
            f"cause: {last}. Fix that cause (does the model load and fit the GPU? see footprint_gib and "
            "gpu_mem_gib) or raise max_attempts / max_restarts",
            engine="ray",
            model=getattr(self.models[expert], "model_id", expert),
            stage=stage,
        )

    async def _await_restart(self, actor: Any) -> None:
        """Wait (with backoff) until a restarting worker answers again; calls made meanwhile fail at once."""
        delay, deadline = 0.05, time.monotonic() + self.cfg.restart_timeout_s
        while time.monotonic() < deadline:
            try:
                await actor.health.remote()
                return
            except ActorUnavailableError:
                await asyncio.sleep(delay)
                delay = min(2 * delay, 1.0)
            except RayActorError:
                return  # dead for good: the next call fails and is counted

    def _item(self, expert: str, stage: str, b: WorkerBatch) -> StreamItem:
        self.incarnations[expert][b.incarnation] = b.counters
        self.assigned[expert] = b.resources
        handle = self.handles[expert]
        handle.started_at = handle.started_at or b.incarnation[1]
        loads = sum(c["loads"] for c in self.incarnations[expert].values())
        load_s = sum(c["load_seconds"] for c in self.incarnations[expert].values())
        old_loads, old_s = self.reported[expert]
        self.reported[expert] = (loads, load_s)
        return StreamItem(
            stage=stage,
            expert=expert,
            results=tuple(b.results),
            seconds=b.seconds,
            new_loads=int(loads - old_loads),
            new_load_seconds=load_s - old_s,
            failure=None,
            node_id=b.node_id,
        )

    async def _run_batches(self, expert: str, stage: str, requests: list[GenRequest], size: int,
                           emit: Callable[[Any], None]) -> None:  # fmt: skip
        sem = asyncio.Semaphore(self.cfg.max_inflight_batches)

        async def one(chunk: list[GenRequest]) -> None:
            async with sem:
                await self._call(expert, stage, chunk, emit)

        await asyncio.gather(*(one(requests[i : i + size]) for i in range(0, len(requests), size)))

    async def generate(
        self, expert: str, requests: list[GenRequest], stage: str, size: int
    ) -> list[StreamItem]:
        """Answer ``requests`` with ``expert`` outside a streamed stage (e.g. the LLM annotator)."""
        items: list[StreamItem] = []
        await self._ensure_resident(expert)
        await self._run_batches(expert, stage, requests, size, items.append)
        return items

    # -- streamed stages -------------------------------------------------------------------------
    async def begin_stage(self, spec: StageSpec) -> list[list[str]]:
        """Schedule a stage's groups over the slots (LPT) and start them; results go to :meth:`stream`."""
        costs = [
            GroupCost(
                expert=e,
                prompts=len(r),
                max_tokens=self.models[e].sampling.max_tokens,
                footprint_gib=self.footprints[e],
            )
            for e, r in spec.groups.items()
        ]
        assignment = assign_groups(
            costs, self.n_slots, self.cfg, pinned=dict(self.slot_of), first=spec.first, last=spec.last
        )
        logger.info("stage %s: groups per slot %s", spec.stage, assignment)
        self.out, self.submitted, self.expected = asyncio.Queue(), 0, None
        self.pending_groups = set(spec.groups)
        self.groups_done = asyncio.Event()
        runners = [self._run_slot(s, experts, spec) for s, experts in enumerate(assignment)]
        self._spawn(self._supervise(runners))
        return assignment

    async def _run_slot(self, slot: int, experts: list[str], spec: StageSpec) -> None:
        for expert in experts:
            async with self.slots[slot].lock:
                await self._acquire(slot, expert)
                self.pending_groups.discard(expert)
                await self._run_batches(
                    expert, spec.stage, spec.groups[expert], spec.batch_size, self.out.put_nowait
                )

    async def _supervise(self, runners: list[Any]) -> None:
        tasks = [asyncio.ensure_future(r) for r in runners]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:  # one slot failed: stop the others, the stage is lost anyway
                task.cancel()
            self._end_stage()
            raise
        assert self.groups_done is not None
        self.groups_done.set()
        self._maybe_end()

    def _end_stage(self) -> None:
        """Forget the stage, so later direct calls do not wait for groups that will never run."""
        self.pending_groups.clear()
        if self.groups_done is not None:
            self.groups_done.set()
            self.groups_done = None
        for task in list(self.submissions):  # they may wait for a group that failed
            task.cancel()

    def _maybe_end(self) -> None:
        """End the stream once every group ran and every announced submission was answered."""
        done = self.groups_done is not None and self.groups_done.is_set()
        if done and self.expected is not None and self.submitted >= self.expected and not self.submissions:
            self.groups_done = None
            self.out.put_nowait(None)

    def _spawn(self, coro: Any, *, submission: bool = False) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        if submission:
            self.submissions.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self.tasks.discard(t)
            self.submissions.discard(t)
            if not t.cancelled() and t.exception() is not None:
                self.out.put_nowait(t.exception())  # forwarded to the driver through the stream
            elif submission:
                self._maybe_end()

        task.add_done_callback(done)

    async def submit(self, expert: str, requests: list[GenRequest], stage: str, size: int) -> None:
        """Add requests to the running stage (the driver's aggregation); results join the stream."""

        async def run() -> None:
            await self._ensure_resident(expert)
            await self._run_batches(expert, stage, requests, size, self.out.put_nowait)

        self.submitted += 1
        self._spawn(run(), submission=True)

    async def close_stage(self, n_submitted: int) -> None:
        """No more submissions after ``n_submitted``; the stream ends once they are answered."""
        self.expected = n_submitted
        self._maybe_end()

    async def stream(self) -> Any:
        """Yield :class:`StreamItem` s until the stage is done; re-raise a failure of any group."""
        while True:
            item = await self.out.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                for task in list(self.tasks):
                    task.cancel()
                raise item
            yield item

    # -- introspection and shutdown --------------------------------------------------------------
    @ray.method(concurrency_group="health")
    async def health(self) -> dict[str, Any]:
        return {"resident": dict(self.slot_of), "failures": dict(self.failures), "tasks": len(self.tasks)}

    async def stats(self) -> dict[str, Any]:
        """Per expert: summed engine counters (over restarts), failures, Ray resources; worker lifetimes."""
        counters = {
            e: {k: sum(c[k] for c in inc.values()) for k in EngineCounters().as_dict()}
            for e, inc in self.incarnations.items()
        }
        live = [{"expert": e, "slot": s, "started_at": self.handles[e].started_at, "ended_at": None}
                for e, s in self.slot_of.items()]  # fmt: skip
        return {
            "counters": counters,
            "failures": dict(self.failures),
            "lives": self.lives + live,
            "resources": dict(self.assigned),
        }

    def worker(self, expert: str) -> Any:
        """The live worker actor of ``expert`` (None when not resident); for tests and debugging."""
        return self.handles[expert].actor

    async def shutdown(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        for expert in list(self.slot_of):
            await self._release(expert)
        remove_placement_group(self.pg)


def _cause(exc: BaseException) -> str:
    """The gist of a Ray error: its last meaningful line (e.g. ``OSError: no such folder``)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip() and not set(ln.strip()) <= {"^", "~"}]
    return (lines[-1] if lines else type(exc).__name__)[:500]


def _engine_error(expert: str, stage: str, exc: RayTaskError) -> SymbolicMoEError:
    cause = getattr(exc, "cause", None)
    if isinstance(cause, SymbolicMoEError):
        return cause
    return EngineDeadError(f"expert {expert!r} failed: {_cause(exc)}", engine="ray", stage=stage)
