"""The paper's skill-based recruitment, and a deterministic top-k variant over the same scores.

Each expert's profile holds +1/-1 per skill from the validation run. For a question with skills S the
local suitability of expert m is the sum of its scores over S; multiplied by m's global strength (total
score, sharpened at temperature 0.5 and normalised) it gives a weight. The paper draws k experts with
replacement in proportion to these weights, among the experts with a positive suitability (all experts,
shifted to be positive, when none is positive); an expert drawn twice answers twice (two samples).
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from common.records import RoutingDecision
from orchestrator.policies.base import (
    PolicyOptions,
    ProfilingData,
    QueryBatch,
    RoutingPolicy,
    policy_registry,
    ranked_decision,
)
from skills.profile import (
    ProfileSet,
    build_profiles,
    calibrated_skill_accuracy,
    global_strengths,
    paper_skill_score,
)


class PaperOptions(PolicyOptions):
    """The paper's global-strength temperature (0.5 sharpens toward the strongest experts)."""

    temperature: float = Field(default=0.5, gt=0)


class SkillTopKOptions(PaperOptions):
    """``calibrated``: rank by calibrated per-skill accuracy instead of the paper's score."""

    calibrated: bool = False


class _SkillScored(RoutingPolicy):
    """Shared fitting: profiles from the profiling questions' skills and correctness."""

    needs_skills = True

    def __init__(self, k: int = 3, temperature: float = 0.5) -> None:
        super().__init__(k)
        self.temperature = temperature
        self.profiles: ProfileSet | None = None

    def _fit(self, profiling: ProfilingData) -> None:
        correctness = {e: profiling.correct[:, j].tolist() for j, e in enumerate(profiling.experts)}
        self.profiles = build_profiles(profiling.skills, correctness, annotator="profiling")
        strength = global_strengths(self.profiles, self.temperature)
        self._strength = np.array([strength[e] for e in self.experts])

    def _suitability(self, skills: list[str]) -> np.ndarray:
        assert self.profiles is not None
        return np.array([paper_skill_score(self.profiles.experts[e], skills) for e in self.experts])


@policy_registry.register("paper")
class PaperPolicy(_SkillScored):
    """The paper's policy: k weighted draws with replacement (seeded)."""

    name = "paper"
    Options = PaperOptions

    def _recruit(self, queries: QueryBatch, rng: np.random.Generator) -> list[RoutingDecision]:
        out = []
        for iid, skills in zip(queries.ids, queries.skills, strict=True):
            local = self._suitability(skills)
            if (local > 0).any():
                weights = np.where(local > 0, local, 0.0) * self._strength
            else:
                weights = (local - local.min() + 1.0) * self._strength
            if weights.sum() <= 0:
                weights = np.ones_like(weights)
            draws = rng.choice(len(self.experts), size=self.k, replace=True, p=weights / weights.sum())
            decision = ranked_decision(iid, self.experts, weights, self.k, self.name, "", skills)
            out.append(
                decision.model_copy(
                    update={
                        "experts": [self.experts[j] for j in draws],
                        "why": f"{self.k} draws weighted by skill score x global strength",
                    }
                )
            )
        return out


@policy_registry.register("skill_top_k")
class SkillTopKPolicy(_SkillScored):
    """Deterministic top-k by the paper's score x strength, or by calibrated per-skill accuracy."""

    name = "skill_top_k"
    Options = SkillTopKOptions

    def __init__(self, k: int = 3, temperature: float = 0.5, calibrated: bool = False) -> None:
        super().__init__(k, temperature)
        self.calibrated = calibrated

    def _recruit(self, queries: QueryBatch, rng: np.random.Generator) -> list[RoutingDecision]:
        assert self.profiles is not None
        out = []
        for iid, skills in zip(queries.ids, queries.skills, strict=True):
            if self.calibrated:
                scores = np.array(
                    [calibrated_skill_accuracy(self.profiles.experts[e], skills) for e in self.experts]
                )
                why = f"top-{self.k} by calibrated skill accuracy"
            else:
                scores = self._suitability(skills) * self._strength
                why = f"top-{self.k} by skill score x global strength"
            out.append(ranked_decision(iid, self.experts, scores, self.k, self.name, why, skills))
        return out
