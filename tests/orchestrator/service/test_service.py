"""The HTTP service: a real uvicorn server on 127.0.0.1 with the tiny CPU pool, driven with httpx."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator.pool import PoolConfig, load_pool_config
from orchestrator.service.app import create_app
from orchestrator.service.auth import (
    ANONYMOUS,
    AuthenticationError,
    Caller,
    KeyChecker,
    RateLimiter,
    RateLimitError,
    bind_host,
)
from orchestrator.service.config import ServiceConfig
from orchestrator.service.thread_server import serve_in_thread
from skills.embedding import Embedder

POOLS = Path(__file__).resolve().parents[3] / "configs" / "pools"
KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def pool(tiny_pool: dict[str, Path]) -> PoolConfig:
    cfg = load_pool_config(POOLS / "tiny-cpu.yaml")
    return cfg.model_copy(
        update={
            "tiny_models_dir": str(next(iter(tiny_pool.values())).parent),
            "annotation": cfg.annotation.model_copy(update={"annotator": "embedding"}),
        }
    )


@pytest.fixture(scope="module")
def embedder(minilm: Any, tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    return Embedder(cache_dir=tmp_path_factory.mktemp("emb"), model=minilm)


@pytest.fixture(scope="module")
def server(pool: PoolConfig, embedder: Embedder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service with one API key and a 0.5 s batch window; yields the root URL."""
    app = create_app(
        ServiceConfig(
            pool=pool,
            api_keys=[KEY],
            batch_window_s=0.5,
            max_body_bytes=4096,
            embedder=embedder,
            data_dir=tmp_path_factory.mktemp("service"),
        ),
    )
    with serve_in_thread(app) as (base_url, _):
        yield base_url.removesuffix("/v1")


def _metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith((name + " ", name + "{")):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _chat(question: str, **extra: Any) -> dict[str, Any]:
    return {"model": "symbolic-moe", "messages": [{"role": "user", "content": question}], **extra}


@pytest.mark.slow
def test_chat_completion_carries_the_routing_trace(server: str) -> None:
    body = _chat("Pick the even number.", options=["3", "4", "5"])
    body["messages"].insert(0, {"role": "system", "content": "Be brief."})
    r = httpx.post(f"{server}/v1/chat/completions", json=body, headers=AUTH, timeout=120)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["object"] == "chat.completion" and data["model"] == "symbolic-moe"
    assert data["choices"][0]["message"]["role"] == "assistant"
    assert data["choices"][0]["finish_reason"] == "stop"
    trace = data["symoe"]
    assert len(trace["routing"]["experts"]) == 3 and trace["routing"]["policy"] == "random_k"
    assert len(trace["expert_answers"]) == 3 and trace["aggregation"]
    assert data["usage"]["completion_tokens"] > 0
    assert data["choices"][0]["message"]["content"] == (trace["answer"] or trace["text"] or "")


@pytest.mark.slow
def test_streaming_sends_openai_chunks_then_done(server: str) -> None:
    body = _chat("What is 2 plus 3?", stream=True, model="tiny-cpu", stream_options={"include_usage": True})
    with httpx.stream("POST", f"{server}/v1/chat/completions", json=body, headers=AUTH, timeout=120) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [line[len("data: ") :] for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "tiny-cpu" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert len(chunks[-1]["symoe"]["routing"]["experts"]) == 3 and chunks[-1]["usage"]["total_tokens"] > 0


@pytest.mark.slow
def test_concurrent_requests_share_solve_calls(server: str) -> None:
    before = _metric(httpx.get(f"{server}/metrics", headers=AUTH).text, "symoe_solve_batches_total")
    n = 4

    async def ask_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server, headers=AUTH, timeout=120) as client:
            return await asyncio.gather(
                *(client.post("/v1/chat/completions", json=_chat(f"What is {i} plus 1?")) for i in range(n))
            )

    responses = asyncio.run(ask_all())
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == n
    metrics = httpx.get(f"{server}/metrics", headers=AUTH).text
    solves = _metric(metrics, "symoe_solve_batches_total") - before
    assert 1 <= solves < n
    assert max(r.json()["symoe"]["batch_size"] for r in responses) >= 2
    assert _metric(metrics, "symoe_expert_calls_total") >= 3 * n
    assert _metric(metrics, "symoe_model_loads_total") >= 1
    assert _metric(metrics, "symoe_queue_depth") == 0
    assert 'symoe_http_request_duration_seconds_bucket{le="+Inf",route="/v1/chat/completions"}' in metrics


def test_auth_is_required_on_the_api(server: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}):
        r = httpx.post(f"{server}/v1/chat/completions", json=_chat("hi"), headers=headers)
        assert r.status_code == 401, r.text
        assert r.json()["error"]["type"] == "invalid_api_key"
        assert r.headers["www-authenticate"] == "Bearer"
    assert httpx.get(f"{server}/v1/models").status_code == 401
    assert httpx.get(f"{server}/metrics").status_code == 401


