"""Fixtures of the service tests: a two-expert replay pool whose recordings a test writes, and the app
built over it (a real ``ServiceConfig``), so a served request is answered in milliseconds."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

from orchestrator.pool import PoolConfig
from orchestrator.service.app import create_app
from orchestrator.service.config import ServiceConfig
from skills.embedding import Embedder

ReplayApp = Callable[..., FastAPI]


@pytest.fixture(scope="module")
def replay_app(tmp_path_factory: pytest.TempPathFactory, minilm: Any) -> ReplayApp:
    """Builds the service over the experts named in ``texts`` (random_k, k=2, majority vote), each
    answering its text to questions ``q0``..``q{n-1}``; keyword arguments: more ``ServiceConfig`` fields."""

    def build(texts: dict[str, str], n: int, **settings: Any) -> FastAPI:
        recordings = tmp_path_factory.mktemp("recordings")
        for name, text in texts.items():
            rows = [{"question_id": f"q{i}", "pred": None, "text": text} for i in range(n)]
            (recordings / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        pool = PoolConfig.model_validate(
            {"name": "replay", "method": {"policy": "random_k", "k": 2, "aggregation": "majority"},
             "experts": [{"name": n, "engine": "replay", "recordings_dir": str(recordings)} for n in texts]}
        )  # fmt: skip
        embedder = Embedder(cache_dir=tmp_path_factory.mktemp("emb"), model=minilm)
        config = ServiceConfig(
            pool=pool,
            batch_window_s=0.0,
            embedder=embedder,
            data_dir=tmp_path_factory.mktemp("service"),
            **settings,
        )
        return create_app(config)

    return build
