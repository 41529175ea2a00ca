"""A job killed with SIGKILL mid-generation resumes at the failed step, never redoes a finished one, reports
the time of both sessions, and delivers the same bytes as a clean run."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from audio_helpers import light_config, need
from typer.testing import CliRunner

from batching.journal.store import RunStore
from orchestrator.cli import app

BRIEF = """title: resume
music: none
ambience: rain on the roof
ambience: wind
NARRATOR: One. The first line of the scene is here.
ANNA (female): Two. The second line comes right after it.
[sfx] footsteps
NARRATOR: Three. Another line, a little longer than the others.
[sfx] door
ANNA (female): Four. And the last line of all.
[sfx] bell
"""


def _outputs(store: RunStore, run_id: str) -> dict[str, tuple[int, float, str]]:
    return {s.step_key: (s.writes, s.updated_at, s.payload.get("sha256", "")) for s in store.steps(run_id)}


def test_kill_9_then_resume(tmp_path: Path) -> None:
    need("flite", "espeak-ng")
    cfg_path = tmp_path / "audio.yaml"
    cfg_path.write_text(yaml.safe_dump(light_config().model_dump(mode="json")))
    (tmp_path / "brief.txt").write_text(BRIEF)
    store_path, out = tmp_path / "runs.sqlite", tmp_path / "out"
    cmd = [
        sys.executable,
        "-c",
        "from orchestrator.cli import app; app()",
        "audio",
        str(tmp_path / "brief.txt"),
        "--out",
        str(out),
        "--store",
        str(store_path),
        "--config",
        str(cfg_path),
        "--no-progress",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    store = RunStore(store_path)
    deadline = time.monotonic() + 120
    run_id = None
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            runs = store.list_runs(1)
            if runs:
                run_id = runs[0].run_id
                done = [k for k in _outputs(store, run_id) if k.endswith("/output")]
                if done:
                    os.kill(proc.pid, signal.SIGKILL)  # mid-generation: some clips journaled, no mix yet
                    break
            time.sleep(0.01)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the job finished before it could be killed"
    assert run_id is not None
    before = _outputs(store, run_id)
    assert store.get_run(run_id).status == "running"
    assert not any(k.startswith("mix/") for k in before) and not (out / "mix.wav").exists()
    n_outputs = sum(k.endswith("/output") for k in before)

    res = CliRunner().invoke(
        app,
        ["audio", "--resume", run_id, "--store", str(store_path), "--config", str(cfg_path), "--no-progress"],
    )
    assert res.exit_code == 0, res.output
    after = _outputs(store, run_id)
    for key, (writes, updated_at, sha) in before.items():  # never redone, never rewritten
        if key.startswith("time/"):  # a session's clock, not a step
            continue
        assert after[key] == (writes, updated_at, sha) and writes == 1, key
    report = json.loads((out / "report.json").read_text())
    total_outputs = sum(k.endswith("/output") for k in after)
    generated_now = sum(g["requests"] for g in report["generators"].values())
    assert generated_now == total_outputs - n_outputs  # only what was missing was generated
    assert (
        report["steps_reused"] >= sum(not k.startswith("time/") for k in before)
        and store.get_run(run_id).status == "done"
    )
    assert (out / "mix.wav").exists() and report["mix"]["true_peak_dbtp"] <= -1.0
    for e in report["events"]:
        assert {"planned_start_s", "measured_onset_s", "generator", "attempts", "checks"} <= set(e)
    assert report["sessions"] == 2 and report["wall_s"] > report["session_wall_s"] > 0  # both sessions

    clean = CliRunner().invoke(
        app,
        ["audio", str(tmp_path / "brief.txt"), "--out", str(tmp_path / "clean"), "--store",
         str(tmp_path / "clean.sqlite"), "--config", str(cfg_path), "--no-progress"],
    )  # fmt: skip
    assert clean.exit_code == 0, clean.output
    assert _sha(out / "mix.wav") == _sha(tmp_path / "clean" / "mix.wav")  # killed+resumed == clean, bytes


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
