"""The CPU generators, each for real: espeak-ng, flite, Piper, the MIDI composer + FluidSynth, procedural."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from audio_helpers import need, need_piper

from agents.audio.generators import AudioTask, build_generators, generator_registry
from agents.audio.generators.base import GeneratorSpec
from agents.audio.generators.composer import chord
from agents.audio.generators.sfx_catalog import keyword_recipe
from agents.audio.levels import clipped_samples
from agents.audio.timeline import AudioEvent, MusicSpec
from batching.engines.base import EngineCounters
from batching.lifecycle import LifecycleCounters, ModelLifecycle
from common.errors import ConfigError, RegistryError


def _task(tmp_path: Path, **kw: object) -> AudioTask:
    return AudioTask(
        event=AudioEvent(id="e1", start_s=0.0, **kw), attempt=1, instruction=None, seed=0, work_dir=tmp_path
    )  # type: ignore[arg-type]


def _one(name: str, generator: str, kind: str, tmp_path: Path, **event: object):  # type: ignore[no-untyped-def]
    extra = {k: event.pop(k) for k in ("match",) if k in event}
    [gen] = build_generators([GeneratorSpec(name=name, generator=generator, priors={kind: 0.5}, **extra)])
    try:
        return gen.generate([_task(tmp_path, kind=kind, **event)])[0], gen
    finally:
        gen.unload()


@pytest.mark.parametrize(("generator", "binary"), [("espeak_ng", "espeak-ng"), ("flite", "flite")])
def test_command_line_voices_speak_in_two_voices(generator: str, binary: str, tmp_path: Path) -> None:
    need(binary)
    clips = []
    for voice in ("male", "female"):
        out, gen = _one(
            generator,
            generator,
            "speech",
            tmp_path,
            duration_s=2.0,
            text="Hello from the cabin.",
            voice=voice,
        )
        assert out.error is None and 0.8 < out.samples.size / out.sample_rate < 4.0
        clips.append(out.samples)
    assert not np.array_equal(clips[0][:1000], clips[1][:1000])  # two different voices


def test_piper_neural_voice_ships_in_a_package(tmp_path: Path) -> None:
    need_piper()
    out, gen = _one(
        "piper", "piper", "speech", tmp_path, duration_s=2.0, text="The storm is close.", voice="male"
    )
    assert out.error is None and out.sample_rate == 22050 and gen.counters.loads == 1
    assert clipped_samples(out.samples) == 0
    assert not gen.accepts(
        AudioEvent(id="x", kind="speech", start_s=0, duration_s=1, text="hi", voice="female")
    )


def test_midi_music_renders_with_fluidsynth(tmp_path: Path) -> None:
    need("fluidsynth")
    spec = MusicSpec(key="D", mode="minor", tempo_bpm=90, progression=("i", "VI"), mood="calm")
    out, _ = _one("fs", "midi_music", "music", tmp_path, duration_s=4.0, description="calm", music=spec)
    assert (
        out.error is None and out.samples.size / out.sample_rate >= 4.0 and np.abs(out.samples).max() > 0.01
    )
    assert chord("i", "D", "minor") == (2, 5, 9) and chord("VI", "D", "minor") == (10, 2, 5)
    assert chord("ii°", "C", "major") == (2, 5, 8)


def test_procedural_recipes_are_seeded_and_any_description_renders(tmp_path: Path) -> None:
    assert keyword_recipe("a church bell tolls") == "bell" and keyword_recipe("the door creaks") == "door"
    spec = {"match": "keyword"}
    a, _ = _one("p", "procedural", "sfx", tmp_path, duration_s=1.0, description="footsteps on gravel", **spec)
    b, _ = _one("p", "procedural", "sfx", tmp_path, duration_s=1.0, description="footsteps on gravel", **spec)
    assert a.samples.size == 44100 and np.array_equal(a.samples, b.samples)
    odd, _ = _one("p", "procedural", "sfx", tmp_path, duration_s=1.0, description="a strange hum", **spec)
    assert odd.error is None and np.max(np.abs(odd.samples)) > 0.5 and odd.source == "recipe hum"
    none, _ = _one("p", "procedural", "sfx", tmp_path, duration_s=1.0, description="zzz qqq", **spec)
    assert none.error is None and np.max(np.abs(none.samples)) > 0.5  # a default bed, never an abort


def test_a_generator_has_the_engines_lifecycle_and_counter_names(tmp_path: Path) -> None:
    """Generators and engines share one lifecycle base: the same load/unload rules and counter names."""
    _, gen = _one("p", "procedural", "sfx", tmp_path, duration_s=0.5, description="a bell", match="keyword")
    assert isinstance(gen, ModelLifecycle) and not gen.is_loaded  # _one unloads it
    c = gen.counters
    assert type(c) is LifecycleCounters and issubclass(EngineCounters, LifecycleCounters)
    assert (c.loads, c.unloads, c.requests) == (1, 1, 1) and c.generation_seconds > 0


def test_generator_configs_validate_their_own_fields() -> None:
    with pytest.raises(ConfigError, match="words_per_minute"):
        build_generators(
            [GeneratorSpec(name="e", generator="espeak_ng", priors={"speech": 0.5}, words_per_minute=5)]
        )  # type: ignore[call-arg]
    with pytest.raises(RegistryError, match="Did you mean 'flite'"):
        generator_registry.get("flit")
    with pytest.raises(ConfigError, match="used twice"):
        build_generators([GeneratorSpec(name="a", generator="flite", priors={"speech": 0.5})] * 2)
