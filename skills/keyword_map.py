"""Snapping free-form keywords onto the profile vocabulary by embedding similarity.

A test question's LLM keywords rarely match the validation keywords word for word; the paper maps each
onto its nearest profiled keyword. Here a keyword maps to the nearest vocabulary entry only when the
cosine similarity reaches ``threshold``, so unrelated keywords are dropped rather than forced onto a skill.

Example::

    mapper = KeywordMapper(embedder, ["calculus", "contract law"])
    mapper.map(["Calculus", "differentiation", "knitting"])   # ['calculus']
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from common.errors import ConfigError
from skills.embedding import Embedder
from skills.similarity import top_k_cosine

logger = logging.getLogger(__name__)


def normalise_keyword(keyword: str) -> str:
    """Lowercase and collapse whitespace, the form vocabulary entries and profiles use."""
    return " ".join(keyword.split()).lower()


class KeywordMapper:
    """Maps keywords to their nearest vocabulary entries.

    Args:
        embedder: embeds keywords and vocabulary (vocabulary vectors are computed once, lazily).
        vocabulary: the target skill names (e.g. the skills a profile set knows).
        threshold: minimum cosine similarity for a mapping; below it the keyword is dropped.

    Raises:
        ConfigError: empty vocabulary or a threshold outside [-1, 1].
    """

    def __init__(self, embedder: Embedder, vocabulary: Sequence[str], threshold: float = 0.5) -> None:
        if not vocabulary:
            raise ConfigError("keyword mapper: the vocabulary is empty; pass the profiled skill names")
        if not -1.0 <= threshold <= 1.0:
            raise ConfigError(f"keyword mapper: threshold={threshold} must be in [-1, 1]")
        self.embedder = embedder
        self.vocabulary = list(dict.fromkeys(normalise_keyword(v) for v in vocabulary))
        self.threshold = threshold
        self._known = set(self.vocabulary)
        self._vocab_vecs: np.ndarray | None = None

    def map(self, keywords: Sequence[str]) -> list[str]:
        """Map one question's keywords.

        Args:
            keywords: free-form keywords; exact (normalised) vocabulary matches map to themselves
                without embedding.

        Returns:
            The distinct vocabulary entries the keywords map to, in keyword order.
        """
        return self.map_many([keywords])[0]

    def map_many(self, keyword_lists: Sequence[Sequence[str]]) -> list[list[str]]:
        """Map many questions' keywords with one embedding call.

        Returns:
            One list per input list, as :meth:`map` returns.
        """
        lists = [[normalise_keyword(k) for k in kws] for kws in keyword_lists]
        unseen = list(dict.fromkeys(k for kws in lists for k in kws if k and k not in self._known))
        mapping = self._nearest(unseen)
        out = []
        for kws in lists:
            mapped = (k if k in self._known else mapping.get(k) for k in kws)
            out.append(list(dict.fromkeys(m for m in mapped if m is not None)))
        return out

    def _nearest(self, keywords: list[str]) -> dict[str, str]:
        if not keywords:
            return {}
        if self._vocab_vecs is None:
            self._vocab_vecs = self.embedder.embed(self.vocabulary)
        idx, sims = top_k_cosine(self.embedder.embed(keywords), self._vocab_vecs, 1)
        mapping = {
            k: self.vocabulary[int(j)]
            for k, j, s in zip(keywords, idx[:, 0], sims[:, 0], strict=True)
            if s >= self.threshold
        }
        logger.debug("keyword mapper: %d of %d unseen keywords mapped", len(mapping), len(keywords))
        return mapping
