"""A session's retrieval, fitted once on its profiles: the closed- and open-book branches and the gate.

Example::

    rag = fit_retrieval(pool.retrieval, method, record, closed_branch)
    rag.branch("open").route(queries)      # the experts the open-book profiles recruit
    rag.gate.assess(inputs)                # mode gated only
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from common.errors import ConfigError
from orchestrator.method import MethodConfig
from orchestrator.profiling import ProfilingRecord
from orchestrator.rag.branch import Book, Branch, fit_branch
from orchestrator.rag.config import RetrievalConfig
from orchestrator.rag.gate import RetrievalGate, first_skills
from orchestrator.rag.outcome import Signals, coverage_features, question_features
from orchestrator.retrieval.hits import Coverage

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class FittedRetrieval:
    """Retrieval as fitted for one session.

    Attributes:
        config: the pool's retrieval block.
        closed: the method on closed-book profiles (None without profiles).
        opened: the method on open-book profiles (None without them: open-book questions keep their
            closed-book recruits).
        gate: the fitted gate (mode ``gated`` only).
    """

    config: RetrievalConfig
    closed: Branch | None
    opened: Branch | None
    gate: RetrievalGate | None

    def branch(self, book: Book) -> Branch | None:
        """The branch that recruits and decides ``book`` questions (the closed one when there is no open)."""
        return self.opened if book == "open" and self.opened is not None else self.closed


def fit_retrieval(
    config: RetrievalConfig,
    method: MethodConfig,
    record: ProfilingRecord | None,
    closed: Branch | None,
) -> FittedRetrieval | None:
    """Fit what ``config.mode`` needs on the profiling record (None for mode ``never``).

    Args:
        config: the pool's retrieval block.
        method: the pool's method.
        record: the profiling record (open-book answers and coverage when profiled with ``--retrieval``).
        closed: the session's closed-book method as a branch (its profiling data carries embeddings).

    Raises:
        ConfigError: mode ``gated`` without profiles.
    """
    if config.mode == "never":
        return None
    if method.policy_class.interactive:
        raise ConfigError(
            f"retrieval mode {config.mode!r}: policy {method.policy!r} recruits in rounds, which retrieval "
            "does not support yet; use a one-round policy (knn_top_k, skill_top_k, paper...)"
        )
    if record is None or closed is None:
        if config.mode == "gated":
            raise ConfigError(
                "retrieval mode 'gated' needs expert profiles (the gate is fitted on them): set `profiles:` "
                "in the pool config, built with `symoe profile --retrieval`"
            )
        return FittedRetrieval(config=config, closed=None, opened=None, gate=None)
    gold = [g or "" for g in record.gold]
    opened = None
    if record.has_open_book:
        warn_profiled_k(config, record.retrieval)
        opened = fit_branch("open", method, record.to_open_book_data(closed.profiling), gold)
    elif config.mode == "gated":
        logger.warning(
            "retrieval: the profiles have no open-book answers (run `symoe profile --retrieval`); the gate "
            "retrieves when the closed-book estimate is below %.2f",
            config.gate.fallback_accuracy,
        )
    gate = None
    if config.mode == "gated":
        cov = [Coverage(**c) for c in record.coverage] if record.coverage is not None else None
        signals = Signals(
            embeddings=closed.profiling.embeddings,
            groups=first_skills(record.skills),
            questions=question_features(record.questions, record.n_options),
            coverage=coverage_features(cov) if cov is not None else None,
        )
        gate = RetrievalGate.fit(
            config.gate, method, closed.profiling, gold, signals,
            open_book=opened.profiling if opened else None, seed=config.seed,
            agreement_threshold=config.agreement_threshold,
        )  # fmt: skip
    return FittedRetrieval(config=config, closed=closed, opened=opened, gate=gate)


def warn_profiled_k(config: RetrievalConfig, profiled: Mapping[str, str | int]) -> bool:
    """Warn when the pool retrieves a different number of passages than its open-book profiles saw.

    The open-book profiles (and the gate fitted on them) measured the experts with ``k`` passages; with
    another ``k`` the experts' open-book accuracy, and so every gate decision, may no longer hold (a
    reader trained on one passage can fail with three). Returns True when it warned.
    """
    measured = profiled.get("k")
    if measured is None or measured == config.k:
        return False
    logger.warning(
        "retrieval: the pool retrieves k=%s passages but its open-book profiles were measured at k=%s; "
        "the gate's estimates may not hold: set `retrieval.k: %s` or profile again with "
        "`symoe profile --retrieval`",
        config.k,
        measured,
        measured,
    )
    return True
