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
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import ClassVar, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict

from common.records import ExpertScore, Instance, RoutingDecision
from common.registry import Registry
from orchestrator.voting.profiling_data import ProfilingData, QueryBatch

__all__ = [
    "AccuracyModel",
    "AnswerFetcher",
    "PolicyOptions",
    "ProfilingData",
    "QueryBatch",
    "RoutingPolicy",
    "instance_metadata",
    "policy_registry",
]

#: Fetches answers for (question id, expert) pairs; None where the expert gave none (adaptive policies).
AnswerFetcher = Callable[[list[tuple[str, str]]], Mapping[tuple[str, str], str | None]]


def instance_metadata(inst: Instance) -> dict[str, str]:
    """What policies and votes may group questions by: the instance's metadata and its category."""
    return {**inst.metadata, "category": inst.category} if inst.category else dict(inst.metadata)


class AccuracyModel(Protocol):
    """A fitted estimate of each expert's chance of being right on each question (vote weights)."""

    @property
    def kind(self) -> str:
        """``local`` (kNN over embeddings), ``group`` (per metadata group) or ``global``."""
        ...

    def for_queries(self, queries: QueryBatch) -> np.ndarray:
        """(q, m) accuracies of the profiled experts on ``queries``."""
        ...


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
    provides_accuracy: ClassVar[bool] = False
    """:meth:`reliability` returns the policy's own accuracy estimate (weighted votes reuse it)."""
    budgeted: ClassVar[bool] = False
    """Has a cost ``budget`` option and :meth:`at_budget`, so one fit traces an accuracy-cost curve."""

    chooses_recipe: ClassVar[bool] = False
    """Stands for a recipe chosen from the profiling data (``auto``): resolve it before fitting."""

    uses_vote: ClassVar[bool] = False
    """The policy's recruitment depends on the method's vote (its ``vote`` config is passed in)."""

    @classmethod
    def from_options(
        cls, k: int, options: PolicyOptions | None = None, vote: BaseModel | None = None
    ) -> RoutingPolicy:
        """Build the policy with ``k``, its typed options (defaults when None) and, when it
        ``uses_vote``, the method's vote config."""
        opts = options if options is not None else cls.Options()
        extra = {"vote": vote} if cls.uses_vote and vote is not None else {}
        return cls(k=k, **opts.model_dump(), **extra)

    def reliability(self) -> AccuracyModel | None:
        """The policy's fitted per-query expert accuracy estimate, when it has one (kNN policies)."""
        return None

    def at_budget(self, budget: float) -> RoutingPolicy:
        """The fitted policy at another cost budget, without refitting (``budgeted`` policies only)."""
        raise NotImplementedError(f"policy {self.name!r} has no cost budget")

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


@lru_cache(maxsize=2**16)
def _expert_score(expert: str, score: float) -> ExpertScore:
    """One (frozen, so shareable) score record, built without validation (a str and a float by
    construction) and reused: a bench's nested cross-validation ranks the same experts with the same
    scores millions of times."""
    return ExpertScore.model_construct(expert=expert, score=score)


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
        scores=[_expert_score(experts[j], float(scores[j])) for j in order],
        experts=[experts[j] for j in order[:k]],
        policy=policy,
        why=why,
    )
