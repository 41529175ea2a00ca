"""Tests for the OpenAI HTTP engine, against our real server on loopback and against httpx.MockTransport."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import Depends, Header, HTTPException

from batching.config import OpenAIHTTPExpertConfig
from batching.engines.base import Engine
from batching.engines.openai_http import OpenAIHTTPEngine
from batching.engines.registry import engine_registry
from common.errors import ConfigError, EngineUnavailableError
from common.generation import GenRequest, GenResult, SamplingParams
from orchestrator.service.openai_stub import create_openai_app, serve_in_thread

TOKEN = "sk-test-do-not-log-4242"
KEY_ENV = "ECHO_API_KEY"
ENVIRON = {KEY_ENV: TOKEN}


# -- a real engine and a real server ----------------------------------------------------------------


def _last_turn(req: GenRequest) -> str:
    return req.messages[-1][1] if req.messages else req.prompt


@dataclass(frozen=True)
class _UpperConfig:
    name: str = "upper"


class UpperEngine(Engine):
    """Upper-cases the last turn, one token per word; records batches and concurrent ``generate`` calls."""

    kind = "upper"

    def __init__(self, delay_s: float = 0.0) -> None:
        super().__init__(_UpperConfig())
        self.delay_s = delay_s
        self.batches: list[list[GenRequest]] = []
        self._lock = threading.Lock()
        self._calls = 0
        self.max_calls = 0

    def _load(self) -> None:
        pass

    def _unload(self) -> None:
        pass

    def _generate(self, batch: Sequence[GenRequest]) -> list[GenResult]:
        with self._lock:
            self._calls += 1
            self.max_calls = max(self.max_calls, self._calls)
        try:
            time.sleep(self.delay_s)
            if any(_last_turn(req) == "BOOM" for req in batch):
                raise RuntimeError("the engine exploded")
            self.batches.append(list(batch))
            return [self._one(req) for req in batch]
        finally:
            with self._lock:
                self._calls -= 1

    @staticmethod
    def _one(req: GenRequest) -> GenResult:
        source = _last_turn(req)
        if source == "FAIL":
            return GenResult(request_id=req.request_id, text=None, error="cannot shout FAIL")
        words = source.upper().split()
        prompt_words = (
            sum(len(c.split()) for _, c in req.messages) if req.messages else len(req.prompt.split())
        )
        kept = words[: req.sampling.max_tokens]
        reason = "length" if len(kept) < len(words) else "stop"
        return GenResult(
            request_id=req.request_id,
            text=" ".join(kept),
            prompt_tokens=prompt_words,
            generated_tokens=len(kept),
            finish_reason=reason,
        )


class _Gate:
    """Test-only bearer-token check that also counts requests in flight at the server."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.max_in_flight = 0
        self.seen = 0

    async def __call__(self, authorization: str | None = Header(default=None)) -> AsyncIterator[None]:
        if authorization != f"Bearer {TOKEN}":
            raise HTTPException(status_code=401, detail="missing or wrong bearer token")
        self.seen += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.005)  # widen the window so concurrency shows
            yield
        finally:
            self.in_flight -= 1


@dataclass
class _Server:
    base_url: str
    engine: UpperEngine
    slow_engine: UpperEngine
    gate: _Gate


@pytest.fixture(scope="module")
def server() -> Iterator[_Server]:
    engine, slow = UpperEngine(), UpperEngine(delay_s=0.5)
    gate = _Gate()
    app = create_openai_app(
        {"upper": engine, "slow": slow}, batch_window_s=0.02, dependencies=[Depends(gate)]
    )
    with serve_in_thread(app) as (base_url, _stop):
        yield _Server(base_url, engine, slow, gate)


@pytest.fixture
def live(server: _Server) -> _Server:
    server.engine.batches.clear()
    server.gate.max_in_flight = 0
    return server


