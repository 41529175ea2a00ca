"""Fixtures of the benchmark tools' tests: a shared MiniLM embedder."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def embedder(minilm: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One all-MiniLM-L6-v2 embedder for the session, caching in a temporary folder."""
    from skills.embedding import Embedder

    return Embedder(cache_dir=tmp_path_factory.mktemp("embeddings"), model=minilm, batch_size=32)
