"""One audio job's pass through the stages: its input, what each stage produced, its journal and timings.

Stages read and write an :class:`AudioJob`: ``plan`` sets ``video`` and ``timeline``; ``review`` replaces
``timeline`` with the reviewed plan; ``generate`` moves it to the spoken lengths and fills ``outcomes``;
``supervise`` sets ``mixed`` and ``clips`` (what the mix gets); ``mix`` sets ``mix_verdict`` and
``mix_result``; ``deliver`` writes the files and sets ``result``. Every step is journaled on ``board``,
so a killed job resumed with the same run id continues at the first unfinished step.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from agents.audio.clips import ClipRecord
from agents.audio.config import AudioJobConfig
from agents.audio.mixer import MixResult
from agents.audio.pipeline.session import AudioSession
from agents.audio.report import AudioJobResult
from agents.audio.session_time import SessionClock
from agents.audio.source import AudioJobSpec
from agents.audio.supervisors.mix import MixVerdict
from agents.audio.timeline import Timeline
from agents.audio.video import VideoInfo
from agents.blackboard import Blackboard
from agents.supervisor import Outcome


@dataclass(kw_only=True)
class AudioJob:
    """The state of one job through the audio stages (see the module docstring for who writes what).

    Args:
        session: the team's session (generators, profiles, recruiter, engines).
        spec: the job's input and config, as stored with its run.
        board: the job's blackboard (journal).
        clock: this session's share of the job's time.
    """

    session: AudioSession
    spec: AudioJobSpec
    board: Blackboard
    clock: SessionClock
    stage_seconds: dict[str, float] = field(default_factory=dict)
    video: VideoInfo | None = None
    timeline: Timeline | None = None
    outcomes: dict[str, Outcome[ClipRecord]] = field(default_factory=dict)
    mixed: Timeline | None = None
    clips: dict[str, np.ndarray] = field(default_factory=dict)
    mix_verdict: MixVerdict | None = None
    mix_result: MixResult | None = None
    result: AudioJobResult | None = None
    _started: dict[str, float] = field(default_factory=dict)

    @property
    def config(self) -> AudioJobConfig:
        """The team's config (on a resume, the stored one with the command line's overrides)."""
        return self.session.config

    def planned(self) -> Timeline:
        """The current timeline (an internal error when no stage has planned one yet)."""
        assert self.timeline is not None, "the plan stage runs before the others"
        return self.timeline

    @contextmanager
    def stage(self, name: str, *, own_progress: bool) -> Iterator[None]:
        """Time a stage (summed into ``stage_seconds``) and, unless it reports its own progress, report
        it as one step."""
        if not own_progress:
            self.session.progress(name, 0, 1)
        self._started[name] = time.perf_counter()
        try:
            yield
        finally:
            self.stage_seconds[name] = self.seconds_so_far()[name]
            del self._started[name]
        if not own_progress:
            self.session.progress(name, 1, 1)

    def seconds_so_far(self) -> dict[str, float]:
        """``stage_seconds`` with the running stage's time so far (the deliver stage reports itself)."""
        now = time.perf_counter()
        out = dict(self.stage_seconds)
        for name, start in self._started.items():
            out[name] = round(out.get(name, 0.0) + now - start, 3)
        return out
