"""Stage 5, second pass: the post-generation gate of ExpertRAG (mode ``gated``).

After the expert stage, a closed-book question whose recruited experts disagree (the share backing the
plurality answer is under ``agreement_threshold``) is retrieved for and answered again, open-book, by the
experts the open-book profiles recruit; their answers replace the first pass's (kept in the trace). The
second pass is one more expert stage over those questions only, batched per expert (streamed on Ray).
A question the store has no passage for keeps its first answers.
"""

from __future__ import annotations

import logging

from common.records import RoutingDecision
from orchestrator.aggregation.vote import Ballot, majority_vote
from orchestrator.pipeline.experts import answer_pairs
from orchestrator.pipeline.job import Job, parse
from orchestrator.pipeline.retrieve import open_book, search
from orchestrator.pipeline.streaming import StreamingStage
from orchestrator.rag.branch import vote_features

logger = logging.getLogger(__name__)


class SecondPassStage:
    """Re-answer disagreeing closed-book questions open-book (``job.results`` and ``job.decisions``)."""

    name = "second_pass"

    def run(self, job: Job) -> None:
        cfg = job.session.pool.retrieval
        if cfg.mode != "gated" or cfg.agreement_threshold <= 0 or job.fitted.retrieval is None:
            return
        rows = disagreeing(job, cfg.agreement_threshold)
        if not rows:
            return
        search(job, rows)
        redo: list[RoutingDecision] = []
        for row in rows:
            iid = job.instances[row].id
            found = job.retrievals[iid]
            if not found.hits:
                continue
            first = job.decisions[row]
            answers = [parse(job.results[(iid, e)], job.by_id[iid]) for e in first.experts]
            job.first_pass[iid] = {(iid, e): job.results.pop((iid, e)) for e in dict.fromkeys(first.experts)}
            job.decided.pop(iid, None)  # decided in the Ray stream: decide again after the second pass
            open_book(job, row, found.passages())
            job.gate[iid] = job.gate[iid].model_copy(update={
                "retrieved": True, "stage": "post", "reason": "disagreement", "passages": found.passages(),
                "first_pass_experts": list(first.experts),
                "first_pass_answer": majority_vote([Ballot(e, a) for e, a in zip(first.experts, answers,
                                                                                 strict=True)]),
            })  # fmt: skip
            redo.append(job.decisions[row])
        job.count("retrieved_post", len(redo))
        logger.info("retrieval: second, open-book pass for %d disagreeing questions", len(redo))
        if not redo:
            return
        if job.session.backend is not None:
            StreamingStage(job, decisions=redo).run()
        else:
            answer_pairs(job, redo)


def disagreeing(job: Job, threshold: float) -> list[int]:
    """Rows of closed-book questions whose recruited experts back their plurality answer under ``threshold``.

    Every closed-book question's agreement goes into its retrieval trace. A single recruited expert
    cannot disagree with itself, so questions with one recruit never qualify.
    """
    rows = []
    for row, d in enumerate(job.decisions):
        iid = d.instance_id
        if iid in job.open_book:
            continue
        answers = [parse(job.results[(iid, e)], job.by_id[iid]) for e in d.experts]
        plurality = majority_vote([Ballot(e, a) for e, a in zip(d.experts, answers, strict=True)])
        agreement = vote_features(answers, plurality)[0]
        if iid in job.gate:
            job.gate[iid] = job.gate[iid].model_copy(update={"agreement": agreement})
        if len(d.experts) > 1 and agreement < threshold:
            rows.append(row)
    return rows
