"""The bench's question table: every expert's answer to every question as aligned arrays, and the
profiling data and query batches a split takes from it.

The expert stage answers every question once (recorded or generated); each split of the protocol (the
paper's one split, or every fold of cross-validation) then reads its profiling rows and test rows from
this table, so no answer is parsed or scored twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from batching.config import ExpertConfig
from common.records import Instance, Pair, vote_options
from orchestrator.bench.stages import AnswerMatrix
from orchestrator.policies import ProfilingData, QueryBatch
from orchestrator.policies.base import instance_metadata


@dataclass(kw_only=True)
class BenchTable:
    """Aligned rows (questions, unique by id) and columns (experts).

    Attributes:
        experts: the pool's experts (column order).
        instances: the questions.
        answers: (N, m) parsed answers.
        texts: each (question id, expert) pair's response.
        correct: (N, m) bool, the answer is right.
        call_cost: (N, m) the cost of each call (:mod:`batching.cost`).
        embeddings: (N, d) question embeddings.
        skills: (N,) annotated skills.
        families: (m,) each expert's model family.
        answered: (N, m) bool, the expert has a row for the question (missing rows are not answered).
    """

    experts: tuple[str, ...]
    instances: list[Instance]
    answers: list[list[str | None]]
    texts: dict[Pair, str | None]
    correct: np.ndarray
    call_cost: np.ndarray
    embeddings: np.ndarray
    skills: list[list[str]]
    families: tuple[str, ...]
    answered: np.ndarray | None = None
    row_of: dict[str, int] = field(init=False)
    by_pair: dict[Pair, str | None] = field(init=False)

    def __post_init__(self) -> None:
        self.row_of = {inst.id: i for i, inst in enumerate(self.instances)}
        self.by_pair = {
            (inst.id, e): self.answers[i][j]
            for i, inst in enumerate(self.instances)
            for j, e in enumerate(self.experts)
        }

    @classmethod
    def build(
        cls,
        matrix: AnswerMatrix,
        pool: Sequence[ExpertConfig],
        embeddings: np.ndarray,
        skills: list[list[str]],
    ) -> BenchTable:
        """The table of an expert stage's answers (``matrix``) over its questions."""
        configs = {e.name: e for e in pool}
        cost = np.array(
            [
                [configs[e].call_cost(matrix.tokens.get((inst.id, e), 0)) for e in matrix.experts]
                for inst in matrix.instances
            ]
        ).reshape(len(matrix.instances), len(matrix.experts))
        return cls(
            experts=matrix.experts,
            instances=list(matrix.instances),
            answers=matrix.answer_rows(),
            texts=dict(matrix.texts),
            correct=np.array(matrix.correct_rows(), dtype=bool).reshape(cost.shape),
            call_cost=cost,
            embeddings=embeddings,
            skills=skills,
            families=tuple(configs[e].family_name for e in matrix.experts),
            answered=np.array(matrix.answered_rows(), dtype=bool).reshape(cost.shape),
        )

    def rows(self, instances: Sequence[Instance]) -> np.ndarray:
        """The table rows of ``instances`` (a question listed twice gets its row twice)."""
        return np.array([self.row_of[i.id] for i in instances], dtype=int)

    def _skills(self, rows: np.ndarray, use_category: bool) -> list[list[str]]:
        out = []
        for i in rows:
            inst, s = self.instances[i], self.skills[i]
            out.append([*s, f"category:{inst.category}"] if use_category and inst.category else list(s))
        return out

    def profiling(self, rows: np.ndarray, *, use_category: bool = False) -> ProfilingData:
        """The profiling data of ``rows`` (every expert's answers, responses, costs averaged per expert)."""
        insts = [self.instances[i] for i in rows]
        return ProfilingData(
            experts=self.experts,
            embeddings=self.embeddings[rows],
            skills=self._skills(rows, use_category),
            correct=self.correct[rows],
            answers=[self.answers[i] for i in rows],
            n_options=np.array([n_options(i) for i in insts]),
            metadata=[instance_metadata(i) for i in insts],
            options=[list(i.options) for i in insts],
            texts=[[self.texts.get((i.id, e)) for e in self.experts] for i in insts],
            costs=self.call_cost[rows].mean(axis=0) if len(rows) else None,
            families=self.families,
            answered=None if self.answered is None else self.answered[rows],
        )

    def queries(self, rows: np.ndarray, *, use_category: bool = False) -> QueryBatch:
        """The query batch of ``rows``."""
        insts = [self.instances[i] for i in rows]
        return QueryBatch(
            ids=[i.id for i in insts],
            embeddings=self.embeddings[rows],
            skills=self._skills(rows, use_category),
            n_options=np.array([n_options(i) for i in insts]),
            metadata=[instance_metadata(i) for i in insts],
            options=[list(i.options) for i in insts],
        )

    def fetch(self, pairs: list[Pair]) -> dict[Pair, str | None]:
        """The recorded (or generated) answers of (question id, expert) pairs."""
        return {p: self.by_pair.get(p) for p in pairs}

    def gold(self, rows: np.ndarray) -> list[str]:
        return [self.instances[i].gold or "" for i in rows]


def n_options(inst: Instance) -> int:
    """The question's option count as votes read it (0 for math, < 0 for strings and code;
    :func:`common.records.vote_options`)."""
    return vote_options(inst.answer_format)
