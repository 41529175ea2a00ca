"""Expert profiles: building, saving and loading, versioning, adding experts, and the scores."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from common.errors import ConfigError, DataError
from common.records import SkillProfileEntry
from skills.profile import (
    PROFILE_VERSION,
    ExpertProfile,
    ProfileSet,
    add_expert,
    build_profiles,
    calibrated_skill_accuracy,
    global_strength,
    global_strengths,
    paper_skill_score,
)

QUESTION_SKILLS = [["algebra", "geometry"], ["algebra"], ["law", "law"], []]
CORRECTNESS = {
    "alice": [True, True, False, True],
    "bob": [False, True, True, False],
}


@pytest.fixture
def profiles() -> ProfileSet:
    return build_profiles(QUESTION_SKILLS, CORRECTNESS, annotator="llm_keywords")


def test_build_profiles_scores_plus_one_minus_one_with_counts(profiles: ProfileSet) -> None:
    alice = profiles.experts["alice"]
    assert alice.skills == {
        "algebra": SkillProfileEntry(score=2.0, correct=2, total=2),
        "geometry": SkillProfileEntry(score=1.0, correct=1, total=1),
        "law": SkillProfileEntry(score=-1.0, correct=0, total=1),  # a repeated skill counts once
    }
    assert (alice.correct, alice.total) == (3, 4)
    assert alice.accuracy == 0.75
    bob = profiles.experts["bob"]
    assert bob.skills["algebra"] == SkillProfileEntry(score=0.0, correct=1, total=2)
    assert profiles.annotator == "llm_keywords"
    assert profiles.skill_names() == ["algebra", "geometry", "law"]


def test_build_profiles_rejects_misaligned_correctness() -> None:
    with pytest.raises(DataError, match="'carol': 2 correctness values for 4 questions"):
        build_profiles(QUESTION_SKILLS, {"carol": [True, False]})


def test_save_and_load_round_trip(profiles: ProfileSet, tmp_path: Path) -> None:
    path = tmp_path / "sub" / "profiles.json"
    profiles.save(path)
    assert ProfileSet.load(path) == profiles
    assert json.loads(path.read_text())["version"] == PROFILE_VERSION
    assert [p.name for p in path.parent.iterdir()] == ["profiles.json"]  # no temporary file left


def test_loading_another_version_names_the_file_and_both_versions(fixtures_dir: Path) -> None:
    path = fixtures_dir / "profiles_v2.json"
    with pytest.raises(ConfigError) as err:
        ProfileSet.load(path)
    message = str(err.value)
    assert str(path) in message
    assert "version 2" in message
    assert f"version {PROFILE_VERSION}" in message


def test_loading_a_missing_or_broken_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        ProfileSet.load(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        ProfileSet.load(bad)
    invalid = tmp_path / "invalid.json"
    invalid.write_text(
        json.dumps({"version": PROFILE_VERSION, "experts": {"a": {"expert": "a", "total": -1}}})
    )
    with pytest.raises(ConfigError, match=re.escape(str(invalid))):
        ProfileSet.load(invalid)


def test_add_expert_profiles_only_the_new_expert(profiles: ProfileSet, tmp_path: Path) -> None:
    before_path, after_path = tmp_path / "before.json", tmp_path / "after.json"
    profiles.save(before_path)

    grown = add_expert(profiles, "carol", QUESTION_SKILLS, [True, False, True, True])
    grown.save(after_path)

    assert sorted(grown.experts) == ["alice", "bob", "carol"]
    for name in ("alice", "bob"):
        assert grown.experts[name] is profiles.experts[name]
        assert grown.experts[name].model_dump_json() == profiles.experts[name].model_dump_json()
    after = json.loads(after_path.read_text())
    del after["experts"]["carol"]
    assert json.dumps(after, indent=2, sort_keys=True) + "\n" == before_path.read_text()
    assert grown.experts["carol"].skills["law"] == SkillProfileEntry(score=1.0, correct=1, total=1)
    assert "carol" not in profiles.experts  # the input is not modified


def test_add_expert_refuses_to_overwrite_unless_asked(profiles: ProfileSet) -> None:
    with pytest.raises(ConfigError, match="'alice' is already profiled"):
        add_expert(profiles, "alice", QUESTION_SKILLS, [False] * 4)
    replaced = add_expert(profiles, "alice", QUESTION_SKILLS, [False] * 4, replace=True)
    assert replaced.experts["alice"].correct == 0


def test_profile_set_rejects_inconsistent_data() -> None:
    with pytest.raises(ValueError, match="correct=3 exceeds total=2"):
        ExpertProfile(expert="x", correct=3, total=2)
    with pytest.raises(ValueError, match="not their name"):
        ProfileSet(experts={"x": ExpertProfile(expert="y")})


def test_global_strength_follows_the_paper_normalisation(profiles: ProfileSet) -> None:
    # Total scores: alice 2 + 1 - 1 = 2, bob 0 - 1 + 1 = 0; no negatives, so no shift; squared, normalised.
    strengths = global_strengths(profiles)
    assert strengths == {"alice": 1.0, "bob": 0.0}
    assert global_strength(profiles, "alice") == 1.0

    grown = add_expert(profiles, "carol", QUESTION_SKILLS, [False] * 4)  # total -4: shift by 5
    shifted = global_strengths(grown)
    raw = {"alice": 7.0**2, "bob": 5.0**2, "carol": 1.0**2}
    assert shifted == pytest.approx({k: v / sum(raw.values()) for k, v in raw.items()})
    assert sum(shifted.values()) == pytest.approx(1.0)
    assert global_strengths(grown, temperature=1.0)["alice"] == pytest.approx(7 / 13)


def test_global_strength_edge_cases(profiles: ProfileSet) -> None:
    flat = build_profiles([["a"], ["a"]], {"x": [True, False], "y": [False, True]})
    assert global_strengths(flat) == {"x": 0.5, "y": 0.5}
    with pytest.raises(ConfigError, match="'nobody' is not profiled; profiled: alice, bob"):
        global_strength(profiles, "nobody")
    with pytest.raises(ConfigError, match="temperature=0"):
        global_strengths(profiles, temperature=0)
    with pytest.raises(ConfigError, match="no experts"):
        global_strengths(ProfileSet())


def test_paper_skill_score_sums_known_skills_once(profiles: ProfileSet) -> None:
    alice = profiles.experts["alice"]
    assert paper_skill_score(alice, ["algebra", "geometry"]) == 3.0
    assert paper_skill_score(alice, ["algebra", "algebra", "unseen"]) == 2.0
    assert paper_skill_score(alice, []) == 0.0


def _expert(correct: int, total: int, skills: dict[str, tuple[int, int]]) -> ExpertProfile:
    return ExpertProfile(
        expert="e",
        correct=correct,
        total=total,
        skills={s: SkillProfileEntry(score=2.0 * c - t, correct=c, total=t) for s, (c, t) in skills.items()},
    )


def test_calibrated_accuracy_shrinks_rarely_seen_skills_toward_global_accuracy() -> None:
    expert = _expert(50, 100, {"rare": (1, 1), "common": (40, 40), "weak": (0, 30)})
    rare = calibrated_skill_accuracy(expert, ["rare"], prior_strength=5)
    common = calibrated_skill_accuracy(expert, ["common"], prior_strength=5)
    assert 0.5 < rare < common < 1.0
    assert rare == pytest.approx((1 + 5 * 0.5) / (1 + 5))
    assert calibrated_skill_accuracy(expert, ["rare"], prior_strength=0) == 1.0
    assert calibrated_skill_accuracy(expert, ["rare"], prior_strength=1000) == pytest.approx(0.5, abs=1e-3)
    assert calibrated_skill_accuracy(expert, ["weak"], prior_strength=5) < 0.1


def test_calibrated_accuracy_averages_known_skills_and_falls_back_to_global() -> None:
    expert = _expert(3, 4, {"a": (2, 2), "b": (0, 2)})
    a = calibrated_skill_accuracy(expert, ["a"], prior_strength=2)
    b = calibrated_skill_accuracy(expert, ["b"], prior_strength=2)
    assert calibrated_skill_accuracy(expert, ["a", "b", "unknown"], prior_strength=2) == pytest.approx(
        (a + b) / 2
    )
    assert calibrated_skill_accuracy(expert, ["unknown"]) == 0.75
    assert calibrated_skill_accuracy(expert, []) == 0.75
    assert calibrated_skill_accuracy(ExpertProfile(expert="new"), ["a"]) == 0.0
    with pytest.raises(ConfigError, match="prior_strength=-1"):
        calibrated_skill_accuracy(expert, ["a"], prior_strength=-1)
