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

Results are handed to ``on_result`` as each batch completes, so a durable store can journal them.

With a ``lock``, each acquire and each ``generate`` call holds it, so two callers sharing engines (a
batch job and online requests of one session) interleave batch by batch instead of corrupting state.
"""

from __future__ import annotations

import logging
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


@dataclass
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
    """
    out = StageResults()
    guard = lock if lock is not None else nullcontext()
    for index, batch in enumerate(plan.batches):
        engine = engines[batch.expert]
        was_loaded = engine.is_loaded
        with guard:
            if residency is not None:
                residency.acquire(batch.expert, engine)
                if index + 1 < len(plan.batches):
                    _prefetch_next(residency, plan.batches[index + 1].expert, engines)
            else:
                engine.load()
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
    return out


def _prefetch_next(residency: ResidencyManager, expert: str, engines: Mapping[str, Engine]) -> None:
    engine = engines.get(expert)
    path = local_model_path(engine.config) if engine is not None else None
    if path is not None:
        residency.prefetch(expert, path)
