"""Profiling records: every expert's answers on validation questions, saved so live runs can route.

``symoe profile`` writes one; ``symoe run`` reads it (pool config ``profiles:``). Embeddings are not
stored: they are recomputed from the questions through the embedding cache.

``symoe profile --retrieval`` also runs every expert *open-book* (with the passages the pool's knowledge
store returns for each question) and records those answers (``answers_rag``, ``correct_rag``) and the
store's coverage signal per question, which the retrieval gate is fitted on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from common.errors import ConfigError
from orchestrator.policies import ProfilingData
from skills.embedding import Embedder

PROFILING_RECORD_VERSION = 1


class ProfilingRecord(BaseModel):
    """Per validation question: its text, gold answer, skills, and each expert's answer and correctness."""

    model_config = ConfigDict(extra="forbid")

    version: int = PROFILING_RECORD_VERSION
    experts: list[str]
    questions: list[str]
    gold: list[str | None]
    skills: list[list[str]]
    answers: list[list[str | None]]
    correct: list[list[bool]]
    n_options: list[int]
    metadata: list[dict[str, str]] = Field(
        default_factory=list, description="Per question: its category and dataset fields (group votes)."
    )
    options: list[list[str]] = Field(
        default_factory=list, description="Per question: its option texts (stacked option features)."
    )
    texts: list[list[str | None]] = Field(
        default_factory=list, description="Per question and expert: the response (answer-statement feature)."
    )
    annotator: str = ""
    aggregator: str | None = Field(
        default=None, description="The aggregator chosen by the aggregator benchmark (`aggregator: auto`)."
    )
    aggregator_scores: dict[str, float] = Field(
        default_factory=dict, description="Each candidate's aggregator-benchmark accuracy (0-1)."
    )
    notes: dict[str, int] = Field(default_factory=dict)
    answers_rag: list[list[str | None]] | None = Field(
        default=None, description="Each expert's answer with retrieved passages (profile --retrieval)."
    )
    correct_rag: list[list[bool]] | None = None
    coverage: list[dict[str, float | None]] | None = Field(
        default=None,
        description="The store's coverage signal per question (top_dense, top_bm25 and their margins).",
    )
    retrieval: dict[str, str | int] = Field(
        default_factory=dict, description="Where open-book passages came from (store uri, k, search mode)."
    )

    @model_validator(mode="after")
    def _aligned(self) -> ProfilingRecord:
        n = len(self.questions)
        lengths = {
            len(self.gold),
            len(self.skills),
            len(self.answers),
            len(self.correct),
            len(self.n_options),
        }
        rows = [*self.answers, *self.correct, *(self.answers_rag or ()), *(self.correct_rag or ())]
        if self.answers_rag is not None or self.correct_rag is not None:
            lengths |= {len(self.answers_rag or ()), len(self.correct_rag or ())}
        if self.coverage is not None:
            lengths.add(len(self.coverage))
        if lengths != {n} or any(len(r) != len(self.experts) for r in rows):
            raise ValueError("profiling record is misaligned: every list needs one entry per question/expert")
        return self

    @property
    def has_open_book(self) -> bool:
        """Whether the record holds open-book answers (``symoe profile --retrieval``)."""
        return self.correct_rag is not None and self.answers_rag is not None

    def save(self, path: str | Path) -> None:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(p.suffix + ".tmp")
        tmp.write_text(self.model_dump_json(), encoding="utf-8")
        tmp.replace(p)

    @classmethod
    def load(cls, path: str | Path) -> ProfilingRecord:
        p = Path(path)
        try:
            record = cls.model_validate_json(p.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(
                f"profiling record {p}: cannot read ({exc.strerror}); run `symoe profile`"
            ) from exc
        except ValidationError as exc:
            raise ConfigError(f"profiling record {p}: {exc}") from exc
        if record.version != PROFILING_RECORD_VERSION:
            raise ConfigError(f"profiling record {p}: version {record.version} != {PROFILING_RECORD_VERSION}")
        return record

    def to_profiling_data(
        self,
        embedder: Embedder | None,
        experts: list[str],
        *,
        costs: Sequence[float] | None = None,
        families: Sequence[str] = (),
    ) -> ProfilingData:
        """Profiling data for a pool's experts (in the pool's order).

        Args:
            embedder: embeds the questions (None: no embeddings, for policies that need none).
            experts: the pool's experts; their columns are picked from the record.
            costs: each expert's cost per call (None: 1 each).
            families: each expert's model family (empty: each its own).

        Raises:
            ConfigError: a pool expert was never profiled.
        """
        missing = [e for e in experts if e not in self.experts]
        if missing:
            raise ConfigError(f"experts {missing} are not in the profiling record; re-run `symoe profile`")
        cols = [self.experts.index(e) for e in experts]
        emb = embedder.embed(self.questions) if embedder is not None else np.zeros((len(self.questions), 1))
        return ProfilingData(
            experts=tuple(experts),
            embeddings=emb,
            skills=[list(s) for s in self.skills],
            correct=np.array([[r[c] for c in cols] for r in self.correct], dtype=bool).reshape(-1, len(cols)),
            answers=[[r[c] for c in cols] for r in self.answers],
            n_options=np.array(self.n_options, dtype=int),
            metadata=[dict(m) for m in self.metadata],
            options=[list(o) for o in self.options],
            texts=[[r[c] for c in cols] for r in self.texts],
            costs=None if costs is None else np.asarray(costs, dtype=float),
            families=tuple(families),
        )

    def to_open_book_data(self, closed: ProfilingData) -> ProfilingData:
        """The open-book twin of ``closed`` (same questions and experts, the ``*_rag`` answers).

        Raises:
            ConfigError: the record holds no open-book answers.
        """
        if self.answers_rag is None or self.correct_rag is None:
            raise ConfigError(
                "the profiling record has no open-book answers: run `symoe profile --retrieval`"
            )
        cols = [self.experts.index(e) for e in closed.experts]
        correct = np.array([[r[c] for c in cols] for r in self.correct_rag], dtype=bool)
        return dataclasses.replace(
            closed,
            correct=correct.reshape(-1, len(cols)),
            answers=[[r[c] for c in cols] for r in self.answers_rag],
            texts=[],  # open-book responses are not recorded (answer-statement votes need them)
        )
