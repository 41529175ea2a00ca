"""The live pipeline: a session's engines and fitted method, and the stages a job runs through.

Data flows one way: annotate (skills) -> recruit (routing decisions) -> experts (answers, batched per
expert) -> aggregate (final answers). :data:`LIVE_STAGES` is that list; a new stage is one module plus
one entry there.

Example::

    with Session(pool) as session:
        job = Job(session, instances, journal)
        run_stages(job, LIVE_STAGES)
        finals = job.finals()
"""

from __future__ import annotations

from orchestrator.pipeline.aggregate import AggregateStage
from orchestrator.pipeline.annotate import AnnotateStage
from orchestrator.pipeline.experts import ExpertStage
from orchestrator.pipeline.job import Job, Pair, ProgressHook
from orchestrator.pipeline.recruit import RecruitStage
from orchestrator.pipeline.session import FittedMethod, Session
from orchestrator.pipeline.stage import Stage, run_stages

LIVE_STAGES: tuple[Stage, ...] = (AnnotateStage(), RecruitStage(), ExpertStage(), AggregateStage())
"""The stages of ``symoe run``, the Python API and the service, in order."""

__all__ = [
    "LIVE_STAGES",
    "AggregateStage",
    "AnnotateStage",
    "ExpertStage",
    "FittedMethod",
    "Job",
    "Pair",
    "ProgressHook",
    "RecruitStage",
    "Session",
    "Stage",
    "run_stages",
]
