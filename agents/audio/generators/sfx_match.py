"""Finding what renders an effect's description: the nearest catalogue recipe or library clip by embedding.

Descriptions and candidates (catalogue texts, library clip descriptions) are embedded with the project's
sentence embeddings (:class:`skills.embedding.Embedder`, all-MiniLM-L6-v2, shipped in a package, vectors
cached on disk) and compared by cosine similarity. The best candidate always wins (a job never aborts
for one effect); its score is reported so a poor match is visible. Without an embedding model the
match falls back to whole words (:func:`agents.audio.generators.sfx_catalog.keyword_recipe`), reported
as such.

Example::

    matcher = EmbeddingMatcher(["dog barking", "glass breaking"])
    matcher.best(["a puppy yaps"])      # [(0, 0.61)]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from common.errors import ConfigError

logger = logging.getLogger(__name__)


class TextEmbedder(Protocol):
    """What a matcher needs of an embedder: unit-norm rows, one per text."""

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def default_embedder(cache_dir: str | None = "$SYMOE_HOME/embeddings") -> TextEmbedder | None:
    """The project's embedder, or None when its model package is not installed (keyword matching then)."""
    from skills.embedding import Embedder, default_model_path

    try:
        default_model_path()
    except ConfigError as exc:
        logger.warning("effects are matched by keyword: %s", exc)
        return None
    return Embedder(cache_dir=cache_dir)


class EmbeddingMatcher:
    """Cosine similarity of queries to a fixed list of candidate texts.

    Args:
        candidates: the candidates' texts (embedded once).
        embedder: the embedder (``default_embedder()`` when None).
    """

    def __init__(self, candidates: Sequence[str], embedder: TextEmbedder) -> None:
        self.embedder = embedder
        self.vectors = embedder.embed(list(candidates)) if candidates else np.zeros((0, 1), np.float32)

    def scores(self, queries: Sequence[str]) -> np.ndarray:
        """``(len(queries), len(candidates))`` cosine similarities."""
        q = self.embedder.embed(list(queries))
        return np.asarray(q @ self.vectors.T, dtype=np.float64)

    def best(self, queries: Sequence[str]) -> list[tuple[int, float]]:
        """Per query: the best candidate's index and its similarity (ties: the first candidate)."""
        if not queries or self.vectors.shape[0] == 0:
            return []
        s = self.scores(queries)
        idx = np.argmax(s, axis=1)
        return [(int(i), round(float(s[k, i]), 4)) for k, i in enumerate(idx)]
