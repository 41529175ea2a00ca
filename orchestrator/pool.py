"""The pool config of live runs (``configs/pools/*.yaml``): experts, aggregator, annotator and policy."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from batching.config import ExpertConfig, SamplingConfig
from common.config_file import beside, load_model_file
from common.errors import ConfigError

if TYPE_CHECKING:
    from orchestrator.policies import RoutingPolicy

POOL_CONFIG_VERSION = 1
TINY_PREFIX = "tiny:"


class AnnotationConfig(BaseModel):
    """How questions get keywords: an LLM of the pool (the paper) or the embedding annotator (no LLM)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    annotator: str = Field(default="embedding", description="'embedding' or the name of a pool model.")
    n_samples: int = Field(default=5, ge=1)
    min_count: int = Field(default=2, ge=1)
    max_tokens: int = Field(default=64, ge=1)
    top_n: int = Field(default=3, ge=1, description="Embedding annotator: skills per question.")
    vocabulary: str | None = Field(
        default=None, description="Skill vocabulary YAML; the packaged one if unset."
    )


class PoolConfig(BaseModel):
    """A pool of experts and how a live run uses them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = POOL_CONFIG_VERSION
    name: str
    experts: list[ExpertConfig] = Field(min_length=1)
    aggregator: str | None = Field(
        default=None, description="Name of the aggregator model (an expert or one of `extra_models`)."
    )
    extra_models: list[ExpertConfig] = Field(
        default_factory=list, description="Models that are not experts (a separate aggregator or annotator)."
    )
    annotation: AnnotationConfig = AnnotationConfig()
    policy: Literal["paper", "skill_top_k", "knn_top_k", "global_top_k", "random_k"] = "paper"
    k: int = Field(default=3, ge=1)
    policy_options: dict[str, int | float] = Field(
        default_factory=dict,
        description="Extra settings of the policy, e.g. knn_top_k's {neighbours: 30, alpha: 3.0, tau: 1.0}.",
    )
    aggregation: Literal["llm", "majority", "weighted"] = "llm"
    consensus_skip: bool = Field(default=True, description="Skip the aggregator when all experts agree.")
    aggregator_sampling: SamplingConfig = SamplingConfig(temperature=0.0, max_tokens=1024)
    aggregator_max_chars_per_response: int = Field(default=6000, ge=100)
    profiles: str | None = Field(default=None, description="Profiling record JSON from `symoe profile`.")
    tiny_models_dir: str | None = Field(
        default=None, description=f"Where `{TINY_PREFIX}NAME` models are built on first use (default cache)."
    )
    batch_size: int = Field(default=64, ge=1, description="Requests per generate() call while resident.")
    memory_budget_gib: float | None = Field(
        default=None,
        gt=0,
        description=(
            "Memory the pool's models may hold together (GPU memory for GPU engines, RAM for CPU ones). "
            "Set, models stay resident across stages while they fit (LRU eviction) and the next expert's "
            "weights are prefetched into the page cache while the current one generates. Unset, each "
            "model is loaded for its batch and released after it."
        ),
    )
    seed: int = 0

    @model_validator(mode="after")
    def _check(self) -> PoolConfig:
        if self.version != POOL_CONFIG_VERSION:
            raise ValueError(f"pool config version {self.version} != supported {POOL_CONFIG_VERSION}")
        names = [m.name for m in (*self.experts, *self.extra_models)]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate model names in the pool: {names}")
        for role, name in (("aggregator", self.aggregator), ("annotator", self.annotation.annotator)):
            if name is not None and name != "embedding" and name not in names:
                raise ValueError(f"{role} {name!r} is not a model of the pool ({', '.join(names)})")
        if self.aggregation == "llm" and self.aggregator is None:
            raise ValueError("aggregation 'llm' needs an `aggregator` model")
        if self.policy_options:
            try:
                self.build_policy()
            except TypeError as exc:
                problem = f"policy_options {self.policy_options} do not fit policy {self.policy!r}"
                raise ValueError(f"{problem}: {exc}") from exc
        if self.k > len(self.experts) and self.policy != "paper":
            raise ValueError(f"k={self.k} is larger than the pool ({len(self.experts)} experts)")
        return self

    def build_policy(self) -> RoutingPolicy:
        """The pool's recruitment policy with its ``k`` and ``policy_options``, unfitted."""
        from orchestrator.policies import policy_registry

        return policy_registry.get(self.policy)(k=self.k, **self.policy_options)

    @property
    def models(self) -> list[ExpertConfig]:
        return [*self.experts, *self.extra_models]


def load_pool_config(path: str | Path) -> PoolConfig:
    """Read and validate a pool YAML file; relative ``profiles`` paths resolve against the file's folder.

    Raises:
        ConfigError: unreadable or invalid file (the message names the file and the fields).
    """
    p = Path(path)
    cfg = load_model_file(p, PoolConfig, "pool config")
    if cfg.profiles:
        cfg = cfg.model_copy(update={"profiles": beside(p, cfg.profiles)})
    return cfg


def resolve_local_model_configs(
    models: Sequence[ExpertConfig], tiny_models_dir: str | None = None
) -> list[ExpertConfig]:
    """Point ``tiny:NAME`` and ``zoo:NAME`` model ids of expert configs at their local folders.

    ``tiny:NAME`` models (random weights, plumbing only) are built on first use under
    ``tiny_models_dir`` (default cache); ``zoo:NAME`` models are the skill zoo's committed experts
    (``zoo/weights/NAME``). Other ids pass unchanged.

    Raises:
        ConfigError: an id names no tiny model or no zoo expert (the message lists the available ones).
    """
    from zoo import resolve_zoo_model

    built: dict[str, Path] | None = None
    if any((m.model or "").startswith(TINY_PREFIX) for m in models):
        from zoo.tiny import ensure_tiny_pool

        built = ensure_tiny_pool(tiny_models_dir)

    def fix(m: ExpertConfig) -> ExpertConfig:
        model = m.model or ""
        if built is not None and model.startswith(TINY_PREFIX):
            name = model[len(TINY_PREFIX) :]
            if name not in built:
                raise ConfigError(
                    f"model {m.model!r}: no tiny model {name!r}; available: {', '.join(sorted(built))}"
                )
            return m.model_copy(update={"model": str(built[name])})
        resolved = resolve_zoo_model(model) if m.model else model
        return m if resolved == model else m.model_copy(update={"model": resolved})

    return [fix(m) for m in models]


def resolve_local_models(cfg: PoolConfig) -> PoolConfig:
    """The pool with its ``tiny:`` and ``zoo:`` model ids resolved (:func:`resolve_local_model_configs`)."""
    experts = resolve_local_model_configs(cfg.experts, cfg.tiny_models_dir)
    extra = resolve_local_model_configs(cfg.extra_models, cfg.tiny_models_dir)
    return cfg.model_copy(update={"experts": experts, "extra_models": extra})
