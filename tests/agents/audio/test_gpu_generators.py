"""GPU generators and the CLAP critic (``gpu`` marker): each model renders one event, structure only.

The models must be in the local Hugging Face cache (nothing is downloaded); each test skips, naming the
model, when its checkpoint is absent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from audio_helpers import REPO

from agents.audio import load_audio_config
from agents.audio.generators import AudioTask, build_generators
from agents.audio.timeline import AudioEvent

pytestmark = pytest.mark.gpu


def _cuda() -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")


def _cached(model: str) -> None:
    from huggingface_hub import try_to_load_from_cache

    if not isinstance(try_to_load_from_cache(model, "config.json"), str) and not isinstance(
        try_to_load_from_cache(model, "model_index.json"), str
    ):
        pytest.skip(f"{model} is not in the local Hugging Face cache")


GPU_EVENTS = {
    "bark": AudioEvent(
        id="s", kind="speech", start_s=0, duration_s=2, text="Hello from the cabin.", voice="male"
    ),
    "musicgen": AudioEvent(
        id="m", kind="music", start_s=0, duration_s=3, description="slow strings, D minor"
    ),
    "audioldm2": AudioEvent(id="x", kind="sfx", start_s=0, duration_s=2, description="a door creaks open"),
    "stable-audio": AudioEvent(
        id="a", kind="ambience", start_s=0, duration_s=3, description="rain on a roof"
    ),
}


@pytest.mark.parametrize("name", sorted(GPU_EVENTS))
def test_gpu_generator_renders_one_event(name: str, tmp_path: Path) -> None:
    _cuda()
    cfg = load_audio_config(REPO / "configs" / "agents" / "audio-gpu.yaml")
    spec = next(g for g in cfg.generators if g.name == name)
    _cached(spec.model_extra["model"])  # type: ignore[index]
    [gen] = build_generators([spec])
    event = GPU_EVENTS[name]
    assert gen.accepts(event)
    try:
        [out] = gen.generate([AudioTask(event=event, attempt=1, instruction=None, seed=0, work_dir=tmp_path)])
    finally:
        gen.unload()
    assert out.error is None and out.sample_rate >= 16000 and np.isfinite(out.samples).all()
    assert out.samples.size / out.sample_rate >= 0.5 * event.duration_s and np.abs(out.samples).max() > 1e-3


def test_clap_scores_a_matching_description_higher(tmp_path: Path) -> None:
    _cuda()
    _cached("laion/clap-htsat-unfused")
    from agents.audio.clap import ClapCritic
    from agents.audio.generators.sfx_recipes import rain

    sr = 44100
    clip = rain(3.0, sr, np.random.default_rng(0))
    critic = ClapCritic("laion/clap-htsat-unfused")
    match, other = critic.score(["rain falling on a roof", "a man giving a speech"], [clip, clip], sr)
    critic.close()
    assert -1.0 <= other < match <= 1.0
