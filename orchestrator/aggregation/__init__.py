"""Aggregation: turn the recruited experts' answers into one final answer.

Vote-based aggregators (plain majority, reliability-weighted vote, consensus skip) need no model; the
paper's LLM aggregator synthesises the experts' reasoning through any engine.
"""

from __future__ import annotations

from orchestrator.aggregation.llm import aggregate_with_llm, build_aggregator_prompt
from orchestrator.aggregation.vote import Ballot, consensus, majority_vote, weighted_vote

__all__ = [
    "Ballot",
    "aggregate_with_llm",
    "build_aggregator_prompt",
    "consensus",
    "majority_vote",
    "weighted_vote",
]
