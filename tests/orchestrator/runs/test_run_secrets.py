"""A live run over experts whose ``base_url`` carries a token (in the query, in the userinfo) on real local
servers: the token reaches the servers but never the run log, ``report.json``, ``answers.jsonl`` or the run
store, and everything the run writes is private (0600 files, 0700 folders) under a permissive umask.
A run whose stored pool lost its secrets resumes with ``--pool``, and says so without it."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from answer_engine import FixedAnswerEngine
from typer.testing import CliRunner

from batching.journal.store import RunStore
from orchestrator.cli import app
from orchestrator.service.openai_stub import create_openai_app, serve_in_thread

QUERY_TOKEN = "tok-q-5a1f9c"
USER_TOKEN = "tok-u-77e0b2"


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[str, str]]:
    with (
        serve_in_thread(create_openai_app({"m1": FixedAnswerEngine(), "m2": FixedAnswerEngine()})) as (
            good,
            _,
        ),
        serve_in_thread(create_openai_app({"m3": FixedAnswerEngine(broken=True)})) as (broken, _),
    ):
        yield good, broken


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _pool(tmp_path: Path, good: str, broken: str) -> Path:
    host = good.removeprefix("http://")
    pool = tmp_path / "pool.yaml"
    pool.write_text(
        "name: tokens\nmethod: {policy: random_k, k: 3, aggregation: majority}\nexperts:\n"
        f"  - {{name: q, engine: openai_http, model: m1, base_url: '{good}?token={QUERY_TOKEN}', "
        "max_retries: 0}\n"
        f"  - {{name: u, engine: openai_http, model: m2, base_url: 'http://bob:{USER_TOKEN}@{host}', "
        "max_retries: 0}\n"
        f"  - {{name: b, engine: openai_http, model: m3, base_url: '{broken}?api_key={QUERY_TOKEN}', "
        "max_retries: 0}\n"
    )
    return pool


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_tokens_in_base_urls_stay_out_of_everything_a_run_writes(
    servers: tuple[str, str], tmp_path: Path, permissive_umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYMOE_HOME", str(tmp_path / "home"))
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"id": "a", "question": "What is 3 plus 4?", "answer": "7"}\n')
    out, store = tmp_path / "out", tmp_path / "data" / "runs.sqlite"
    pool = _pool(tmp_path, *servers)
    args = ["run", "--pool", str(pool), "--input", str(questions), "--out", str(out), "--store", str(store),
            "--no-progress"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = (out / "report.json").read_text()
    assert "REDACTED" in report and "The answer is 7" in (out / "answers.jsonl").read_text()
    log = Path(re.search(r"logs: (\S+)", result.stderr)[1])  # type: ignore[index]
    written = [out / "report.json", out / "answers.jsonl", log, *store.parent.glob("runs.sqlite*")]
    RunStore(store).close()  # checkpoint: the WAL's pages into the file
    for path in written:
        data = path.read_bytes()
        assert QUERY_TOKEN.encode() not in data and USER_TOKEN.encode() not in data, path
        assert _mode(path) == 0o600, (path, oct(_mode(path)))
    assert QUERY_TOKEN not in result.output and USER_TOKEN not in result.output
    for folder in (out, store.parent, log.parent):
        assert _mode(folder) == 0o700, (folder, oct(_mode(folder)))
    errors = [g["error"] for g in RunStore(store).generations(RunStore(store).list_runs()[0].run_id)
              if g["error"]]  # fmt: skip
    assert errors and all("api_key=REDACTED" in e for e in errors)  # the broken expert's own failures


def test_a_run_whose_pool_had_a_token_resumes_with_its_pool(
    servers: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYMOE_HOME", str(tmp_path / "home"))
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"id": "a", "question": "What is 3 plus 4?", "answer": "7"}\n')
    pool, store = _pool(tmp_path, *servers), str(tmp_path / "runs.sqlite")
    runner = CliRunner()
    first = runner.invoke(app, ["run", "--pool", str(pool), "--input", str(questions), "--store", store,
                                "--out", str(tmp_path / "o1"), "--no-progress"])  # fmt: skip
    assert first.exit_code == 0, first.output
    run_id = first.stdout.splitlines()[0].removeprefix("run: ")
    bare = runner.invoke(app, ["run", "--resume", run_id, "--store", store, "--out", str(tmp_path / "o2"),
                               "--no-progress"])  # fmt: skip
    assert bare.exit_code == 2 and "resume with --pool" in bare.stderr and "Traceback" not in bare.output
    again = runner.invoke(app, ["run", "--resume", run_id, "--pool", str(pool), "--store", store,
                                "--out", str(tmp_path / "o3"), "--no-progress"])  # fmt: skip
    assert again.exit_code == 0, again.output
    assert "3 reused" in again.stdout.replace("\n", " ")
