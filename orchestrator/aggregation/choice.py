"""`aggregator: auto`: choose a pool's aggregator with the aggregator benchmark on profiling answers.

The experts' validation outputs (from ``symoe profile``) give, per question, correct and wrong reasoning
chains; every candidate model is asked to synthesise one correct and two wrong chains into an answer
(:mod:`skills.aggregator_bench`), and the one that recovers the gold answer most often is recorded in the
profiles file as the pool's aggregator.
"""

from __future__ import annotations

import logging
from functools import partial

from common.errors import ConfigError
from orchestrator.answers import extract_answer, is_correct
from orchestrator.pipeline.job import Job
from skills.aggregator_bench import (
    AggregatorBenchItem,
    ReasoningChain,
    build_bench_items,
    score_aggregator,
)

logger = logging.getLogger(__name__)


def rank_pool_aggregators(job: Job, *, max_items: int = 200) -> tuple[str, list[tuple[str, float]]]:
    """Score every candidate aggregator on ``job``'s validation chains.

    Args:
        job: a profiling job: every expert answered every (gold-labelled) question.
        max_items: benchmark items at most (a seeded subsample).

    Returns:
        The best candidate and the ranking ``[(name, accuracy 0-1)]``, best first (ties: name order).

    Raises:
        ConfigError: no question has both a correct and two wrong expert chains.
    """
    pool, session = job.session.pool, job.session
    chains: dict[str, list[ReasoningChain]] = {}
    for inst in job.instances:
        for e in session.experts:
            r = job.results[(inst.id, e)]
            a = extract_answer(r.text, inst.answer_format) if r.text else None
            ok = inst.gold is not None and is_correct(a, inst.gold, inst.answer_format)
            chains.setdefault(inst.id, []).append(ReasoningChain(e, r.text or "", a, ok))
    items = build_bench_items(job.instances, chains, seed=pool.seed, max_items=max_items)
    if not items:
        raise ConfigError(
            f"pool {pool.name!r}, aggregator: auto: no validation question has one correct and two wrong "
            "expert answers to benchmark aggregators on; name the aggregator in the pool config instead"
        )
    fmt = {i.id: i.answer_format for i in job.instances}
    by_kind: dict[str, list[AggregatorBenchItem]] = {}
    for it in items:  # the extractor reads one answer format, so each format is scored on its own
        by_kind.setdefault(fmt[it.instance_id].kind, []).append(it)
    candidates = pool.aggregator_candidates or [m.name for m in pool.models]
    scores = []
    for name in candidates:
        correct = 0
        for group in by_kind.values():
            f = fmt[group[0].instance_id]
            with session.lock:
                score = score_aggregator(
                    job.engines[name],
                    group,
                    partial(extract_answer, answer_format=f),
                    sampling=pool.aggregator_sampling.params(),
                    is_correct=partial(is_correct, answer_format=f),
                    name=name,
                )
            correct += score.correct
        scores.append((name, correct / len(items)))
    ranking = sorted(scores, key=lambda s: (-s[1], s[0]))
    logger.info("aggregator bench over %d items: %s", len(items), ranking)
    return ranking[0][0], ranking
