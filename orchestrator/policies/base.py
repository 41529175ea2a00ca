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
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict

from common.records import ExpertScore, Instance, RoutingDecision
from common.registry import Registry

#: Fetches answers for (question id, expert) pairs; None where the expert gave none (adaptive policies).
AnswerFetcher = Callable[[list[tuple[str, str]]], Mapping[tuple[str, str], str | None]]


@dataclass(frozen=True)
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
            self.experts,
            self.embeddings[rows],
            pick(self.skills),
            self.correct[rows],
            pick(self.answers),
            self.n_options[rows],
            pick(self.metadata),
            pick(self.options),
            pick(self.texts),
            self.costs,
            self.families,
            None if self.answered is None else self.answered[rows],
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