def test_bad_requests_are_4xx_in_openai_shape(server: str) -> None:
    url = f"{server}/v1/chat/completions"
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 400, "JSON"),
        ({"json": {"model": "symbolic-moe"}}, 400, "messages"),
        ({"json": _chat("hi", temperature=9)}, 400, "temperature"),
        ({"json": _chat("hi", surprise=1)}, 400, "surprise"),
        ({"json": _chat("hi", options="abc")}, 400, "options"),
        ({"json": {"model": "symbolic-moe", "messages": [{"role": "system", "content": "x"}]}}, 400, "user"),
        ({"json": _chat("hi", options=[str(i) for i in range(11)])}, 400, "options"),
        ({"json": _chat("hi", model="gpt-4")}, 404, "not served"),
        ({"json": _chat("x" * 5000)}, 413, "limit"),
    ]
    for kwargs, status, fragment in cases:
        r = httpx.post(url, headers={**AUTH, **kwargs.pop("headers", {})}, **kwargs)
        assert r.status_code == status, (kwargs, r.text)
        error = r.json()["error"]
        assert fragment in error["message"] and error["code"] == status
    chunked = httpx.post(url, headers=AUTH, content=iter([b"{" + b" " * 3000, b" " * 3000 + b"}"]))
    assert chunked.status_code == 413 and "limit" in chunked.json()["error"]["message"]
    r = httpx.get(f"{server}/v1/nowhere", headers=AUTH)
    assert r.status_code == 404 and "error" in r.json()


def test_health_ready_models_metrics(server: str) -> None:
    assert httpx.get(f"{server}/health").json() == {"status": "ok"}
    ready = httpx.get(f"{server}/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    models = httpx.get(f"{server}/v1/models", headers=AUTH).json()
    assert [m["id"] for m in models["data"]] == ["symbolic-moe", "tiny-cpu"]
    metrics = httpx.get(f"{server}/metrics", headers=AUTH)
    assert metrics.headers["content-type"].startswith("text/plain")
    assert re.search(r'symoe_http_requests_total\{route="/health",status="200"\} [1-9]', metrics.text)
    assert "symoe_queue_depth" in metrics.text


def test_rate_limit_per_key(pool: PoolConfig, embedder: Embedder, tmp_path: Path) -> None:
    app = create_app(
        ServiceConfig(
            pool=pool, api_keys=["a", "b"], rate_limit_per_min=2, embedder=embedder, data_dir=tmp_path
        )
    )
    with serve_in_thread(app) as (base_url, _):
        codes = [httpx.get(f"{base_url}/models", headers={"Authorization": "Bearer a"}) for _ in range(3)]
        assert [r.status_code for r in codes] == [200, 200, 429]
        assert int(codes[-1].headers["retry-after"]) >= 1
        assert codes[-1].json()["error"]["type"] == "rate_limit_exceeded"
        assert httpx.get(f"{base_url}/models", headers={"Authorization": "Bearer b"}).status_code == 200
        # batch routes count once per request too (their owner dependency is the rate limit)
        files = [httpx.get(f"{base_url}/files", headers={"Authorization": "Bearer b"}) for _ in range(2)]
        assert [r.status_code for r in files] == [200, 429]


def test_callers_own_by_key_digest_never_by_key() -> None:
    checker = KeyChecker(["alpha", "beta"])
    alpha = checker.identify("Bearer alpha")
    assert alpha == Caller("key-0", hashlib.sha256(b"alpha").hexdigest())
    assert checker.identify("bearer  beta ").owner == hashlib.sha256(b"beta").hexdigest()
    assert "alpha" not in repr(alpha)
    assert KeyChecker([]).identify(None) == Caller(ANONYMOUS, ANONYMOUS)
    with pytest.raises(AuthenticationError):
        checker.identify("Bearer gamma")


def test_rate_limiter_window_slides() -> None:
    now = [0.0]
    limiter = RateLimiter(1, clock=lambda: now[0])
    limiter.check("k")
    now[0] = 30.0
    with pytest.raises(RateLimitError) as info:
        limiter.check("k")
    assert info.value.headers == {"Retry-After": "30"}
    now[0] = 60.5
    limiter.check("k")


def test_no_keys_binds_loopback_only(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="orchestrator.service.auth"):
        assert bind_host("0.0.0.0", []) == "127.0.0.1"
    assert "no API keys" in caplog.text
    assert bind_host("0.0.0.0", ["k"]) == "0.0.0.0"


def test_unusable_pool_is_not_ready(pool: PoolConfig, tmp_path: Path) -> None:
    broken = pool.model_copy(
        update={"experts": [e.model_copy(update={"model": "tiny:nope"}) for e in pool.experts]}
    )
    with serve_in_thread(create_app(ServiceConfig(pool=broken, data_dir=tmp_path))) as (base_url, _):
        root = base_url.removesuffix("/v1")
        assert httpx.get(f"{root}/health").status_code == 200
        ready = httpx.get(f"{root}/ready")
        assert ready.status_code == 503 and "nope" in ready.json()["reason"]
        r = httpx.post(f"{base_url}/chat/completions", json=_chat("hi"))
        assert r.status_code == 503 and r.json()["error"]["type"] == "service_unavailable"
        body = {
            "input_file_id": "file-" + "0" * 24,
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
        }
        r = httpx.post(f"{base_url}/batches", json=body)
        assert r.status_code == 503 and r.json()["error"]["type"] == "service_unavailable"


@pytest.mark.slow
def test_openai_client(server: str) -> None:
    openai = pytest.importorskip("openai")
    # both clients closed on exit: an unclosed connection pool is a ResourceWarning, an error here
    with openai.OpenAI(base_url=f"{server}/v1", api_key=KEY) as client:
        out = client.chat.completions.create(
            model="symbolic-moe", messages=[{"role": "user", "content": "What is 1 plus 1?"}]
        )
    assert out.choices[0].message.role == "assistant"
    with (
        openai.OpenAI(base_url=f"{server}/v1", api_key="wrong") as wrong,
        pytest.raises(openai.AuthenticationError),
    ):
        wrong.models.list()
