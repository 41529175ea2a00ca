"""The procedural generator: effects and ambience synthesised with numpy/scipy (no model, no files).

Every description renders: the nearest catalogue recipe by embedding similarity
(:mod:`agents.audio.generators.sfx_match`), shaped by the size, distance, intensity and material the
description names (:mod:`agents.audio.generators.sfx_params`). The clip's ``source`` and
``match_score`` say which recipe and how close it was.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import Field

from agents.audio.generators.base import AudioGenerator, AudioTask, GeneratorConfig, RenderedAudio
from agents.audio.generators.sfx_catalog import CATALOG, keyword_recipe
from agents.audio.generators.sfx_match import EmbeddingMatcher, default_embedder
from agents.audio.generators.sfx_params import parse_params


class ProceduralConfig(GeneratorConfig):
    generator: Literal["procedural"] = "procedural"
    sample_rate: int = Field(default=44100, ge=8000)
    match: Literal["embedding", "keyword"] = Field(
        default="embedding",
        description="How a description finds its recipe: embedding similarity, or whole words only.",
    )
    embedding_cache: str | None = Field(
        default="$SYMOE_HOME/embeddings", description="Embedding cache folder (None: memory only)."
    )


class ProceduralGenerator(AudioGenerator):
    """Renders any sfx or ambience description with the nearest recipe (see the module docstring)."""

    config_cls = ProceduralConfig
    config: ProceduralConfig

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._names = list(CATALOG)
        self._matcher: EmbeddingMatcher | None = None

    def _load(self) -> None:
        if self.config.match == "embedding":
            embedder = default_embedder(self.config.embedding_cache)
            if embedder is not None:
                self._matcher = EmbeddingMatcher([CATALOG[n].text for n in self._names], embedder)

    def _unload(self) -> None:
        self._matcher = None

    def choose(self, descriptions: Sequence[str]) -> list[tuple[str, float | None, str]]:
        """Per description: ``(recipe, similarity or None, how it was chosen)``."""
        if self._matcher is not None:
            return [(self._names[i], s, "embedding") for i, s in self._matcher.best(descriptions)]
        out: list[tuple[str, float | None, str]] = []
        for d in descriptions:
            name = keyword_recipe(d)
            out.append((name, None, "keyword") if name else ("room tone", None, "no keyword; default bed"))
        return out

    def _generate(self, batch: Sequence[AudioTask]) -> list[RenderedAudio]:
        out = []
        picks = self.choose([t.event.description for t in batch])
        for task, (name, score, how) in zip(batch, picks, strict=True):
            seed = zlib.crc32(f"{task.seed}:{task.event.id}:{task.attempt}".encode())
            params = parse_params(task.event.description)
            x = CATALOG[name].render(
                task.event.duration_s, self.config.sample_rate, np.random.default_rng(seed), params
            )
            match = f"similarity {score:.2f}" if score is not None else how
            out.append(
                RenderedAudio(
                    samples=x,
                    sample_rate=self.config.sample_rate,
                    detail=f"recipe {name} ({match}; size {params.size:g}, distance {params.distance:g}, "
                    f"intensity {params.intensity:g}, material {params.material or '-'})",
                    source=f"recipe {name}",
                    match_score=score,
                )
            )
        return out
