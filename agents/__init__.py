"""Multi-agent pipelines on the product's machinery: roles, typed messages, a journaled blackboard,
supervisor loops with bounded retries, LLM roles with schema-checked output, and expert generators routed
by profile and batched per generator. The first pipeline is the soundtrack team, :mod:`agents.audio`.

Layering: ``agents`` builds on ``common``, ``batching`` and ``skills`` and never imports ``orchestrator``.
"""

from __future__ import annotations

from agents.blackboard import Blackboard
from agents.generator import ExpertGenerator
from agents.llm_role import LLMRole, RoleResult, extract_json
from agents.messages import CheckResult, Instruction, Verdict
from agents.profiles import GeneratorProfiles
from agents.recruit import Candidate, Recruiter, batch_per_generator
from agents.supervisor import Attempt, Outcome, SupervisorLoop

__all__ = [
    "Attempt",
    "Blackboard",
    "Candidate",
    "CheckResult",
    "ExpertGenerator",
    "GeneratorProfiles",
    "Instruction",
    "LLMRole",
    "Outcome",
    "Recruiter",
    "RoleResult",
    "SupervisorLoop",
    "Verdict",
    "batch_per_generator",
    "extract_json",
]
