"""The audio team: planner, plan reviewer, recruited generators, supervisors, mixer, one durable job.

Stages (each journaled on the job's blackboard, so ``kill -9`` then :meth:`AudioTeam.resume` continues at
the first unfinished step): ``plan`` (video probe and cut alignment for a video), ``review`` (then the
input limits, :mod:`agents.audio.limits`), ``generate`` (speech first; the plan's slots then move to the
spoken lengths, :mod:`agents.audio.slots`; then effects, beds and music; recruitment, one batch per
generator, supervisor checks and retries), ``mix`` (mix supervisor), and ``deliver`` (files, report,
figure, learned profiles).

Example::

    team = AudioTeam(load_audio_config("configs/agents/audio-cpu.yaml"), store="runs.sqlite")
    result = team.render("examples/audio/rainy_cabin.txt", "out/")
    result.report.mix.integrated_lufs
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agents.audio.clips import ClipRecord, finish_clip, load_clip
from agents.audio.config import AudioJobConfig
from agents.audio.generators import AudioGenerator, AudioTask, RenderedAudio, build_generators
from agents.audio.generators import generator_registry as default_registry
from agents.audio.limits import check_renderable, clean_timeline
from agents.audio.planner import plan_brief
from agents.audio.report import AudioJobResult as AudioJobResult
from agents.audio.review import review_plan
from agents.audio.roles import llm_plan
from agents.audio.session_time import SessionClock
from agents.audio.slots import fit_speech_slots
from agents.audio.source import AudioJobSpec, read_source
from agents.audio.supervision import EventSupervisor
from agents.audio.timeline import Timeline
from agents.audio.video import VideoInfo, align_to_cuts, plan_for_video, probe_video
from agents.blackboard import Blackboard
from agents.profiles import GeneratorProfiles
from agents.recruit import Candidate, Recruiter
from agents.supervisor import Attempt, SupervisorLoop
from batching.config import ExpertConfig
from batching.journal.store import DEFAULT_STORE_PATH, RunStore
from common.errors import ConfigError, SymbolicMoEError
from common.private_files import private_dir, write_private_text
from common.registry import Registry

logger = logging.getLogger(__name__)

ProgressHook = Callable[[str, int, int], None]
"""``(stage, done, total)``; the CLI draws a bar per stage."""


class AudioTeam:
    """The soundtrack team (see the module docstring).

    Args:
        config: the team's config.
        store: the run store (a path or an open store); defaults to the shared one ``symoe runs`` reads.
        llm_experts: pool experts the LLM roles may use (``config.planner`` / ``config.critic.expert``).
        registry: the generator registry (tests add generators to a copy).
        on_progress: progress hook.
        update_profiles: also write learned profiles back to ``config.profiles``.
        on_start: called with the run id as soon as a job has one (before any work).
    """

    def __init__(
        self,
        config: AudioJobConfig,
        *,
        store: RunStore | str | Path = DEFAULT_STORE_PATH,
        llm_experts: Sequence[ExpertConfig] = (),
        registry: Registry[type[AudioGenerator]] | None = None,
        on_progress: ProgressHook | None = None,
        update_profiles: bool = False,
        on_start: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.store = store if isinstance(store, RunStore) else RunStore(store)
        self.llm_experts = {e.name: e for e in llm_experts}
        self.generators = {
            g.name: g for g in build_generators(config.generators, registry or default_registry)
        }
        self.profiles = GeneratorProfiles.load(config.profiles)
        self.on_progress = on_progress
        self.update_profiles = update_profiles
        self.on_start = on_start
        self._engines: dict[str, object] = {}
        for role, name in (("planner", config.planner), ("critic", config.critic.expert)):
            if name and name != "rule_based" and name not in self.llm_experts:
                raise ConfigError(
                    f"audio config: {role} {name!r} is not an expert of the pool "
                    f"({', '.join(self.llm_experts) or 'no --pool given'}); pass --pool"
                )
        self.recruiter = Recruiter(
            [
                Candidate(g.name, tuple(g.config.priors.items()), g.accepts)  # type: ignore[arg-type]
                for g in self.generators.values()
            ],  # fmt: skip
            self.profiles,
            kind_of=lambda e: e.kind,  # type: ignore[attr-defined]
        )

    # -- public ----------------------------------------------------------------------------------
    def render(self, source: str | Path, out_dir: str | Path, *, brief: str | None = None) -> AudioJobResult:
        """Render a brief, a JSON timeline or a video into ``out_dir`` as a new durable job."""
        kind, text, timeline = read_source(source, brief, self.config.limits)
        out = Path(out_dir).resolve()
        spec = AudioJobSpec(
            name=self.config.name,
            source_kind=kind,
            source=str(source),
            brief=text,
            timeline=timeline,
            out_dir=str(out),
            config=self.config,
        )
        run_id = self.store.create_run(spec, [], backend="agents.audio")
        if self.on_start is not None:
            self.on_start(run_id)
        private_dir(out)
        write_private_text(
            out / "job.json", json.dumps({"run_id": run_id, "store": self.store.path}, indent=1)
        )
        return self._run(run_id, spec)

    @staticmethod
    def stored_config(store: RunStore | str | Path, run_id: str) -> AudioJobConfig:
        """The config a job was started with (resume a job with the team it had)."""
        db = store if isinstance(store, RunStore) else RunStore(store)
        return AudioJobSpec.model_validate(db.get_run(run_id).config).config

    def resume(self, run_id: str) -> AudioJobResult:
        """Continue a job (killed, failed or finished) from its journal; finished steps are not redone."""
        record = self.store.get_run(run_id)
        spec = AudioJobSpec.model_validate(record.config)
        if self.on_start is not None:
            self.on_start(run_id)
        return self._run(run_id, spec)

    def close(self) -> None:
        """Unload every generator and LLM engine."""
        for g in self.generators.values():
            g.unload()
        for e in self._engines.values():
            e.close()  # type: ignore[attr-defined]
        self._engines.clear()

    # -- stages ----------------------------------------------------------------------------------
    def _run(self, run_id: str, spec: AudioJobSpec) -> AudioJobResult:
        from agents.audio.delivery import deliver

        board = Blackboard(self.store, run_id)
        seconds: dict[str, float] = {}
        clock = SessionClock(board)
        try:
            timeline, video = self._timed(seconds, "plan", lambda: self._plan(board, spec))
            timeline = self._timed(
                seconds, "review", lambda: board.step("review", Timeline, lambda: review_plan(timeline))
            )
            check_renderable(timeline, self.config.limits)
            clock.tick()
            timeline, outcomes = self._timed(
                seconds, "generate", lambda: self._generate(board, timeline, Path(spec.out_dir), clock)
            )
            result = deliver(self, board, spec, timeline, outcomes, video, seconds, clock)
        except SymbolicMoEError as exc:
            self.store.finish_run(run_id, "failed", error=str(exc))
            raise
        except BaseException as exc:
            self.store.finish_run(run_id, "failed", error=f"{type(exc).__name__}: {exc}")
            raise
        return result

    def _timed(self, seconds: dict[str, float], stage: str, fn: Callable[[], object]):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        own_bar = self.on_progress is not None and stage != "generate"  # the loop reports events done
        if own_bar:
            self.on_progress(stage, 0, 1)  # type: ignore[misc]
        value = fn()
        seconds[stage] = round(seconds.get(stage, 0.0) + time.perf_counter() - t0, 3)
        if own_bar:
            self.on_progress(stage, 1, 1)  # type: ignore[misc]
        return value

    def _plan(self, board: Blackboard, spec: AudioJobSpec) -> tuple[Timeline, VideoInfo | None]:
        video = None
        if spec.source_kind == "video":
            video = board.step(
                "video/probe", VideoInfo, lambda: probe_video(spec.source, self.config.scene_threshold)
            )
        if spec.timeline is not None:
            plan = board.step("plan", Timeline, lambda: spec.timeline)  # type: ignore[arg-type, return-value]
        else:
            brief = spec.brief or (plan_for_video(video) if video else "")
            duration = video.duration_s if video else None
            plan = board.step("plan", Timeline, lambda: self._planner(brief, duration))
        if video is not None:
            plan = board.step(
                "video/align", Timeline, lambda: align_to_cuts(plan, video.cuts_s, self.config.snap_window_s)
            )
        return clean_timeline(plan), video

    def _planner(self, brief: str, duration_s: float | None) -> Timeline:
        name = self.config.planner
        if name == "rule_based":
            return plan_brief(brief, duration_s=duration_s)
        return llm_plan(self.engine(name), brief, expert=name, duration_s=duration_s)

    def clap(self) -> Any:
        """The (lazily built) CLAP critic of ``config.critic.clap_model``."""
        if "clap" not in self._engines:
            from agents.audio.clap import ClapCritic

            cfg = self.config.critic
            self._engines["clap"] = ClapCritic(cfg.clap_model or "", cfg.clap_device)
        return self._engines["clap"]

    def engine(self, expert: str):  # type: ignore[no-untyped-def]
        """The (lazily built) engine of a pool expert, shared by the roles."""
        if expert not in self._engines:
            from batching.engines.registry import build_engine

            self._engines[expert] = build_engine(self.llm_experts[expert])
        return self._engines[expert]

    def _generate(  # type: ignore[no-untyped-def]
        self, board: Blackboard, timeline: Timeline, out_dir: Path, clock: SessionClock
    ):
        """Speech first, then the slots move to the spoken lengths, then everything else on the new plan."""
        speech = [e.id for e in timeline.events if e.kind == "speech"]
        outcomes = self._supervised(board, timeline, out_dir, speech, clock)
        spoken = {k: o.output.duration_s for k, o in outcomes.items() if o.output.error is None}
        fitted = board.step("slots", Timeline, lambda: fit_speech_slots(timeline, spoken))
        clock.tick()
        rest = [e.id for e in fitted.events if e.kind != "speech"]
        outcomes.update(self._supervised(board, fitted, out_dir, rest, clock))
        return fitted, outcomes

    def _supervised(  # type: ignore[no-untyped-def]
        self, board: Blackboard, timeline: Timeline, out_dir: Path, ids: Sequence[str], clock: SessionClock
    ):
        work = out_dir / "work"
        (work / "tmp").mkdir(parents=True, exist_ok=True)
        supervisor = EventSupervisor(self, timeline)

        def run_batch(gen_name: str, attempts: Sequence[Attempt]) -> list[ClipRecord]:
            gen = self.generators[gen_name]
            tasks = [
                AudioTask(timeline.event(a.task_id), a.number, a.instruction, self.config.seed, work / "tmp")
                for a in attempts
            ]
            raws = _safe_generate(gen, tasks)
            clock.tick()
            return [
                finish_clip(
                    t.event,
                    raw,
                    generator=gen_name,
                    attempt=t.attempt,
                    sample_rate=self.config.delivery.sample_rate,
                    path=work / "clips" / f"{t.event.id}-{t.attempt}.wav",
                    bed_fade_s=self.config.mix.bed_fade_s,
                    extra_gain_db=_gain_of(t),
                )
                for t, raw in zip(tasks, raws, strict=True)
            ]

        loop = SupervisorLoop(
            board=board,
            stage="generate",
            output_model=ClipRecord,
            max_attempts=self.config.max_attempts,
            pick=lambda t, tried: self.recruiter.pick(timeline.event(t), tried),
            generate=run_batch,
            check=supervisor.check,
            on_progress=self.on_progress,
        )
        return loop.run(ids) if ids else {}

    def load_clips(self, outcomes) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
        return {
            k: load_clip(o.output, self.config.delivery.sample_rate)
            for k, o in outcomes.items()
            if o.output.error is None
        }


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
