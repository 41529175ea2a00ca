"""Properties of every pool, bench, suite and question file a user can hand the CLI: ``symoe run`` and
``symoe bench`` exit 0 or 2, print no traceback, and write nothing outside ``--out``, the store and
``$SYMOE_HOME`` (see :func:`conftest.check_cli`)."""

from __future__ import annotations

import json
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st
from input_strategies import config_bytes, mutated, question_file_bytes
from property_harness import check_cli, examples, workspace

QUESTIONS = '{"id": "q1", "question": "What is 3 plus 4?", "options": ["7", "8"], "answer": "A"}\n'


def _run_args(pool: str, questions: str, out: str, store: str) -> list[str]:
    return ["run", "--pool", pool, "--input", questions, "--out", out, "--store", store, "--no-progress"]


@examples(15)
@given(data=st.data())
def test_any_pool_file(base_pool: dict[str, Any], data: st.DataObject) -> None:
    content = data.draw(config_bytes(base_pool), label="pool file")
    with workspace() as ws:
        pool, questions = ws.write("pool.yaml", content), ws.write("q.jsonl", QUESTIONS)
        check_cli(ws, _run_args(str(pool), str(questions), str(ws.out), str(ws.store)))


@examples(20)
@given(content=question_file_bytes(), suffix=st.sampled_from([".jsonl", ".json", ".jsonl.gz", ".parquet"]))
def test_any_question_file(base_pool: dict[str, Any], content: bytes, suffix: str) -> None:
    with workspace() as ws:
        pool, questions = ws.write("pool.yaml", json.dumps(base_pool)), ws.write(f"q{suffix}", content)
        code = check_cli(ws, _run_args(str(pool), str(questions), str(ws.out), str(ws.store)))
        if code == 0:
            assert (ws.out / "answers.jsonl").is_file() and (ws.out / "report.json").is_file()


def _bench(name: str = "b") -> dict[str, Any]:
    method = {"name": "random2", "policy": "random_k", "k": 2, "aggregation": "majority"}
    data = {"kind": "question_files", "profile": "q.jsonl", "test": "q.jsonl"}
    return {"name": name, "pool_config": "pool.yaml", "seed": 0, "data": data, "methods": [method]}


@examples(10)
@given(data=st.data())
def test_any_bench_config(base_pool: dict[str, Any], data: st.DataObject) -> None:
    content = data.draw(config_bytes(_bench()), label="bench file")
    with workspace() as ws:
        ws.write("pool.yaml", json.dumps(base_pool))
        ws.write("q.jsonl", QUESTIONS)
        bench = ws.write("bench.yaml", content)
        check_cli(ws, ["bench", str(bench), "--out", str(ws.out), "--no-progress"])


@examples(10)
@given(data=st.data())
def test_any_suite(base_pool: dict[str, Any], data: st.DataObject) -> None:
    suite = data.draw(
        st.one_of(
            config_bytes({"benchmarks": ["b1.yaml", "b2.yaml"]}),
            mutated({"benchmarks": ["b1.yaml", "b1.yaml", "missing.yaml"]}).map(
                lambda d: yaml.safe_dump(d).encode()
            ),
        ),
        label="suite file",
    )
    with workspace() as ws:
        ws.write("pool.yaml", json.dumps(base_pool))
        ws.write("q.jsonl", QUESTIONS)
        ws.write("b1.yaml", json.dumps(_bench("b1")))
        ws.write("b2.yaml", json.dumps(_bench("b2")))
        check_cli(ws, ["bench", str(ws.write("suite.yaml", suite)), "--out", str(ws.out), "--no-progress"])
