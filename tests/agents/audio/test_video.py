"""Video input: cuts from ffmpeg's scene filter, events aligned to them within a frame, audio muxed back."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from audio_helpers import light_config, need

from agents.audio import AudioTeam, plan_brief
from agents.audio.video import plan_for_video, probe_video

FPS = 25
SHOTS_S = (2.0, 1.6, 2.4)  # whole frames each: cuts at 2.0 s and 3.6 s
CUTS_S = (2.0, 3.6)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need("ffmpeg", "ffprobe")
    path = tmp_path_factory.mktemp("video") / "cuts.mp4"
    size = "size=160x120"
    srcs = [
        f"testsrc={size}:rate={FPS}:duration={SHOTS_S[0]}",
        f"smptebars={size}:rate={FPS}:duration={SHOTS_S[1]}",
        f"color=c=red:{size}:rate={FPS}:duration={SHOTS_S[2]}",
    ]
    args = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"]
    for s in srcs:
        args += ["-f", "lavfi", "-i", s]
    args += [
        "-filter_complex",
        "[0:v][1:v][2:v]concat=n=3:v=1:a=0",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        str(path),
    ]
    subprocess.run(args, check=True)
    return path


def test_cuts_are_found_within_a_frame(clip: Path) -> None:
    info = probe_video(clip)
    assert info.fps == FPS and info.duration_s == pytest.approx(sum(SHOTS_S), abs=0.05)
    assert len(info.cuts_s) == len(CUTS_S)
    for found, true in zip(info.cuts_s, CUTS_S, strict=True):
        assert abs(found - true) <= 1 / FPS
    plan = plan_brief(plan_for_video(info), duration_s=info.duration_s)  # a video without a brief
    assert [e.start_s for e in plan.events if e.kind == "sfx"] == list(info.cuts_s)


def test_events_align_to_cuts_and_the_audio_is_muxed(clip: Path, tmp_path: Path) -> None:
    need("flite", "espeak-ng")
    brief = "music: none\nambience: room tone\n@1.7 [sfx] impact\n@3.3 NARRATOR: Now the red one."
    team = AudioTeam(light_config(), store=tmp_path / "runs.sqlite")
    result = team.render(clip, tmp_path / "out", brief=brief)
    team.close()
    timeline = json.loads((tmp_path / "out" / "timeline.json").read_text())
    aligned = {e["id"]: e for e in timeline["events"] if e["cut_s"] is not None}
    assert set(aligned) == {"sfx-1", "speech-1"}
    report = {e.id: e for e in result.report.events}
    for eid, cut in (("sfx-1", CUTS_S[0]), ("speech-1", CUTS_S[1])):
        assert abs(aligned[eid]["start_s"] - cut) <= 1 / FPS
        assert abs(report[eid].measured_onset_s - cut) <= 1 / FPS  # type: ignore[operator]
    probe = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type",
            "-of",
            "json",
            str(tmp_path / "out" / "mix.mp4"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert sorted(s["codec_type"] for s in json.loads(probe.stdout)["streams"]) == ["audio", "video"]


def _duration_s(path: Path, stream: str) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", stream, "-show_entries", "stream=duration",
         "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(out.stdout.strip())


def test_a_video_shorter_than_the_soundtrack_holds_its_last_frame(clip: Path, tmp_path: Path) -> None:
    need("flite", "espeak-ng")
    brief = "music: none\n@4.5 NARRATOR: This line starts near the end of the clip and runs past it."
    team = AudioTeam(light_config(), store=tmp_path / "runs.sqlite")
    result = team.render(clip, tmp_path / "out", brief=brief)
    team.close()
    line = next(e for e in result.report.events if e.kind == "speech")
    assert line.final_start_s + line.duration_s > sum(SHOTS_S)  # the line runs past the picture
    mp4 = tmp_path / "out" / "mix.mp4"
    assert _duration_s(mp4, "v:0") >= result.report.mix.duration_s - 0.1  # the last frame held
    assert _duration_s(mp4, "a:0") >= result.report.mix.duration_s - 0.1  # the line is not cut
    assert any("holds the last frame" in n for n in result.report.plan_notes)
