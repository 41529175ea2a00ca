"""What a person reads: third-party noise goes to a log file (its path printed), help texts fit 80 and 120
columns without cut words or broken lines, the slowest bench stage has a bar (`symoe demo`'s short screen is
checked beside its vLLM run, in test_demo.py)."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import typer.rich_utils
from typer.testing import CliRunner

from orchestrator.cli import app

ROOT = Path(__file__).resolve().parents[3]

# A command that makes every kind of noise a model load makes: a vLLM-style record, a FutureWarning, a
# C-level write to fd 2, a child process writing to its stderr; plus our own warning and a result.
NOISY = """
import logging, os, subprocess, sys, warnings
import typer
from orchestrator.cli.main import app, console, route_logs

@app.command("noisy")
def noisy(verbose: bool = typer.Option(False, "--verbose")) -> None:
    route_logs("noisy", verbose=verbose)
    logging.getLogger("vllm.worker").warning("libtcmalloc is not found in LD_PRELOAD")
    logging.getLogger("transformers.modeling").warning("loading weights")
    warnings.warn("torch.distributed.reduce_op is deprecated", FutureWarning)
    os.write(2, b"[W utils.cpp:68] NUMA binding: C-level noise\\n")
    subprocess.run([sys.executable, "-c", "import sys; sys.stderr.write('child engine noise\\\\n')"])
    logging.getLogger("orchestrator.runs").warning("2 questions have no answer")
    console.print("RESULT TABLE")

app(["noisy", *sys.argv[1:]])
"""


def _noisy(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    env = {**os.environ, "SYMOE_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)}
    env.pop("SYMOE_LOG_LEVEL", None)
    done = subprocess.run([sys.executable, "-c", NOISY, *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)  # fmt: skip
    logs = list((tmp_path / "home" / "logs").glob("noisy-*.log"))
    assert len(logs) == 1, (done.stdout, done.stderr)
    return done, logs[0]


def test_third_party_noise_goes_to_the_log_file_and_its_path_is_printed(tmp_path: Path) -> None:
    done, log = _noisy(tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "RESULT TABLE"
    screen = done.stderr.splitlines()
    assert screen[0] == f"logs: {log}"
    assert len(screen) == 2 and "2 questions have no answer" in screen[1], done.stderr
    text = log.read_text()
    for noise in ("libtcmalloc", "loading weights", "FutureWarning", "NUMA binding", "child engine noise"):
        assert noise in text, noise
    assert "2 questions have no answer" in text


def test_verbose_keeps_third_party_logs_on_screen(tmp_path: Path) -> None:
    done, log = _noisy(tmp_path, "--verbose")
    assert done.returncode == 0, done.stderr
    for noise in ("libtcmalloc", "NUMA binding", "child engine noise", "2 questions have no answer"):
        assert noise in done.stderr, noise
    assert "libtcmalloc" in log.read_text()


def _commands(group: typer.Typer, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], object]]:
    out: list[tuple[tuple[str, ...], object]] = [(prefix, group)]
    for cmd in group.registered_commands:
        name = cmd.name or (cmd.callback.__name__ if cmd.callback else "")
        out.append(((*prefix, name.replace("_", "-")), cmd.callback))
    for sub in group.registered_groups:
        assert sub.typer_instance is not None and sub.name
        out.extend(_commands(sub.typer_instance, (*prefix, sub.name)))
    return out


def _help(args: tuple[str, ...], width: int, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(typer.rich_utils, "MAX_WIDTH", width)
    result = CliRunner().invoke(app, [*args, "--help"])
    assert result.exit_code == 0, (args, result.output)
    return result.output


def test_every_help_fits_80_and_120_columns_with_nothing_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    commands = _commands(app)
    assert len(commands) > 12
    for args, _ in commands:
        for width in (80, 120):
            text = _help(args, width, monkeypatch)
            assert all(len(line) <= width for line in text.splitlines()), (args, width)
            cut = [line for line in text.splitlines() if "…" in line]
            assert not cut, (args, width, cut)


def test_help_paragraphs_are_not_broken_where_the_docstring_wraps(monkeypatch: pytest.MonkeyPatch) -> None:
    for args, target in _commands(app):
        doc = inspect.getdoc(target) if inspect.isfunction(target) else None
        if not doc:
            continue
        text = " ".join(_help(args, 400, monkeypatch).split())  # one long line per paragraph at 400 columns
        for paragraph in doc.split("\n\n"):
            flowing = " ".join(paragraph.replace("`", "").split())
            assert flowing in text, (args, flowing)


def test_a_cold_bench_embedding_stage_reports_progress(tmp_path: Path, minilm: object) -> None:
    from skills.embedding import PROGRESS_CHUNK, Embedder

    seen: list[tuple[int, int]] = []
    embedder = Embedder(cache_dir=tmp_path / "emb", model=minilm)
    texts = [f"question number {i}" for i in range(PROGRESS_CHUNK + 10)]
    embedder.embed(texts, on_progress=lambda done, total: seen.append((done, total)))
    assert seen == [(0, len(texts)), (PROGRESS_CHUNK, len(texts)), (len(texts), len(texts))]
    seen.clear()
    embedder.embed(texts, on_progress=lambda done, total: seen.append((done, total)))
    assert seen == []  # all cached: nothing to show


def test_bench_shows_an_embedding_bar(tmp_path: Path, minilm: object) -> None:
    from orchestrator.bench import load_bench_config, run_bench
    from skills.embedding import Embedder

    cfg = load_bench_config(ROOT / "configs" / "bench" / "zoo_demo.yaml").model_copy(update={"limit": 7})
    bars: list[tuple[str, str, int, int]] = []

    def hook(stage: str):  # type: ignore[no-untyped-def]
        return lambda label, done, total: bars.append((stage, label, done, total))

    run_bench(cfg, None, embedder=Embedder(cache_dir=tmp_path / "emb", model=minilm), progress=hook)
    embedding = [b for b in bars if b[0] == "embeddings"]
    assert {b[1] for b in embedding} == {"questions"}  # the profiling and test questions, embedded at once
    assert all(done == total for _, _, done, total in embedding if done == total) and embedding[-1][2] > 0
