"""Bad input and exposure at the edges: a question longer than an expert's context is an error everywhere
(HTTP 400 in OpenAI's shape, a per-question error in answers.jsonl and the API, a count in the report),
never an empty answer; a damaged run store makes /ready fail; keys in URLs stay out of the access log;
/metrics can be public; `symoe serve` says where it listens."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from orchestrator.api import SymbolicMoE
from orchestrator.cli import app
from orchestrator.pool import PoolConfig, load_pool_config
from orchestrator.service.app import create_app
from orchestrator.service.auth import redact_secrets
from orchestrator.service.config import ServiceConfig
from orchestrator.service.thread_server import serve_in_thread
from skills.embedding import Embedder

ROOT = Path(__file__).resolve().parents[3]
ZOO_POOL = ROOT / "configs" / "pools" / "zoo-cpu.yaml"
KEY = "sk-test-secret"
AUTH = {"Authorization": f"Bearer {KEY}"}
TOO_LONG = "What is 1 plus 2? " * 700  # well over the zoo experts' 2048-token context


@pytest.fixture(scope="module")
def zoo() -> PoolConfig:
    return load_pool_config(ZOO_POOL)


@pytest.fixture(scope="module")
def embedder(minilm: Any, tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    return Embedder(cache_dir=tmp_path_factory.mktemp("emb"), model=minilm)


@pytest.fixture(scope="module")
def server(zoo: PoolConfig, embedder: Embedder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app_ = create_app(
        ServiceConfig(pool=zoo, api_keys=[KEY], embedder=embedder, data_dir=tmp_path_factory.mktemp("svc"))
    )
    with serve_in_thread(app_, access_log=True) as (base_url, _):
        yield base_url.removesuffix("/v1")


def _chat(question: str, **extra: Any) -> dict[str, Any]:
    return {"model": "symbolic-moe", "messages": [{"role": "user", "content": question}], **extra}


def test_a_question_over_the_context_is_a_400_naming_the_limit(server: str) -> None:
    for stream in (False, True):
        r = httpx.post(f"{server}/v1/chat/completions", json=_chat(TOO_LONG, stream=stream), headers=AUTH,
                       timeout=120)  # fmt: skip
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert error["code"] == "context_length_exceeded" and error["type"] == "invalid_request_error"
        assert error["param"] == "messages" and "has a context of 2048" in error["message"]
        assert str(ROOT) not in error["message"] and "zoo/weights" not in error["message"]  # no server path
        assert "expert 'zoo-" in error["message"]
    ok = httpx.post(
        f"{server}/v1/chat/completions", json=_chat("What is 3 plus 4?"), headers=AUTH, timeout=120
    )
    assert ok.status_code == 200 and ok.json()["choices"][0]["message"]["content"] == "7"


def test_the_api_and_the_cli_record_a_per_question_error_and_count_it(
    zoo: PoolConfig, embedder: Embedder, tmp_path: Path
) -> None:
    with SymbolicMoE(zoo, embedder=embedder) as moe:
        long, short = moe.solve([TOO_LONG, "What is 3 plus 4?"])
        assert moe.last_report is not None and moe.last_report.counts["errors"] == 1
    assert long.answer is None and long.error_code == "context_length_exceeded"
    assert long.error is not None and "zoo-add" in long.error and "context of 2048" in long.error
    assert long.expert_answers[0].error == long.error.split(": ", 1)[1]
    assert short.answer == "7" and short.error is None
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        json.dumps({"id": "long", "question": TOO_LONG}) + "\n" + '{"id": "ok", "question": "Add 8 and 6."}\n'
    )
    args = ["--pool", str(ZOO_POOL), "--input", str(questions), "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(app, ["run", *args, "--store", str(tmp_path / "s.sqlite"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "1 question(s) have no answer" in result.stderr
    rows = {
        r["instance_id"]: r
        for r in map(json.loads, (tmp_path / "out" / "answers.jsonl").read_text().splitlines())
    }
    assert rows["long"]["error_code"] == "context_length_exceeded" and "answer" not in rows["long"]
    assert rows["ok"]["answer"] == "14"
    assert json.loads((tmp_path / "out" / "report.json").read_text())["counts"]["errors"] == 1


def test_ready_fails_with_the_reason_when_the_store_is_damaged(
    zoo: PoolConfig, embedder: Embedder, tmp_path: Path, damaged_store: tuple[Path, str]
) -> None:
    db, _ = damaged_store
    app_ = create_app(ServiceConfig(pool=zoo, embedder=embedder, data_dir=tmp_path / "svc", store_path=db))
    with serve_in_thread(app_) as (base_url, _):
        r = httpx.get(base_url.removesuffix("/v1") + "/ready", timeout=30)
    assert r.status_code == 503 and r.json()["status"] == "not_ready"
    assert str(db) in r.json()["reason"] and "damaged" in r.json()["reason"]


def test_keys_in_urls_are_redacted_from_the_access_log(
    server: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a server started with access_log=False (other tests) stops uvicorn.access propagating, process-wide
    monkeypatch.setattr(logging.getLogger("uvicorn.access"), "propagate", True)
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        httpx.get(f"{server}/v1/models?api_key={KEY}&x=1", headers=AUTH, timeout=30)
        httpx.get(f"{server}/health?token={KEY}", timeout=30)
        time.sleep(0.2)
    lines = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert any("/v1/models?api_key=REDACTED&x=1" in line for line in lines), lines
    assert any("/health?token=REDACTED" in line for line in lines), lines
    assert not any(KEY in line for line in lines)
    assert redact_secrets("Authorization: Bearer sk-1 key=v") == "Authorization: Bearer REDACTED key=v"
    assert (
        redact_secrets("GET /a?key=s&keyboard=k&access_token=t")
        == "GET /a?key=REDACTED&keyboard=k&access_token=REDACTED"
    )


def test_metrics_need_a_key_unless_public(zoo: PoolConfig, embedder: Embedder, tmp_path: Path) -> None:
    for public, status in ((False, 401), (True, 200)):
        app_ = create_app(
            ServiceConfig(
                pool=zoo,
                api_keys=[KEY],
                embedder=embedder,
                data_dir=tmp_path / f"svc{public}",
                public_metrics=public,
            )
        )
        with serve_in_thread(app_) as (base_url, _):
            r = httpx.get(base_url.removesuffix("/v1") + "/metrics", timeout=30)
        assert r.status_code == status, r.text


@pytest.mark.slow
def test_serve_prints_address_auth_and_ready(tmp_path: Path) -> None:
    port = 18000 + os.getpid() % 1000
    env = {
        **os.environ,
        "SYMOE_HOME": str(tmp_path / "home"),
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
    }
    env["SYMOE_API_KEYS"] = KEY
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", "serve", "--pool", str(ZOO_POOL), "--port", str(port),
         "--data-dir", str(tmp_path / "svc")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        httpx.get(f"http://127.0.0.1:{port}/v1/models?api_key={KEY}", headers=AUTH, timeout=10)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert f"on http://127.0.0.1:{port}/v1; auth: bearer API keys (1); /metrics: needs a key" in out, out
    assert "serving pool zoo-cpu" in out and re.search(r"service: ready", out), out
    assert "GET /v1/models?api_key=REDACTED" in out and KEY not in out, out
    assert "logs: " in out and "vllm" not in out.lower()
