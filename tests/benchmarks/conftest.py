"""Fixtures of the benchmark tools' tests: the session's MiniLM embedder."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def embedder(session_embedder: Any) -> Any:
    """The session's MiniLM embedder (tests/conftest.py), caching in a temporary folder."""
    return session_embedder