def _cfg(base_url: str, **kw: object) -> OpenAIHTTPExpertConfig:
    fields: dict[str, object] = {
        "name": "upper",
        "base_url": base_url,
        "api_key_env": KEY_ENV,
        "max_concurrency": 4,
        "timeout_s": 5.0,
        "max_retries": 2,
        "backoff_s": 0.001,
    }
    fields.update(kw)
    return OpenAIHTTPExpertConfig.model_validate(fields)


def _requests(n: int, *, chat: bool = True) -> list[GenRequest]:
    out = []
    for i in range(n):
        text = f"item {i} " + "word " * (i % 5)
        if chat and i % 2:
            out.append(GenRequest(request_id=f"r{i}", messages=(("system", "be loud"), ("user", text))))
        else:
            out.append(GenRequest(request_id=f"r{i}", prompt=text))
    return out


def test_registry_resolves_openai_http() -> None:
    assert engine_registry.get("openai_http") is OpenAIHTTPEngine


def test_chat_round_trip_in_order_with_usage_and_bounded_concurrency(live: _Server) -> None:
    batch = _requests(24)
    with OpenAIHTTPEngine(_cfg(live.base_url), environ=ENVIRON) as engine:
        results = engine.generate(batch)
    assert [r.request_id for r in results] == [r.request_id for r in batch]
    for req, res in zip(batch, results, strict=True):
        source = _last_turn(req)
        assert res.error is None
        assert res.text == " ".join(source.upper().split())
        assert res.generated_tokens == len(source.split())
        expected_prompt = 2 + len(source.split()) if req.messages else len(source.split())
        assert res.prompt_tokens == expected_prompt
        assert res.finish_reason == "stop"
    assert engine.counters.loads == 1 and engine.counters.requests == 24 and engine.counters.errors == 0
    assert engine.counters.generated_tokens == sum(r.generated_tokens for r in results)
    # The client never has more than max_concurrency requests open; the server batches what arrives.
    assert 1 < live.gate.max_in_flight <= 4
    sizes = [len(b) for b in live.engine.batches]
    assert sum(sizes) == 24 and max(sizes) <= 4 and max(sizes) > 1
    assert live.engine.max_calls == 1  # one generate at a time per engine


def test_completions_mode(live: _Server) -> None:
    batch = [GenRequest(request_id=f"c{i}", prompt=f"complete me {i}") for i in range(5)]
    with OpenAIHTTPEngine(_cfg(live.base_url, use_chat=False), environ=ENVIRON) as engine:
        results = engine.generate(batch)
    assert [r.text for r in results] == [f"COMPLETE ME {i}" for i in range(5)]
    assert all(r.prompt_tokens == 3 and r.generated_tokens == 3 for r in results)
    assert all(not req.messages for b in live.engine.batches for req in b)


def test_completions_mode_needs_a_prompt(live: _Server) -> None:
    req = GenRequest(request_id="m", messages=(("user", "hi"),))
    with OpenAIHTTPEngine(_cfg(live.base_url, use_chat=False), environ=ENVIRON) as engine:
        [result] = engine.generate([req])
    assert result.error is not None and "needs `prompt`" in result.error


def test_sampling_is_forwarded(live: _Server) -> None:
    sampling = SamplingParams(temperature=0.3, top_p=0.9, max_tokens=2, seed=7, stop=("END",))
    req = GenRequest(request_id="s", prompt="one two three four", sampling=sampling)
    with OpenAIHTTPEngine(_cfg(live.base_url), environ=ENVIRON) as engine:
        [result] = engine.generate([req])
    assert result.text == "ONE TWO" and result.finish_reason == "length"
    [[seen]] = live.engine.batches
    assert seen.sampling == sampling
    assert seen.messages == (("user", "one two three four"),)  # a bare prompt becomes one user turn


