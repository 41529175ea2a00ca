"""Open-vocabulary effects: every effect of WavJourney's published examples resolves to a plausible,
non-silent recipe by embedding similarity, words shape the recipe, and a user's library comes first."""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agents.audio.dynamics import target_lufs
from agents.audio.generators.base import AudioTask
from agents.audio.generators.sfx_catalog import CATALOG
from agents.audio.generators.sfx_library import SfxLibraryConfig, SfxLibraryGenerator, index_folders
from agents.audio.generators.sfx_match import EmbeddingMatcher
from agents.audio.generators.sfx_params import parse_params
from agents.audio.timeline import AudioEvent
from skills.embedding import Embedder

WAVJOURNEY_EFFECTS = {
    "a dog barking": "dog", "glass shattering on the floor": "glass",
    "applause from the audience": "applause",
    "a car driving past": "car", "a phone ringing": "phone", "a gunshot": "gunshot",
    "fire crackling in the fireplace": "fire", "typing on a keyboard": "typing", "a clock ticking": "clock",
    "a laser gun firing": "laser", "a baby crying": "baby", "water flowing in a stream": "water",
    "thunder rumbling": "thunder", "footsteps on a wooden floor": "footsteps", "a door creaking open": "door",
    "birds chirping": "birds", "ocean waves crashing": "waves", "an explosion": "explosion",
}  # fmt: skip


@pytest.fixture(scope="module")
def embedder(minilm: Any) -> Embedder:
    return Embedder(model=minilm, cache_dir=None)


def test_the_catalogue_has_at_least_30_recipes_each_non_silent() -> None:
    assert len(CATALOG) >= 30
    rng = np.random.default_rng(0)
    for name, entry in CATALOG.items():
        x = entry.render(0.5, 16000, rng, parse_params("a big metal thing far away"))
        assert x.size == 8000 and np.all(np.isfinite(x)) and np.max(np.abs(x)) > 0.5, name


def test_wavjourney_effects_resolve_by_embedding(embedder: Embedder) -> None:
    names = list(CATALOG)
    matcher = EmbeddingMatcher([CATALOG[n].text for n in names], embedder)
    picks = matcher.best(list(WAVJOURNEY_EFFECTS))
    got = {d: names[i] for d, (i, _) in zip(WAVJOURNEY_EFFECTS, picks, strict=True)}
    assert got == WAVJOURNEY_EFFECTS
    assert min(s for _, s in picks) > 0.4
    [(_, odd)] = matcher.best(["a whirring alien contraption"])  # still renders, with a low score shown
    assert odd < min(s for _, s in picks)


def test_words_set_the_parameters_and_the_loudness() -> None:
    p = parse_params("a huge metal door slams in the distance")
    assert (p.size, p.material) == (0.9, "metal") and p.distance >= 0.8
    assert parse_params("the train station").material is None  # whole words only
    assert (
        target_lufs("sfx", "a massive explosion")
        > target_lufs("sfx", "a door")
        > target_lufs("sfx", "a soft bell far away")
    )
    assert (
        target_lufs("sfx", "a faint distant whisper of wind") >= -30
        and target_lufs("sfx", "deafening") <= -12
    )
    near = CATALOG["gunshot"].render(1.0, 16000, np.random.default_rng(1), parse_params("a gunshot"))
    far = CATALOG["gunshot"].render(1.0, 16000, np.random.default_rng(1), parse_params("a gunshot far away"))
    assert _centroid_hz(far) < 0.7 * _centroid_hz(near)  # distance dulls the sound


def _centroid_hz(x: np.ndarray, sr: int = 16000) -> float:
    power = np.abs(np.fft.rfft(x)) ** 2
    return float(np.sum(np.fft.rfftfreq(x.size, 1 / sr) * power) / np.sum(power))


def _wav(path: Path, freq: float) -> None:
    t = np.arange(8000) / 16000
    data = (0.5 * np.sin(2 * np.pi * freq * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000), w.writeframes(data.tobytes())


def test_a_user_library_is_indexed_and_matched(tmp_path: Path, minilm: Any) -> None:
    lib = tmp_path / "lib"
    (lib / "animals").mkdir(parents=True)
    _wav(lib / "animals" / "dog_bark-2.wav", 440)
    _wav(lib / "kettle.wav", 880)
    (lib / "kettle.txt").write_text("a whistling tea kettle on the stove")
    outside = tmp_path / "secret.wav"
    _wav(outside, 220)
    (lib / "link.wav").symlink_to(outside)
    clips, texts = index_folders([str(lib)])
    assert [c.name for c in clips] == ["dog_bark-2.wav", "kettle.wav"]  # the link out of the folder: skipped
    assert texts == ["dog bark 2", "kettle. a whistling tea kettle on the stove"]

    cfg = SfxLibraryConfig(name="library", folders=(str(lib),), priors={"sfx": 0.9}, embedding_cache=None)
    gen = SfxLibraryGenerator(cfg)
    gen.embedder = Embedder(model=minilm, cache_dir=None)
    events = [
        AudioEvent(id="a", kind="sfx", start_s=0, duration_s=1.0, description="the kettle whistles"),
        AudioEvent(id="b", kind="sfx", start_s=0, duration_s=1.0, description="a spaceship lands"),
    ]
    out = gen.generate(
        [AudioTask(event=e, attempt=1, instruction=None, seed=0, work_dir=tmp_path) for e in events]
    )
    gen.unload()
    assert out[0].source == "library kettle.wav" and out[0].samples.size == 16000  # padded to the plan
    assert out[1].error is not None and "similarity" in out[1].error  # too far: the recipes take over
