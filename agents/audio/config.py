"""The audio job config (``configs/agents/audio-*.yaml``): generators, delivery target, checks, retries.

Example::

    cfg = load_audio_config("configs/agents/audio-cpu.yaml")
    cfg.generators[0].name       # "piper"
    cfg.delivery.target_lufs     # -16.0
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from agents.audio.generators.base import GeneratorSpec
from common.config_file import beside, load_model_file


class DeliveryConfig(BaseModel):
    """The finished mix: loudness target and true-peak ceiling (streaming-style defaults)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target_lufs: float = Field(default=-16.0, le=-5, ge=-40)
    true_peak_dbtp: float = Field(default=-1.0, le=0)
    loudness_tolerance_lu: float = Field(default=1.0, gt=0)
    sample_rate: int = Field(default=44100, ge=16000)


class MixConfig(BaseModel):
    """Ducking of the beds under speech (sidechain gain) and the limiter's margin."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    music_duck_db: float = Field(default=-12.0, le=0, description="Music gain while someone speaks.")
    ambience_duck_db: float = Field(default=-8.0, le=0, description="Ambience gain while someone speaks.")
    attack_s: float = Field(default=0.08, gt=0, description="Time to reach the ducked gain.")
    release_s: float = Field(default=0.5, gt=0, description="Time to come back up after speech.")
    lookahead_s: float = Field(default=0.1, ge=0, description="Ducking starts this long before speech.")
    limiter_margin_db: float = Field(
        default=0.5, ge=0, description="Limiter ceiling below the delivery ceiling."
    )
    bed_fade_s: float = Field(default=1.0, ge=0, description="Fade-in/out of music and ambience beds.")


class CheckConfig(BaseModel):
    """Bounds of the supervisor's model-free checks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    speech_duration_tolerance: float = Field(default=0.15, gt=0, description="Relative, speech vs plan.")
    duration_tolerance_s: float = Field(default=0.05, gt=0, description="Absolute, other kinds vs plan.")
    event_loudness_tolerance_lu: float = Field(default=2.0, gt=0)
    max_clipped_samples: int = Field(default=0, ge=0)
    max_silence_ratio: dict[str, float] = {"speech": 0.6, "music": 0.3, "ambience": 0.2, "sfx": 0.9}
    onset_tolerance_s: float = Field(default=0.05, gt=0)
    min_speech_snr_db: float = Field(default=6.0, description="Speech-band energy of speech over the rest.")


class CriticConfig(BaseModel):
    """The model-based critic: an LLM of the pool (by expert name); runs only after the free checks pass."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    expert: str | None = Field(default=None, description="Pool expert that critiques; None = no critic.")
    max_attempts: int = Field(default=2, ge=1)
    clap_model: str | None = Field(
        default=None, description="CLAP checkpoint scoring sfx/ambience/music (GPU)."
    )
    clap_device: str = "cuda"
    clap_min_score: float = Field(
        default=0.1, ge=-1, le=1, description="Least text-audio similarity accepted."
    )


class AudioJobConfig(BaseModel):
    """One audio team: its generators and how it plans, checks, mixes and retries."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    name: str = "audio"
    generators: tuple[GeneratorSpec, ...] = Field(min_length=1)
    profiles: str | None = Field(default=None, description="Profiles JSON (relative to the config file).")
    planner: str = Field(default="rule_based", description="rule_based, or a pool expert's name (LLM).")
    max_attempts: int = Field(default=3, ge=1, le=10, description="Retry budget per event, first included.")
    mix_attempts: int = Field(default=3, ge=1, le=10, description="Remix budget for failed mix checks.")
    seed: int = 0
    delivery: DeliveryConfig = DeliveryConfig()
    mix: MixConfig = MixConfig()
    checks: CheckConfig = CheckConfig()
    critic: CriticConfig = CriticConfig()
    snap_window_s: float = Field(
        default=1.0, ge=0, description="Video: events this close to a cut snap to it."
    )
    scene_threshold: float = Field(
        default=0.3, gt=0, lt=1, description="ffmpeg scene-change score for a cut."
    )


def load_audio_config(path: str | Path) -> AudioJobConfig:
    """Read a YAML audio config; ``profiles`` resolves beside the file.

    Raises:
        ConfigError: unreadable file or invalid fields (naming the file).
    """
    cfg = load_model_file(path, AudioJobConfig, "audio config")
    if cfg.profiles:
        cfg = cfg.model_copy(update={"profiles": beside(path, cfg.profiles)})
    return cfg
