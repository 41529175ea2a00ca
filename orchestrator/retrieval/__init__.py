"""The knowledge store for retrieval: LanceDB chunks with dense (MiniLM) and BM25 search, fused by RRF.

What the retrieval gate and stage call::

    from orchestrator.retrieval import KnowledgeConfig, KnowledgeStore

    store = KnowledgeStore.open(KnowledgeConfig(uri="$SYMOE_HOME/kb"))
    results = store.retrieve(questions, k=5, mode="hybrid")   # one embedding call for the batch
    results[i].coverage          # Coverage(top_dense, top_bm25, dense_margin, bm25_margin)
    results[i].passages()        # [common.records.Passage] for prompts and traces

Modules: :mod:`.config` (settings), :mod:`.readers` (inputs and bad-input checks), :mod:`.chunking`,
:mod:`.schema` (the chunk table), :mod:`.store` (search, writes, versions), :mod:`.hits` (hits, coverage,
fusion), :mod:`.ingest` (idempotent ingestion), :mod:`.ray_ingest` (the Ray Data pipeline) and
:mod:`.synthetic` (benchmark corpora).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.retrieval.config import DEFAULT_KB_DIR, KnowledgeConfig, SearchMode
    from orchestrator.retrieval.hits import Coverage, Hit, Retrieval
    from orchestrator.retrieval.ingest import IngestProgress, IngestReport, ingest
    from orchestrator.retrieval.store import KnowledgeStats, KnowledgeStore, SourceRecord, VersionInfo

_EXPORTS = {
    "DEFAULT_KB_DIR": "config",
    "KnowledgeConfig": "config",
    "SearchMode": "config",
    "Coverage": "hits",
    "Hit": "hits",
    "Retrieval": "hits",
    "IngestProgress": "ingest",
    "IngestReport": "ingest",
    "ingest": "ingest",
    "KnowledgeStats": "store",
    "KnowledgeStore": "store",
    "SourceRecord": "store",
    "VersionInfo": "store",
}

__all__ = [
    "DEFAULT_KB_DIR",
    "Coverage",
    "Hit",
    "IngestProgress",
    "IngestReport",
    "KnowledgeConfig",
    "KnowledgeStats",
    "KnowledgeStore",
    "Retrieval",
    "SearchMode",
    "SourceRecord",
    "VersionInfo",
    "ingest",
]


def __getattr__(name: str) -> Any:
    # Lazy, so that `symoe --help` (which imports the kb command's defaults) does not load pyarrow.
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
