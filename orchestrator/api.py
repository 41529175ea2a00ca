"""The Python API: a long-lived session over a pool with ``solve``, ``explain`` and ``profile``.

Example::

    from orchestrator import SymbolicMoE

    with SymbolicMoE.from_config("configs/pools/zoo-cpu.yaml") as moe:
        answers = moe.solve(["What is 2 plus 3?", {"question": "Pick one", "options": ["a", "b"]}])
        answers[0].answer, answers[0].routing.experts, answers[0].expert_answers
        moe.solve(["What is 7 times 6?"])    # the models loaded by the first call are still resident

A :class:`SymbolicMoE` owns its engines through a :class:`~orchestrator.pipeline.Session`: models stay
loaded across calls within the pool's memory budget, and the fitted policy, profiles and embedder are
built once. ``close()`` (or leaving the ``with`` block) releases them. Calls are serialised per model batch,
so threads may share one instance. ``AsyncSymbolicMoE`` offers the same calls as coroutines.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from batching.journal.engine import Journal
from batching.journal.store import RunStore
from common.errors import DataError
from common.records import FinalAnswer, Instance, RoutingDecision
from common.settings import expand_path
from orchestrator.datasets.questions import question_instance
from orchestrator.pipeline import Job, run_stages
from orchestrator.pipeline.annotate import AnnotateStage
from orchestrator.pipeline.recruit import RecruitStage
from orchestrator.pool import PoolConfig, load_pool_config
from orchestrator.profiling import ProfilingRecord
from orchestrator.runs.report import RunReport
from orchestrator.runs.runner import RunOptions, open_session, profile_pool, run_pool
from skills.embedding import Embedder

QuestionLike = str | dict[str, Any] | Instance
DEFAULT_PROFILES_DIR = Path("$SYMOE_HOME/profiles")


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
    """A pool of experts behind one call, kept open across calls (see the module docstring).

    Args:
        pool: the pool config.
        embedder: a shared question embedder (a cached all-MiniLM-L6-v2 by default).
        backend: ``local`` (models in this process) or ``ray`` (worker actors that live as long as this).
        options: where each call is journaled (default: a throwaway in-memory store per call).
    """

    def __init__(
        self,
        pool: PoolConfig,
        *,
        embedder: Embedder | None = None,
        backend: Literal["local", "ray"] = "local",
        options: RunOptions | None = None,
    ) -> None:
        self.pool = pool
        self.options = options or RunOptions(backend=backend)
        self.session = open_session(
            pool, embedder=embedder, backend=self.options.backend, ray=self.options.ray, keep_resident=True
        )
        self.last_report: RunReport | None = None

    @classmethod
    def from_config(cls, path: str | Path, **kwargs: Any) -> SymbolicMoE:
        """Load a pool YAML (``configs/pools/*.yaml``)."""
        return cls(load_pool_config(path), **kwargs)

    def solve(self, questions: Sequence[QuestionLike]) -> list[FinalAnswer]:
        """Answer a batch; each answer carries its routing trace (keywords, skills, experts, their answers,
        the aggregation used, tokens). The call's per-model figures are in ``last_report``."""
        report, finals = run_pool(
            self.pool, to_instances(questions), options=self.options, session=self.session
        )
        self.last_report = report
        return finals

    def explain(self, question: QuestionLike) -> RoutingDecision:
        """The routing decision for one question, without any expert generating an answer."""
        job = Job(
            self.session, to_instances([question]), Journal(store=RunStore(":memory:"), run_id="explain")
        )
        run_stages(job, (AnnotateStage(), RecruitStage()))
        return job.decisions[0]

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
        record = profile_pool(self.pool, instances, session=self.session)
        path = Path(save_to) if save_to else expand_path(DEFAULT_PROFILES_DIR) / f"{self.pool.name}.json"
        record.save(path)
        self.pool = self.pool.model_copy(update={"profiles": str(path)})
        self.session.config = self.pool
        self.session.refit(record)
        return record

    def model_loads(self) -> dict[str, int]:
        """Loads per model over the whole session (every call so far)."""
        return {name: e.counters.loads for name, e in self.session.engines.items()}

    def close(self) -> None:
        """Release every model (idempotent)."""
        self.session.close()

    def __enter__(self) -> SymbolicMoE:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncSymbolicMoE:
    """The async twin of :class:`SymbolicMoE`: the same calls as coroutines, run in a worker thread."""

    def __init__(self, pool: PoolConfig, **kwargs: Any) -> None:
        self._sync = SymbolicMoE(pool, **kwargs)

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

    def model_loads(self) -> dict[str, int]:
        return self._sync.model_loads()

    async def aclose(self) -> None:
        await asyncio.to_thread(self._sync.close)

    def close(self) -> None:
        self._sync.close()

    async def __aenter__(self) -> AsyncSymbolicMoE:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
