"""The audio generator registry: YAML's ``generator:`` value -> generator class (GPU ones lazily).

Example::

    cls = generator_registry.get("espeak_ng")
    gen = cls(cls.config_cls.model_validate({"name": "espeak", "generator": "espeak_ng",
                                             "priors": {"speech": 0.5}}))

Importing this package never imports torch, transformers or diffusers.
"""

from __future__ import annotations

from collections.abc import Sequence

from agents.audio.generators.base import (
    AudioGenerator,
    AudioTask,
    GeneratorConfig,
    GeneratorSpec,
    RenderedAudio,
)
from common.config_file import validate_model
from common.errors import ConfigError
from common.registry import Registry

generator_registry: Registry[type[AudioGenerator]] = Registry("audio generator", base_cls=AudioGenerator)
generator_registry.register("espeak_ng", target="agents.audio.generators.speech:EspeakGenerator")
generator_registry.register("flite", target="agents.audio.generators.speech:FliteGenerator")
generator_registry.register("piper", target="agents.audio.generators.speech:PiperGenerator")
generator_registry.register("midi_music", target="agents.audio.generators.music:MidiMusicGenerator")
generator_registry.register("procedural", target="agents.audio.generators.sfx:ProceduralGenerator")
generator_registry.register("sfx_library", target="agents.audio.generators.sfx_library:SfxLibraryGenerator")
generator_registry.register(
    "transformers_audio", target="agents.audio.generators.hf_audio:TransformersAudioGenerator"
)
generator_registry.register(
    "diffusers_audio", target="agents.audio.generators.hf_audio:DiffusersAudioGenerator"
)


def build_generators(
    specs: Sequence[GeneratorSpec], registry: Registry[type[AudioGenerator]] | None = None
) -> list[AudioGenerator]:
    """Validate each spec with its class's config model and build (not load) the generators.

    Raises:
        ConfigError: duplicate names, unknown ``generator`` keys (with suggestions), or invalid fields.
    """
    registry = registry or generator_registry
    seen: set[str] = set()
    out = []
    for spec in specs:
        if spec.name in seen:
            raise ConfigError(
                f"audio config: generator name {spec.name!r} is used twice; names must be unique"
            )
        seen.add(spec.name)
        cls = registry.get(spec.generator)
        cfg = validate_model(spec.model_dump(), cls.config_cls, f"audio generator {spec.name!r}")
        out.append(cls(cfg))
    return out


__all__ = [
    "AudioGenerator",
    "AudioTask",
    "GeneratorConfig",
    "GeneratorSpec",
    "RenderedAudio",
    "build_generators",
    "generator_registry",
]
