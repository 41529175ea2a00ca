"""Fixtures for the skills tests: one real MiniLM model per session, fresh caches per test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from skills.embedding import Embedder

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "skills"


@pytest.fixture
def embedder(tmp_path: Path, minilm: Any) -> Embedder:
    """An embedder with its own empty disk cache, sharing the session's model."""
    return Embedder(cache_dir=tmp_path / "embeddings", model=minilm)


@pytest.fixture(scope="session")
def shared_embedder(tmp_path_factory: pytest.TempPathFactory, minilm: Any) -> Embedder:
    """One embedder (and cache) for the whole session, so vocabulary vectors are computed once."""
    return Embedder(cache_dir=tmp_path_factory.mktemp("shared-embeddings"), model=minilm)


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES
