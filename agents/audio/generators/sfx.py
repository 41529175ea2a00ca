"""The procedural generator: sound effects and ambience synthesised with numpy/scipy (no model, no files)."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import Field

from agents.audio.generators.base import AudioGenerator, AudioTask, GeneratorConfig, RenderedAudio
from agents.audio.generators.sfx_recipes import RECIPES, recipe_for
from agents.audio.timeline import AudioEvent


class ProceduralConfig(GeneratorConfig):
    generator: Literal["procedural"] = "procedural"
    sample_rate: int = Field(default=44100, ge=8000)


class ProceduralGenerator(AudioGenerator):
    """Renders sfx and ambience whose description names a recipe (rain, door, bell, ...)."""

    config_cls = ProceduralConfig
    config: ProceduralConfig

    def accepts(self, event: AudioEvent) -> bool:
        return event.kind in self.config.priors and recipe_for(event.description) is not None

    def _load(self) -> None:
        return None

    def _generate(self, batch: Sequence[AudioTask]) -> list[RenderedAudio]:
        out = []
        for task in batch:
            name = recipe_for(task.event.description)
            if name is None:
                out.append(RenderedAudio.failed(f"procedural: no recipe for {task.event.description!r}; "
                                                f"known: {', '.join(sorted(RECIPES))}"))  # fmt: skip
                continue
            seed = zlib.crc32(f"{task.seed}:{task.event.id}:{task.attempt}".encode())
            x = RECIPES[name](task.event.duration_s, self.config.sample_rate, np.random.default_rng(seed))
            out.append(RenderedAudio(x, self.config.sample_rate, detail=f"recipe {name}"))
        return out
