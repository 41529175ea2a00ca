"""The audio team: a thin runner on a session that makes each job an :class:`AudioJob` and runs the stages
of :data:`~agents.audio.pipeline.AUDIO_STAGES` over it (plan, review, generate, supervise, mix, deliver;
see :mod:`agents.audio.pipeline`).

Every step is journaled on the job's blackboard, so ``kill -9`` then :meth:`AudioTeam.resume` continues
at the first unfinished step.

Example::

    team = AudioTeam(load_audio_config("configs/agents/audio-cpu.yaml"), store="runs.sqlite")
    result = team.render("examples/audio/rainy_cabin.txt", "out/")
    result.report.mix.integrated_lufs
"""

from __future__ import annotations

import json
from pathlib import Path

from agents.audio.config import AudioJobConfig
from agents.audio.pipeline import AUDIO_STAGES, AudioJob, AudioSession, run_stages
from agents.audio.report import AudioJobResult as AudioJobResult
from agents.audio.session_time import SessionClock
from agents.audio.source import AudioJobSpec, read_source
from agents.blackboard import Blackboard
from batching.journal.store import RunStore
from common.errors import SymbolicMoEError
from common.private_files import private_dir, write_private_text


class AudioTeam(AudioSession):
    """An :class:`~agents.audio.pipeline.AudioSession` (same arguments) that renders and resumes jobs; the
    stages see only the session (generators, profiles, recruiter, engines), never the team."""

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
        store = self.store
        run_id = store.create_run(spec, [], backend="agents.audio")
        if self.on_start is not None:
            self.on_start(run_id)
        private_dir(out)
        write_private_text(out / "job.json", json.dumps({"run_id": run_id, "store": store.path}, indent=1))
        return self._run(run_id, spec)

    @staticmethod
    def stored_config(store: RunStore | str | Path, run_id: str) -> AudioJobConfig:
        """The config a job was started with (resume a job with the team it had)."""
        db = store if isinstance(store, RunStore) else RunStore(store)
        return AudioJobSpec.model_validate(db.get_run(run_id).config).config

    def resume(self, run_id: str) -> AudioJobResult:
        """Continue a job (killed, failed or finished) from its journal; finished steps are not redone."""
        spec = AudioJobSpec.model_validate(self.store.get_run(run_id).config)
        if self.on_start is not None:
            self.on_start(run_id)
        return self._run(run_id, spec)

    def _run(self, run_id: str, spec: AudioJobSpec) -> AudioJobResult:
        """Run the stages over the job; a failure is recorded on the run before it propagates."""
        store = self.store
        board = Blackboard(store, run_id)
        try:
            job = run_stages(
                AudioJob(session=self, spec=spec, board=board, clock=SessionClock(board)), AUDIO_STAGES
            )
        except SymbolicMoEError as exc:
            store.finish_run(run_id, "failed", error=str(exc))
            raise
        except BaseException as exc:
            store.finish_run(run_id, "failed", error=f"{type(exc).__name__}: {exc}")
            raise
        assert job.result is not None, "the deliver stage sets the result"
        return job.result
