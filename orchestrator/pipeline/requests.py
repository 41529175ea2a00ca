"""The expert requests of a job: one per recruited (question, expert) pair, what the store already has, and
the order models load in. Shared by the local expert stage and the Ray stream."""

from __future__ import annotations

from collections.abc import Sequence

from batching.journal.engine import with_request_id
from common.generation import GenRequest, GenResult
from common.records import Pair, RoutingDecision
from orchestrator.pipeline.job import Job
from orchestrator.prompts import expert_prompt


def requests_for(job: Job, decisions: Sequence[RoutingDecision]) -> dict[Pair, GenRequest]:
    """The request of every recruited (question, expert) pair (request id ``<question>:<expert>``)."""
    configs = {m.name: m for m in job.session.pool.models}
    out: dict[Pair, GenRequest] = {}
    for d in decisions:
        inst = job.by_id[d.instance_id]
        prompt = expert_prompt(inst, job.passages.get(inst.id, ()))
        for e in d.called:
            out[(inst.id, e)] = GenRequest.chat(
                f"{inst.id}:{e}", prompt, configs[e].sampling.params(), inst.id
            )
    return out


def journaled(job: Job, requests: dict[Pair, GenRequest]) -> tuple[dict[Pair, GenResult], dict[Pair, str]]:
    """The pairs already in the store (an earlier attempt, or the cache) and every pair's prompt hash."""
    keys = {pair: job.engines[pair[1]].key(req) for pair, req in requests.items()}
    found = job.journal.lookup(list(keys.values()))
    known = {p: with_request_id(found[k], requests[p].request_id) for p, k in keys.items() if k in found}
    return known, keys


def load_order(job: Job) -> tuple[str | None, str | None, list[str]]:
    """(first, last, order): the annotator answers first, the LLM aggregator last."""
    pool, experts = job.session.pool, job.session.experts
    first = pool.annotation.annotator if pool.annotation.annotator in experts else None
    agg = job.session.known_aggregator() if pool.method.aggregator_class.needs_model else None
    last = agg if agg in experts else None
    middle = [e for e in experts if e not in (first, last)]
    return first, last, [x for x in (first,) if x] + middle + [x for x in (last,) if x]
