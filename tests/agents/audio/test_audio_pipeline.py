"""The audio pipeline as stages: each stage fills its part of the job, in order; the team only runs them."""

from __future__ import annotations

from pathlib import Path

from audio_helpers import light_config

from agents.audio.pipeline import AUDIO_STAGES, AudioJob, AudioSession, run_stages
from agents.audio.session_time import SessionClock
from agents.audio.source import AudioJobSpec, read_source
from agents.blackboard import Blackboard

BRIEF = (
    "title: stages\nduration: 0:05\nmusic: none\nambience: rain on the roof\n"
    "[sfx] a church bell\n[sfx] a door knock"
)


def test_the_stages_run_in_order_and_each_fills_its_part_of_the_job(tmp_path: Path) -> None:
    assert [s.name for s in AUDIO_STAGES] == ["plan", "review", "generate", "supervise", "mix", "deliver"]
    seen: list[tuple[str, int, int]] = []
    session = AudioSession(
        light_config(), store=tmp_path / "runs.sqlite", on_progress=lambda *a: seen.append(a)
    )
    kind, text, timeline = read_source(BRIEF, None, session.config.limits)
    spec = AudioJobSpec(name="t", source_kind=kind, source=BRIEF, brief=text, timeline=timeline,
                        out_dir=str(tmp_path / "out"), config=session.config)  # fmt: skip
    board = Blackboard(session.store, session.store.create_run(spec, [], backend="agents.audio"))
    job = AudioJob(session=session, spec=spec, board=board, clock=SessionClock(board))
    try:
        plan, review, generate, supervise, mix, deliver = AUDIO_STAGES
        run_stages(job, [plan])
        assert job.timeline is not None and job.video is None and not job.outcomes
        run_stages(job, [review, generate])
        ids = {e.id for e in job.planned().events}
        assert set(job.outcomes) == ids and all(o.verdict.passed for o in job.outcomes.values())
        assert job.mixed is None and job.mix_result is None
        run_stages(job, [supervise])
        assert job.mixed is not None and set(job.clips) == ids == {e.id for e in job.mixed.events}
        run_stages(job, [mix, deliver])
    finally:
        session.close()
    assert job.mix_verdict is not None and job.mix_result is not None and job.result is not None
    report = job.result.report
    assert list(report.stage_seconds) == [s.name for s in AUDIO_STAGES]
    assert (tmp_path / "out" / "mix.wav").is_file() and report.run_id == board.run_id
    # one progress step per stage, except generate, whose supervisor loop counts the events done
    steps = [s for s, done, total in seen if (done, total) == (1, 1)]
    assert steps == ["plan", "review", "supervise", "mix", "deliver"]
    assert ("generate", len(ids), len(ids)) in seen
    # the generators' figures in the report carry the lifecycle's counter names
    assert report.generators["procedural"]["loads"] == 1 and report.generators["procedural"]["requests"] == 3
