"""Recruitment policies: which experts answer which question.

Registered keys: ``global_top_k``, ``random_k``, ``paper``, ``skill_top_k``, ``knn_top_k``, ``adaptive_k``.
"""

from __future__ import annotations

from orchestrator.policies.adaptive import AdaptiveKPolicy
from orchestrator.policies.base import (
    PolicyOptions,
    ProfilingData,
    QueryBatch,
    RoutingPolicy,
    policy_registry,
)
from orchestrator.policies.global_rank import GlobalTopKPolicy, RandomKPolicy
from orchestrator.policies.knn import KNNTopKPolicy
from orchestrator.policies.paper import PaperPolicy, SkillTopKPolicy
from orchestrator.policies.reliability import LocalReliability, ReliabilityConfig

__all__ = [
    "AdaptiveKPolicy",
    "GlobalTopKPolicy",
    "KNNTopKPolicy",
    "LocalReliability",
    "PaperPolicy",
    "PolicyOptions",
    "ProfilingData",
    "QueryBatch",
    "RandomKPolicy",
    "ReliabilityConfig",
    "RoutingPolicy",
    "SkillTopKPolicy",
    "policy_registry",
]
