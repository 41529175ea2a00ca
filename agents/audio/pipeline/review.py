"""The review stage: the plan reviewer fixes what a plan gets wrong (:func:`agents.audio.review.review_plan`),
then the reviewed plan must fit the input limits before any generator runs.

Journaled step: ``review``.
"""

from __future__ import annotations

from agents.audio.limits import check_renderable
from agents.audio.pipeline.job import AudioJob
from agents.audio.review import review_plan
from agents.audio.timeline import Timeline


class ReviewStage:
    """Replaces ``job.timeline`` with the reviewed plan.

    Raises:
        DataError: the reviewed plan is over a limit or has nothing to render; nothing is rendered.
    """

    name = "review"
    own_progress = False

    def run(self, job: AudioJob) -> None:
        plan = job.planned()
        job.timeline = job.board.step("review", Timeline, lambda: review_plan(plan))
        check_renderable(job.timeline, job.config.limits)
        job.clock.tick()
