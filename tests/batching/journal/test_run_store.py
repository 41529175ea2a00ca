"""The run store: prompt hashes, transactional journaling, lookups, the cache, reports and `symoe runs`."""

from __future__ import annotations

import io
import json
import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from batching.engines.base import Engine
from batching.journal.engine import Journal, JournalEngine
from batching.journal.store import GenerationRow, RunStore, model_key, prompt_hash
from common.errors import ConfigError
from common.generation import GenRequest, GenResult, SamplingParams
from common.logs import JsonLineFormatter, RunContextFilter, log_context
from common.records import Instance
from orchestrator.cli import app
from orchestrator.pool import PoolConfig
from orchestrator.runs.stats import expert_stats


@dataclass(frozen=True)
class _Cfg:
    name: str
    engine: str = "counting"
    model_id: str = "m"


class CountingEngine(Engine):
    """A real Engine with no model: echoes the prompt and counts what it generated."""

    kind = "counting"

    def __init__(self, name: str = "a", engine: str = "counting") -> None:
        super().__init__(_Cfg(name, engine, f"model-{name}"))
        self.prompts: list[str] = []

    def _load(self) -> None:
        pass

    def _unload(self) -> None:
        pass

    def _generate(self, batch: Sequence[GenRequest]) -> list[GenResult]:
        self.prompts.extend(r.prompt for r in batch)
        return [
            GenResult(request_id=r.request_id, text=f"echo {r.prompt}", prompt_tokens=3, generated_tokens=2)
            for r in batch
        ]


def _req(rid: str, prompt: str, seed: int | None = 0, iid: str | None = None) -> GenRequest:
    return GenRequest(
        request_id=rid,
        prompt=prompt,
        messages=(("user", prompt),),
        sampling=SamplingParams(seed=seed, max_tokens=8),
        instance_id=iid,
    )


def _pool() -> PoolConfig:
    return PoolConfig.model_validate(
        {"name": "p", "experts": [{"name": "a", "engine": "replay"}], "aggregation": "majority"}
    )


def _instances(n: int = 2) -> list[Instance]:
    return [Instance(id=f"q{i}", question=f"question {i}?") for i in range(n)]


def test_prompt_hash_covers_model_prompt_messages_and_sampling_not_request_id() -> None:
    base = prompt_hash("m", _req("r1", "hi"))
    assert base == prompt_hash("m", _req("other-id", "hi"))
    assert len({base, prompt_hash("m2", _req("r1", "hi")), prompt_hash("m", _req("r1", "ho")),
                prompt_hash("m", _req("r1", "hi", seed=1))}) == 4  # fmt: skip
    plain = GenRequest(request_id="r1", prompt="hi", sampling=SamplingParams(seed=0, max_tokens=8))
    assert prompt_hash("m", plain) != base  # chat messages count
    by_instance = [prompt_hash("m", _req("r", "hi", iid=i), keyed_by_instance=True) for i in ("q1", "q2")]
    assert by_instance[0] != by_instance[1]
    assert prompt_hash("m", _req("r", "hi", iid="q1")) == prompt_hash("m", _req("r", "hi", iid="q2"))
    assert model_key(_Cfg("a")) == "counting:m:"


