"""The pool's knowledge store: opened (and its documents ingested) on first use, searched in one batch.

Example::

    store = open_knowledge(pool.retrieval, embedder)       # ingests `documents` if new or changed
    found = retrieve_for(store, pool.retrieval, instances, query_vectors=embeddings)
    found[i].passages(), found[i].coverage
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from common.records import Instance
from orchestrator.rag.config import RetrievalConfig

if TYPE_CHECKING:
    from orchestrator.retrieval.hits import Retrieval
    from orchestrator.retrieval.store import KnowledgeStore

logger = logging.getLogger(__name__)


def open_knowledge(config: RetrievalConfig, embedder: Any | None = None) -> KnowledgeStore:
    """Open the store of ``config``; with ``documents``, ingest them first (unchanged files add nothing).

    Args:
        config: the pool's retrieval block.
        embedder: an embedder to share (the session's all-MiniLM-L6-v2); the store builds one otherwise.

    Raises:
        MissingExtraError: the ``retrieval`` extra (LanceDB) is not installed.
        DataError: no documents are configured and the store has no table yet.
    """
    from orchestrator.retrieval.ingest import ingest
    from orchestrator.retrieval.store import KnowledgeStore

    if not config.documents:
        return KnowledgeStore.open(config.store, embedder=embedder)
    start = time.perf_counter()
    store = KnowledgeStore.open(config.store, embedder=embedder, create=True)
    report = ingest(store, config.documents)
    if report.added or report.replaced:
        logger.info(
            "knowledge store %s: ingested %s (%d chunks) in %.1fs",
            config.store.uri,
            ", ".join([*report.added, *report.replaced]),
            report.chunks_added,
            time.perf_counter() - start,
        )
    for skipped in report.skipped:
        logger.warning("knowledge store %s: skipped %s (%s)", config.store.uri, skipped.origin,
                       skipped.reason)  # fmt: skip
    return store


def retrieve_for(
    store: KnowledgeStore,
    config: RetrievalConfig,
    instances: Sequence[Instance],
    *,
    query_vectors: np.ndarray | None = None,
) -> list[Retrieval]:
    """The top ``config.k`` passages and the coverage signal for each question, in one batched search.

    The query is the question without its options. ``query_vectors`` are the questions' embeddings when
    already computed with the store's embedding model (the session's), so nothing is embedded twice.
    """
    if not instances:
        return []
    vectors = query_vectors
    if vectors is not None and (vectors.ndim != 2 or vectors.shape[1] != store.dim):
        vectors = None  # another embedding model: let the store embed the queries
    return store.retrieve([i.question for i in instances], k=config.k, mode=config.search,
                          query_vectors=vectors, where=config.where or None)  # fmt: skip


def check_retrieval(config: RetrievalConfig, *, has_profiles: bool) -> None:
    """Check what a run's retrieval needs before any model loads (``symoe run``).

    Raises:
        MissingExtraError: retrieval is on and the ``retrieval`` extra is not installed.
        ConfigError: mode ``gated`` without profiles.
        DataError: a listed document does not exist, or there is no store and nothing to ingest.
    """
    if config.mode == "never":
        return
    from common.errors import ConfigError, DataError
    from common.extras import require_extra
    from common.settings import expand_path

    require_extra("retrieval", f"retrieval mode {config.mode!r}")
    if config.mode == "gated" and not has_profiles:
        raise ConfigError(
            "retrieval mode 'gated' needs expert profiles (the gate is fitted on them): set `profiles:` in "
            "the pool config, built with `symoe profile --retrieval`"
        )
    missing = [d for d in config.documents if not d.startswith("hf:") and not expand_path(d).exists()]
    if missing:
        raise DataError(f"retrieval documents not found: {', '.join(missing)}; fix `retrieval.documents`")
    if not config.documents and config.store.is_local and not expand_path(config.store.uri).is_dir():
        raise DataError(
            f"no knowledge store at {config.store.uri}: add documents with `symoe kb add PATH... --kb "
            f"{config.store.uri}` or list them under `retrieval.documents`",
            path=config.store.uri,
        )
