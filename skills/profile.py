"""Expert profiles: per-skill validation records of each expert, their scores, and versioned JSON files.

The paper's profile of an expert gives every skill a score: +1 for each validation question carrying
that skill the expert answered correctly, -1 for each it got wrong. Profiles here also keep the counts
behind the score, so calibrated accuracies can be derived from the same file.

Example::

    profiles = build_profiles(question_skills, {"llama": [True, False, ...], "qwen": [...]})
    profiles.save("runs/profiles.json")
    profiles = ProfileSet.load("runs/profiles.json")
    paper_skill_score(profiles.experts["llama"], ["algebra", "geometry"])
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from common.errors import ConfigError, DataError
from common.records import SkillProfileEntry

logger = logging.getLogger(__name__)

PROFILE_VERSION = 1


class ExpertProfile(BaseModel):
    """One expert's validation record.

    Attributes:
        expert: the expert's name.
        skills: skill -> the paper's +1/-1 score with the correct/total counts behind it.
        correct: validation questions answered correctly (all questions, with or without skills).
        total: validation questions answered.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    expert: str = Field(min_length=1)
    skills: dict[str, SkillProfileEntry] = Field(default_factory=dict)
    correct: int = Field(default=0, ge=0)
    total: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _check_counts(self) -> ExpertProfile:
        if self.correct > self.total:
            raise ValueError(f"expert {self.expert!r}: correct={self.correct} exceeds total={self.total}")
        return self

    @property
    def accuracy(self) -> float:
        """Overall validation accuracy in [0, 1]; 0.0 for an expert with no validation answers."""
        return self.correct / self.total if self.total else 0.0

    @property
    def total_score(self) -> float:
        """Sum of the per-skill scores: the paper's measure of global strength before normalisation."""
        return float(sum(e.score for e in self.skills.values()))