def test_api_key_sent_and_never_logged(live: _Server, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    seen_before = live.gate.seen
    with OpenAIHTTPEngine(_cfg(live.base_url), environ=ENVIRON) as engine:
        results = engine.generate(_requests(3))
    assert all(r.error is None for r in results)
    assert live.gate.seen - seen_before == 4  # GET /models on load + 3 completions, all authorised
    assert caplog.records, "expected the engine to log its lifecycle"
    assert TOKEN not in caplog.text
    assert all(TOKEN not in repr(r.args) for r in caplog.records)


def test_wrong_key_fails_load_with_config_error(live: _Server) -> None:
    engine = OpenAIHTTPEngine(_cfg(live.base_url), environ={KEY_ENV: "sk-wrong"})
    with pytest.raises(ConfigError, match=f"rejected the API key from {KEY_ENV}.*HTTP 401"):
        engine.load()
    assert not engine.is_loaded


def test_missing_key_variable_names_it() -> None:
    engine = OpenAIHTTPEngine(_cfg("http://127.0.0.1:9/v1"), environ={})
    with pytest.raises(ConfigError, match=f"{KEY_ENV} .*not set"):
        engine.load()


def test_wrong_key_on_generate_is_an_error_result_without_retry(live: _Server) -> None:
    engine = OpenAIHTTPEngine(_cfg(live.base_url), environ={KEY_ENV: "sk-wrong"}, check_on_load=False)
    seen_before = live.gate.seen
    with engine:
        [result] = engine.generate([GenRequest(request_id="k", prompt="hi")])
    assert result.error is not None and "HTTP 401" in result.error and "wrong bearer token" in result.error
    assert TOKEN not in result.error and "sk-wrong" not in result.error
    assert live.gate.seen == seen_before and engine.counters.errors == 1


def test_unknown_model_is_a_clear_404_result(live: _Server) -> None:
    engine = OpenAIHTTPEngine(_cfg(live.base_url, model="nope"), environ=ENVIRON, check_on_load=False)
    with engine:
        [result] = engine.generate([GenRequest(request_id="u", prompt="hi")])
    assert result.error is not None
    assert "HTTP 404" in result.error and "'nope' is not served here; available: slow, upper" in result.error


def test_engine_error_result_is_a_422_and_not_retried(live: _Server) -> None:
    seen_before = live.gate.seen
    batch = [GenRequest(request_id="a", prompt="fine"), GenRequest(request_id="b", prompt="FAIL")]
    with OpenAIHTTPEngine(_cfg(live.base_url), environ=ENVIRON, check_on_load=False) as engine:
        results = engine.generate(batch)
    assert results[0].text == "FINE"
    assert results[1].error is not None and results[1].error.startswith("HTTP 422 from ")
    assert "cannot shout FAIL" in results[1].error
    assert live.gate.seen - seen_before == 2


def test_engine_exception_is_a_500_and_retried(live: _Server) -> None:
    seen_before = live.gate.seen
    with OpenAIHTTPEngine(_cfg(live.base_url, max_retries=1), environ=ENVIRON, check_on_load=False) as engine:
        [result] = engine.generate([GenRequest(request_id="x", prompt="BOOM")])
    assert result.error is not None and result.error.startswith("gave up after 2 attempts: HTTP 500 from ")
    assert "the engine exploded" in result.error
    assert live.gate.seen - seen_before == 2


def test_server_rejects_bad_input_with_400(live: _Server) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    bad = {"model": "upper", "messages": [{"role": "user", "content": "x"}], "temperature": -1, "n": 3}
    response = httpx.post(f"{live.base_url}/chat/completions", json=bad, headers=headers)
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert "temperature" in message and "n:" in message
    listing = httpx.get(f"{live.base_url}/models", headers=headers).json()
    assert [m["id"] for m in listing["data"]] == ["slow", "upper"]


def test_real_timeout_is_retried_then_an_error(live: _Server) -> None:
    cfg = _cfg(live.base_url, model="slow", timeout_s=0.1, max_retries=1)
    with OpenAIHTTPEngine(cfg, environ=ENVIRON) as engine:
        [result] = engine.generate([GenRequest(request_id="t", prompt="slow please")])
    assert result.error is not None and "gave up after 2 attempts: timeout" in result.error


def test_real_unreachable_server_raises_unavailable() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cfg = _cfg(f"http://127.0.0.1:{port}/v1", max_retries=1)
    with pytest.raises(EngineUnavailableError, match="cannot reach"):
        OpenAIHTTPEngine(cfg, environ=ENVIRON).load()
    with (
        OpenAIHTTPEngine(cfg, environ=ENVIRON, check_on_load=False) as engine,
        pytest.raises(EngineUnavailableError, match="unreachable for the whole batch of 3"),
    ):
        engine.generate(_requests(3))


def test_generate_works_inside_a_running_event_loop_and_from_threads(live: _Server) -> None:
    engine = OpenAIHTTPEngine(_cfg(live.base_url), environ=ENVIRON)

    async def inside_loop() -> list[GenResult]:
        return engine.generate(_requests(2))

    with engine:
        assert [r.text for r in asyncio.run(inside_loop())] == ["ITEM 0", "ITEM 1 WORD"]
        out: list[list[GenResult]] = []
        worker = threading.Thread(target=lambda: out.append(engine.generate(_requests(1))))
        worker.start()
        worker.join()
        assert out[0][0].text == "ITEM 0"
    engine.load()  # reload after unload gets a fresh client and loop
    assert engine.generate(_requests(1))[0].text == "ITEM 0"
    engine.close()
    assert engine.counters.loads == 2 and engine.counters.unloads == 2


def test_through_transformers_engine(request: pytest.FixtureRequest) -> None:
    """Serve a tiny real transformers model over HTTP; greedy output equals calling the engine directly.

    Skipped when transformers or the transformers engine is absent; the pool comes from conftest's
    session fixture ``tiny_pool``.
    """
    pytest.importorskip("transformers")
    hf_engine = pytest.importorskip("batching.engines.hf_engine")
    from batching.config import TransformersExpertConfig

    paths: dict[str, Path] = request.getfixturevalue("tiny_pool")
    hf = hf_engine.TransformersEngine(
        TransformersExpertConfig(name="tiny-llama-xs", model=str(paths["tiny-llama-xs"]))
    )
    sampling = SamplingParams(temperature=0.0, max_tokens=4)
    prompts = [f"What is {i} plus {i}?" for i in range(3)]
    batch = [GenRequest(request_id=f"h{i}", prompt=p, sampling=sampling) for i, p in enumerate(prompts)]
    as_chat = [
        GenRequest(request_id=f"h{i}", messages=(("user", p),), sampling=sampling)
        for i, p in enumerate(prompts)
    ]
    try:
        with serve_in_thread(create_openai_app({"tiny-llama-xs": hf})) as (base_url, _stop):
            by_http: dict[bool, list[GenResult]] = {}
            for use_chat in (True, False):
                cfg = _cfg(base_url, name="tiny-llama-xs", api_key_env=None, use_chat=use_chat)
                with OpenAIHTTPEngine(cfg) as engine:
                    by_http[use_chat] = engine.generate(batch)
        direct = {True: hf.generate(as_chat), False: hf.generate(batch)}
    finally:
        hf.close()
    for use_chat, results in by_http.items():
        assert [r.request_id for r in results] == ["h0", "h1", "h2"]
        assert all(r.error is None and 0 < r.generated_tokens <= 4 for r in results)
        assert [(r.text, r.prompt_tokens, r.generated_tokens, r.finish_reason) for r in results] == [
            (r.text, r.prompt_tokens, r.generated_tokens, r.finish_reason) for r in direct[use_chat]
        ]


# -- httpx.MockTransport: a real transport driven by a handler ----------------------------------------

MOCK_URL = "http://mock.invalid/v1"


def _ok(request: httpx.Request, text: str = "fine") -> httpx.Response:
    body = json.loads(request.content)
    return httpx.Response(
        200,
        json={
            "choices": [
                {"message": {"content": f"{text}:{body['messages'][-1]['content']}"}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2},
        },
    )


def _mock_engine(handler: Callable[[httpx.Request], httpx.Response], **kw: object) -> OpenAIHTTPEngine:
    transport = httpx.MockTransport(handler)
    return OpenAIHTTPEngine(_cfg(MOCK_URL, **kw), environ=ENVIRON, transport=transport, check_on_load=False)


def test_mock_retries_503_then_succeeds() -> None:
    attempts = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        assert json.loads(request.content)["model"] == "upper"
        if attempts < 3:
            return httpx.Response(503, json={"error": {"message": "warming up"}})
        return _ok(request)

    with _mock_engine(handler, max_retries=2) as engine:
        [result] = engine.generate([GenRequest(request_id="a", prompt="hi")])
    assert attempts == 3
    assert result.error is None and result.text == "fine:hi"
    assert (result.prompt_tokens, result.generated_tokens) == (3, 2)


def test_mock_429_honours_retry_after() -> None:
    times: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        times.append(time.perf_counter())
        if len(times) == 1:
            return httpx.Response(429, headers={"Retry-After": "0.3"}, text="slow down")
        return _ok(request)

    with _mock_engine(handler, backoff_s=0.0) as engine:
        [result] = engine.generate([GenRequest(request_id="a", prompt="hi")])
    assert result.error is None and len(times) == 2
    assert times[1] - times[0] >= 0.29


def test_mock_400_is_an_error_result_without_retry() -> None:
    attempts = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        if json.loads(request.content)["messages"][-1]["content"] == "bad":
            return httpx.Response(400, json={"error": {"message": "max_tokens is too large: 99999"}})
        return _ok(request)

    batch = [
        GenRequest(request_id="a", prompt="good"),
        GenRequest(request_id="b", prompt="bad"),
        GenRequest(request_id="c", prompt="ok"),
    ]
    with _mock_engine(handler) as engine:
        results = engine.generate(batch)
    assert attempts == 3
    assert [r.text for r in results] == ["fine:good", None, "fine:ok"]
    error = results[1].error
    assert error is not None
    assert error.startswith("HTTP 400 from http://mock.invalid/v1/chat/completions: max_tokens is too large")
    assert engine.counters.errors == 1


def test_mock_timeouts_are_retried_then_an_error() -> None:
    attempts = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        raise httpx.ReadTimeout("timed out", request=request)

    with _mock_engine(handler, max_retries=3) as engine:
        [result] = engine.generate([GenRequest(request_id="a", prompt="hi")])
    assert attempts == 4
    assert result.error == "gave up after 4 attempts: timeout (ReadTimeout)"
    assert engine.counters.errors == 1


def test_mock_unreachable_raises_unavailable_with_context() -> None:
    attempts = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        raise httpx.ConnectError("connection refused", request=request)

    with _mock_engine(handler, max_retries=2, max_concurrency=2) as engine:
        with pytest.raises(EngineUnavailableError) as info:
            engine.generate(_requests(10))
        assert attempts <= 2 * 3  # two retry chains (max_concurrency=2) establish it; the rest never start
    assert "unreachable for the whole batch of 10 after 3 attempts" in str(info.value)
    assert "engine=openai_http" in str(info.value) and "model=upper" in str(info.value)
    assert isinstance(info.value.__cause__, httpx.ConnectError)


def test_mock_connect_errors_after_a_response_are_error_results() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["messages"][-1]["content"] == "ok":
            return _ok(request)
        raise httpx.ConnectError("connection reset", request=request)

    with _mock_engine(handler, max_concurrency=1) as engine:
        results = engine.generate(
            [GenRequest(request_id="a", prompt="ok"), GenRequest(request_id="b", prompt="lost")]
        )
    assert results[0].text == "fine:ok"
    assert results[1].error is not None and "ConnectError" in results[1].error


def test_mock_concurrency_is_bounded() -> None:
    in_flight = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return _ok(request)

    with _mock_engine(handler, max_concurrency=3) as engine:  # type: ignore[arg-type]
        results = engine.generate(_requests(12))
    assert peak == 3
    assert all(r.error is None for r in results)


def test_mock_malformed_body_is_an_error_result() -> None:
    with _mock_engine(lambda request: httpx.Response(200, json={"choices": []})) as engine:
        [result] = engine.generate([GenRequest(request_id="a", prompt="hi")])
    assert result.error is not None and result.error.startswith("malformed response")
