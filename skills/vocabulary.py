"""The skill vocabulary: a versioned YAML list of short skill names that profiles and routing share.

Example::

    vocab = load_vocabulary()                  # configs/skills/mmlu_skills.yaml
    vocab.skills[:3]                           # ['algebra', 'linear algebra', 'abstract algebra']
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from common.config_file import load_model_file
from common.resources import config_path

logger = logging.getLogger(__name__)

DEFAULT_VOCABULARY_PATH = config_path("skills", "mmlu_skills.yaml")
MAX_SKILL_CHARS = 20  # the paper keeps annotated keywords of at most 20 characters


class SkillVocabulary(BaseModel):
    """A skill vocabulary file (``configs/skills/*.yaml``).

    Attributes:
        version: bumped whenever the list changes; profiles built on one list do not carry over.
        skills: unique, lowercase skill names of at most 20 characters.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(default=1, ge=1)
    skills: list[str] = Field(min_length=1)

    @field_validator("skills")
    @classmethod
    def _check_skills(cls, skills: list[str]) -> list[str]:
        bad = [s for s in skills if not s.strip() or len(s) > MAX_SKILL_CHARS or s != s.strip().lower()]
        if bad:
            raise ValueError(
                f"skills must be non-empty, lowercase, stripped and <= {MAX_SKILL_CHARS} characters; "
                f"fix {bad[:5]}"
            )
        dupes = sorted(s for s, n in Counter(skills).items() if n > 1)
        if dupes:
            raise ValueError(f"skills must be unique; {dupes[:5]} appear more than once")
        return skills


def load_vocabulary(path: str | Path | None = None) -> SkillVocabulary:
    """Read and validate a skill vocabulary YAML.

    Args:
        path: the YAML file; defaults to ``configs/skills/mmlu_skills.yaml``.

    Raises:
        ConfigError: the file is missing, not YAML, or fails validation (the message names the file).
    """
    p = Path(path) if path is not None else DEFAULT_VOCABULARY_PATH
    vocab = load_model_file(p, SkillVocabulary, "skill vocabulary")
    logger.debug("skill vocabulary %s: version %d, %d skills", p, vocab.version, len(vocab.skills))
    return vocab