class ProfileSet(BaseModel):
    """All experts' profiles, as saved to and loaded from one JSON file.

    Attributes:
        version: the file format version; :meth:`load` refuses any other.
        annotator: which annotator produced the skills (e.g. ``llm_keywords``, ``embedding``), since
            profiles only make sense with questions annotated the same way.
        experts: expert name -> profile.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = PROFILE_VERSION
    annotator: str = ""
    experts: dict[str, ExpertProfile] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> ProfileSet:
        if self.version != PROFILE_VERSION:
            raise ValueError(f"profile version {self.version} is not the supported {PROFILE_VERSION}")
        wrong = [k for k, p in self.experts.items() if p.expert != k]
        if wrong:
            raise ValueError(f"experts {wrong} are stored under a key that is not their name")
        return self

    def skill_names(self) -> list[str]:
        """Every skill any expert has a record for, sorted (the vocabulary keywords map onto)."""
        return sorted({s for p in self.experts.values() for s in p.skills})

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, fixed indent), so unchanged profiles serialise byte-identically."""
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"

    def save(self, path: str | Path) -> None:
        """Write the profiles to ``path`` atomically (temporary file, then rename)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.{uuid.uuid4().hex}.tmp")
        try:
            tmp.write_text(self.to_json(), encoding="utf-8")
            os.replace(tmp, p)
        finally:
            tmp.unlink(missing_ok=True)
        logger.info("saved profiles of %d experts to %s", len(self.experts), p)

    @classmethod
    def load(cls, path: str | Path) -> ProfileSet:
        """Read profiles written by :meth:`save`.

        Raises:
            ConfigError: the file is missing, not JSON, of another ``version``, or invalid.
        """
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"profile file {p}: not found; build profiles first") from exc
        except json.JSONDecodeError as exc:
            raise ConfigError(f"profile file {p}: not valid JSON ({exc})") from exc
        version = data.get("version") if isinstance(data, dict) else None
        if version != PROFILE_VERSION:
            raise ConfigError(
                f"profile file {p}: version {version!r}, but this code reads version {PROFILE_VERSION}; "
                "rebuild the profiles from the validation outputs"
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"profile file {p}: {exc}") from exc


def profile_expert(
    name: str, question_skills: Sequence[Sequence[str]], correct: Sequence[bool]
) -> ExpertProfile:
    """Profile one expert from its validation correctness.

    Args:
        name: the expert.
        question_skills: the skills of each validation question (duplicates within a question count once).
        correct: whether the expert answered each question correctly, aligned with ``question_skills``.

    Raises:
        DataError: the two sequences differ in length.
    """
    if len(correct) != len(question_skills):
        raise DataError(
            f"profile of {name!r}: {len(correct)} correctness values for {len(question_skills)} questions; "
            "align them with the annotated questions"
        )
    counts: dict[str, list[int]] = {}  # skill -> [correct, total]
    for skills, ok in zip(question_skills, correct, strict=True):
        for skill in dict.fromkeys(skills):
            c = counts.setdefault(skill, [0, 0])
            c[0] += int(ok)
            c[1] += 1
    entries = {
        s: SkillProfileEntry(score=float(2 * c - t), correct=c, total=t)
        for s, (c, t) in sorted(counts.items())
    }
    return ExpertProfile(expert=name, skills=entries, correct=sum(map(bool, correct)), total=len(correct))


def build_profiles(
    question_skills: Sequence[Sequence[str]],
    correctness: Mapping[str, Sequence[bool]],
    annotator: str = "",
) -> ProfileSet:
    """Profile every expert on the same annotated validation questions.

    Args:
        question_skills: the skills of each validation question.
        correctness: expert -> per-question correctness, aligned with ``question_skills``.
        annotator: the annotator that produced ``question_skills`` (recorded in the file).

    Raises:
        DataError: an expert's correctness list is misaligned.
    """
    experts = {name: profile_expert(name, question_skills, ok) for name, ok in sorted(correctness.items())}
    return ProfileSet(annotator=annotator, experts=experts)


def add_expert(
    profiles: ProfileSet,
    name: str,
    question_skills: Sequence[Sequence[str]],
    correct_list: Sequence[bool],
    *,
    replace: bool = False,
) -> ProfileSet:
    """Return ``profiles`` plus one newly profiled expert; the other experts are reused untouched.

    Args:
        profiles: the existing profiles.
        name: the new expert.
        question_skills: the validation questions' skills (annotated as for ``profiles``).
        correct_list: the new expert's correctness, aligned with ``question_skills``.
        replace: allow re-profiling an expert that is already present.

    Raises:
        ConfigError: ``name`` is already profiled and ``replace`` is false.
        DataError: ``correct_list`` is misaligned.
    """
    if name in profiles.experts and not replace:
        raise ConfigError(f"expert {name!r} is already profiled; pass replace=True to re-profile it")
    experts = dict(profiles.experts)
    experts[name] = profile_expert(name, question_skills, correct_list)
    return ProfileSet(version=profiles.version, annotator=profiles.annotator, experts=experts)


def global_strengths(profiles: ProfileSet, temperature: float = 0.5) -> dict[str, float]:
    """Every expert's global competence, normalised to sum to 1 across experts.

    This follows the paper's reference implementation: an expert's raw strength is its total score
    (the sum of its per-skill +1/-1 scores); if any total is negative all are shifted so the lowest
    becomes 1; each is raised to the power ``1 / temperature`` (0.5 squares them, sharpening the
    contrast) and divided by their sum. With every value zero the experts share equally.

    Raises:
        ConfigError: no experts, or ``temperature <= 0``.
    """
    if not profiles.experts:
        raise ConfigError("global strength: the profile set has no experts")
    if temperature <= 0:
        raise ConfigError(f"global strength: temperature={temperature} must be > 0")
    totals = {name: p.total_score for name, p in profiles.experts.items()}
    low = min(totals.values())
    shifted = {n: (t - low + 1.0 if low < 0 else t) for n, t in totals.items()}
    scaled = {n: s ** (1.0 / temperature) for n, s in shifted.items()}
    z = sum(scaled.values())
    if z <= 0:
        return {n: 1.0 / len(scaled) for n in scaled}
    return {n: s / z for n, s in scaled.items()}


def global_strength(profiles: ProfileSet, expert: str, temperature: float = 0.5) -> float:
    """One expert's global competence (see :func:`global_strengths`).

    Raises:
        ConfigError: ``expert`` is not profiled.
    """
    if expert not in profiles.experts:
        raise ConfigError(
            f"global strength: expert {expert!r} is not profiled; "
            f"profiled: {', '.join(sorted(profiles.experts))}"
        )
    return global_strengths(profiles, temperature)[expert]


def paper_skill_score(profile: ExpertProfile, skills: Sequence[str]) -> float:
    """The paper's local suitability: the sum of the expert's scores on the question's skills.

    Each distinct skill counts once; a skill the expert has no record for contributes 0.
    """
    return float(sum(profile.skills[s].score for s in dict.fromkeys(skills) if s in profile.skills))


def calibrated_skill_accuracy(
    profile: ExpertProfile, skills: Sequence[str], prior_strength: float = 5.0
) -> float:
    """A smoothed accuracy estimate for a question with ``skills``.

    Per known skill, ``(correct + a * p) / (total + a)`` with ``a = prior_strength`` and ``p`` the
    expert's global accuracy: a skill seen a few times stays near ``p``, one seen often approaches its
    own accuracy. The result is the mean over the question's distinct known skills, or ``p`` when none
    is known. Unlike the paper's score it does not grow with the number of skills or of questions.

    Raises:
        ConfigError: ``prior_strength < 0``.
    """
    if prior_strength < 0:
        raise ConfigError(f"calibrated accuracy: prior_strength={prior_strength} must be >= 0")
    p = profile.accuracy
    known = [profile.skills[s] for s in dict.fromkeys(skills) if s in profile.skills]
    rates = [
        (e.correct + prior_strength * p) / (e.total + prior_strength)
        for e in known
        if e.total + prior_strength > 0
    ]
    return float(sum(rates) / len(rates)) if rates else p
