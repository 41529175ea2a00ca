"""ExpertRAG: retrieval and expert selection as one per-question decision.

A closed-book expert and the same expert reading passages are two predictors, profiled separately
(``symoe profile --retrieval``). For each question the gate compares the method's expected accuracy
closed-book with its expected accuracy open-book (with the experts the open-book profiles recruit),
reads the knowledge store's coverage signal and the question's skill, and retrieves only when the
expected gain pays for the retrieval; after generation, questions whose experts disagree get a second,
open-book pass. Every answer's trace records the gate's score, decision and passages, and the run report
the cost terms of ``E[C] = C_gate + rho * C_retrieve + C_experts``.

Modules: :mod:`.config` (the pool's ``retrieval:`` block), :mod:`.branch` (a method fitted on one book),
:mod:`.outcome` (cross-validated outcomes and the model of a routed answer's correctness),
:mod:`.logistic` (the small logistic regression, ROC AUC), :mod:`.gate` (the gate), :mod:`.fitted` (a
session's retrieval), :mod:`.knowledge` (the store, ingested on first use), :mod:`.report` (the run
report's section) and :mod:`.quality` (the gate as a predictor of wrong answers, on recordings). The
pipeline's stages are :mod:`orchestrator.pipeline.retrieve`, :mod:`~orchestrator.pipeline.second_pass`
and :mod:`~orchestrator.pipeline.audit`.
"""

from __future__ import annotations

from orchestrator.rag.config import RETRIEVAL_MODES, GateConfig, RetrievalConfig, RetrievalMode
from orchestrator.rag.gate import GateDecision, GateInputs, RetrievalGate

__all__ = [
    "RETRIEVAL_MODES",
    "GateConfig",
    "GateDecision",
    "GateInputs",
    "RetrievalConfig",
    "RetrievalGate",
    "RetrievalMode",
]
