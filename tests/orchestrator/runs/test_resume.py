"""Durable runs: SIGKILL the driver mid-run, resume it, and get an uninterrupted run's answers while
recomputing nothing that was journaled; `symoe run` prints its run id first; the cache reuses runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from batching.journal.store import RunStore
from common.errors import ConfigError
from orchestrator.cli import app
from orchestrator.datasets import load_questions
from orchestrator.pool import PoolConfig, load_pool_config
from orchestrator.runs.runner import RunOptions, run_pool

POOLS = Path(__file__).resolve().parents[3] / "configs" / "pools"

# A driver that journals into the store, then freezes after `stop_after` expert batches (so the test
# can SIGKILL it at a known point with some, but not all, generations in the store).
DRIVER = """
import sys, time
from pathlib import Path
from orchestrator.datasets import load_questions
from orchestrator.pool import load_pool_config
from orchestrator.runs.runner import RunOptions, run_pool
from batching.journal.store import RunStore

pool_path, questions, db, run_id, marker, stop_after = sys.argv[1:7]
seen = []

def progress(stage, model, done, total):
    if stage == "experts":
        seen.append(model)
        if len(seen) == int(stop_after):
            Path(marker).write_text("frozen")
            time.sleep(600)

instances = load_questions(questions).instances
opts = RunOptions(store=RunStore(db), run_id=run_id)
run_pool(load_pool_config(pool_path), instances, progress=progress, options=opts)
"""


@pytest.fixture
def tiny_cpu(tiny_pool: dict[str, Path]) -> PoolConfig:
    cfg = load_pool_config(POOLS / "tiny-cpu.yaml")
    return cfg.model_copy(
        update={"tiny_models_dir": str(next(iter(tiny_pool.values())).parent), "batch_size": 1}
    )


def _kill_mid_run(pool_file: Path, questions: Path, db: Path, run_id: str, tmp_path: Path) -> int:
    marker = tmp_path / "frozen"
    args = [str(pool_file), str(questions), str(db), run_id, str(marker), "4"]
    log = tmp_path / "driver.log"
    with log.open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-c", DRIVER, *args], stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 180
        while not marker.exists():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the driver never reached the expert stage"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return proc.pid


@pytest.mark.slow
def test_sigkilled_run_resumes_without_recomputing_and_matches_an_uninterrupted_run(
    tiny_cpu: PoolConfig, tmp_path: Path, questions_file: Callable[[int], Path]
) -> None:
    questions = questions_file(6)
    pool_file = tmp_path / "pool.yaml"
    pool_file.write_text(json.dumps(tiny_cpu.model_dump(mode="json")))
    db, run_id = tmp_path / "runs.sqlite", "killed-run"
    _kill_mid_run(pool_file, questions, db, run_id, tmp_path)

    store = RunStore(db)
    before = {r["prompt_hash"]: r for r in store.generations(run_id)}
    annotation = 6 * tiny_cpu.annotation.n_samples
    assert len(before) == annotation + 4  # the whole annotation batch, then 4 one-request expert batches
    assert store.get_run(run_id).status == "running"  # never finished

    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["run", "--resume", run_id, "--store", str(db), "--out", str(out), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == f"run: {run_id}"
    report = json.loads((out / "report.json").read_text())
    after = {r["prompt_hash"]: r for r in store.generations(run_id)}
    # nothing finished was recomputed: every earlier row is untouched and counted as reused; the engines
    # generated exactly the rows that were missing
    assert all(after[h] == row for h, row in before.items())
    assert report["generations_reused"] == len(before)
    assert report["generations_computed"] == len(after) - len(before)
    assert sum(m["requests"] for m in report["models"].values()) == report["generations_computed"]
    assert report["models"]["tiny-llama-s"]["loads"] == 1  # annotator: its batch was done; it answers once
    assert store.get_run(run_id).status == "done"

    # the same answers (and expert outputs) as a run that was never interrupted
    fresh, fresh_finals = run_pool(tiny_cpu, load_questions(questions).instances,
                                   options=RunOptions(store=RunStore(tmp_path / "fresh.sqlite")))  # fmt: skip
    resumed = [json.loads(line) for line in (out / "answers.jsonl").read_text().splitlines()]
    assert len(after) == fresh.generations_computed
    assert [r.get("answer") for r in resumed] == [f.answer for f in fresh_finals]
    assert [[a.get("text") for a in r["expert_answers"]] for r in resumed] == [
        [a.text for a in f.expert_answers] for f in fresh_finals
    ]

    # cache mode: a new run of the same pool and questions reuses every generation of the resumed one
    out2 = tmp_path / "out2"
    args = [
        "run",
        "--pool",
        str(pool_file),
        "--input",
        str(questions),
        "--store",
        str(db),
        "--out",
        str(out2),
    ]
    cached = CliRunner().invoke(app, [*args, "--cache", "--no-progress", "--log-json"])
    assert cached.exit_code == 0, cached.output
    new_id = cached.output.splitlines()[0].removeprefix("run: ")
    assert new_id != run_id
    report2 = json.loads((out2 / "report.json").read_text())
    assert (report2["generations_computed"], report2["generations_reused"]) == (0, len(after))
    assert all(m["loads"] == 0 for m in report2["models"].values())


def test_resume_refuses_a_different_pool_or_an_unknown_run(
    tmp_path: Path, questions_file: Callable[[int], Path]
) -> None:
    pool = PoolConfig.model_validate(
        {"name": "p", "experts": [{"name": "a", "engine": "replay"}], "aggregation": "majority"}
    )
    questions = load_questions(questions_file(2)).instances
    store = RunStore(tmp_path / "runs.sqlite")
    store.create_run(pool, questions, backend="local", run_id="r1")
    other = pool.model_copy(update={"seed": 7})
    with pytest.raises(ConfigError, match="pool config differs"):
        run_pool(other, questions, options=RunOptions(store=store, run_id="r1", resume=True))
    with pytest.raises(ConfigError, match="questions differ"):
        run_pool(pool, questions[:1], options=RunOptions(store=store, run_id="r1", resume=True))
    with pytest.raises(ConfigError, match="no run 'r2'"):
        run_pool(pool, questions, options=RunOptions(store=store, run_id="r2", resume=True))
    result = CliRunner().invoke(app, ["run", "--store", str(tmp_path / "runs.sqlite"), "--no-progress"])
    assert result.exit_code == 2 and "needs --pool and --input" in result.output
