"""Aggregation: turn the recruited experts' answers into one final answer.

Registered aggregators (:data:`aggregator_registry`; a method's ``aggregation`` is one of its keys), each
declaring what it needs (:class:`~orchestrator.aggregation.base.Aggregator`):

- ``majority``: one vote per expert; needs nothing;
- ``weighted``: reliability-weighted vote; needs each expert's local accuracy (profiling data);
- ``stacked``: conditional-logit vote; needs local accuracy, the profiling gold answers, and reads the
  vote features it is configured with;
- ``llm``: the paper's LLM aggregator; needs an aggregator model (live runs only).

The votes themselves live in the vote layer (:mod:`orchestrator.voting`); the aggregator model's prompt
and its choice (``aggregator: auto``) in :mod:`orchestrator.aggregation.choice`.
"""

from __future__ import annotations

from orchestrator.aggregation.base import Aggregator, Decided, Question, aggregator_registry
from orchestrator.aggregation.choice import build_aggregator_prompt
from orchestrator.aggregation.llm import LLMAggregator, aggregate_with_llm
from orchestrator.aggregation.majority import MajorityAggregator
from orchestrator.aggregation.stacked_vote import StackedAggregator
from orchestrator.aggregation.weighted import WeightedAggregator

__all__ = [
    "Aggregator",
    "Decided",
    "LLMAggregator",
    "MajorityAggregator",
    "Question",
    "StackedAggregator",
    "WeightedAggregator",
    "aggregate_with_llm",
    "aggregator_registry",
    "build_aggregator_prompt",
]
