"""What users hand `symoe audio`: every bad input is a clear error (exit 2) before any work, never a
traceback; user text is printed as text; a job with failed checks exits 3 unless accepted."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from audio_helpers import light_config, need
from typer.testing import CliRunner

from agents.audio.limits import AudioLimitsConfig, check_timeline, clean_timeline
from agents.audio.planner import plan_brief
from agents.audio.review import review_plan
from agents.audio.timeline import AudioEvent, Timeline
from common.errors import DataError
from orchestrator.cli import app


@pytest.fixture
def job(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Runs `symoe audio SOURCE` with the light team; returns (result, out folder)."""
    cfg = tmp_path / "audio.yaml"
    cfg.write_text(yaml.safe_dump(light_config().model_dump(mode="json")))

    def run(source: str, *extra: str, out: Path | None = None):  # type: ignore[no-untyped-def]
        out = out or tmp_path / "out"
        args = [
            "audio",
            source,
            "--out",
            str(out),
            "--config",
            str(cfg),
            "--store",
            str(tmp_path / "r.sqlite"),
        ]
        res = CliRunner().invoke(app, [*args, "--no-progress", *extra])
        assert "Traceback" not in res.output, res.output
        return res, out

    return run


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_a_latin1_brief_is_a_clear_error(job, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    brief = tmp_path / "zoe.txt"
    brief.write_bytes("ZOË (female): Café au lait.\n".encode("latin-1"))
    res, out = job(str(brief))
    assert res.exit_code == 2 and "not UTF-8" in _flat(res.output) and "zoe.txt:1" in _flat(res.output)
    assert not (out / "mix.wav").exists()


@pytest.mark.parametrize(
    ("timeline", "message"),
    [
        ({"duration_s": 10, "events": []}, "nothing to render"),
        (
            {"duration_s": 10, "events": [{"id": "h", "kind": "hologram", "start_s": 1, "duration_s": 1}]},
            "nothing to render",
        ),
        (
            {
                "duration_s": 10,
                "events": [
                    {"id": "x", "kind": "sfx", "start_s": 1e7, "duration_s": 1, "description": "bell"}
                ],
            },  # fmt: skip
            "limits.max_duration_s",
        ),
        ({"duration_s": 1e9, "events": []}, "limits.max_duration_s"),
    ],
)
def test_timelines_that_used_to_crash_are_clear_errors(
    job, tmp_path: Path, timeline: dict, message: str
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "t.json"
    path.write_text(json.dumps(timeline))
    res, out = job(str(path))
    assert res.exit_code == 2 and message in _flat(res.output), res.output
    assert not (out / "mix.wav").exists()


def test_a_read_only_out_fails_before_any_work(job, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    if os.geteuid() == 0:
        locked = Path("/proc/version")  # root writes anywhere: a path that cannot be a folder
    else:
        locked = tmp_path / "ro"
        locked.mkdir()
        locked.chmod(0o500)
    res, _ = job("NARRATOR: hello.", out=locked)
    assert res.exit_code == 2 and "--out" in res.output and "run: " not in res.output


def test_limits_are_checked_before_any_work(job, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    big = tmp_path / "big.txt"
    big.write_text("NARRATOR: " + "word " * 20_000)
    res, _ = job(str(big))
    assert res.exit_code == 2 and "limits.max_brief_bytes" in _flat(res.output) and "run: " not in res.output
    long_line = tmp_path / "long.txt"
    long_line.write_text("NARRATOR: " + "word " * 500)
    res, _ = job(str(long_line))
    assert res.exit_code == 2 and "limits.max_words_per_line" in _flat(res.output)
    bells = [AudioEvent(id=f"e{i}", kind="sfx", start_s=0.1 * i, duration_s=0.5, description="bell")
             for i in range(401)]  # fmt: skip
    many = Timeline(duration_s=60, events=tuple(bells))
    with pytest.raises(DataError, match="limits.max_events"):
        check_timeline(many, AudioLimitsConfig())


def test_a_nul_in_a_speech_line_is_removed_with_a_note() -> None:
    plan = clean_timeline(plan_brief("NARRATOR: Hello\x00 there.\n[sfx] a bell"))
    line = next(e for e in plan.events if e.kind == "speech")
    assert "\x00" not in line.text and line.text == "Hello there."
    assert any("control character" in n for n in plan.notes)


def test_dropped_and_unplaced_lines_are_listed_and_failed_checks_exit_3(job, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    need("flite", "espeak-ng")
    brief = (
        "title: [bold]Act[/] :x:\nmusic: none\nNote: for the director only.\nANNA (female): Hi.\n(pause)\n"
    )
    res, out = job(brief)
    flat = _flat(res.output)
    assert "[bold]Act[/] :x:" in flat  # printed as written: no markup, no emoji
    assert "not placed" in flat and "Note: for the director only." in flat and "(pause)" in flat
    report = json.loads((out / "report.json").read_text())
    assert {c["change"] for c in report["line_changes"]} == {"not placed"}
    assert res.exit_code == 0  # the spoken line rendered; the directions are reported, not failures

    timeline = tmp_path / "fail.json"  # an impossible loudness target: the delivery check fails
    timeline.write_text(json.dumps({"duration_s": 4, "events": [
        {"id": "b", "kind": "sfx", "start_s": 0.5, "duration_s": 1.0, "description": "a bell",
         "target_lufs": -60}]}))  # fmt: skip
    res, out = job(str(timeline), out=tmp_path / "out2")
    assert res.exit_code == 3 and "failed checks" in _flat(res.output) and (out / "mix.wav").exists()
    res, _ = job(str(timeline), "--accept-failed", out=tmp_path / "out3")
    assert res.exit_code == 0


def test_reviewer_never_drops_or_cuts_overlapping_user_lines() -> None:
    lines = tuple(
        AudioEvent(id=f"s{i}", kind="speech", start_s=1.0 + i, duration_s=2.0, text=f"Line number {i} here.")
        for i in range(5)
    )
    fixed = review_plan(Timeline(duration_s=10.0, events=lines))
    speech = sorted((e for e in fixed.events if e.kind == "speech"), key=lambda e: e.start_s)
    assert [e.id for e in speech] == [f"s{i}" for i in range(5)]  # none dropped
    assert all(e.duration_s == 2.0 for e in speech) and fixed.duration_s >= speech[-1].end_s  # none cut
    assert all(a.end_s <= b.start_s for a, b in zip(speech, speech[1:], strict=False))
