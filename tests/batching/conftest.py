"""Fixtures for the batching tests: one tiny local model pool per session, built into a temp folder."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_pool(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny Llama pool (random weights, local tokenizer), built once per session in a few seconds."""
    from batching.tiny_models import ensure_tiny_pool

    return ensure_tiny_pool(tmp_path_factory.mktemp("tiny-models"))
