"""``auto``: a placeholder policy that stands for "choose the recipe from the profiling data".

A method with ``policy: auto`` is resolved before it is fitted: :func:`orchestrator.autoselect.choose`
picks one recipe (a policy, k, aggregation and vote) from a declared space by nested cross-validation
inside the profiling data, and that recipe is fitted and run. The bench and live runs resolve it the
same way (``chooses_recipe``), so this class never recruits itself.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from common.records import RoutingDecision
from orchestrator.policies.base import PolicyOptions, QueryBatch, RoutingPolicy, policy_registry


class AutoOptions(PolicyOptions):
    """The settings of the choice; the defaults are the same for every pool and benchmark."""

    max_calls: float = Field(
        default=5.0,
        ge=1.0,
        description="Recipes whose inner-CV mean calls per question exceed this are not eligible.",
    )
    budget: float | None = Field(
        default=None,
        gt=0,
        description="Mean cost per question; when set, the space also holds a cascade under it and "
        "recipes above it are not eligible.",
    )
    inner_folds: int = Field(default=5, ge=2, description="Inner cross-validation folds.")
    inner_seeds: int = Field(default=2, ge=1, description="Inner CV repetitions (fold seeds 200, 201...).")
    se_rule: float = Field(
        default=1.0,
        ge=0,
        description="Take the simplest recipe within this many standard errors of the best (1: the "
        "one-standard-error rule); the standard error is that of the paired per-question difference "
        "between a recipe and the best, over profiling questions.",
    )


@policy_registry.register("auto")
class AutoPolicy(RoutingPolicy):
    """Chooses its recipe by nested cross-validation on the profiling data (resolved, never run)."""

    name = "auto"
    Options = AutoOptions
    needs_embeddings = True  # the space holds kNN recipes
    chooses_recipe: ClassVar[bool] = True

    def __init__(
        self,
        k: int = 1,
        max_calls: float = 5.0,
        budget: float | None = None,
        inner_folds: int = 5,
        inner_seeds: int = 2,
        se_rule: float = 1.0,
    ) -> None:
        super().__init__(k)
        self.options = AutoOptions(
            max_calls=max_calls,
            budget=budget,
            inner_folds=inner_folds,
            inner_seeds=inner_seeds,
            se_rule=se_rule,
        )

    def _recruit(self, queries: QueryBatch, rng: np.random.Generator) -> list[RoutingDecision]:
        raise RuntimeError(
            "policy 'auto' (stage=recruit) is resolved to a recipe before fitting: call "
            "orchestrator.autoselect.resolve(method, profiling, gold)"
        )
