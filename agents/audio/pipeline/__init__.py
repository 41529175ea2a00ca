"""The audio pipeline: a team's session, the state of one job, and the stages a job runs through.

Data flows one way: plan (video probe, the plan, cut alignment) -> review (the plan reviewer, then the
input limits) -> generate (speech first, slots moved to the spoken lengths, then effects, beds and music;
recruited generators, one batch per generator, event supervisor checks and retries) -> supervise (the
chosen clip of each event, failed events left out) -> mix (the mix supervisor's mix-check-remix loop) ->
deliver (files, report, figure, learned profiles). :data:`AUDIO_STAGES` is that list; a new stage is one
module plus one entry there.

Example::

    session = AudioSession(config, store="runs.sqlite")
    job = run_stages(AudioJob(session, spec, board, SessionClock(board)), AUDIO_STAGES)
    job.result.report.mix.integrated_lufs
"""

from __future__ import annotations

from agents.audio.pipeline.deliver import DeliverStage
from agents.audio.pipeline.generate import GenerateStage
from agents.audio.pipeline.job import AudioJob
from agents.audio.pipeline.mix import MixStage
from agents.audio.pipeline.plan import PlanStage
from agents.audio.pipeline.review import ReviewStage
from agents.audio.pipeline.session import AudioSession, ProgressHook
from agents.audio.pipeline.stage import Stage, run_stages
from agents.audio.pipeline.supervise import SuperviseStage

AUDIO_STAGES: tuple[Stage, ...] = (
    PlanStage(),
    ReviewStage(),
    GenerateStage(),
    SuperviseStage(),
    MixStage(),
    DeliverStage(),
)
"""The stages of an audio job, in order."""

__all__ = [
    "AUDIO_STAGES",
    "AudioJob",
    "AudioSession",
    "DeliverStage",
    "GenerateStage",
    "MixStage",
    "PlanStage",
    "ProgressHook",
    "ReviewStage",
    "Stage",
    "SuperviseStage",
    "run_stages",
]
