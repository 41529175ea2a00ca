"""User-supplied text the CLI prints is shown as written, never read as rich markup: pool, expert, bench and
method names, file paths, stored errors and questions with ``[/]``, ``[bold]``, ``d[`` or ``:smile:`` in
them. Without escaping, ``[/]`` raises MarkupError, ``[bold]`` vanishes and ``:smile:`` becomes an emoji."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from answer_engine import FixedAnswerEngine
from typer.testing import CliRunner

from batching.journal.store import RunStore
from orchestrator.cli import app
from orchestrator.service.openai_stub import create_openai_app, serve_in_thread

POOL_NAME = "pool[/]:smile:"
EXPERTS = ("e[/]1", "f[bold]2", ":smile:3")
SMILE = "\N{SMILING FACE WITH OPEN MOUTH}"


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    engines = {f"m{i}": FixedAnswerEngine() for i in range(3)}
    with serve_in_thread(create_openai_app(engines)) as (url, _):
        yield url


def _pool(folder: Path, base_url: str) -> Path:
    experts = [{"name": n, "engine": "openai_http", "model": f"m{i}", "base_url": base_url, "max_retries": 0}
               for i, n in enumerate(EXPERTS)]  # fmt: skip
    pool = folder / "pool[x].yaml"
    method = {"policy": "random_k", "k": 3, "aggregation": "majority"}
    pool.write_text(json.dumps({"name": POOL_NAME, "experts": experts, "method": method}))
    return pool


def _questions(folder: Path) -> Path:
    q = folder / "q[bold].jsonl"
    rows = [
        {"id": f"a[/]{i}", "question": f"What is 3 plus {i}? [bold]", "answer": str(3 + i)} for i in range(3)
    ]
    q.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return q


def _check(result: object, *must_show: str) -> str:
    out = result.output.replace("\n", "")  # type: ignore[attr-defined]
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "MarkupError" not in out and "Traceback" not in out and SMILE not in out
    for text in must_show:
        assert text in out, (text, result.output)  # type: ignore[attr-defined]
    return out


def test_run_runs_list_and_runs_show_print_names_and_paths_as_written(
    base_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYMOE_HOME", str(tmp_path / "home"))
    folder = tmp_path / "d["
    folder.mkdir()
    store = str(folder / "runs[bold].sqlite")
    runner = CliRunner()
    out_dir = folder / "out[bold]"
    result = runner.invoke(app, ["run", "--pool", str(_pool(folder, base_url)), "--input",
                                 str(_questions(folder)), "--out", str(out_dir), "--store", store],
                           terminal_width=300)  # fmt: skip
    _check(result, POOL_NAME, *EXPERTS, str(out_dir / "report.json"))
    run_id = result.stdout.splitlines()[0].removeprefix("run: ")
    db = RunStore(store)
    db.finish_run(run_id, "failed", error="expert 'e[/]1' broke: [bold]boom:smile:")
    db.event(run_id, "experts", "f[bold]2", "failure", 0.0, "worker [/] died :smile:")
    _check(runner.invoke(app, ["runs", "list", "--store", store], terminal_width=300), POOL_NAME)
    shown = runner.invoke(app, ["runs", "show", run_id, "--store", store], terminal_width=300)
    _check(shown, POOL_NAME, *EXPERTS, "[bold]boom:smile:", "worker [/] died :smile:")


def test_profile_bench_and_data_convert_print_names_as_written(
    base_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYMOE_HOME", str(tmp_path / "home"))
    folder = tmp_path / "d["
    folder.mkdir()
    pool, questions = _pool(folder, base_url), _questions(folder)
    runner = CliRunner()
    profiles = folder / "p[bold].json"
    profiled = runner.invoke(app, ["profile", "--pool", str(pool), "--input", str(questions), "--out",
                                   str(profiles), "--no-progress"], terminal_width=300)  # fmt: skip
    _check(profiled, *EXPERTS, str(profiles))
    bench = folder / "bench.yaml"
    bench.write_text(json.dumps({
        "name": "b[/]:smile:", "pool_config": pool.name,
        "data": {"kind": "question_files", "profile": questions.name, "test": questions.name},
        "methods": [{"name": "m[/]:smile:", "policy": "random_k", "k": 2, "aggregation": "majority"}],
    }))  # fmt: skip
    benched = runner.invoke(app, ["bench", str(bench), "--out", str(folder / "bench-out"), "--no-progress"],
                            terminal_width=300)  # fmt: skip
    _check(benched, "b[/]:smile:", "m[/]:smile:")
    converted = runner.invoke(
        app, ["data", "convert", str(questions), "--out", str(folder / "c[bold].jsonl")]
    )
    assert converted.exit_code in (0, 2) and "MarkupError" not in converted.output
    assert "Traceback" not in converted.output and str(folder) in converted.output.replace("\n", "")
