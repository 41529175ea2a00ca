"""The stage interface and the pipeline: an ordered list of stages run over one job.

A stage is anything with a ``name`` and a ``run(job)`` that reads and writes the job's fields. Adding a
stage (retrieval, say) is one module holding the class plus one entry in :data:`LIVE_STAGES`::

    class RetrieveStage:
        name = "retrieve"

        def run(self, job: Job) -> None:
            job.passages = {...}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from orchestrator.pipeline.job import Job


class Stage(Protocol):
    """One step of the pipeline; timed and journaled under its ``name``."""

    name: str

    def run(self, job: Job) -> None: ...


def run_stages(job: Job, stages: Sequence[Stage]) -> Job:
    """Run ``stages`` in order over ``job`` (each timed and journaled under its name)."""
    for stage in stages:
        with job.stage(stage.name):
            stage.run(job)
    return job
