"""One `symoe bench` run in a subprocess with its own ``SYMOE_HOME``: cold (empty caches) or warm.

A cold run starts from an empty home, so the embedding cache and the math-verify verdicts are computed
from scratch; running again with the same home is a warm run. Wall time is the subprocess's, CPU time is
user + system of it and every process it waited for (``getrusage(RUSAGE_CHILDREN)``), so figures taken
side by side on a shared machine compare, even when other work stretches the wall time.

Example::

    run = run_bench_process(BenchProcessConfig(config="configs/bench/math500.yaml"), home)
    run.wall_s, run.cpu_s, run.report["methods"]["ours"]["accuracy"]
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from common.errors import ConfigError


class BenchProcessConfig(BaseModel):
    """What one bench subprocess runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    config: str = Field(description="The bench YAML.")
    data_dir: str | None = Field(default=None, description="Data folder (default: ../shared/data).")
    limit: int | None = Field(default=None, ge=1, description="Only the first N test questions.")
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment variables.")
    timeout_s: float = Field(default=1800.0, gt=0, description="Bound on the run.")


class BenchProcessRun(BaseModel):
    """A finished bench subprocess: its times and its report."""

    model_config = ConfigDict(extra="forbid")

    wall_s: float
    cpu_s: float
    stage_seconds: dict[str, float]
    stage_cpu_seconds: dict[str, float]
    accuracies: dict[str, float]
    embeddings_computed: int


def fresh_home(root: Path, name: str, exports: Path | None) -> Path:
    """An empty ``SYMOE_HOME`` under ``root`` whose ``onnx`` folder links to ``exports`` (when given), so
    a cold run measures empty caches, not the one-time ONNX export of the embedding model."""
    home = root / name
    home.mkdir(parents=True)
    if exports is not None:
        exports.mkdir(parents=True, exist_ok=True)
        (home / "onnx").symlink_to(exports.resolve(), target_is_directory=True)
    return home


def run_bench_process(cfg: BenchProcessConfig, home: Path) -> BenchProcessRun:
    """Run ``python -m orchestrator.cli bench`` with ``SYMOE_HOME=home`` and read its report.

    Raises:
        ConfigError: the bench failed (its last output lines are in the message).
    """
    with tempfile.TemporaryDirectory(prefix="symoe-bench-run-") as tmp:
        out = Path(tmp) / "out"
        args = [
            sys.executable,
            "-m",
            "orchestrator.cli",
            "bench",
            cfg.config,
            "--out",
            str(out),
            "--no-progress",
        ]
        if cfg.data_dir:
            args += ["--data-dir", cfg.data_dir]
        if cfg.limit:
            args += ["--limit", str(cfg.limit)]
        env = {**os.environ, "SYMOE_HOME": str(home), **cfg.env}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(args, env=env, timeout=cfg.timeout_s, capture_output=True, text=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
            raise ConfigError(f"bench {cfg.config} failed (exit {proc.returncode}):\n{tail}")
        report: dict[str, Any] = json.loads((out / "report.json").read_text(encoding="utf-8"))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return BenchProcessRun(
        wall_s=round(wall, 2),
        cpu_s=round(cpu, 2),
        stage_seconds=report.get("stage_seconds", {}),
        stage_cpu_seconds=report.get("stage_cpu_seconds", {}),
        accuracies={name: m["accuracy"] for name, m in report.get("methods", {}).items()},
        embeddings_computed=int(report.get("embeddings_computed", 0)),
    )
