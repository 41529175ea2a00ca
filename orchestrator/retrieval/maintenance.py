"""Keeping a knowledge store sound: remove duplicate chunks, remove sources, repair the index.

A store written by this version cannot hold a chunk twice (writes are locked upserts keyed by chunk
id), but one written by an earlier version, or by two writers on object storage, may. Every ``kb add``
and ``kb repair`` removes duplicates; ``kb stats`` counts them. Callers hold the write lock
(:func:`~orchestrator.retrieval.lock.write_lock`) around these functions, except :func:`repair`, which
takes it.

Example::

    with write_lock(store.config):
        remove_duplicates(store)
        remove_sources(store, ["/docs/old.md"])
    report = repair(store)
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from orchestrator.retrieval.lock import write_lock
from orchestrator.retrieval.store import KnowledgeStore, in_filter

logger = logging.getLogger(__name__)

_DELETE_BATCH = 500
"""Ids per delete filter (a filter of thousands of literals is slow to plan)."""


@dataclass(frozen=True, kw_only=True)
class RepairReport:
    """What ``kb repair`` found and did."""

    duplicates_removed: int
    index_repaired: bool
    incomplete_sources: int
    indexed_rows: int
    unindexed_rows: int


def duplicate_ids(store: KnowledgeStore) -> list[str]:
    """Chunk ids stored more than once."""
    ids = store._scan(["id"]).column("id").to_pylist()
    return sorted(i for i, n in Counter(ids).items() if n > 1)


def remove_duplicates(store: KnowledgeStore) -> int:
    """Keep one row of every chunk id stored more than once; returns the rows removed.

    The origins involved lose their completion records first and get them back at the end, so a kill
    in between leaves them marked incomplete (the next ``kb add`` of their files restores every chunk),
    never marked complete with chunks missing.
    """
    dups = duplicate_ids(store)
    if not dups:
        return 0
    removed = 0
    done = store.completed()
    for start in range(0, len(dups), _DELETE_BATCH):
        part = dups[start : start + _DELETE_BATCH]
        where = in_filter("id", part)
        rows = store._scan(store.table.schema.names, where=where)
        keep = _first_per_id(rows)
        origins = sorted(set(keep.column("origin").to_pylist()))
        store.forget(origins)
        store.table.delete(where)
        store.table.add(keep)
        removed += rows.num_rows - keep.num_rows
        counts = Counter(
            store._scan(["origin"], where=in_filter("origin", origins)).column("origin").to_pylist()
        )
        store.mark_complete({o: (done[o], counts[o]) for o in origins if o in done})
    logger.warning("knowledge store %s: removed %d duplicate chunk rows", store.config.uri, removed)
    return removed


def _first_per_id(rows: pa.Table) -> pa.Table:
    seen: set[str] = set()
    keep = []
    for i, cid in enumerate(rows.column("id").to_pylist()):
        if cid not in seen:
            seen.add(cid)
            keep.append(i)
    return rows.take(pa.array(keep, type=pa.int64()))


def missing_sources(store: KnowledgeStore) -> list[str]:
    """Stored file origins whose file no longer exists (datasets are never missing)."""
    origins = pc.unique(store._scan(["origin"]).column("origin")).to_pylist()
    return sorted(o for o in origins if not o.startswith("hf:") and not Path(o).exists())


def resolve_sources(store: KnowledgeStore, names: Sequence[str]) -> tuple[list[str], list[str]]:
    """Stored origins matching ``names`` (an origin, or a path that resolves to one, or a folder holding
    some), and the names that match none."""
    origins = set(pc.unique(store._scan(["origin"]).column("origin")).to_pylist())
    found: list[str] = []
    unknown: list[str] = []
    for name in names:
        candidates = {name}
        if not name.startswith("hf:"):
            candidates.add(str(Path(name).expanduser().resolve()))
        hits = sorted(origins & candidates)
        if not hits:  # a folder: everything stored under it
            prefixes = tuple(c.rstrip("/") + "/" for c in candidates)
            hits = sorted(o for o in origins if o.startswith(prefixes))
        if hits:
            found.extend(h for h in hits if h not in found)
        else:
            unknown.append(name)
    return found, unknown


def remove_sources(store: KnowledgeStore, origins: Sequence[str]) -> int:
    """Delete every chunk of ``origins`` and their records; returns the chunks removed."""
    removed = 0
    for start in range(0, len(origins), _DELETE_BATCH):
        removed += store.delete_sources(list(origins[start : start + _DELETE_BATCH]))
    if removed:
        store.optimize()
    return removed


def repair(store: KnowledgeStore) -> RepairReport:
    """Under the write lock: remove duplicates and index every row the BM25 index misses."""
    with write_lock(store.config):
        store.refresh()
        removed = remove_duplicates(store)
        indexed, unindexed = store.index_coverage()
        repaired = False
        if removed or unindexed:
            store.optimize()
            repaired = True
        stats = store.stats()
    return RepairReport(
        duplicates_removed=removed,
        index_repaired=repaired,
        incomplete_sources=stats.incomplete_sources,
        indexed_rows=stats.indexed_rows,
        unindexed_rows=stats.unindexed_rows,
    )
