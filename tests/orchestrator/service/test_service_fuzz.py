"""Schemathesis fuzzing of the live service's OpenAPI schema: no generated request may get a 5xx.

Every operation of ``/openapi.json`` is fuzzed with valid (positive) and invalid (negative) requests against
a real uvicorn server on 127.0.0.1, with an API key. ``FUZZ_EXAMPLES`` sets the examples per operation and
mode (default 25; the run is derandomized, so CI replays the same cases). ``pytest -s`` prints the count.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from orchestrator.service.thread_server import serve_in_thread

schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")

KEY = "fuzz-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def fuzz_server(replay_app: Callable[..., Any]) -> Iterator[str]:
    """The service over a recorded (replay) pool, so valid chat requests are solved in milliseconds."""
    texts = {"a": "The answer is (A)", "b": "The answer is (B)"}
    app = replay_app(texts, 4, api_keys=[KEY], max_upload_bytes=200_000)
    with serve_in_thread(app) as (base_url, _):
        root = base_url.removesuffix("/v1")
        deadline = time.monotonic() + 60
        while httpx.get(f"{root}/ready").status_code != 200:
            assert time.monotonic() < deadline, "the fuzz server never became ready"
            time.sleep(0.1)
        yield root


def run_fuzz(root: str, examples: int) -> tuple[Counter[str], list[str]]:
    """Fuzz every operation of ``root``'s schema; returns counts (cases, per status class) and 5xx cases."""
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_url(f"{root}/openapi.json", headers=AUTH)  # the schema needs a key
    stats: Counter[str] = Counter()
    server_errors: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        stats["operations"] += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz_operation(root, operation, mode, examples, stats, server_errors)
    return stats, server_errors


def _fuzz_operation(
    root: str, operation: Any, mode: Any, examples: int, stats: Counter[str], server_errors: list[str]
) -> None:
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error

    # a served model, so valid chat bodies reach the solver instead of stopping at "model not served"
    served_model = operation.label == "POST /v1/chat/completions" and mode == GenerationMode.POSITIVE

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case: Any) -> None:
        if served_model and isinstance(case.body, dict):
            case.body["model"] = "symbolic-moe"
        response = case.call(base_url=root, headers=AUTH, timeout=60)
        stats["cases"] += 1
        stats[f"{response.status_code // 100}xx"] += 1
        if response.status_code >= 500:
            server_errors.append(f"{operation.label} -> {response.status_code}: {response.text[:300]}")
        case.validate_response(response, checks=[not_a_server_error])

    try:
        fuzz()
    except Unsatisfiable:  # nothing to negate (an operation without parameters or body)
        stats["modes_without_cases"] += 1


@pytest.mark.slow
def test_fuzzed_requests_never_get_a_server_error(fuzz_server: str) -> None:
    examples = int(os.environ.get("FUZZ_EXAMPLES", "25"))
    start = time.perf_counter()
    stats, server_errors = run_fuzz(fuzz_server, examples)
    seconds = time.perf_counter() - start
    print(
        f"\nschemathesis: {stats['cases']} cases over {stats['operations']} operations in {seconds:.1f} s; "
        f"2xx {stats['2xx']}, 4xx {stats['4xx']}, 5xx {stats['5xx']}"
    )
    assert server_errors == []
    assert stats["operations"] >= 13  # chat, models, files x5, batches x4, health, ready, metrics
    assert stats["cases"] >= stats["operations"] * 2  # every operation, both modes, really ran
    assert stats["2xx"] > 0 and stats["4xx"] > 0


def test_fuzz_schema_covers_the_batch_routes(fuzz_server: str) -> None:
    paths = httpx.get(f"{fuzz_server}/openapi.json", headers=AUTH).json()["paths"]
    files = ("/v1/files", "/v1/files/{file_id}", "/v1/files/{file_id}/content")
    batches = ("/v1/batches", "/v1/batches/{batch_id}", "/v1/batches/{batch_id}/cancel")
    for path in (*files, *batches, "/v1/chat/completions", "/v1/models"):
        assert path in paths
