"""Skill annotators without an LLM: nearest vocabulary skills, or a vote over similar profiled questions."""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

from common.errors import ConfigError
from skills.annotator import SkillAnnotator
from skills.embedding import Embedder
from skills.similarity import top_k_cosine

logger = logging.getLogger(__name__)


class EmbeddingSkillAnnotator(SkillAnnotator):
    """The ``top_n`` vocabulary skills whose embeddings are closest to the question's.

    Args:
        embedder: embeds questions and skill names (vocabulary vectors are computed once, lazily).
        vocabulary: the skill names to choose from.
        top_n: skills per question.
        min_similarity: drop skills below this cosine similarity (``None`` keeps all ``top_n``).

    Raises:
        ConfigError: empty vocabulary or ``top_n < 1``.
    """

    name = "embedding"

    def __init__(
        self,
        embedder: Embedder,
        vocabulary: Sequence[str],
        top_n: int = 3,
        min_similarity: float | None = None,
    ) -> None:
        if not vocabulary:
            raise ConfigError(f"annotator {self.name!r}: the vocabulary is empty")
        if top_n < 1:
            raise ConfigError(f"annotator {self.name!r}: top_n={top_n} must be >= 1")
        self.embedder = embedder
        self.vocabulary = list(vocabulary)
        self.top_n = top_n
        self.min_similarity = min_similarity
        self._vocab_vecs: np.ndarray | None = None

    def annotate(self, texts: Sequence[str]) -> list[list[str]]:
        """Return the nearest ``top_n`` skills of each text, most similar first."""
        if not texts:
            return []
        if self._vocab_vecs is None:
            self._vocab_vecs = self.embedder.embed(self.vocabulary)
        idx, sims = top_k_cosine(self.embedder.embed(texts), self._vocab_vecs, self.top_n)
        floor = self.min_similarity
        return [
            [self.vocabulary[j] for j, s in zip(row, row_sims, strict=True) if floor is None or s >= floor]
            for row, row_sims in zip(idx, sims, strict=True)
        ]


class NeighbourSkillAnnotator(SkillAnnotator):
    """Skills voted by the ``k`` profiled (validation) questions most similar to the question.

    Each neighbour votes once for each of its skills. Skills with at least ``min_votes`` votes are kept
    (most votes first, ties broken by summed similarity), at most ``max_skills`` of them; when none
    reaches ``min_votes`` the ``fallback_top`` best-voted skills are kept instead, so a question gets
    skills whenever its neighbours have any.

    Args:
        embedder: embeds questions (profiled questions are embedded once, lazily).
        profiled_texts: the questions the profiles were built on.
        profiled_skills: their skills, aligned with ``profiled_texts``.
        k: neighbours consulted per question.
        min_votes: votes a skill needs to be kept.
        max_skills: cap on kept skills.
        fallback_top: skills kept when none reaches ``min_votes``.
        exclude_identical: skip neighbours whose text equals the question (leave-one-out evaluation on
            the profiled questions themselves).

    Raises:
        ConfigError: misaligned inputs, no profiled questions, or a non-positive count.
    """

    name = "neighbour"

    def __init__(
        self,
        embedder: Embedder,
        profiled_texts: Sequence[str],
        profiled_skills: Sequence[Sequence[str]],
        k: int = 10,
        min_votes: int = 2,
        max_skills: int = 5,
        fallback_top: int = 3,
        exclude_identical: bool = False,
    ) -> None:
        if len(profiled_texts) != len(profiled_skills):
            raise ConfigError(
                f"annotator {self.name!r}: {len(profiled_texts)} profiled texts but "
                f"{len(profiled_skills)} skill lists; pass one skill list per text"
            )
        if not profiled_texts:
            raise ConfigError(f"annotator {self.name!r}: no profiled questions to vote with")
        for field, value in (("k", k), ("min_votes", min_votes), ("max_skills", max_skills)):
            if value < 1:
                raise ConfigError(f"annotator {self.name!r}: {field}={value} must be >= 1")
        self.embedder = embedder
        self.profiled_texts = list(profiled_texts)
        self.profiled_skills = [list(dict.fromkeys(s)) for s in profiled_skills]
        self.k = k
        self.min_votes = min_votes
        self.max_skills = max_skills
        self.fallback_top = fallback_top
        self.exclude_identical = exclude_identical
        self._profiled_vecs: np.ndarray | None = None

    def annotate(self, texts: Sequence[str]) -> list[list[str]]:
        """Return the voted skills of each text."""
        if not texts:
            return []
        if self._profiled_vecs is None:
            self._profiled_vecs = self.embedder.embed(self.profiled_texts)
        extra = 1 if self.exclude_identical else 0
        idx, sims = top_k_cosine(self.embedder.embed(texts), self._profiled_vecs, self.k + extra)
        out = []
        for text, row, row_sims in zip(texts, idx, sims, strict=True):
            neighbours = [(int(j), float(s)) for j, s in zip(row, row_sims, strict=True)]
            if self.exclude_identical:
                neighbours = [(j, s) for j, s in neighbours if self.profiled_texts[j] != text]
            out.append(self._vote(neighbours[: self.k]))
        return out

    def _vote(self, neighbours: list[tuple[int, float]]) -> list[str]:
        votes: Counter[str] = Counter()
        weight: defaultdict[str, float] = defaultdict(float)
        for j, sim in neighbours:
            for skill in self.profiled_skills[j]:
                votes[skill] += 1
                weight[skill] += sim
        ranked = sorted(votes, key=lambda s: (-votes[s], -weight[s], s))
        kept = [s for s in ranked if votes[s] >= self.min_votes][: self.max_skills]
        return kept or ranked[: self.fallback_top]
