"""Stage 7, audit: answer a random share of questions the other way too, to measure the gate's regret.

With ``audit_share`` P (``--retrieval-audit P``), each question is audited with probability P (a seeded
hash of its id, so a resumed run audits the same ones). An audited question the gate answered
closed-book is also answered open-book (its passages and open-book recruits), and one it answered
open-book also closed-book, in a *shadow* job over the audited questions: the same session, journal,
expert stage and aggregation. Its answers never replace the run's; they go into each audited answer's
retrieval trace (:class:`~common.records.AuditTrace`) and the run report's regret figures.
"""

from __future__ import annotations

import hashlib
import logging

from common.records import AuditTrace, RoutingDecision
from orchestrator.answers import is_correct
from orchestrator.pipeline.aggregate import AggregateStage
from orchestrator.pipeline.experts import ExpertStage
from orchestrator.pipeline.job import Job
from orchestrator.pipeline.retrieve import search

logger = logging.getLogger(__name__)


class AuditStage:
    """Fill ``job.rag.audit`` for the audited questions."""

    name = "audit"

    def run(self, job: Job) -> None:
        cfg = job.session.pool.retrieval
        if cfg.mode == "never" or cfg.audit_share <= 0 or job.fitted.retrieval is None:
            return
        rows = [r for r, i in enumerate(job.instances) if audited(i.id, cfg.audit_share, cfg.seed)]
        if not rows:
            return
        state = job.retrieval_state()
        search(job, [r for r in rows if job.instances[r].id not in state.open_book])
        shadow = Job(job.session, [job.instances[r] for r in rows], job.journal, progress=job.progress)
        shadow.embeddings = job.embeddings[rows] if job.embeddings is not None else None
        shadow.skills = [job.skills[r] for r in rows] if job.skills else []
        decisions: list[RoutingDecision] = []
        for row in rows:
            iid = job.instances[row].id
            if iid in state.open_book:
                decisions.append(state.closed_decisions.get(iid, job.decisions[row]))
                continue
            shadow.retrieval_state().open_book.add(iid)
            shadow.passages[iid] = state.retrievals[iid].passages()
            decisions.append(state.open_decisions.get(iid, job.decisions[row]))
        shadow.decisions = decisions
        ExpertStage().run(shadow)  # journaled under this stage's name, 'audit'
        AggregateStage().run(shadow)
        for d in decisions:
            iid, inst = d.instance_id, shadow.by_id[d.instance_id]
            answer = shadow.decided[iid].answer
            results = [shadow.results[(iid, e)] for e in dict.fromkeys(d.experts)]
            state.audit[iid] = AuditTrace(
                branch="open" if iid in shadow.retrieval_state().open_book else "closed",
                answer=answer,
                correct=is_correct(answer, inst.gold, inst.answer_format) if inst.gold else None,
                experts=list(d.experts),
                prompt_tokens=sum(r.prompt_tokens for r in results),
                generated_tokens=sum(r.generated_tokens for r in results),
            )
        job.count("audited", len(rows))
        logger.info("retrieval audit: %d questions answered both ways", len(rows))


def audited(instance_id: str, share: float, seed: int = 0) -> bool:
    """Whether a question is in the audit sample (a seeded hash of its id, below ``share``)."""
    digest = hashlib.sha256(f"{seed}:{instance_id}".encode()).hexdigest()
    return int(digest[:12], 16) / float(16**12) < share
