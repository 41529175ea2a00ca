"""Run a stage plan: each expert's engine is loaded once, answers all of its requests, then is released.

Results come back keyed by ``(instance_id, expert)``; callers build the requests (prompts) and read the
results, so the executor knows nothing about routing or aggregation.

Two residency modes:

- **Without** a :class:`~batching.residency.ResidencyManager`, each expert is loaded before its batch
  and unloaded after it (unless listed in ``keep_loaded``).
- **With** one, experts are acquired through it: a model stays resident after its batch and is evicted
  (LRU) only when a later model needs the room, so models that fit together stay loaded across
  stages. While an expert generates, the next expert's weights are prefetched into the page cache when
  its engine loads from a local folder.

**Overlapped start** (``overlap_start=True``, with a residency manager): while an expert generates, the
next expert's engine is loaded in a background thread when it fits beside the resident models without
evicting any (:meth:`~batching.residency.ResidencyManager.fits_now`) and the engine allows it
(:attr:`~batching.engines.base.Engine.can_load_concurrently`); the residency manager then adopts the
loaded engine. ``StageResults.visible_load_seconds`` is the start-up the stage actually waited for.

Results are handed to ``on_result`` as each batch completes, so a durable store can journal them.

With a ``lock``, each acquire and each ``generate`` call holds it, so two callers sharing engines (a
batch job and online requests of one session) interleave batch by batch instead of corrupting state.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

from batching.engines.base import Engine
from batching.planner import StagePlan
from batching.residency import ResidencyManager, local_model_path
from common.generation import GenRequest, GenResult

logger = logging.getLogger(__name__)

RequestBuilder = Callable[[str, str], GenRequest]  # (instance_id, expert) -> request
ProgressHook = Callable[[str, int, int], None]  # (expert, done, total)
ResultHook = Callable[[str, str, GenResult], None]  # (instance_id, expert, result)


@dataclass(kw_only=True)
class StageResults:
    """Everything a stage produced.

    Attributes:
        results: one result per (instance_id, expert) pair.
        load_order: experts in the order they ran.
        loaded: experts this stage actually loaded (not already resident), in order.
    """

    results: dict[tuple[str, str], GenResult] = field(default_factory=dict)
    load_order: list[str] = field(default_factory=list)
    loaded: list[str] = field(default_factory=list)
    visible_load_seconds: float = 0.0
    """Time the stage waited for models to load (an overlapped start hides the rest)."""
    overlapped: list[str] = field(default_factory=list)
    """Experts whose engine was started while the previous one generated."""


def run_plan(
    plan: StagePlan,
    engines: Mapping[str, Engine],
    make_request: RequestBuilder,
    *,
    batch_size: int = 256,
    keep_loaded: frozenset[str] = frozenset(),
    on_progress: ProgressHook | None = None,
    residency: ResidencyManager | None = None,
    on_result: ResultHook | None = None,
    lock: AbstractContextManager[object] | None = None,
    overlap_start: bool = False,
) -> StageResults:
    """Execute ``plan`` expert by expert.

    Args:
        plan: the stage's per-expert batches.
        engines: one engine per expert name (built, not necessarily loaded).
        make_request: builds the request for one (instance, expert) pair.
        batch_size: requests per ``generate`` call while a model is resident.
        keep_loaded: without ``residency``, experts to leave loaded after the stage (e.g. the next
            stage's aggregator). Ignored with ``residency``, which keeps every model that fits.
        on_progress: called after each batch with (expert, done, total).
        residency: acquire models through this manager instead of loading/unloading each one; the
            caller calls ``residency.release_all()`` when the run ends.
        on_result: called once per pair with (instance_id, expert, result) as its batch completes.
        lock: held around each acquire and each ``generate`` call (engines shared between threads).
        overlap_start: with ``residency``, load the next expert's engine while the current one
            generates, when it fits without evicting anything (see the module docstring).
    """
    out = StageResults()
    guard = lock if lock is not None else nullcontext()
    early: _EarlyStart | None = None
    try:
        for index, batch in enumerate(plan.batches):
            engine = engines[batch.expert]
            waited = time.perf_counter()
            started_early = early is not None and early.name == batch.expert
            if early is not None:
                early.join()  # re-raises a failed load here, in the stage's thread
                early = None
            was_loaded = engine.is_loaded and not started_early
            with guard:
                if residency is not None:
                    residency.acquire(batch.expert, engine)
                    if index + 1 < len(plan.batches):
                        nxt = plan.batches[index + 1].expert
                        if overlap_start:
                            early = _start_early(residency, nxt, engines)
                        if early is None:
                            _prefetch_next(residency, nxt, engines)
                else:
                    engine.load()
            out.visible_load_seconds += time.perf_counter() - waited
            if started_early:
                out.overlapped.append(batch.expert)
            if not was_loaded:
                out.loaded.append(batch.expert)
            out.load_order.append(batch.expert)
            start, ids = time.perf_counter(), batch.instance_ids
            for first in range(0, len(ids), batch_size):
                chunk = ids[first : first + batch_size]
                requests = [make_request(i, batch.expert) for i in chunk]
                with guard:
                    if residency is not None:  # another thread may have evicted it between batches
                        residency.acquire(batch.expert, engine)
                    generated = engine.generate(requests)
                for inst, res in zip(chunk, generated, strict=True):
                    out.results[(inst, batch.expert)] = res
                    if on_result is not None:
                        on_result(inst, batch.expert, res)
                if on_progress is not None:
                    on_progress(batch.expert, min(first + batch_size, len(ids)), len(ids))
            if residency is None and batch.expert not in keep_loaded:
                engine.unload()
            logger.info(
                "stage %s: %s answered %d requests in %.2fs",
                plan.stage,
                batch.expert,
                len(ids),
                time.perf_counter() - start,
            )
    except BaseException:
        if early is not None:  # the stage failed while a model was starting: do not leak it
            with contextlib.suppress(Exception):
                early.join()
            engines[early.name].unload()
        raise
    return out


class _EarlyStart:
    """One engine loading in a background thread while the stage's current expert generates."""

    def __init__(self, name: str, engine: Engine) -> None:
        self.name = name
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(engine,), name=f"start-{name}", daemon=True)
        self._thread.start()

    def _run(self, engine: Engine) -> None:
        try:
            engine.load()
        except BaseException as exc:  # handed to the stage's thread by join()
            self._error = exc

    def join(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error


def _start_early(
    residency: ResidencyManager, expert: str, engines: Mapping[str, Engine]
) -> _EarlyStart | None:
    engine = engines.get(expert)
    if engine is None or engine.is_loaded or not engine.can_load_concurrently:
        return None
    if not residency.fits_now(expert, engine):
        return None
    logger.info("starting %s while the current expert generates", expert)
    return _EarlyStart(expert, engine)


def _prefetch_next(residency: ResidencyManager, expert: str, engines: Mapping[str, Engine]) -> None:
    engine = engines.get(expert)
    path = local_model_path(engine.config) if engine is not None else None
    if path is not None:
        residency.prefetch(expert, path)
