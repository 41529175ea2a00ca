"""A run's retrieval state: what the retrieve, second-pass and audit stages found and chose per question.

A :class:`~orchestrator.pipeline.job.Job` holds one (``job.rag``) once retrieval runs (a pool whose
``retrieval.mode`` is not ``never``); a closed-book run holds none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from common.generation import GenResult
from common.records import AuditTrace, Pair, RetrievalTrace, RoutingDecision
from orchestrator.rag.gate import GateInputs
from orchestrator.retrieval.hits import Retrieval


@dataclass(kw_only=True)
class RagState:
    """The retrieval side of one run, by question id.

    Attributes:
        open_book: questions answered with passages (recruited and decided by the open-book branch).
        traces: each question's retrieval trace (the gate's score and decision, the passages).
        retrievals: store results fetched so far.
        open_decisions: each question's open-book recruits (the gate's alternative).
        closed_decisions: each question's closed-book recruits, kept when retrieval replaced them.
        first_pass: closed-book results a second, open-book pass replaced.
        audit: the other branch's answer of the audited questions.
        gate_inputs: what the pre-generation gate read, for the second pass (gated mode).
        seconds: retrieval's own time: ``gate`` (the gate's models), ``store_open`` and ``store``.
    """

    open_book: set[str] = field(default_factory=set)
    traces: dict[str, RetrievalTrace] = field(default_factory=dict)
    retrievals: dict[str, Retrieval] = field(default_factory=dict)
    open_decisions: dict[str, RoutingDecision] = field(default_factory=dict)
    closed_decisions: dict[str, RoutingDecision] = field(default_factory=dict)
    first_pass: dict[str, dict[Pair, GenResult]] = field(default_factory=dict)
    audit: dict[str, AuditTrace] = field(default_factory=dict)
    gate_inputs: GateInputs | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    def add_seconds(self, key: str, seconds: float) -> None:
        """Add ``seconds`` to the retrieval time ``key``."""
        self.seconds[key] = self.seconds.get(key, 0.0) + seconds
