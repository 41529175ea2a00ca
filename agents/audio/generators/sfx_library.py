"""The sound-library generator: effects and ambience from a user's own clips, found by description.

``sfx_library:`` folders (WAV, FLAC, OGG; subfolders included; links pointing outside a folder are
skipped) are indexed when the generator loads: each clip is described by its file name (``dog_bark-2.wav``
reads "dog bark 2") plus the text of a sidecar file with the same name and ``.txt``, and the
descriptions are embedded once (the embedding cache keeps them across jobs). An event takes the clip
most similar to its description when the similarity reaches ``min_score``; otherwise the task fails
with the best score, and recruitment moves it to the next generator (the procedural recipes).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from agents.audio.generators.base import AudioGenerator, AudioTask, GeneratorConfig, RenderedAudio
from agents.audio.generators.sfx_match import EmbeddingMatcher, TextEmbedder, default_embedder
from agents.audio.wavio import read_wav

logger = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
MAX_SIDECAR_CHARS = 500


class SfxLibraryConfig(GeneratorConfig):
    generator: Literal["sfx_library"] = "sfx_library"
    folders: tuple[str, ...] = Field(min_length=1, description="Folders of WAV/FLAC/OGG clips.")
    min_score: float = Field(
        default=0.45, ge=-1, le=1, description="Least similarity of description and clip to use the clip."
    )
    embedding_cache: str | None = "$SYMOE_HOME/embeddings"


def describe(path: Path) -> str:
    """A clip's description: its file name as words, plus its sidecar ``.txt`` when there is one."""
    words = re.sub(r"[_\-.]+", " ", path.stem).strip()
    side = path.with_suffix(".txt")
    if side.is_file():
        words += ". " + side.read_text(encoding="utf-8", errors="replace")[:MAX_SIDECAR_CHARS].strip()
    return words


def index_folders(folders: Sequence[str]) -> tuple[list[Path], list[str]]:
    """Every clip under ``folders`` (sorted, links out of the folder skipped) and its description."""
    clips: list[Path] = []
    for folder in folders:
        root = Path(folder).expanduser().resolve()
        if not root.is_dir():
            logger.warning("sfx library %s is not a folder; skipped", folder)
            continue
        for p in sorted(root.rglob("*")):
            if p.suffix.lower() not in AUDIO_SUFFIXES or not p.is_file():
                continue
            if not p.resolve().is_relative_to(root):
                logger.warning("sfx library: %s links outside %s; skipped", p, root)
                continue
            clips.append(p)
    return clips, [describe(p) for p in clips]


class SfxLibraryGenerator(AudioGenerator):
    """Picks the user's clip nearest to the description (see the module docstring)."""

    config_cls = SfxLibraryConfig
    config: SfxLibraryConfig

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._clips: list[Path] = []
        self._matcher: EmbeddingMatcher | None = None
        self.embedder: TextEmbedder | None = None
        """An embedder to use instead of the project's default (one already loaded, say)."""

    def _load(self) -> None:
        self._clips, texts = index_folders(self.config.folders)
        embedder = self.embedder or default_embedder(self.config.embedding_cache)
        if embedder is not None and texts:
            self._matcher = EmbeddingMatcher(texts, embedder)
        logger.info("sfx library: %d clips indexed from %s", len(self._clips), ", ".join(self.config.folders))

    def _unload(self) -> None:
        self._matcher = None

    def _generate(self, batch: Sequence[AudioTask]) -> list[RenderedAudio]:
        if self._matcher is None:
            return [RenderedAudio.failed("sfx library: no clips (or no embedding model)") for _ in batch]
        out = []
        for task, (i, score) in zip(
            batch, self._matcher.best([t.event.description for t in batch]), strict=True
        ):
            clip = self._clips[i]
            if score < self.config.min_score:
                out.append(RenderedAudio.failed(
                    f"sfx library: best clip {clip.name} has similarity {score:.2f} < {self.config.min_score}"
                ))  # fmt: skip
                continue
            x, sr = read_wav(clip)
            x = _fit_length(x, sr, task.event.duration_s, loop=task.event.kind == "ambience")
            out.append(RenderedAudio(samples=x, sample_rate=sr,
                                     detail=f"library {clip.name} (similarity {score:.2f})",
                                     source=f"library {clip.name}", match_score=score))  # fmt: skip
        return out


def _fit_length(x: np.ndarray, sr: int, duration_s: float, *, loop: bool) -> np.ndarray:
    """The clip at the planned length: cut (with a fade), looped (beds) or padded with silence."""
    n = max(1, int(round(duration_s * sr)))
    if x.size >= n:
        y = x[:n].copy()
        fade = min(int(0.05 * sr), n // 4)
        if fade:
            y[-fade:] *= np.linspace(1.0, 0.0, fade)
        return y
    if loop and x.size > 0:
        return np.resize(x, n)
    return np.concatenate([x, np.zeros(n - x.size)])
