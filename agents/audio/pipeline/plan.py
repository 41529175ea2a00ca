"""The plan stage: probe a video and find its cuts, plan the brief (or take the given timeline), align the
plan to the cuts and clean it (input limits, :func:`agents.audio.limits.clean_timeline`).

Journaled steps: ``video/probe``, ``plan``, ``video/align``.
"""

from __future__ import annotations

from agents.audio.limits import clean_timeline
from agents.audio.llm_planner import llm_plan
from agents.audio.pipeline.job import AudioJob
from agents.audio.planner import plan_brief
from agents.audio.timeline import Timeline
from agents.audio.video import VideoInfo, align_to_cuts, plan_for_video, probe_video


class PlanStage:
    """Sets ``job.video`` (for a video input) and ``job.timeline``."""

    name = "plan"
    own_progress = False

    def run(self, job: AudioJob) -> None:
        spec, board, cfg = job.spec, job.board, job.config
        video = None
        if spec.source_kind == "video":
            source, threshold = spec.source, cfg.scene_threshold
            video = board.step("video/probe", VideoInfo, lambda: probe_video(source, threshold))
        given = spec.timeline
        if given is not None:
            plan = board.step("plan", Timeline, lambda: given)
        else:
            brief = spec.brief or (plan_for_video(video) if video else "")
            duration = video.duration_s if video else None
            plan = board.step("plan", Timeline, lambda: _planned(job, brief, duration))
        if video is not None:
            cuts = video.cuts_s
            plan = board.step("video/align", Timeline, lambda: align_to_cuts(plan, cuts, cfg.snap_window_s))
        job.video = video
        job.timeline = clean_timeline(plan)


def _planned(job: AudioJob, brief: str, duration_s: float | None) -> Timeline:
    """The rule-based planner, or the pool expert the config names (with the rule-based fallback)."""
    name = job.config.planner
    if name == "rule_based":
        return plan_brief(brief, duration_s=duration_s)
    return llm_plan(job.session.engine(name), brief, expert=name, duration_s=duration_s)
