"""Engines: one small ABC and its implementations (replay now; vLLM, transformers, HTTP later)."""

from __future__ import annotations
