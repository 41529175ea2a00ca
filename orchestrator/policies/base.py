"""What a recruitment policy sees and returns, and the registry that names policies in YAML.

A policy is fitted once on profiling data (every expert's correctness on validation questions, the
questions' embeddings and skills) and then recruits experts for a batch of queries. Every policy is
deterministic for a seed.

Each policy declares what it needs instead of callers checking its name: ``needs_profiles`` (a profiling
record), ``needs_embeddings`` (question embeddings in the query batch), ``needs_skills`` (annotated
skills), and its typed ``Options`` (the YAML ``options:`` of a method). Policies that estimate each
expert's local accuracy expose it through :meth:`RoutingPolicy.reliability`, which weighted and stacked
votes reuse.

Example::

    cls = policy_registry.get("knn_top_k")
    policy = cls.from_options(5, cls.Options(neighbours=10))
    policy.fit(profiling)
    decisions = policy.recruit(queries, seed=0)
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from common.records import ExpertScore, RoutingDecision
from common.registry import Registry

if TYPE_CHECKING:
    from orchestrator.policies.reliability import LocalReliability


@dataclass(frozen=True)
class ProfilingData:
    """Every expert's behaviour on the profiling (validation) questions.

    Attributes:
        experts: expert names, the column order of ``correct`` and ``answers``.
        embeddings: (n, d) L2-normalised question embeddings.
        skills: each question's skills (annotated keywords).
        correct: (n, m) bool, expert j answered question i correctly.
        answers: (n, m) parsed answers (None where the expert gave none).
        n_options: (n,) number of answer options (0 for free-form answers).
    """

    experts: tuple[str, ...]
    embeddings: np.ndarray
    skills: list[list[str]]
    correct: np.ndarray
    answers: list[list[str | None]]
    n_options: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.skills)
        shapes = (self.embeddings.shape[0], self.correct.shape[0], len(self.answers), len(self.n_options))
        if any(s != n for s in shapes) or self.correct.shape[1] != len(self.experts):
            raise ValueError(f"profiling data is misaligned: {n} questions, shapes {shapes}")

    @property
    def global_accuracy(self) -> np.ndarray:
        return np.asarray(self.correct.mean(axis=0), dtype=float)

    def subset(self, rows: np.ndarray) -> ProfilingData:
        return ProfilingData(
            self.experts,
            self.embeddings[rows],
            [self.skills[i] for i in rows],
            self.correct[rows],
            [self.answers[i] for i in rows],
            self.n_options[rows],
        )


@dataclass(frozen=True)
class QueryBatch:
    """The questions to route: ids, embeddings, skills and option counts, aligned."""

    ids: list[str]
    embeddings: np.ndarray
    skills: list[list[str]] = field(default_factory=list)
    n_options: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)


class PolicyOptions(BaseModel):
    """A policy's own settings (none by default); subclasses add typed fields with defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RoutingPolicy(abc.ABC):
    """Recruits experts for questions. Subclasses implement ``fit`` and ``_recruit``.

    Class attributes declare what the policy needs, so pipelines and benches never compare names.
    """

    name: ClassVar[str] = "base"
    Options: ClassVar[type[PolicyOptions]] = PolicyOptions
    needs_profiles: ClassVar[bool] = True
    needs_embeddings: ClassVar[bool] = False
    needs_skills: ClassVar[bool] = False
    interactive: ClassVar[bool] = False
    """Recruits in rounds (``extend(decisions, n_options, fetch)`` needs earlier answers), as adaptive_k."""

    @classmethod
    def from_options(cls, k: int, options: PolicyOptions | None = None) -> RoutingPolicy:
        """Build the policy with ``k`` and its typed options (defaults when None)."""
        opts = options if options is not None else cls.Options()
        return cls(k=k, **opts.model_dump())  # type: ignore[call-arg]

    def reliability(self) -> LocalReliability | None:
        """The policy's fitted per-query expert accuracy estimate, when it has one (kNN policies)."""
        return None

    def __init__(self, k: int = 3) -> None:
        if k < 1:
            raise ValueError(f"policy {self.name!r} (stage=recruit): k={k} must be >= 1")
        self.k = k
        self.experts: tuple[str, ...] = ()

    def fit(self, profiling: ProfilingData) -> RoutingPolicy:
        """Learn what the policy needs from profiling data; returns self."""
        self.experts = profiling.experts
        self._fit(profiling)
        return self

    def _fit(self, profiling: ProfilingData) -> None:  # noqa: B027 - optional hook
        """Policy-specific fitting (default: nothing beyond the expert list)."""

    def recruit(self, queries: QueryBatch, seed: int = 0) -> list[RoutingDecision]:
        """Choose experts for every query (deterministic for ``seed``)."""
        if not self.experts:
            raise RuntimeError(f"policy {self.name!r}: call fit() before recruit()")
        return self._recruit(queries, np.random.default_rng(seed))

    @abc.abstractmethod
    def _recruit(self, queries: QueryBatch, rng: np.random.Generator) -> list[RoutingDecision]: ...


policy_registry: Registry[type[RoutingPolicy]] = Registry("policy", base_cls=RoutingPolicy)


def ranked_decision(
    instance_id: str,
    experts: Sequence[str],
    scores: np.ndarray,
    k: int,
    policy: str,
    why: str,
    skills: Sequence[str] = (),
) -> RoutingDecision:
    """A decision recruiting the ``k`` best-scored experts (ties: pool order)."""
    order = np.argsort(-scores, kind="stable")
    return RoutingDecision(
        instance_id=instance_id,
        skills=list(skills),
        scores=[ExpertScore(expert=experts[j], score=float(scores[j])) for j in order],
        experts=[experts[j] for j in order[:k]],
        policy=policy,
        why=why,
    )
