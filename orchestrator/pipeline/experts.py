"""Stage 3, experts: every recruited (question, expert) pair answered, batched per expert, loaded once.

Pairs already journaled in the run store (an earlier attempt of the run, or the cache) are read back and
never planned, so a model whose work is all journaled is not even loaded. The annotator, when it is also
an expert, answers first (still resident from annotation); the LLM aggregator, when it is also an expert,
answers last (and stays resident for aggregation).

With a Ray backend the stage streams instead (:mod:`orchestrator.pipeline.streaming`): batches are
journaled as they arrive and each question is decided as soon as its last expert answered.

A policy that recruits in rounds (``interactive``, e.g. adaptive_k) gets one batched round per call of
its ``extend``, each journaled like the first.
"""

from __future__ import annotations

from collections.abc import Sequence

from batching.executor import run_plan
from batching.planner import plan_stage
from common.errors import ConfigError
from common.records import Pair, RoutingDecision
from orchestrator.pipeline.job import Job, n_options, parse
from orchestrator.pipeline.requests import journaled, load_order, requests_for
from orchestrator.pipeline.streaming import StreamingStage


class ExpertStage:
    """Fill ``job.results`` for every recruited pair (and, with Ray, ``job.decided``)."""

    name = "experts"

    def __init__(self, *, aggregate_streaming: bool = True) -> None:
        self.aggregate_streaming = aggregate_streaming

    def run(self, job: Job) -> None:
        policy = job.fitted.policy
        if job.session.backend is not None:
            if policy.interactive:
                raise ConfigError(
                    f"policy {policy.name!r} recruits in rounds and runs on the local backend only"
                )
            StreamingStage(job, aggregate=self.aggregate_streaming).run()
            return
        answer_pairs(job, job.decisions)
        if policy.interactive:
            n_opts = [n_options(job.by_id[d.instance_id]) for d in job.decisions]

            def fetch(pairs: list[Pair]) -> dict[Pair, str | None]:
                extra = [RoutingDecision(instance_id=i, experts=[e]) for i, e in pairs]
                answer_pairs(job, extra)
                return {p: parse(job.results[p], job.by_id[p[0]]) for p in pairs}

            job.decisions = policy.extend(job.decisions, n_opts, fetch)  # type: ignore[attr-defined]


def answer_pairs(job: Job, decisions: Sequence[RoutingDecision]) -> None:
    """Answer the pairs of ``decisions`` not yet in ``job.results``, batched per expert."""
    requests = {p: r for p, r in requests_for(job, decisions).items() if p not in job.results}
    known, _ = journaled(job, requests)
    job.results.update(known)
    todo = [
        (d.instance_id, [e for e in d.experts if (d.instance_id, e) not in job.results]) for d in decisions
    ]
    plan = plan_stage(job.journal.stage, todo, load_order=load_order(job)[2])
    session = job.session
    done = run_plan(
        plan,
        job.engines,
        lambda iid, expert: requests[(iid, expert)],
        batch_size=session.pool.batch_size,
        on_progress=job.hook(job.journal.stage),
        residency=session.residency,
        lock=session.lock,
    )
    job.results.update(done.results)
    if session.residency is not None:
        job.counts["residency_evictions"] = session.residency.evictions - job.evictions_at_start
