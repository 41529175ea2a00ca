"""The example brief rendered by `symoe audio`, judged on the files it writes (mix.wav, stems, report)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile
from audio_helpers import EXAMPLE_BRIEF, need, need_piper
from scipy.signal import resample_poly
from typer.testing import CliRunner, Result

from orchestrator.cli import app


def _render_example(out: Path, store: Path) -> Result:
    """`symoe audio` on the example brief; it must exit 0."""
    res = CliRunner().invoke(app, ["audio", str(EXAMPLE_BRIEF), "--out", str(out), "--store", str(store),
                                   "--no-progress"])  # fmt: skip
    assert res.exit_code == 0, res.output
    return res


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need("espeak-ng", "flite", "fluidsynth")
    need_piper()
    root = tmp_path_factory.mktemp("demo")
    out = root / "audio-demo"
    res = _render_example(out, root / "runs.sqlite")
    first, second = res.output.splitlines()[:2]  # both before any work, no blank first line
    assert first.startswith("logs: ") and second.startswith("run: ")
    return out


def _read(path: Path) -> tuple[np.ndarray, int]:
    x, sr = soundfile.read(str(path), dtype="float64")
    return x, sr


def test_mix_meets_the_delivery_target(demo: Path) -> None:
    mix, sr = _read(demo / "mix.wav")
    lufs = pyloudnorm.Meter(sr).integrated_loudness(mix)
    true_peak_db = 20 * np.log10(np.max(np.abs(resample_poly(mix, 4, 1))))
    assert abs(lufs - -16.0) <= 1.0
    assert true_peak_db <= -1.0
    assert 20.0 <= mix.size / sr <= 30.0
    report = json.loads((demo / "report.json").read_text())
    assert report["mix"]["integrated_lufs"] == pytest.approx(lufs, abs=0.05)
    assert report["mix"]["true_peak_dbtp"] <= -1.0 and report["mix"]["clipped_samples"] == 0


def test_scene_has_two_voices_music_ambience_and_three_effects(demo: Path) -> None:
    timeline = json.loads((demo / "timeline.json").read_text())
    report = json.loads((demo / "report.json").read_text())
    kinds = [e["kind"] for e in timeline["events"]]
    assert kinds.count("music") == 1 and kinds.count("ambience") >= 1 and kinds.count("sfx") >= 3
    voices = {(e["speaker"], e["voice"]) for e in timeline["events"] if e["kind"] == "speech"}
    assert len({v for _, v in voices}) == 2
    speech = [e for e in report["events"] if e["kind"] == "speech"]
    rendered = {(e["generator"], e["generator_detail"].split(",")[0]) for e in speech}
    assert len(rendered) >= 2  # the two speakers come from different voices
    for e in report["events"]:
        assert {"planned_start_s", "measured_onset_s", "generator", "attempts", "checks"} <= set(e)
        assert e["checks"] and all({"value", "bound", "pass"} <= set(c) for c in e["checks"])


def test_every_event_starts_where_it_was_planned(demo: Path) -> None:
    mix, sr = _read(demo / "mix.wav")
    report = json.loads((demo / "report.json").read_text())
    total = np.zeros_like(mix)
    for e in report["events"]:
        if e["kind"] in ("speech", "sfx"):  # measured on the event's own stem by the onset detector
            assert abs(e["measured_onset_s"] - e["planned_start_s"]) <= 0.05, e["id"]
        else:  # beds fade in: no onset
            assert e["measured_onset_s"] is None
        stem, _ = _read(demo / "stems" / f"{e['id']}.wav")
        total += stem
        first = int(np.flatnonzero(np.abs(stem) > 0)[0]) / sr  # stems are silent before their event
        # placed where the report says (a recipe may open with a few ms of silence: footsteps 50 ms)
        assert -0.002 <= first - e["final_start_s"] <= 0.06, e["id"]
        if e["kind"] in ("speech", "sfx"):  # and the stem's sound is in the mix there
            a, b = int(e["final_start_s"] * sr), int((e["final_start_s"] + 0.5) * sr)
            seg, ref = mix[a - 2205 : b + 2205], stem[a:b]
            lag = int(np.argmax(np.correlate(seg, ref, mode="valid"))) - 2205
            assert abs(lag) / sr <= 0.05, e["id"]
    assert np.max(np.abs(total - mix)) < 1e-4  # the stems add up to the mix


def test_music_is_ducked_at_least_6_db_under_speech(demo: Path) -> None:
    timeline = json.loads((demo / "timeline.json").read_text())
    music_id = next(e["id"] for e in timeline["events"] if e["kind"] == "music")
    music, sr = _read(demo / "stems" / f"{music_id}.wav")
    t = np.arange(music.size) / sr
    during, near = np.zeros(t.size, bool), np.zeros(t.size, bool)
    for e in timeline["events"]:
        if e["kind"] == "speech":
            end = e["start_s"] + e["duration_s"]
            during |= (t >= e["start_s"]) & (t < end)
            near |= (t >= e["start_s"] - 0.75) & (t < end + 0.75)  # the release tail is neither
    outside = ~near & (t > 1.0) & (t < t[-1] - 1.0)  # nor are the bed's fades
    rms = [np.sqrt(np.mean(music[m] ** 2)) for m in (outside, during)]
    assert 20 * np.log10(rms[0] / rms[1]) >= 6.0


def test_figure_and_run_listing(demo: Path) -> None:
    assert (demo / "mix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    job = json.loads((demo / "job.json").read_text())
    res = CliRunner().invoke(app, ["runs", "list", "--store", job["store"]])
    assert res.exit_code == 0 and job["run_id"] in res.output and "agents.audio" in res.output


@pytest.mark.slow
def test_the_example_twice_gives_the_same_bytes(demo: Path, tmp_path: Path) -> None:
    """Same brief, config and seed: byte-identical mix.wav and stems (seeded recipes, Piper without noise,
    no timestamp in any WAV)."""
    out = tmp_path / "again"
    _render_example(out, tmp_path / "r.sqlite")
    for name in ["mix.wav", *(f"stems/{p.name}" for p in sorted((demo / "stems").iterdir()))]:
        assert (
            hashlib.sha256((demo / name).read_bytes()).digest()
            == hashlib.sha256((out / name).read_bytes()).digest()
        ), name


def test_every_output_is_private_whatever_the_umask(demo: Path) -> None:
    """WAVs, reports, the figure and the timeline alike: only their owner can read them."""
    files = [p for p in demo.rglob("*") if p.is_file()]
    assert {"mix.wav", "mix.png", "report.json", "timeline.json", "job.json"} <= {p.name for p in files}
    assert {oct(p.stat().st_mode & 0o777) for p in files} == {oct(0o600)}
    assert {oct(p.stat().st_mode & 0o777) for p in demo.rglob("*") if p.is_dir()} <= {oct(0o700)}
