"""Batch execution: engines, the per-expert batch planner and executor, model residency, and the run
journal (:mod:`batching.journal`).

Importing this package never imports torch or vLLM: heavy engines are registered lazily.
"""

from __future__ import annotations

from batching.config import ExpertConfig, SamplingConfig, expert_config_adapter
from batching.engines.base import Engine, EngineCounters
from batching.engines.registry import build_engine, engine_registry
from batching.planner import ExpertBatch, StagePlan, plan_stage
from batching.residency import ResidencyManager, estimate_footprint_gib, plan_load_order
from common.generation import GenRequest, GenResult, SamplingParams

__all__ = [
    "Engine",
    "EngineCounters",
    "ExpertBatch",
    "ExpertConfig",
    "ResidencyManager",
    "GenRequest",
    "GenResult",
    "SamplingConfig",
    "SamplingParams",
    "StagePlan",
    "build_engine",
    "engine_registry",
    "estimate_footprint_gib",
    "expert_config_adapter",
    "plan_load_order",
    "plan_stage",
]
