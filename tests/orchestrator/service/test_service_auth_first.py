"""What the service tells a caller without a key, and what it accepts: the key is checked before the body
is parsed (bad JSON without a key is a 401, not a 400), booleans are strict (``"stream": "yes"`` is
rejected), the schema needs a key like the API and the browser docs are off, and secrets in a URL stay out
of the access log in every spelling (``api%5Fkey=``, ``secret=``, ``auth=``, ``TOKEN=``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator.service.auth import redact_secrets
from orchestrator.service.thread_server import serve_in_thread

KEY = "sk-auth-first-7781"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def root(replay_app: Callable[..., Any]) -> Iterator[str]:
    app = replay_app({"a": "The answer is (A)", "b": "The answer is (A)"}, 2, api_keys=[KEY])
    with serve_in_thread(app, access_log=True) as (base_url, _):
        yield base_url.removesuffix("/v1")


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/files", "/v1/batches"])
def test_bad_json_without_a_key_is_401_and_with_a_key_400(root: str, path: str) -> None:
    headers = {"Content-Type": "application/json"}
    anonymous = httpx.post(f"{root}{path}", content=b"{not json", headers=headers, timeout=30)
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.json()["error"]["type"] == "invalid_api_key"
    assert anonymous.headers["www-authenticate"] == "Bearer"
    wrong_key = {**headers, "Authorization": "Bearer x"}
    wrong = httpx.post(f"{root}{path}", content=b"{not json", headers=wrong_key, timeout=30)
    assert wrong.status_code == 401
    if path == "/v1/chat/completions":
        keyed = httpx.post(f"{root}{path}", content=b"{not json", headers={**headers, **AUTH}, timeout=30)
        assert keyed.status_code == 400


@pytest.mark.parametrize(
    "extra",
    [{"stream": "yes"}, {"stream": "true"}, {"stream": 1}, {"stream_options": {"include_usage": "yes"}}],
)
def test_booleans_are_strict(root: str, extra: dict[str, Any]) -> None:
    body = {"model": "symbolic-moe", "messages": [{"role": "user", "content": "Pick one."}], **extra}
    r = httpx.post(f"{root}/v1/chat/completions", json=body, headers=AUTH, timeout=60)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["type"] == "invalid_request_error" and "bool" in r.json()["error"]["message"]


def test_the_schema_needs_a_key_and_the_browser_docs_are_off(root: str) -> None:
    assert httpx.get(f"{root}/openapi.json", timeout=30).status_code == 401
    schema = httpx.get(f"{root}/openapi.json", headers=AUTH, timeout=30)
    assert schema.status_code == 200 and "/v1/chat/completions" in schema.json()["paths"]
    for path in ("/docs", "/redoc"):
        assert httpx.get(f"{root}{path}", headers=AUTH, timeout=30).status_code == 404
    assert httpx.get(f"{root}/health", timeout=30).status_code == 200  # probes need no key
    assert httpx.get(f"{root}/ready", timeout=30).status_code in (200, 503)


@pytest.mark.parametrize(
    ("query", "secret"),
    [("api%5Fkey=s3cr3t-a", "s3cr3t-a"), ("secret=s3cr3t-b", "s3cr3t-b"), ("auth=s3cr3t-c", "s3cr3t-c"),
     ("TOKEN=s3cr3t-d", "s3cr3t-d"), ("x=1&Api-Key=s3cr3t-e", "s3cr3t-e"),
     ("api%255Fkey=s3cr3t-f", "s3cr3t-f"), ("client_secret=s3cr3t-g", "s3cr3t-g")],
)  # fmt: skip
def test_every_spelling_of_a_secret_is_redacted_from_the_access_log(
    root: str, query: str, secret: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logging.getLogger("uvicorn.access"), "propagate", True)
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        httpx.get(f"{root}/v1/models?{query}", headers=AUTH, timeout=30)
        time.sleep(0.2)
    lines = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert any("/v1/models?" in line for line in lines), lines
    assert not any(secret in line for line in lines), lines
    assert secret not in redact_secrets(f"GET /v1/models?{query} HTTP/1.1")


def test_redaction_leaves_ordinary_parameters(tmp_path: Path) -> None:
    text = "GET /a?keyboard=k&author=x&tokens_used=3&limit=5 HTTP/1.1"
    assert redact_secrets(text) == text
