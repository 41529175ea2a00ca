"""A pool retrieving another k than its open-book profiles were measured at is warned about."""

from __future__ import annotations

import logging

import pytest

from orchestrator.rag.config import RetrievalConfig
from orchestrator.rag.fitted import warn_profiled_k


def test_a_different_k_warns_and_the_same_does_not(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="orchestrator.rag.fitted"):
        assert warn_profiled_k(RetrievalConfig(mode="always", k=3), {"k": 1, "store": "kb"})
        assert "k=3 passages but its open-book profiles were measured at k=1" in caplog.text
        caplog.clear()
        assert not warn_profiled_k(RetrievalConfig(mode="always", k=3), {"k": 3})
        assert not warn_profiled_k(RetrievalConfig(mode="always", k=3), {})  # profiles of an older version
        assert caplog.text == ""
