"""The Python API: ``SymbolicMoE.from_config(path).solve(questions)``, plus ``explain`` and ``profile``.

Example::

    from orchestrator import SymbolicMoE

    moe = SymbolicMoE.from_config("configs/pools/tiny-cpu.yaml")
    answers = moe.solve(["What is 2 plus 3?", {"question": "Pick one", "options": ["a", "b"]}])
    answers[0].answer, answers[0].routing.experts, answers[0].expert_answers

``AsyncSymbolicMoE`` offers the same calls as coroutines (the work runs in a worker thread).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common.errors import DataError
from common.records import FinalAnswer, Instance, RoutingDecision
from orchestrator.datasets.questions import question_instance
from orchestrator.live import LiveRun, load_profiling
from orchestrator.pool import PoolConfig, load_pool_config, resolve_local_models
from orchestrator.profiling import ProfilingRecord
from orchestrator.runs.runner import RunReport, profile_pool, run_pool
from skills.embedding import Embedder

QuestionLike = str | dict[str, Any] | Instance
DEFAULT_PROFILES_DIR = Path("~/.cache/symbolic-moe/profiles")


def to_instances(questions: Sequence[QuestionLike]) -> list[Instance]:
    """Accept strings, dicts (the ``symoe run`` input row format) or instances.

    Raises:
        DataError: a question is of another type or invalid (the message gives its position).
    """
    out: list[Instance] = []
    for i, q in enumerate(questions):
        if isinstance(q, Instance):
            out.append(q)
        elif isinstance(q, str):
            out.append(question_instance({"question": q}, i))
        elif isinstance(q, dict):
            try:
                out.append(question_instance(q, i))
            except DataError as exc:
                raise DataError(f"question {i}: {exc}") from None
        else:
            raise DataError(f"question {i}: expected a string, dict or Instance, got {type(q).__name__}")
    return out


class SymbolicMoE:
    """A pool of experts behind one call. Engines are built per call and each model loads once per call.

    Args:
        pool: the pool config.
        embedder: a shared question embedder (a cached all-MiniLM-L6-v2 by default).
    """

    def __init__(self, pool: PoolConfig, *, embedder: Embedder | None = None) -> None:
        self.pool = pool
        self.embedder = embedder
        self.last_report: RunReport | None = None

    @classmethod
    def from_config(cls, path: str | Path, **kwargs: Any) -> SymbolicMoE:
        """Load a pool YAML (``configs/pools/*.yaml``)."""
        return cls(load_pool_config(path), **kwargs)

    def solve(self, questions: Sequence[QuestionLike]) -> list[FinalAnswer]:
        """Answer a batch; each answer carries its routing trace (keywords, skills, experts, their answers,
        the aggregation used, tokens). The run's per-model timings are in ``last_report``."""
        report, finals = run_pool(self.pool, to_instances(questions), embedder=self.embedder)
        self.last_report = report
        return finals

    def explain(self, question: QuestionLike) -> RoutingDecision:
        """The routing decision for one question, without any expert generating an answer."""
        instances = to_instances([question])
        pool = resolve_local_models(self.pool)
        run = LiveRun(pool, embedder=self.embedder)
        try:
            profiling, vocabulary = load_profiling(pool, run.embedder or self.embedder)
            skills = run.annotate(instances, vocabulary)
            decision = run.recruit(instances, skills, profiling)[0]
        finally:
            run.close()
        return decision.model_copy(update={"keywords": skills[0]})

    def profile(
        self, validation_set: Sequence[QuestionLike], *, save_to: str | Path | None = None
    ) -> ProfilingRecord:
        """Profile every expert on validation questions (with gold answers) and route with it from now on.

        Args:
            validation_set: questions with gold answers.
            save_to: where to write the profiling record (default: the user cache, by pool name).
        """
        instances = to_instances(validation_set)
        if any(i.gold is None for i in instances):
            raise DataError("profile: every validation question needs a gold answer ('answer' field)")
        record = profile_pool(self.pool, instances, embedder=self.embedder)
        path = Path(save_to) if save_to else DEFAULT_PROFILES_DIR.expanduser() / f"{self.pool.name}.json"
        record.save(path)
        self.pool = self.pool.model_copy(update={"profiles": str(path)})
        return record


class AsyncSymbolicMoE:
    """The async twin of :class:`SymbolicMoE`: the same calls as coroutines, run in a worker thread."""

    def __init__(self, pool: PoolConfig, *, embedder: Embedder | None = None) -> None:
        self._sync = SymbolicMoE(pool, embedder=embedder)

    @classmethod
    def from_config(cls, path: str | Path, **kwargs: Any) -> AsyncSymbolicMoE:
        return cls(load_pool_config(path), **kwargs)

    @property
    def last_report(self) -> RunReport | None:
        return self._sync.last_report

    async def solve(self, questions: Sequence[QuestionLike]) -> list[FinalAnswer]:
        return await asyncio.to_thread(self._sync.solve, questions)

    async def explain(self, question: QuestionLike) -> RoutingDecision:
        return await asyncio.to_thread(self._sync.explain, question)

    async def profile(self, validation_set: Sequence[QuestionLike], **kwargs: Any) -> ProfilingRecord:
        return await asyncio.to_thread(self._sync.profile, validation_set, **kwargs)
