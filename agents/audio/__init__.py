"""The soundtrack team: a brief, a JSON timeline or a video in, a mixed, checked soundtrack out.

Example::

    from agents.audio import AudioTeam, load_audio_config

    team = AudioTeam(load_audio_config("configs/agents/audio-cpu.yaml"))
    result = team.render("examples/audio/rainy_cabin.txt", "out/cabin")
    print(result.report.mix.integrated_lufs, result.out_dir / "mix.wav")
"""

from __future__ import annotations

from agents.audio.batch import render_batch
from agents.audio.config import AudioJobConfig, load_audio_config
from agents.audio.generators import generator_registry
from agents.audio.planner import plan_brief
from agents.audio.report import AudioReport
from agents.audio.review import review_plan
from agents.audio.team import AudioJobResult, AudioTeam
from agents.audio.timeline import AudioEvent, MusicSpec, Timeline

__all__ = [
    "AudioEvent",
    "AudioJobConfig",
    "AudioJobResult",
    "AudioReport",
    "AudioTeam",
    "MusicSpec",
    "Timeline",
    "generator_registry",
    "load_audio_config",
    "plan_brief",
    "render_batch",
    "review_plan",
]
