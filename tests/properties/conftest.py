"""Fixtures of the property harness (:mod:`property_harness`): a fast real expert server on loopback and
the valid pool the strategies mutate."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from property_harness import AnswerEngine

from orchestrator.service.openai_stub import create_openai_app, serve_in_thread


@pytest.fixture(scope="session")
def expert_url() -> Iterator[str]:
    engines = {f"m{i}": AnswerEngine() for i in range(3)}
    with serve_in_thread(create_openai_app(engines, batch_window_s=0.0)) as (url, _):
        yield url


@pytest.fixture(scope="session")
def base_pool(expert_url: str) -> dict[str, Any]:
    """A valid pool of three HTTP experts that needs no model and no embedder (LLM annotator, random_k)."""
    experts = [{"name": f"e{i}", "engine": "openai_http", "model": f"m{i}", "base_url": expert_url,
                "max_retries": 0, "timeout_s": 10.0} for i in range(3)]  # fmt: skip
    return {
        "version": 2,
        "name": "prop",
        "experts": experts,
        "annotation": {"annotator": "e0", "n_samples": 1, "min_count": 1, "max_tokens": 8},
        "method": {"policy": "random_k", "k": 2, "aggregation": "majority"},
        "batch_size": 8,
    }
