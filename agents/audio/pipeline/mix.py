"""The mix stage: the mix supervisor mixes the chosen clips (:mod:`agents.audio.mixer`), checks the
delivery and every event in the mix, and remixes with its fixes within ``mix_attempts``
(:func:`agents.audio.supervisors.mix.supervise_mix`).

Journaled steps: ``mix/<attempt>/verdict``.
"""

from __future__ import annotations

from agents.audio.pipeline.job import AudioJob
from agents.audio.supervisors.mix import supervise_mix


class MixStage:
    """Sets ``job.mix_verdict`` and ``job.mix_result`` (the best attempt by the declared score)."""

    name = "mix"
    own_progress = False

    def run(self, job: AudioJob) -> None:
        assert job.mixed is not None, "the supervise stage runs before the mix"
        job.mix_verdict, job.mix_result = supervise_mix(job.board, job.mixed, job.clips, job.config)