def test_store_uses_wal_and_a_failed_batch_leaves_no_rows(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    assert store._query("PRAGMA journal_mode")[0][0] == "wal"
    ok = GenerationRow(
        prompt_hash="h1",
        stage="experts",
        expert="a",
        instance_id="q1",
        result=GenResult(request_id="r1", text="x"),
        seconds=0.1,
    )
    store.record("run", [ok])
    clash = GenerationRow(
        prompt_hash="h1",
        stage="experts",
        expert="a",
        instance_id="q2",
        result=GenResult(request_id="r2", text="y"),
        seconds=0.1,
    )
    fresh = GenerationRow(
        prompt_hash="h2",
        stage="experts",
        expert="a",
        instance_id="q3",
        result=GenResult(request_id="r3", text="z"),
        seconds=0.1,
    )
    with pytest.raises(sqlite3.IntegrityError):
        store.record("run", [fresh, clash])  # the same prompt hash twice in a run is refused...
    assert [g["prompt_hash"] for g in store.generations("run")] == ["h1"]  # ...and the batch rolled back
    reopened = RunStore(tmp_path / "runs.sqlite")
    assert reopened.lookup("run", ["h1", "h2"]) == {"h1": GenResult(request_id="r1", text="x")}


def test_journal_engine_never_generates_a_journaled_prompt_twice(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "s.sqlite")
    journal = Journal(store=store, run_id="run-1", stage="experts")
    inner = CountingEngine()
    engine = JournalEngine(inner, journal)
    first = engine.generate([_req("r1", "p1", iid="q1"), _req("r2", "p2"), _req("r3", "p1", iid="q1")])
    assert inner.prompts == ["p1", "p2"]  # the duplicate in the batch is generated once
    assert [r.request_id for r in first] == ["r1", "r2", "r3"] and first[2].text == "echo p1"
    again = engine.generate([_req("x1", "p2"), _req("x2", "p3")])
    assert inner.prompts == ["p1", "p2", "p3"]
    assert [r.request_id for r in again] == ["x1", "x2"] and again[0].text == "echo p2"
    assert (journal.computed, journal.reused) == (3, 1)
    assert inner.counters.requests == 3 and engine.counters is inner.counters
    rows = store.generations("run-1")
    assert [(r["stage"], r["expert"], r["request_id"]) for r in rows][0] == ("experts", "a", "r1")
    assert len({r["prompt_hash"] for r in rows}) == len(rows) == 3
    assert [e["kind"] for e in store.events("run-1")] == ["load"]  # generate loaded the engine lazily


def test_cache_mode_reuses_other_runs_and_copies_them_in(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "s.sqlite")
    JournalEngine(CountingEngine(), Journal(store=store, run_id="old")).generate(
        [_req("r1", "p1"), _req("r2", "p2")]
    )
    inner = CountingEngine()
    without = JournalEngine(inner, Journal(store=store, run_id="no-cache"))
    without.generate([_req("r1", "p1")])
    assert inner.prompts == ["p1"]
    inner = CountingEngine()
    cached = Journal(store=store, run_id="cached", cache=True)
    JournalEngine(inner, cached).generate([_req("n1", "p1"), _req("n2", "p2"), _req("n3", "p3")])
    assert inner.prompts == ["p3"] and (cached.computed, cached.reused) == (1, 2)
    rows = {r["request_id"]: r["reused_from"] for r in store.generations("cached")}
    assert rows == {"r1": "old", "r2": "old", "n3": None}
    stats = expert_stats(store, "cached")
    assert [(s.calls, s.computed, s.reused) for s in stats] == [(3, 1, 2)]


def test_runs_are_created_once_and_found_by_id(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "s.sqlite")
    run_id = store.create_run(_pool(), _instances(), backend="local")
    with pytest.raises(ConfigError, match="exists; resume it"):
        store.create_run(_pool(), _instances(), backend="local", run_id=run_id)
    assert store.instances(run_id) == _instances()
    assert store.get_run(run_id).status == "running"
    store.finish_run(run_id, "done", report={"generations_computed": 4, "total_seconds": 1.5})
    assert store.get_run(run_id).report == {"generations_computed": 4, "total_seconds": 1.5}
    with pytest.raises(ConfigError, match=rf"no run 'nope' \(latest: {run_id}\)"):
        store.get_run("nope")


def test_runs_list_and_show_print_tables(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    store = RunStore(db)
    run_id = store.create_run(_pool(), _instances(), backend="local")
    journal = Journal(store=store, run_id=run_id, stage="experts")
    JournalEngine(CountingEngine("alpha"), journal).generate([_req("r1", "p1"), _req("r2", "p2")])
    store.event(run_id, "experts", "alpha", "failure", 0.0, "attempt 1: worker died")
    store.finish_run(run_id, "done", report={"generations_computed": 2, "generations_reused": 0})
    runner = CliRunner()
    listed = runner.invoke(app, ["runs", "list", "--store", str(db)], terminal_width=200)
    assert listed.exit_code == 0, listed.output
    assert run_id in listed.output and "done" in listed.output
    shown = runner.invoke(app, ["runs", "show", run_id, "--store", str(db)], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    assert "alpha" in shown.output and "worker died" in shown.output
    [stats] = expert_stats(store, run_id)
    assert (stats.calls, stats.failures, stats.loads, stats.generated_tokens) == (2, 1, 1, 4)
    missing = runner.invoke(app, ["runs", "show", "nope", "--store", str(db)])
    assert missing.exit_code == 2 and "'nope'" in missing.output


def test_log_records_carry_run_id_and_expert_as_json_lines() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RunContextFilter())
    handler.setFormatter(JsonLineFormatter())
    log = logging.getLogger("symoe.test.store")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        with log_context(run_id="r-1"):
            log.info("outside %s", "expert")
            with log_context(expert="qwen"):
                log.info("inside")
    finally:
        log.removeHandler(handler)
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(r["run_id"], r["expert"], r["message"]) for r in records] == [
        ("r-1", "-", "outside expert"),
        ("r-1", "qwen", "inside"),
    ]


def test_a_damaged_store_is_a_config_error_naming_the_file_everywhere(
    tmp_path: Path, damaged_store: tuple[Path, str]
) -> None:
    db, run_id = damaged_store
    store = RunStore(db)  # the schema page is intact: opening works, reading does not
    for read in (lambda: store.list_runs(), lambda: store.get_run(run_id), lambda: store.instances(run_id),
                 lambda: store.generations(run_id), store.check, lambda: store.check(full=True)):  # fmt: skip
        with pytest.raises(ConfigError, match=rf"run store {db}: .*damaged: move it aside"):
            read()
    with pytest.raises(ConfigError, match="damaged"):
        store.create_run(_pool(), _instances(), backend="local")
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not a database at all" * 100)
    with pytest.raises(
        ConfigError, match=rf"run store {garbage}: file is not a database; the file is damaged"
    ):
        RunStore(garbage)


def test_cli_on_a_damaged_store_fails_cleanly_without_a_run_id(
    tmp_path: Path, damaged_store: tuple[Path, str]
) -> None:
    db, run_id = damaged_store
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"question": "What is 2 plus 2?"}\n')
    pool = Path(__file__).resolve().parents[3] / "configs" / "pools" / "zoo-cpu.yaml"
    runner = CliRunner()
    for args in (
        ["runs", "list"],
        ["runs", "show", run_id],
        ["run", "--resume", run_id, "--out", str(tmp_path / "out")],
        ["run", "--pool", str(pool), "--input", str(questions), "--out", str(tmp_path / "out")],
    ):
        result = runner.invoke(app, [*args, "--store", str(db)])
        assert result.exit_code == 2, (args, result.output)
        assert f"run store {db}" in result.stderr and "damaged" in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.output and "run: " not in result.stdout, (args, result.output)
