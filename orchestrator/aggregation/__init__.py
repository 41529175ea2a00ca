"""Aggregation: turn the recruited experts' answers into one final answer.

Vote-based aggregators (plain majority, reliability-weighted vote, consensus skip) need no model and
read the vote layer (:mod:`orchestrator.voting`); the paper's LLM aggregator synthesises the experts'
reasoning through any engine.
"""

from __future__ import annotations

from orchestrator.aggregation.choice import build_aggregator_prompt
from orchestrator.aggregation.llm import aggregate_with_llm

__all__ = ["aggregate_with_llm", "build_aggregator_prompt"]
