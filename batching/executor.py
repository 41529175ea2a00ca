"""Run a stage plan: each expert's engine is loaded once, answers all of its requests, then is released.

Results come back keyed by ``(instance_id, expert)``; callers build the requests (prompts) and read the
results, so the executor knows nothing about routing or aggregation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from batching.engines.base import Engine, GenRequest, GenResult
from batching.planner import StagePlan

logger = logging.getLogger(__name__)

RequestBuilder = Callable[[str, str], GenRequest]  # (instance_id, expert) -> request
ProgressHook = Callable[[str, int, int], None]  # (expert, done, total)


@dataclass
class StageResults:
    """Everything a stage produced."""

    results: dict[tuple[str, str], GenResult] = field(default_factory=dict)
    load_order: list[str] = field(default_factory=list)


def run_plan(
    plan: StagePlan,
    engines: Mapping[str, Engine],
    make_request: RequestBuilder,
    *,
    batch_size: int = 256,
    keep_loaded: frozenset[str] = frozenset(),
    on_progress: ProgressHook | None = None,
) -> StageResults:
    """Execute ``plan`` expert by expert.

    Args:
        plan: the stage's per-expert batches.
        engines: one engine per expert name (built, not necessarily loaded).
        make_request: builds the request for one (instance, expert) pair.
        batch_size: requests per ``generate`` call while a model is resident.
        keep_loaded: experts to leave resident after the stage (e.g. the next stage's aggregator).
        on_progress: called after each batch with (expert, done, total).
    """
    out = StageResults()
    for batch in plan.batches:
        engine = engines[batch.expert]
        engine.load()
        out.load_order.append(batch.expert)
        ids = batch.instance_ids
        for start in range(0, len(ids), batch_size):
            chunk = ids[start : start + batch_size]
            requests = [make_request(i, batch.expert) for i in chunk]
            for inst, res in zip(chunk, engine.generate(requests), strict=True):
                out.results[(inst, batch.expert)] = res
            if on_progress is not None:
                on_progress(batch.expert, min(start + batch_size, len(ids)), len(ids))
        if batch.expert not in keep_loaded:
            engine.unload()
        logger.info("stage %s: %s answered %d requests", plan.stage, batch.expert, len(ids))
    return out
