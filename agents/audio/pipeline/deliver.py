"""The deliver stage: the files a person gets, the report, the learned profiles, and the run's end.

Writes ``mix.wav`` (24-bit), ``stems/<event>.wav`` (each event as it sounds in the mix; they add up to the
mix), ``timeline.json``, ``report.json``, ``mix.png``, ``profiles.json`` and, for a video, ``mix.mp4``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from agents.audio.changes import line_changes
from agents.audio.clips import ClipRecord
from agents.audio.levels import clipped_samples, integrated_lufs, true_peak_dbtp
from agents.audio.loudness_range import kind_levels, loudness_range_lu
from agents.audio.mixer import MixResult
from agents.audio.pipeline.job import AudioJob
from agents.audio.plot import plot_mix
from agents.audio.report import AudioJobResult, AudioReport, Decision, EventReport, MixReport
from agents.audio.supervisors.mix import MixVerdict
from agents.audio.timeline import AudioEvent, Timeline
from agents.audio.video import VideoInfo, mux
from agents.audio.wavio import write_wav
from agents.supervisor import Outcome
from common.private_files import narrow_tree, write_private_text

logger = logging.getLogger(__name__)

DUCK_MEASURE_GAP_S = 0.75
"""Music 'outside speech' is measured at least this far from any line (past the release) and the fades."""


class DeliverStage:
    """Writes the files and the report, learns the profiles, finishes the run and sets ``job.result``."""

    name = "deliver"
    own_progress = False

    def run(self, job: AudioJob) -> None:
        timeline, mixed, verdict, result = job.planned(), job.mixed, job.mix_verdict, job.mix_result
        assert mixed is not None and verdict is not None and result is not None, "the mix stage runs first"
        cfg, board, clock = job.config, job.board, job.clock
        out = Path(job.spec.out_dir)
        placed = _final_positions(mixed, verdict)
        files = _write_files(out, placed, result, cfg.delivery.sample_rate, job.video)
        report = _report(job, mixed, verdict, result, files)
        plan = board.get("plan", Timeline) or timeline
        reasons = _drop_reasons(timeline, job.outcomes)
        unplaced = tuple(n for n in plan.notes if " not placed: " in n)
        report = report.model_copy(
            update={
                "stage_seconds": job.seconds_so_far(),
                "wall_s": round(clock.total_s, 3),
                "session_wall_s": round(clock.session_s, 3),
                "sessions": clock.sessions,
                "line_changes": line_changes(plan, placed, reasons, unplaced),
            }
        )
        report = report.model_copy(update={"real_time_factor": round(report.wall_s / mixed.duration_s, 3)})
        write_private_text(out / "report.json", report.model_dump_json(indent=1, by_alias=True) + "\n")
        _learn(job, timeline, out)
        narrow_tree(out)  # every output 0600 (ffmpeg's and matplotlib's too), like the WAVs
        job.session.store.finish_run(
            board.run_id,
            "done" if report.passed else "done_with_failures",
            report={
                "total_seconds": report.wall_s,
                "sessions": report.sessions,
                "generations_computed": board.computed,
                "generations_reused": board.reused,
                "integrated_lufs": report.mix.integrated_lufs,
                "true_peak_dbtp": report.mix.true_peak_dbtp,
                "passed": report.passed,
            },
        )
        job.result = AudioJobResult(board.run_id, out, report)


def _write_files(
    out: Path, timeline: Timeline, result: MixResult, sr: int, video: VideoInfo | None
) -> dict[str, str]:
    files = {
        "mix": str(out / "mix.wav"),
        "timeline": str(out / "timeline.json"),
        "report": str(out / "report.json"),
        "figure": str(out / "mix.png"),
        "stems": str(out / "stems"),
        "profiles": str(out / "profiles.json"),
    }
    write_wav(out / "mix.wav", result.mix, sr, subtype="PCM_24")
    for k, stem in result.stems.items():
        write_wav(out / "stems" / f"{k}.wav", stem, sr)
    write_private_text(out / "timeline.json", timeline.model_dump_json(indent=1) + "\n")
    plot_mix(result.mix, sr, timeline, out / "mix.png", duck_db=result.duck_curve_db)
    if video is not None:
        hold = max(0.0, timeline.duration_s - video.duration_s)
        files["video"] = str(mux(video.path, out / "mix.wav", out / "mix.mp4", hold_s=hold))
    return files


def music_duck_db(timeline: Timeline, result: MixResult, sr: int, fade_s: float) -> float | None:
    """Music level outside speech minus during speech (dB), measured on the music stems of the mix."""
    music = sum((result.stems[e.id] for e in timeline.events if e.kind == "music"), np.zeros(result.mix.size))
    t = np.arange(result.mix.size) / sr
    during = np.zeros(t.size, dtype=bool)
    near = np.zeros(t.size, dtype=bool)
    for e in timeline.events:
        if e.kind == "speech":
            during |= (t >= e.start_s) & (t < e.end_s)
            near |= (t >= e.start_s - DUCK_MEASURE_GAP_S) & (t < e.end_s + DUCK_MEASURE_GAP_S)
    outside = ~near & (t > fade_s) & (t < timeline.duration_s - fade_s)
    if not during.any() or not outside.any() or not music.any():
        return None
    rms = [float(np.sqrt(np.mean(music[m] ** 2))) for m in (outside, during)]
    return round(float(20 * np.log10(max(rms[0], 1e-12) / max(rms[1], 1e-12))), 2)


def _final_positions(timeline: Timeline, verdict: MixVerdict) -> Timeline:
    """The events where the mix supervisor put them (its shifts applied)."""
    return timeline.model_copy(update={"events": tuple(
        e.model_copy(update={"start_s": round(e.start_s + verdict.shift_s.get(e.id, 0.0), 4)})
        for e in timeline.events)})  # fmt: skip


def _drop_reasons(timeline: Timeline, outcomes: dict[str, Outcome[ClipRecord]]) -> dict[str, str]:
    """Why each event of the plan is missing from the mix (the reviewer's note or the generators' error)."""
    reasons: dict[str, str] = {}
    for note in timeline.notes:
        head, _, rest = note.partition(": ")
        reasons.setdefault(head, rest)
    for k, o in outcomes.items():
        if o.output.error is not None:
            reasons[k] = f"every generator failed ({o.output.error[:160]})"
    return reasons


def _event_report(e: AudioEvent, o: Outcome[ClipRecord], verdict: MixVerdict) -> EventReport:
    onset = verdict.onsets_s.get(e.id)
    decisions = tuple(
        Decision(
            attempt=v.attempt,
            generator=v.expert,
            passed=v.passed,
            failed_checks=tuple(c.name for c in v.failed_checks()),
            instruction=v.instruction,
        )
        for v in o.history
    )
    critic = next((c.detail for c in o.verdict.checks if c.name.startswith("critic")), None)
    return EventReport(
        id=e.id,
        kind=e.kind,
        label=(e.text or e.description)[:80],
        planned_start_s=e.start_s,
        planned_duration_s=e.duration_s,
        final_start_s=round(e.start_s + verdict.shift_s.get(e.id, 0.0), 4),
        measured_onset_s=None if onset is None else round(onset, 4),
        onset_error_ms=None if onset is None else round((onset - e.start_s) * 1000, 2),
        onset_contrast_db=verdict.onset_contrast_db.get(e.id),
        duration_s=o.output.duration_s,
        target_lufs=e.target_lufs,
        generator=o.output.generator,
        generator_detail=o.output.detail,
        source=o.output.source,
        match_score=o.output.match_score,
        voice=e.voice,
        attempts=o.attempts,
        checks=(*o.verdict.checks, *verdict.event_checks.get(e.id, ())),
        decisions=decisions,
        critic=critic,
    )


def _report(
    job: AudioJob, timeline: Timeline, verdict: MixVerdict, result: MixResult, files: dict[str, str]
) -> AudioReport:
    """The report of the mixed ``timeline`` (times and line changes are added by the caller)."""
    cfg, board, outcomes = job.config, job.board, job.outcomes
    sr = cfg.delivery.sample_rate
    mix = MixReport(
        integrated_lufs=integrated_lufs(result.mix, sr),
        target_lufs=cfg.delivery.target_lufs,
        true_peak_dbtp=round(true_peak_dbtp(result.mix), 3),
        true_peak_ceiling_dbtp=cfg.delivery.true_peak_dbtp,
        clipped_samples=clipped_samples(result.mix),
        duration_s=timeline.duration_s,
        sample_rate=sr,
        master_gain_db=result.master_gain_db,
        limiter_max_reduction_db=result.limiter_max_reduction_db,
        music_duck_db=music_duck_db(timeline, result, sr, cfg.mix.bed_fade_s),
        loudness_range_lu=loudness_range_lu(result.mix, sr),
        kind_lufs=kind_levels(result.stems, {e.id: e.kind for e in timeline.events}, sr),
        attempts=verdict.attempt,
        checks=verdict.checks,
    )
    events = tuple(_event_report(e, outcomes[e.id], verdict) for e in timeline.events)
    dropped = [k for k, o in outcomes.items() if o.output.error is not None]
    notes = (
        *timeline.notes,
        *(f"{k}: every generator failed ({outcomes[k].output.error}); left out of the mix" for k in dropped),
    )
    gens = {name: _rounded(g.counters.as_dict()) for name, g in job.session.generators.items()}
    return AudioReport(
        run_id=board.run_id,
        title=timeline.title,
        planner=timeline.planner,
        critic=cfg.critic.expert or "none (model-free checks only)",
        plan_notes=notes,
        mix=mix,
        events=events,
        generators=gens,
        stage_seconds=job.seconds_so_far(),
        wall_s=0.0,
        real_time_factor=0.0,
        steps_computed=board.computed,
        steps_reused=board.reused,
        passed=verdict.passed and not dropped and all(o.verdict.passed for o in outcomes.values()),
        files=files,
    )


def _rounded(counters: dict[str, float]) -> dict[str, float]:
    """A generator's counters for the report (seconds to the millisecond)."""
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in counters.items()}


def _learn(job: AudioJob, timeline: Timeline, out: Path) -> None:
    """Every verdict updates the profile of the generator it judged, for the event's kind."""
    profiles, cfg = job.session.profiles, job.config
    for k, o in job.outcomes.items():
        kind = timeline.event(k).kind
        for v in o.history:
            profiles.observe(v.expert, kind, passed=v.passed)
    profiles.save(out / "profiles.json")
    if job.session.update_profiles and cfg.profiles:
        profiles.save(cfg.profiles)
        logger.info("profiles updated in %s", cfg.profiles)
