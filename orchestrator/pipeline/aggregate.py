"""Stage 4, aggregate: each question's final answer by the method's decision (consensus, vote, or LLM).

Questions the Ray stream already decided are skipped. Those the method leaves to the LLM aggregator
(``aggregation: llm``) are answered by the pool's aggregator model in one batch; a reply without a
parsable answer falls back to the experts' majority vote (counted in the report).
"""

from __future__ import annotations

import logging

from common.generation import GenRequest
from common.records import Instance, RoutingDecision
from orchestrator.aggregation.choice import build_aggregator_prompt
from orchestrator.aggregation.decide import Decided, Question
from orchestrator.answers import extract_answer
from orchestrator.pipeline.job import Job

logger = logging.getLogger(__name__)


class AggregateStage:
    """Fill ``job.decided`` for every question not decided yet."""

    name = "aggregate"

    def run(self, job: Job) -> None:
        decider = job.fitted.decider
        acc = decider.local_accuracy(job.queries())
        llm: list[tuple[Instance, Question, GenRequest]] = []
        for row, d in enumerate(job.decisions):
            if d.instance_id in job.decided:
                continue
            q = job.question(d, acc, row)
            out = job.decider(d.instance_id).decide(q)
            if out is not None:
                job.decided[d.instance_id] = out
            else:
                inst = job.by_id[d.instance_id]
                llm.append((inst, q, aggregator_request(job, inst, d)))
        if not llm:
            return
        agg = job.session.aggregator
        assert agg is not None  # the pool config requires one for aggregation 'llm'
        with job.session.lock:
            replies = job.engines[agg].generate([r for _, _, r in llm])
        for (inst, q, _), res in zip(llm, replies, strict=True):
            job.decided[inst.id] = decide_from_reply(job, inst, q, res.text)
        if job.progress is not None:
            job.progress("aggregate", agg, len(llm), len(llm))
        logger.info("aggregator %s: %d questions", agg, len(llm))


def aggregator_request(job: Job, inst: Instance, d: RoutingDecision) -> GenRequest:
    """The LLM aggregator's request for one question: its experts' replies, best-ranked first."""
    pool = job.session.pool
    experts = list(dict.fromkeys(d.experts))
    texts = [job.results[(inst.id, e)].text or "" for e in experts]
    prompt = build_aggregator_prompt(
        inst.prompt_text(),
        texts,
        inst.answer_format,
        max_chars_per_response=pool.aggregator_max_chars_per_response,
        passages=job.passages.get(inst.id, ()),
    )
    sampling = pool.aggregator_sampling.params()
    return GenRequest.chat(f"aggregate:{inst.id}", prompt, sampling, inst.id)


def decide_from_reply(job: Job, inst: Instance, q: Question, text: str | None) -> Decided:
    """The aggregator's answer in its reply (the experts' majority when it has none)."""
    answer = extract_answer(text, inst.answer_format) if text else None
    return job.fitted.decider.from_aggregator(q, answer, text)
