"""Recruitment policies: which experts answer which question.

Registered keys: ``global_top_k``, ``random_k``, ``paper``, ``skill_top_k``, ``knn_top_k``, ``adaptive_k``,
``top_k_fallback`` (abstention fallback), ``auto`` (a recipe chosen by nested CV), ``sequential_vote``
(early-stopping vote), ``cascade`` (budget).
"""

from __future__ import annotations

from orchestrator.policies.adaptive import AdaptiveKPolicy
from orchestrator.policies.auto import AutoOptions, AutoPolicy
from orchestrator.policies.base import (
    AccuracyModel,
    PolicyOptions,
    ProfilingData,
    QueryBatch,
    RoutingPolicy,
    policy_registry,
)
from orchestrator.policies.cascade import CascadePolicy
from orchestrator.policies.fallback import TopKFallbackPolicy
from orchestrator.policies.global_rank import GlobalTopKPolicy, RandomKPolicy
from orchestrator.policies.knn import KNNTopKPolicy
from orchestrator.policies.paper import PaperPolicy, SkillTopKPolicy
from orchestrator.policies.reliability import LocalReliability, ReliabilityConfig
from orchestrator.policies.sequential import SequentialVotePolicy

__all__ = [
    "AccuracyModel",
    "AdaptiveKPolicy",
    "AutoOptions",
    "AutoPolicy",
    "CascadePolicy",
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
    "SequentialVotePolicy",
    "SkillTopKPolicy",
    "TopKFallbackPolicy",
    "policy_registry",
]
