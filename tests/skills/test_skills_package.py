"""The skills package surface: exported names, import cost, and the skill vocabulary file."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import pytest

import skills
from common.errors import ConfigError
from skills.vocabulary import DEFAULT_VOCABULARY_PATH, MAX_SKILL_CHARS, load_vocabulary

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_all_matches_public_names() -> None:
    public = {
        name
        for name, obj in vars(skills).items()
        if not name.startswith("_") and not isinstance(obj, types.ModuleType) and name != "annotations"
    }
    assert set(skills.__all__) == public
    assert len(skills.__all__) == len(public)  # no duplicates


def test_importing_skills_does_not_import_torch() -> None:
    code = (
        "import sys, skills; "
        "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT)


def test_default_vocabulary_covers_the_subjects() -> None:
    vocab = load_vocabulary()
    assert DEFAULT_VOCABULARY_PATH.name == "mmlu_skills.yaml"
    assert 150 <= len(vocab.skills) <= 300
    assert all(len(s) <= MAX_SKILL_CHARS for s in vocab.skills)
    for skill in ("organic chemistry", "thermodynamics", "probability", "contract law", "pharmacology"):
        assert skill in vocab.skills


def test_vocabulary_files_are_validated(fixtures_dir: Path, tmp_path: Path) -> None:
    assert load_vocabulary(fixtures_dir / "vocab_small.yaml").version == 3
    with pytest.raises(ConfigError, match=r"(?s)vocab_too_long\.yaml.*20 characters"):
        load_vocabulary(fixtures_dir / "vocab_too_long.yaml")
    with pytest.raises(ConfigError, match="not found"):
        load_vocabulary(tmp_path / "absent.yaml")
    dupes = tmp_path / "dupes.yaml"
    dupes.write_text("version: 1\nskills: [algebra, algebra]\n")
    with pytest.raises(ConfigError, match="more than once"):
        load_vocabulary(dupes)
    typo = tmp_path / "typo.yaml"
    typo.write_text("version: 1\nskils: [algebra]\n")
    with pytest.raises(ConfigError, match="skils"):
        load_vocabulary(typo)
