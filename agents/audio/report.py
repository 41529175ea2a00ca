"""``report.json``: the finished mix's measurements and, per event, plan vs measurement and every decision."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from agents.audio.changes import LineChange
from agents.messages import CheckResult, Instruction


class Decision(BaseModel):
    """One supervisor decision on an attempt (journaled as its verdict)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    attempt: int
    generator: str
    passed: bool
    failed_checks: tuple[str, ...]
    instruction: Instruction


class EventReport(BaseModel):
    """One event: what was planned, what was measured in the final mix, who rendered it, and how."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    kind: str
    label: str
    planned_start_s: float
    planned_duration_s: float
    final_start_s: float
    measured_onset_s: float | None
    onset_error_ms: float | None
    onset_contrast_db: float | None = None
    duration_s: float
    target_lufs: float | None = None
    generator: str
    generator_detail: str
    source: str = ""
    match_score: float | None = None
    voice: str | None = None
    attempts: int
    checks: tuple[CheckResult, ...]
    decisions: tuple[Decision, ...]
    critic: str | None = None


class MixReport(BaseModel):
    """The final mix's delivery measurements."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    integrated_lufs: float | None
    target_lufs: float
    true_peak_dbtp: float
    true_peak_ceiling_dbtp: float
    clipped_samples: int
    duration_s: float
    sample_rate: int
    master_gain_db: float
    limiter_max_reduction_db: float
    music_duck_db: float | None
    loudness_range_lu: float | None = None
    kind_lufs: dict[str, float | None] = {}
    attempts: int
    checks: tuple[CheckResult, ...]


class AudioReport(BaseModel):
    """The whole report."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    title: str
    planner: str
    critic: str
    plan_notes: tuple[str, ...]
    line_changes: tuple[LineChange, ...] = ()
    mix: MixReport
    events: tuple[EventReport, ...]
    generators: dict[str, dict[str, float]]
    stage_seconds: dict[str, float]
    wall_s: float
    session_wall_s: float = 0.0
    sessions: int = 1
    real_time_factor: float
    steps_computed: int
    steps_reused: int
    passed: bool
    files: dict[str, str]


@dataclass(frozen=True, slots=True)
class AudioJobResult:
    """A finished job: its run id, output folder and report."""

    run_id: str
    out_dir: Path
    report: AudioReport
