"""Recruitment of expert generators: the best profiled candidate per task, and the next one on failure.

Generators are routed like LLM experts: each declares the kinds it serves and a prior quality per kind,
its profile refines that from supervisor verdicts, and each task gets the candidate with the highest
posterior quality (ties broken by config order). A supervisor's ``next_generator`` instruction moves a
task to the best candidate it has not tried yet. The recruited tasks are then grouped per generator
(:func:`batching.planner.plan_stage`) so each generator loads once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from agents.profiles import GeneratorProfiles
from batching.planner import StagePlan, plan_stage
from common.errors import RoutingError

TaskT = TypeVar("TaskT")


@dataclass(frozen=True, slots=True)
class Candidate(Generic[TaskT]):
    """A generator as recruitment sees it: its name, prior quality per kind, and what it can serve."""

    name: str
    priors: tuple[tuple[str, float], ...]
    accepts: Callable[[TaskT], bool]

    def prior(self, kind: str) -> float | None:
        return dict(self.priors).get(kind)


class Recruiter(Generic[TaskT]):
    """Ranks candidates per task by profiled quality.

    Args:
        candidates: the pool's generators, in config order.
        profiles: learned profiles.
        kind_of: a task's kind (e.g. ``speech``).
    """

    def __init__(
        self,
        candidates: Sequence[Candidate[TaskT]],
        profiles: GeneratorProfiles,
        kind_of: Callable[[TaskT], str],
    ) -> None:
        self.candidates = list(candidates)
        self.profiles = profiles
        self.kind_of = kind_of

    def ranking(self, task: TaskT) -> list[tuple[str, float]]:
        """Candidates able to serve ``task``, best first, with their posterior quality."""
        kind = self.kind_of(task)
        scored = []
        for order, c in enumerate(self.candidates):
            prior = c.prior(kind)
            if prior is None or not c.accepts(task):
                continue
            scored.append((-self.profiles.quality(c.name, kind, prior), order, c.name))
        return [(name, -neg) for neg, _, name in sorted(scored)]

    def pick(self, task: TaskT, tried: Sequence[str] = ()) -> str | None:
        """The best candidate not in ``tried``; None when all were tried.

        Raises:
            RoutingError: no generator of the pool serves this task at all.
        """
        ranked = self.ranking(task)
        if not ranked:
            names = ", ".join(c.name for c in self.candidates) or "none"
            raise RoutingError(
                f"recruitment: no generator serves a {self.kind_of(task)!r} task ({task!r}); the pool has "
                f"{names}; add a generator for that kind to the config"
            )
        for name, _ in ranked:
            if name not in tried:
                return name
        return None


def batch_per_generator(stage: str, assignments: Sequence[tuple[str, str]]) -> StagePlan:
    """Group ``(task_id, generator)`` pairs into one batch per generator (each loads once)."""
    return plan_stage(stage, [(task_id, [gen]) for task_id, gen in assignments])
