"""The ``retrieval:`` block of a pool config: the mode, the knowledge store, the gate and the audit.

Example (``configs/pools/zoo-rag-cpu.yaml``)::

    retrieval:
      mode: gated                       # never | always | gated
      store: {uri: $SYMOE_HOME/kb/zoo-facts}
      documents: [../../zoo/data/facts_kb.jsonl]   # ingested on first use (idempotent)
      k: 3                              # passages per question
      search: hybrid
      gate: {min_gain: 0.02}            # fitted on the profiles; these are its few settings
      agreement_threshold: 1.0          # post-generation: reconsider questions whose experts disagree
      audit_share: 0.0                  # answer this share of questions both ways (the gate's regret)
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.retrieval.config import MAX_K, KnowledgeConfig, SearchMode

RetrievalMode = Literal["never", "always", "gated"]
RETRIEVAL_MODES: tuple[RetrievalMode, ...] = ("never", "always", "gated")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GateConfig(_Strict):
    """The pre-generation gate, fitted on the profiling split (cross-validated inside it, never on test).

    Two small logistic models estimate, per question, the chance that the method's answer is right
    closed-book (``p_closed``) and open-book (``p_open``, with the experts the open-book profiles
    recruit); the gate retrieves when ``p_open - p_closed > min_gain``. A skill whose closed-book accuracy
    on the profiling split is at least ``strong_skill_accuracy`` (and where retrieving gained less than
    ``min_gain`` there) never retrieves.
    """

    min_gain: float = Field(
        default=0.02,
        ge=-1,
        le=1,
        description="The expected accuracy gain (0-1) one retrieval must buy: its price in accuracy. With "
        "calibrated estimates, retrieving exactly when the gain exceeds it maximises accuracy minus "
        "min_gain x retrieval rate.",
    )
    post_min_gain: float | None = Field(
        default=None,
        ge=-1,
        le=1,
        description="The gain the post-generation gate needs to answer a disagreeing question again "
        "open-book (the second pass costs a whole extra expert call); min_gain when unset.",
    )
    strong_skill_accuracy: float = Field(
        default=0.9, ge=0, le=1, description="Closed-book accuracy (0-1) at which a skill never retrieves."
    )
    min_skill_questions: int = Field(
        default=10, ge=1, description="Profiling questions a skill needs before it can be marked strong."
    )
    folds: int = Field(default=5, ge=2, description="Cross-validation folds inside the profiling split.")
    neighbours: int = Field(
        default=20, ge=1, description="Profiled questions in the kNN estimate of the routed answer's outcome."
    )
    l2: float = Field(
        default=10.0,
        ge=0,
        description="L2 penalty of the gate's logistic models (standardised inputs; a few hundred profiling "
        "questions fit a dozen weights).",
    )
    fallback_accuracy: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Without open-book profiles: retrieve when the recruited experts' best closed-book local "
        "accuracy is below this.",
    )


class RetrievalConfig(_Strict):
    """Whether and how a pool retrieves passages for its experts (ExpertRAG)."""

    mode: RetrievalMode = Field(
        default="never",
        description="never: closed-book; always: every question gets passages; gated: the gate decides per "
        "question before generation, and again after it when the experts disagree.",
    )
    store: KnowledgeConfig = Field(default_factory=KnowledgeConfig, description="The knowledge store.")
    documents: list[str] = Field(
        default_factory=list,
        description="Files ingested into the store when the pool is used (idempotent: unchanged files add "
        "nothing); relative to the pool file.",
    )
    k: int = Field(default=3, ge=1, le=MAX_K, description="Passages per question.")
    search: SearchMode = Field(default="hybrid", description="dense, bm25 or hybrid (RRF of both).")
    where: list[str] = Field(
        default_factory=list,
        description="Metadata filters every search applies (KEY=VALUE on a column or a metadata field, or a "
        "LanceDB SQL filter; all must hold), as `symoe kb search --where`.",
    )
    gate: GateConfig = Field(default_factory=GateConfig)
    agreement_threshold: float = Field(
        default=1.0,
        ge=0,
        le=1,
        description="Post-generation gate (mode gated): a closed-book question whose recruited experts back "
        "their plurality answer less than this share is reconsidered after generation (the closed-book "
        "estimate with the vote's agreement, margin and spread, against the open-book one) and, when "
        "retrieval should pay, answered again open-book. 1: any disagreement; 0: never.",
    )
    audit_share: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Answer this random share of questions both ways (with and without passages) to "
        "measure the gate's regret and always-retrieve's cost.",
    )
    seed: int = Field(default=0, description="Seed of the audit sample and the gate's folds.")
