"""The mixer and the mix supervisor on synthetic clips: ducking, delivery target, onsets, feedback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from audio_helpers import light_config

from agents.audio.generators.sfx_recipes import bell, rain, wind
from agents.audio.levels import db_to_gain, integrated_lufs, true_peak_dbtp
from agents.audio.supervisors.mix import judge_mix, mix_once, supervise_mix
from agents.audio.timeline import AudioEvent, Timeline
from agents.blackboard import Blackboard
from batching.journal.store import RunStore

SR = 44100
QUIET = {"bell": -30.0, "rain": -10.0, "bed": -10.0}


def _voice(duration_s: float, rng: np.random.Generator) -> np.ndarray:
    """Speech-like: a 150 Hz buzz through formants, gated into syllables."""
    t = np.arange(int(duration_s * SR)) / SR
    buzz = np.sign(np.sin(2 * np.pi * 150 * t)) + 0.1 * rng.standard_normal(t.size)
    syllables = np.clip(np.sin(2 * np.pi * 4 * t), 0, 1)
    return 0.3 * np.convolve(buzz, np.hanning(40), mode="same") * syllables


def _scene() -> tuple[Timeline, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    events = (
        AudioEvent(id="rain", kind="ambience", start_s=0, duration_s=8, description="rain", target_lufs=-28),
        AudioEvent(
            id="bed", kind="music", start_s=0, duration_s=8, description="wind as music", target_lufs=-24
        ),
        AudioEvent(id="line", kind="speech", start_s=3.0, duration_s=2.0, text="...", target_lufs=-17),
        AudioEvent(id="bell", kind="sfx", start_s=3.5, duration_s=2.0, description="bell", target_lufs=-14),
    )
    raw = {
        "rain": rain(8, SR, rng),
        "bed": wind(8, SR, rng),
        "line": _voice(2.0, rng),
        "bell": bell(2.0, SR, rng),
    }
    clips = {}
    for e in events:
        x = raw[e.id]
        clips[e.id] = x * db_to_gain(e.target_lufs - integrated_lufs(x, SR))  # type: ignore[operator]
    return Timeline(duration_s=8.0, events=events), clips


def test_mix_supervisor_lowers_what_masks_speech_then_passes(tmp_path: Path) -> None:
    timeline, clips = _scene()
    cfg = light_config()
    board = Blackboard(RunStore(tmp_path / "r.sqlite"), "r")
    verdict, result = supervise_mix(board, timeline, clips, cfg)
    first = board.get("mix/1/verdict", type(verdict))
    assert first is not None and not first.passed and first.instruction.action == "change_gain"
    assert first.next_gain_db["bell"] < 0 and "line" not in first.next_gain_db  # the bell under the line
    assert verdict.passed and verdict.attempt == 2
    assert abs(integrated_lufs(result.mix, SR) - cfg.delivery.target_lufs) <= 1.0  # type: ignore[operator]
    assert true_peak_dbtp(result.mix) <= cfg.delivery.true_peak_dbtp
    np.testing.assert_allclose(sum(result.stems.values()), result.mix, atol=1e-9)
    during = result.stems["bed"][int(3.2 * SR) : int(4.8 * SR)]
    before = result.stems["bed"][int(1.2 * SR) : int(2.4 * SR)]
    assert 20 * np.log10(np.std(before) / np.std(during)) >= 6.0  # ducked under the line


def test_a_misplaced_event_is_measured_and_moved_back() -> None:
    timeline, clips = _scene()
    cfg = light_config()
    late = mix_once(timeline, clips, cfg, gain_db=QUIET, shift_s={"line": 0.1}, margin_db=0.5)
    verdict = judge_mix(timeline, clips, late, cfg, 1, QUIET, {}, 0.5)
    assert abs(verdict.onsets_s["line"] - 3.1) < 0.01  # type: ignore[operator]
    assert verdict.instruction.action == "trim" and abs(verdict.next_shift_s["line"] + 0.1) < 0.01
    assert verdict.onsets_s["bed"] is None  # a bed fades in: no onset to judge
