"""The GPU config's neural generators and the CLAP critic on a CPU: tiny random-weight Bark, AudioLDM2,
Stable Audio Open and CLAP, built locally (no download), each run through the project's own classes.

The audio is noise from random weights, so the tests check its form: the requested length and sample
rate, finite, not silent. The diffusers pipelines skip, saying so, when the ``audio-gpu`` extra
(diffusers, torchsde) is not installed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tiny_audio_models import build_tiny_audioldm2, build_tiny_bark, build_tiny_clap, build_tiny_stable_audio

from agents.audio.config import CheckConfig
from agents.audio.generators import AudioTask, build_generators
from agents.audio.generators.base import GeneratorSpec, RenderedAudio
from agents.audio.timeline import AudioEvent

# torch, transformers and diffusers imports alone take seconds on a loaded 2-core machine
pytestmark = pytest.mark.slow


def _need_diffusers(*extra: str) -> None:
    for module in ("diffusers", *extra):
        pytest.importorskip(module, reason=f"{module} is not installed (the audio-gpu extra)")


@pytest.fixture(scope="session")
def tiny_bark(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_bark(tmp_path_factory.mktemp("models") / "bark")


@pytest.fixture(scope="session")
def tiny_audioldm2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _need_diffusers()
    return build_tiny_audioldm2(tmp_path_factory.mktemp("models") / "audioldm2")


@pytest.fixture(scope="session")
def tiny_stable_audio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _need_diffusers("torchsde")  # Stable Audio Open's scheduler (CosineDPMSolverMultistep) needs torchsde
    return build_tiny_stable_audio(tmp_path_factory.mktemp("models") / "stable-audio")


def _render(spec: GeneratorSpec, event: AudioEvent, tmp_path: Path) -> RenderedAudio:
    [gen] = build_generators([spec])
    assert gen.accepts(event)
    try:
        [out] = gen.generate([AudioTask(event=event, attempt=1, instruction=None, seed=0, work_dir=tmp_path)])
    finally:
        gen.unload()
    assert out.error is None
    assert np.isfinite(out.samples).all() and np.abs(out.samples).max() > 1e-3
    return out


def test_bark_speaks_a_line_with_a_voice_preset(tiny_bark: Path, tmp_path: Path) -> None:
    """Bark through the text-to-speech pipeline with the configured voice preset (loaded by the processor,
    passed to ``generate`` as ``history_prompt``; ``voice_preset`` itself is rejected there), and the
    semantic cap keeping a babbling model's line within the supervisor's plausible speech length. (The
    tiny model's greedy output does not depend on the preset, so its effect is not asserted.)"""
    line = AudioEvent(id="s", kind="speech", start_s=0, duration_s=1.0, text="The calm rain.", voice="male")
    spec = GeneratorSpec(name="bark", generator="transformers_audio", task="text-to-speech",
                         model=str(tiny_bark), device="cpu", dtype="float32", priors={"speech": 0.8},
                         voices={"male": "v2/en_speaker_6"})  # type: ignore[call-arg]  # fmt: skip
    out = _render(spec, line, tmp_path)
    low, high = CheckConfig().speech_length_ratio
    assert out.sample_rate == 24000
    assert low <= out.samples.size / out.sample_rate / line.duration_s <= high


def test_audioldm2_renders_an_effect_of_the_planned_length(tiny_audioldm2: Path, tmp_path: Path) -> None:
    event = AudioEvent(id="x", kind="sfx", start_s=0, duration_s=2.0, description="a dog barks in the rain")
    spec = GeneratorSpec(name="audioldm2", generator="diffusers_audio", pipeline="audioldm2", steps=2,
                         model=str(tiny_audioldm2), device="cpu", dtype="float32", priors={"sfx": 0.8})  # type: ignore[call-arg]  # fmt: skip
    out = _render(spec, event, tmp_path)
    assert out.sample_rate == 16000 and out.samples.size == round(event.duration_s * out.sample_rate)
    assert out.samples.ndim == 1


def test_stable_audio_renders_ambience_of_the_planned_length(tiny_stable_audio: Path, tmp_path: Path) -> None:
    """Stereo out of the VAE, mixed down to mono; the sample rate is the VAE's."""
    event = AudioEvent(id="a", kind="ambience", start_s=0, duration_s=3.0, description="rain on a roof")
    spec = GeneratorSpec(name="stable-audio", generator="diffusers_audio", pipeline="stable_audio", steps=2,
                         model=str(tiny_stable_audio), device="cpu", dtype="float32",
                         priors={"ambience": 0.8})  # type: ignore[call-arg]  # fmt: skip
    out = _render(spec, event, tmp_path)
    assert out.sample_rate == 16000 and out.samples.size == round(event.duration_s * out.sample_rate)
    assert out.samples.ndim == 1


def test_the_clap_critic_scores_each_pair(tmp_path: Path) -> None:
    """Random weights give no meaningful ranking: one cosine per (text, clip) pair, in [-1, 1], and the
    text changes the score."""
    from agents.audio.clap import ClapCritic
    from agents.audio.generators.sfx_recipes import rain

    model = build_tiny_clap(tmp_path / "clap")
    sr = 44100
    clip = rain(3.0, sr, np.random.default_rng(0))
    critic = ClapCritic(str(model), device="cpu")
    try:
        scores = critic.score(["rain falling on a roof", "a man giving a speech"], [clip, clip], sr)
    finally:
        critic.close()
    assert len(scores) == 2 and all(-1.0 <= s <= 1.0 for s in scores) and scores[0] != scores[1]
