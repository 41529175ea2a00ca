"""The audio job config (``configs/agents/audio-*.yaml``): generators, delivery target, checks, retries.

Example::

    cfg = load_audio_config("configs/agents/audio-cpu.yaml")
    cfg.generators[0].name       # "piper"
    cfg.delivery.target_lufs     # -16.0
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agents.audio.generators.base import GeneratorSpec
from agents.audio.limits import AudioLimitsConfig
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

    speech_length_ratio: tuple[float, float] = Field(
        default=(0.4, 2.5),
        description="Spoken length over the planner's estimate that is plausible (outside: the engine "
        "failed, try the next one). Within it, the line keeps its natural rate and the slot moves.",
    )
    duration_tolerance_s: float = Field(default=0.05, gt=0, description="Absolute, other kinds vs plan.")
    event_loudness_tolerance_lu: float = Field(default=2.0, gt=0)
    max_clipped_samples: int = Field(default=0, ge=0)
    max_silence_ratio: dict[str, float] = {"speech": 0.6, "music": 0.3, "ambience": 0.2, "sfx": 0.9}
    onset_tolerance_s: float = Field(
        default=0.05, gt=0, description="Audible onset (measured on the event's stem) vs its slot."
    )
    onset_min_contrast_db: float = Field(
        default=12.0, gt=0, description="An onset is confident (and may move an event) above this contrast."
    )
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
    limits: AudioLimitsConfig = AudioLimitsConfig()
    sfx_library: tuple[str, ...] = Field(
        default=(),
        description="Folders of the user's own effect clips (WAV/FLAC/OGG), tried first for sfx and "
        "ambience (a generator `library` is added; relative to the config file).",
    )
    snap_window_s: float = Field(
        default=1.0, ge=0, description="Video: events this close to a cut snap to it."
    )
    scene_threshold: float = Field(
        default=0.3, gt=0, lt=1, description="ffmpeg scene-change score for a cut."
    )

    @model_validator(mode="before")
    @classmethod
    def _library_generator(cls, data: Any) -> Any:
        """``sfx_library:`` folders add a ``library`` generator first (unless one is configured)."""
        if not isinstance(data, dict) or not data.get("sfx_library"):
            return data
        gens = list(data.get("generators") or ())
        kinds = [g.get("generator") if isinstance(g, dict) else getattr(g, "generator", None) for g in gens]
        if "sfx_library" not in kinds:
            spec = {"name": "library", "generator": "sfx_library", "folders": list(data["sfx_library"]),
                    "priors": {"sfx": 0.9, "ambience": 0.9}}  # fmt: skip
            data = {**data, "generators": [spec, *gens]}
        return data

    def with_sfx_library(self, folders: tuple[str, ...]) -> AudioJobConfig:
        """This config with more library folders (``--sfx-library``)."""
        if not folders:
            return self
        gens = [g for g in self.generators if g.generator != "sfx_library"]
        data = self.model_dump(mode="json")
        data.update(generators=[g.model_dump(mode="json") for g in gens],
                    sfx_library=[*self.sfx_library, *folders])  # fmt: skip
        return AudioJobConfig.model_validate(data)


def load_audio_config(path: str | Path) -> AudioJobConfig:
    """Read a YAML audio config; ``profiles`` resolves beside the file.

    Raises:
        ConfigError: unreadable file or invalid fields (naming the file).
    """
    cfg = load_model_file(path, AudioJobConfig, "audio config")
    if cfg.profiles:
        cfg = cfg.model_copy(update={"profiles": beside(path, cfg.profiles)})
    if cfg.sfx_library:
        cfg = cfg.model_copy(update={"sfx_library": ()}).with_sfx_library(
            tuple(beside(path, f) for f in cfg.sfx_library)
        )
    return cfg
