"""The header every benchmark JSON record starts with (what ran, its config hash, the git commit), and
the helper that fills it for the speed and load benchmarks.

Example::

    class PlanningResult(BenchmarkRecord):
        name: str = "planning_overhead"
        mean_s: float

    result = PlanningResult(**record_header(cfg, packages=("torch",)), mean_s=0.4)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import platform
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from pydantic import BaseModel, ConfigDict


class BenchmarkRecord(BaseModel):
    """What every benchmark record holds first: what ran, when, with which config, code and packages.

    Subclasses give ``name`` a default (the benchmark's name, also the stem of its ``--output-json``
    file) and add their figures after these fields.
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    created: str
    config: dict[str, Any]
    config_hash: str
    git_sha: str | None
    versions: dict[str, str]


def record_header(cfg: BaseModel, packages: Sequence[str]) -> dict[str, Any]:
    """The :class:`BenchmarkRecord` fields but ``name`` for a run of ``cfg``, made now.

    Args:
        cfg: the run's resolved config (stored as JSON, and hashed).
        packages: distributions whose installed versions to record (absent ones are left out); the
            Python version is always recorded.

    Returns:
        ``created`` (UTC, ISO seconds), ``config``, ``config_hash``, ``git_sha`` and ``versions``, to
        pass to a record's constructor.
    """
    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": cfg.model_dump(mode="json"),
        "config_hash": config_hash(cfg),
        "git_sha": git_sha(),
        "versions": package_versions(packages),
    }


def git_sha() -> str | None:
    """The checkout's ``HEAD`` commit, or None outside a git checkout (or without git)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def config_hash(cfg: BaseModel) -> str:
    """The first 16 hex digits of the sha256 of ``cfg`` as canonical JSON."""
    return hashlib.sha256(json.dumps(cfg.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:16]


def package_versions(packages: Sequence[str]) -> dict[str, str]:
    """``python`` and each installed distribution of ``packages`` mapped to its version."""
    out = {"python": platform.python_version()}
    for pkg in packages:
        with contextlib.suppress(PackageNotFoundError):
            out[pkg] = version(pkg)
    return out
