"""The generate stage: every event rendered by a recruited generator, checked, and retried until it passes.

Speech first: the plan's slots then move to the spoken lengths (:func:`agents.audio.slots.fit_speech_slots`)
and effects, beds and music render on the moved plan. Each pass is a supervisor loop
(:class:`~agents.supervisor.SupervisorLoop`): tasks are recruited (:class:`~agents.recruit.Recruiter`),
batched per generator (each loads once), judged by the event supervisor
(:class:`~agents.audio.supervisors.event.EventSupervisor`) and retried or moved to the next generator as
its verdict says. A generator that raises fails its tasks, which the next recruit takes.

Journaled steps: ``generate/<event>/<attempt>/{attempt,output,verdict}`` and ``slots``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from agents.audio.clips import ClipRecord, finish_clip
from agents.audio.generators import AudioGenerator, AudioTask, RenderedAudio
from agents.audio.pipeline.job import AudioJob
from agents.audio.slots import fit_speech_slots
from agents.audio.supervisors.event import EventSupervisor
from agents.audio.timeline import Timeline
from agents.supervisor import Attempt, Outcome, SupervisorLoop

logger = logging.getLogger(__name__)


class GenerateStage:
    """Moves ``job.timeline`` to the spoken lengths and fills ``job.outcomes`` (one per event)."""

    name = "generate"
    own_progress = True  # the supervisor loop reports the events done

    def run(self, job: AudioJob) -> None:
        timeline = job.planned()
        speech = [e.id for e in timeline.events if e.kind == "speech"]
        outcomes = _supervised(job, timeline, speech)
        spoken = {k: o.output.duration_s for k, o in outcomes.items() if o.output.error is None}
        fitted = job.board.step("slots", Timeline, lambda: fit_speech_slots(timeline, spoken))
        job.clock.tick()
        rest = [e.id for e in fitted.events if e.kind != "speech"]
        outcomes.update(_supervised(job, fitted, rest))
        job.timeline = fitted
        job.outcomes = outcomes


def _supervised(job: AudioJob, timeline: Timeline, ids: Sequence[str]) -> dict[str, Outcome[ClipRecord]]:
    """One supervisor loop over the events ``ids`` of ``timeline``."""
    session, cfg = job.session, job.config
    work = Path(job.spec.out_dir) / "work"
    (work / "tmp").mkdir(parents=True, exist_ok=True)
    if not ids:
        return {}
    supervisor = EventSupervisor(cfg, timeline, clap=session.clap, critic_engine=session.engine)

    def run_batch(gen_name: str, attempts: Sequence[Attempt]) -> list[ClipRecord]:
        tasks = [
            AudioTask(
                event=timeline.event(a.task_id),
                attempt=a.number,
                instruction=a.instruction,
                seed=cfg.seed,
                work_dir=work / "tmp",
            )
            for a in attempts
        ]
        raws = _safe_generate(session.generators[gen_name], tasks)
        job.clock.tick()
        return [
            finish_clip(
                t.event,
                raw,
                generator=gen_name,
                attempt=t.attempt,
                sample_rate=cfg.delivery.sample_rate,
                path=work / "clips" / f"{t.event.id}-{t.attempt}.wav",
                bed_fade_s=cfg.mix.bed_fade_s,
                extra_gain_db=_gain_of(t),
            )
            for t, raw in zip(tasks, raws, strict=True)
        ]

    loop = SupervisorLoop(
        board=job.board,
        stage="generate",
        output_model=ClipRecord,
        max_attempts=cfg.max_attempts,
        pick=lambda t, tried: session.recruiter.pick(timeline.event(t), tried),
        generate=run_batch,
        check=supervisor.check,
        on_progress=session.on_progress,
    )
    return loop.run(ids)


def _gain_of(task: AudioTask) -> float:
    i = task.instruction
    return i.gain_db if i is not None and i.action == "change_gain" else 0.0


def _safe_generate(gen: AudioGenerator, tasks: Sequence[AudioTask]) -> list[RenderedAudio]:
    """A generator's batch; a generator that fails as a whole fails each task (the next one is recruited)."""
    try:
        return gen.generate(tasks)
    except Exception as exc:  # a generator is a plugin boundary: any failure moves its tasks on
        logger.warning("generator %s failed on a batch of %d: %s: %s", gen.name, len(tasks),
                       type(exc).__name__, str(exc)[:300])  # fmt: skip
        logger.info("generator %s traceback (log file only)", gen.name, exc_info=True)
        return [RenderedAudio.failed(f"{gen.name}: {type(exc).__name__}: {exc}") for _ in tasks]
