"""A method: which policy recruits how many experts, and how their answers become one (one schema for all).

The same typed config is a bench config's ``methods:`` entry and a pool config's ``method:`` block::

    method:
      policy: knn_top_k          # a key of the policy registry
      k: 5
      options: {neighbours: 10, alpha: 10.0, tau: 0.05}   # validated by the policy's own Options model
      aggregation: stacked       # a key of the aggregator registry: majority | weighted | stacked | llm
      consensus_skip: true       # all recruited experts agree: that answer, no aggregation
      vote: {features: [options, answer_statement]}   # weights and features of weighted/stacked votes

``options`` are checked against the registered policy's ``Options`` (unknown keys and bad values fail at
load time with the policy named). Weighted and stacked votes need each expert's local accuracy: kNN
policies provide theirs; any other policy's is estimated with ``reliability`` settings.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, model_validator

from common.errors import RegistryError
from orchestrator.aggregation import Aggregator, aggregator_registry
from orchestrator.policies import PolicyOptions, RoutingPolicy, policy_registry
from orchestrator.policies.knn import KNNOptions
from orchestrator.voting.calibration import VoteConfig

_LEGACY_POOL_KEYS = ("policy", "k", "policy_options", "aggregation", "consensus_skip")


class MethodConfig(BaseModel):
    """One method: recruitment policy (registry key + typed options), k and aggregation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(default="method", min_length=1, description="Label in bench tables and traces.")
    policy: str = Field(default="paper", description="A registered policy key (see `symoe` README).")
    k: int = Field(default=3, ge=1, description="Experts recruited per question (initial k for adaptive_k).")
    options: dict[str, Any] = Field(
        default_factory=dict, description="The policy's own settings, checked by its Options model."
    )
    aggregation: str = Field(
        default="majority",
        description="A registered aggregator key. majority: one vote each; weighted: log-odds of local "
        "accuracy; stacked: a vote model fitted on the profiling split; llm: the pool's aggregator model "
        "(live runs only).",
        json_schema_extra={"enum": list[JsonValue](aggregator_registry.keys())},
    )
    consensus_skip: bool = Field(
        default=True, description="When all recruited experts (2 or more) agree, take that answer directly."
    )
    reliability: KNNOptions = Field(
        default_factory=KNNOptions,
        description="Local accuracy settings for weighted/stacked votes when the policy has no estimate.",
    )
    l2: float = Field(default=1.0, ge=0, description="stacked: L2 penalty of the vote model.")
    vote: VoteConfig = Field(
        default_factory=VoteConfig,
        description="Weighted/stacked votes: where weights come from (kNN, per group, global), family-max, "
        "stacked features.",
    )
    use_category: bool = Field(
        default=False,
        description="Add the question's dataset category as a skill (a labelled variant, not for users).",
    )
    retrieval: Literal["never", "always", "gated"] | None = Field(
        default=None,
        description="Bench methods: answer closed-book (never), always with retrieved passages, or as the "
        "retrieval gate decides per question (the bench's `retrieval:` block). A pool sets its mode in "
        "its own `retrieval:` block instead.",
    )
    description: str = ""

    @model_validator(mode="after")
    def _check(self) -> MethodConfig:
        cls = policy_registry.get(self.policy)  # unknown key: RegistryError with did-you-mean
        try:
            aggregator_registry.get(self.aggregation)
        except RegistryError as exc:
            raise ValueError(f"method {self.name!r}: {exc.args[0]}") from None
        try:
            opts = cls.Options.model_validate(self.options)
        except ValidationError as exc:
            raise ValueError(f"method {self.name!r}: options of policy {self.policy!r}: {exc}") from None
        k_max = getattr(opts, "k_max", None)
        if k_max is not None and k_max < self.k:
            raise ValueError(f"method {self.name!r}: k_max={k_max} must be >= k={self.k}")
        return self

    @property
    def aggregator_class(self) -> type[Aggregator]:
        """The registered aggregator: what it needs (a model, local accuracy, gold answers)."""
        return aggregator_registry.get(self.aggregation)

    @property
    def policy_class(self) -> type[RoutingPolicy]:
        return policy_registry.get(self.policy)

    def policy_options(self) -> PolicyOptions:
        """The validated, typed options of the policy."""
        return self.policy_class.Options.model_validate(self.options)

    def build_policy(self) -> RoutingPolicy:
        """The configured policy, unfitted."""
        return self.policy_class.from_options(self.k, self.policy_options(), self.vote)

    @property
    def needs_embeddings(self) -> bool:
        """Questions need embeddings: for the policy, or the kNN local accuracy of weighted/stacked votes."""
        cls = self.policy_class
        if cls.needs_embeddings:
            return True
        if not self.aggregator_class.needs_local_accuracy:
            return False
        return self.vote.accuracy == "local" or (self.vote.accuracy == "auto" and not cls.provides_accuracy)


def lift_legacy_method(data: Any) -> Any:
    """Pool configs before version 2 had the method's keys at top level; move them under ``method:``."""
    if not isinstance(data, dict) or not any(k in data for k in _LEGACY_POOL_KEYS):
        return data
    if "method" in data:
        keys = [k for k in _LEGACY_POOL_KEYS if k in data]
        raise ValueError(f"pool config: {keys} belong under `method:` (which is also given); move them there")
    data = dict(data)
    method: dict[str, Any] = {"name": "pool"}
    for key in _LEGACY_POOL_KEYS:
        if key in data:
            method["options" if key == "policy_options" else key] = data.pop(key)
    method.setdefault("policy", "paper")
    method.setdefault("aggregation", "llm")
    data["method"] = method
    if data.get("version") == 1:
        data["version"] = 2
    return data
