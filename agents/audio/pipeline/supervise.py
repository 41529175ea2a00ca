"""The supervise stage: the event supervisors' outcomes become the mix's input.

Each event's clip is the attempt its supervisor loop chose (the passing one, else the one that passed the
most checks); an event every generator failed is left out of the mix (the deliver stage reports why). For
a video shorter than the soundtrack, the plan notes that ``mix.mp4`` holds its last frame.
"""

from __future__ import annotations

from agents.audio.clips import load_clip
from agents.audio.pipeline.job import AudioJob


class SuperviseStage:
    """Sets ``job.clips`` (the chosen clip of each event that has one) and ``job.mixed`` (their events)."""

    name = "supervise"
    own_progress = False

    def run(self, job: AudioJob) -> None:
        timeline, video = job.planned(), job.video
        sr = job.config.delivery.sample_rate
        job.clips = {k: load_clip(o.output, sr) for k, o in job.outcomes.items() if o.output.error is None}
        mixed = timeline.model_copy(update={"events": tuple(e for e in timeline.events if e.id in job.clips)})
        if video is not None and video.duration_s + 0.05 < mixed.duration_s:
            mixed = mixed.model_copy(update={"notes": (*mixed.notes, (
                f"video is {video.duration_s:.2f} s, the soundtrack {mixed.duration_s:.2f} s: mix.mp4 "
                "holds the last frame to the end (no line is cut)"))})  # fmt: skip
        job.mixed = mixed
