"""The audio stage interface and the runner: an ordered list of stages over one :class:`AudioJob`.

A stage is anything with a ``name``, an ``own_progress`` flag and a ``run(job)`` that reads and writes
the job's fields. Adding a stage is one module holding the class plus one entry in
:data:`agents.audio.pipeline.AUDIO_STAGES`::

    class LoudnessStage:
        name = "loudness"
        own_progress = False

        def run(self, job: AudioJob) -> None:
            job.clips = {...}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from agents.audio.pipeline.job import AudioJob


class Stage(Protocol):
    """One step of the audio pipeline; timed under its ``name`` (and shown as one progress step unless
    ``own_progress``: the stage then reports ``(done, total)`` itself)."""

    name: str
    own_progress: bool

    def run(self, job: AudioJob) -> None: ...


def run_stages(job: AudioJob, stages: Sequence[Stage]) -> AudioJob:
    """Run ``stages`` in order over ``job`` (each timed under its name)."""
    for stage in stages:
        with job.stage(stage.name, own_progress=stage.own_progress):
            stage.run(job)
    return job
