"""The live pipeline: a session's engines and fitted method, and the stages a job runs through.

Data flows one way: annotate (skills) -> recruit (routing decisions) -> retrieve (the pre-generation
gate: passages and open-book recruits) -> experts (answers, batched per expert) -> second pass (the
post-generation gate: disagreeing questions again, open-book) -> aggregate (final answers) -> audit (a
share of questions the other way too). :data:`LIVE_STAGES` is that list; a new stage is one module plus
one entry there; the retrieval stages do nothing for a pool whose retrieval mode is ``never``.

Example::

    with Session(pool) as session:
        job = Job(session, instances, journal)
        run_stages(job, LIVE_STAGES)
        finals = job.finals()
"""

from __future__ import annotations

from orchestrator.pipeline.aggregate import AggregateStage
from orchestrator.pipeline.annotate import AnnotateStage
from orchestrator.pipeline.audit import AuditStage
from orchestrator.pipeline.experts import ExpertStage
from orchestrator.pipeline.job import Job, ProgressHook
from orchestrator.pipeline.recruit import RecruitStage
from orchestrator.pipeline.retrieve import RetrieveStage
from orchestrator.pipeline.second_pass import SecondPassStage
from orchestrator.pipeline.session import FittedMethod, Session
from orchestrator.pipeline.stage import Stage, run_stages

LIVE_STAGES: tuple[Stage, ...] = (
    AnnotateStage(),
    RecruitStage(),
    RetrieveStage(),
    ExpertStage(),
    SecondPassStage(),
    AggregateStage(),
    AuditStage(),
)
"""The stages of ``symoe run``, the Python API and the service, in order."""

__all__ = [
    "LIVE_STAGES",
    "AggregateStage",
    "AnnotateStage",
    "AuditStage",
    "ExpertStage",
    "FittedMethod",
    "Job",
    "ProgressHook",
    "RecruitStage",
    "RetrieveStage",
    "SecondPassStage",
    "Session",
    "Stage",
    "run_stages",
]
