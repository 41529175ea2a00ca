"""The audio generator interface: tasks in (events with instructions), raw audio out, one per task.

A generator serves some event kinds (its config's ``priors`` name them, with a prior quality each) and,
for speech, some voice labels. It returns raw audio at its own sample rate; the team resamples, trims,
sets the gain and checks it. A task the generator cannot render comes back with ``error`` set instead of
raising, so the supervisor can send it to the next generator.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from agents.audio.timeline import AudioEvent
from agents.generator import ExpertGenerator
from agents.messages import Instruction

RATE_RANGE = (0.9, 1.1)
"""A line is never sped up or slowed down beyond this (the plan's slot moves instead)."""


class GeneratorConfig(BaseModel):
    """What every generator config has. Each generator class validates its own fields (``config_cls``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="Unique name in the pool, used in profiles and reports.")
    generator: str = Field(description="Registry key of the implementation (espeak_ng, midi_music, ...).")
    priors: dict[str, float] = Field(description="Prior quality in [0, 1] per event kind it serves.")


class GeneratorSpec(GeneratorConfig):
    """A generator entry as read from YAML, before its class validates the generator-specific fields."""

    model_config = ConfigDict(extra="allow", frozen=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioTask:
    """One event to render, with the supervisor's instruction for this attempt."""

    event: AudioEvent
    attempt: int
    instruction: Instruction | None
    seed: int
    work_dir: Path

    @property
    def rate(self) -> float:
        """Speaking rate asked for, clamped to :data:`RATE_RANGE` (speech keeps its natural pace)."""
        rate = self.instruction.rate if self.instruction is not None else 1.0
        return min(max(rate, RATE_RANGE[0]), RATE_RANGE[1])


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderedAudio:
    """Raw generator output (mono float, full scale 1.0) or an error."""

    samples: np.ndarray
    sample_rate: int
    detail: str = ""
    error: str | None = None
    source: str = ""
    """What rendered it, for the report: ``recipe dog``, ``library dog_bark.wav``, a model name."""
    match_score: float | None = None
    """Similarity of the event's description to what rendered it (effects found by embedding)."""

    @classmethod
    def failed(cls, error: str) -> RenderedAudio:
        return cls(samples=np.zeros(0), sample_rate=1, error=error)


class AudioGenerator(ExpertGenerator[AudioTask, RenderedAudio]):
    """Base of every audio generator.

    Subclasses set ``config_cls`` (their config model) and implement ``_load``/``_generate``.
    """

    config_cls: ClassVar[type[GeneratorConfig]] = GeneratorConfig
    config: GeneratorConfig

    def accepts(self, event: AudioEvent) -> bool:
        """Whether this generator can render ``event`` (its kind is in the priors by default)."""
        return event.kind in self.config.priors


def run_tool(args: Sequence[str], timeout_s: float = 120.0) -> str | None:
    """Run a command-line tool; None on success, else an error naming the tool and its stderr tail."""
    try:
        proc = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout_s, check=False)
    except FileNotFoundError:
        return f"{args[0]} is not installed (run scripts/setup.sh, which installs it with apt-get)"
    except subprocess.TimeoutExpired:
        return f"{args[0]} timed out after {timeout_s:.0f} s"
    if proc.returncode != 0:
        return f"{args[0]} exited {proc.returncode}: {proc.stderr.strip()[-300:]}"
    return None
