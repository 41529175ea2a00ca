"""Generator profiles: each expert generator's quality per task kind, learned from supervisor verdicts.

A profile is a Beta posterior per (generator, kind): the configured prior quality counts as
``prior_weight`` pseudo-verdicts, and every supervisor verdict adds one pass or one failure. Recruitment
ranks generators by the posterior mean. Profiles are stored as JSON beside the pool config
(``<config>.profiles.json``) so what one job learned routes the next.

Example::

    profiles = GeneratorProfiles.load("configs/agents/audio-cpu.profiles.json")
    profiles.quality("espeak_ng", "speech", prior=0.6)      # posterior mean
    profiles.observe("espeak_ng", "speech", passed=True)
    profiles.save(path)
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.errors import ConfigError

logger = logging.getLogger(__name__)

PROFILE_FORMAT_VERSION = 1


class KindRecord(BaseModel):
    """Verdict counts of one generator on one kind."""

    model_config = ConfigDict(extra="forbid")

    passed: int = Field(default=0, ge=0)
    failed: int = Field(default=0, ge=0)


class ProfilesFile(BaseModel):
    """The JSON file: ``{"version": 1, "prior_weight": 4, "generators": {name: {kind: counts}}}``."""

    model_config = ConfigDict(extra="forbid")

    version: int = PROFILE_FORMAT_VERSION
    prior_weight: float = Field(
        default=4.0, gt=0, description="Pseudo-verdicts the configured prior counts as."
    )
    generators: dict[str, dict[str, KindRecord]] = Field(default_factory=dict)


class GeneratorProfiles:
    """Quality per (generator, kind): a configured prior updated by supervisor verdicts."""

    def __init__(self, data: ProfilesFile | None = None) -> None:
        self.data = data or ProfilesFile()

    @classmethod
    def load(cls, path: str | Path | None) -> GeneratorProfiles:
        """Read a profiles file; a missing file (or ``None``) gives empty profiles.

        Raises:
            ConfigError: the file exists but is not a valid profiles file.
        """
        if path is None or not Path(path).is_file():
            return cls()
        try:
            return cls(ProfilesFile.model_validate_json(Path(path).read_text(encoding="utf-8")))
        except ValidationError as exc:
            raise ConfigError(
                f"generator profiles {path}: invalid ({exc}); delete it to start afresh"
            ) from exc

    def save(self, path: str | Path) -> None:
        """Write atomically (a temp file renamed over the target)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".profiles-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(self.data.model_dump(mode="json"), indent=1, sort_keys=True) + "\n")
        os.replace(tmp, target)

    def record(self, generator: str, kind: str) -> KindRecord:
        return self.data.generators.setdefault(generator, {}).setdefault(kind, KindRecord())

    def quality(self, generator: str, kind: str, prior: float) -> float:
        """Posterior mean pass rate: (prior * w + passes) / (w + verdicts)."""
        rec = self.data.generators.get(generator, {}).get(kind, KindRecord())
        w = self.data.prior_weight
        return (prior * w + rec.passed) / (w + rec.passed + rec.failed)

    def observe(self, generator: str, kind: str, *, passed: bool) -> None:
        """Add one supervisor verdict."""
        rec = self.record(generator, kind)
        if passed:
            rec.passed += 1
        else:
            rec.failed += 1
