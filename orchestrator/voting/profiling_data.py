"""What policies, votes and aggregators read, as aligned arrays: the profiling split and a query batch.

:class:`ProfilingData` holds every expert's behaviour on the profiling (validation) questions;
:class:`QueryBatch` the questions to route. Both are built by keyword.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True, kw_only=True)
class ProfilingData:
    """Every expert's behaviour on the profiling (validation) questions, and what the pool says of them.

    Attributes:
        experts: expert names, the column order of ``correct`` and ``answers``.
        embeddings: (n, d) L2-normalised question embeddings.
        skills: each question's skills (annotated keywords).
        correct: (n, m) bool, expert j answered question i correctly.
        answers: (n, m) parsed answers (None where the expert gave none).
        n_options: (n,) number of answer options (0 for free-form answers).
        metadata: per question, its dataset fields as strings (``category``, MATH ``level``...); empty
            when unknown. Group-calibrated votes read their group from it.
        options: per question, its option texts (empty for free-form; the stacked vote's option features).
        texts: (n, m) the experts' responses (the stacked vote's answer-statement feature); empty when
            the record has none.
        costs: (m,) mean cost of one call of each expert (:mod:`batching.cost`); None: 1 each.
        families: (m,) each expert's model family (family-max votes); empty: each expert its own.
        answered: (n, m) bool, the expert has a row for the question (None: all). A question a model
            was never run on is not answered, not wrong: global accuracies count answered rows only.
    """

    experts: tuple[str, ...]
    embeddings: np.ndarray
    skills: list[list[str]]
    correct: np.ndarray
    answers: list[list[str | None]]
    n_options: np.ndarray
    metadata: list[dict[str, str]] = field(default_factory=list)
    options: list[list[str]] = field(default_factory=list)
    texts: list[list[str | None]] = field(default_factory=list)
    costs: np.ndarray | None = None
    families: tuple[str, ...] = ()
    answered: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.skills)
        shapes = (self.embeddings.shape[0], self.correct.shape[0], len(self.answers), len(self.n_options))
        if any(s != n for s in shapes) or self.correct.shape[1] != len(self.experts):
            raise ValueError(f"profiling data is misaligned: {n} questions, shapes {shapes}")
        optional: dict[str, Sequence[object]] = {
            "metadata": self.metadata,
            "options": self.options,
            "texts": self.texts,
        }
        bad = [k for k, v in optional.items() if v and len(v) != n]
        m = len(self.experts)
        if bad or (self.costs is not None and len(self.costs) != m) or len(self.families) not in (0, m):
            raise ValueError(f"profiling data is misaligned: {bad or 'costs/families'} do not match")

    @property
    def global_accuracy(self) -> np.ndarray:
        """(m,) each expert's accuracy on the profiling questions it answered (0.5 when none)."""
        if self.answered is None:
            return np.asarray(self.correct.mean(axis=0), dtype=float)
        seen = self.answered.sum(axis=0)
        right = (self.correct & self.answered).sum(axis=0)
        return np.where(seen > 0, right / np.maximum(seen, 1), 0.5).astype(float)

    @property
    def call_costs(self) -> np.ndarray:
        """(m,) each expert's cost per call (1 each when the pool gives none)."""
        return np.ones(len(self.experts)) if self.costs is None else np.asarray(self.costs, dtype=float)

    @property
    def family_names(self) -> tuple[str, ...]:
        """(m,) each expert's family (its own name when none is given)."""
        return self.families or self.experts

    def meta(self, key: str) -> list[str | None]:
        """Each question's metadata field ``key`` (None where absent)."""
        return [row.get(key) for row in self.metadata] if self.metadata else [None] * len(self.skills)

    def subset(self, rows: np.ndarray) -> ProfilingData:
        def pick(values: list[Any]) -> list[Any]:
            return [values[i] for i in rows] if values else []

        return ProfilingData(
            experts=self.experts,
            embeddings=self.embeddings[rows],
            skills=pick(self.skills),
            correct=self.correct[rows],
            answers=pick(self.answers),
            n_options=self.n_options[rows],
            metadata=pick(self.metadata),
            options=pick(self.options),
            texts=pick(self.texts),
            costs=self.costs,
            families=self.families,
            answered=None if self.answered is None else self.answered[rows],
        )


@dataclass(frozen=True, kw_only=True)
class QueryBatch:
    """The questions to route: ids, embeddings, skills, option counts, metadata and options, aligned."""

    ids: list[str]
    embeddings: np.ndarray
    skills: list[list[str]] = field(default_factory=list)
    n_options: np.ndarray | None = None
    metadata: list[dict[str, str]] = field(default_factory=list)
    options: list[list[str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    def meta(self, key: str) -> list[str | None]:
        """Each question's metadata field ``key`` (None where absent)."""
        return [row.get(key) for row in self.metadata] if self.metadata else [None] * len(self.ids)
