"""Stage 5, second pass: the post-generation gate of ExpertRAG (mode ``gated``).

After the expert stage, each closed-book question whose recruited experts disagree (the share backing
their plurality answer is under ``agreement_threshold``) is reconsidered: the gate re-estimates the
closed-book answer's chance with the vote's agreement, margin and spread
(:meth:`~orchestrator.rag.gate.RetrievalGate.assess_post`), and when the open-book estimate beats it by
more than ``min_gain`` the question is retrieved for and answered again, open-book, by the experts the
open-book profiles recruit. Their answers replace the first pass's (kept in the trace). The second pass
is one more expert stage over those questions only, batched per expert (streamed on Ray).
"""

from __future__ import annotations

import logging
import time

import numpy as np

from common.records import RoutingDecision
from orchestrator.pipeline.experts import answer_pairs
from orchestrator.pipeline.job import Job
from orchestrator.pipeline.retrieve import add_seconds, open_book, search
from orchestrator.pipeline.streaming import StreamingStage
from orchestrator.rag.branch import VoteSignals, vote_features
from orchestrator.voting.vote import Ballot, majority_vote

logger = logging.getLogger(__name__)


class SecondPassStage:
    """Re-answer disagreeing closed-book questions open-book (``job.results`` and ``job.decisions``)."""

    name = "second_pass"

    def run(self, job: Job) -> None:
        cfg = job.session.pool.retrieval
        rag = job.fitted.retrieval
        if cfg.mode != "gated" or cfg.agreement_threshold <= 0 or rag is None or rag.gate is None:
            return
        rows, votes, firsts = disagreeing(job, cfg.agreement_threshold)
        if not rows:
            return
        state = job.retrieval_state()
        assert state.gate_inputs is not None  # the retrieve stage read them (mode gated)
        start = time.perf_counter()
        verdicts = rag.gate.assess_post(state.gate_inputs.take(rows), np.array(votes))
        add_seconds(job, "gate", time.perf_counter() - start)
        chosen = []
        for row, v, first in zip(rows, verdicts, firsts, strict=True):
            iid = job.instances[row].id
            state.traces[iid] = state.traces[iid].model_copy(update={"score_post": v.score})
            if v.retrieve:
                chosen.append((row, first))
        search(job, [row for row, _ in chosen])
        redo = [d for d in (_reopen(job, row, first) for row, first in chosen) if d is not None]
        job.count("retrieved_post", len(redo))
        logger.info(
            "retrieval: %d of %d disagreeing questions answered again open-book", len(redo), len(rows)
        )
        if not redo:
            return
        if job.session.backend is not None:
            StreamingStage(job, decisions=redo).run()
        else:
            answer_pairs(job, redo)


def _reopen(job: Job, row: int, first_answer: str | None) -> RoutingDecision | None:
    """Move the question at ``row`` to the open book (None when the store has no passage for it)."""
    iid = job.instances[row].id
    state = job.retrieval_state()
    found = state.retrievals[iid]
    if not found.hits:
        return None
    first = job.decisions[row]
    state.first_pass[iid] = {(iid, e): job.results.pop((iid, e)) for e in dict.fromkeys(first.experts)}
    job.decided.pop(iid, None)  # decided in the Ray stream: decide again after the second pass
    open_book(job, row, found.passages())
    state.traces[iid] = state.traces[iid].model_copy(update={
        "retrieved": True, "stage": "post", "reason": "disagreement", "passages": found.passages(),
        "first_pass_experts": list(first.experts), "first_pass_answer": first_answer,
    })  # fmt: skip
    return job.decisions[row]


def disagreeing(job: Job, threshold: float) -> tuple[list[int], list[VoteSignals], list[str | None]]:
    """Closed-book questions whose recruits back the method's answer less than ``threshold`` of the time.

    Returns their rows, vote features (agreement, margin, spread, confidence) and first-pass answers
    (the method's vote; the experts' plurality where the LLM aggregator would decide, as the gate was
    fitted). Every closed-book question's agreement goes into its retrieval trace. A single recruited
    expert cannot disagree with itself, so questions with one recruit never qualify.
    """
    rows, votes, answers = [], [], []
    state = job.retrieval_state()
    decider = job.fitted.decider
    acc = decider.local_accuracy(job.queries())
    for row, d in enumerate(job.decisions):
        iid = d.instance_id
        if iid in state.open_book:
            continue
        q = job.question(d, acc, row)
        out = decider.decide(q)
        final = (
            out.answer
            if out is not None
            else majority_vote(
                [Ballot(expert=e, answer=a) for e, a in zip(q.experts, q.answers, strict=True)]
            )
        )
        vote = vote_features(q.answers, final, decider.confidence(q, final))
        if iid in state.traces:
            state.traces[iid] = state.traces[iid].model_copy(update={"agreement": vote[0]})
        if len(d.experts) > 1 and vote[0] < threshold:
            rows.append(row)
            votes.append(vote)
            answers.append(final)
    return rows, votes, answers
