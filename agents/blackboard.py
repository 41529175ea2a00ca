"""The blackboard: a job's shared state, every entry a journaled step of the durable run store.

Agents read and write typed entries (pydantic models) under step keys. Each write is a row of the run
store's ``steps`` table, so a job killed mid-way (even with ``kill -9``) is resumed by building a new
blackboard on the same run id: entries already written are read back instead of recomputed.

Example::

    board = Blackboard(RunStore("runs.sqlite"), run_id)
    timeline = board.step("plan", Timeline, lambda: planner.plan(brief))  # computed once per run
    board.put("mix", mix_record)
    board.get("mix", MixRecord)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TypeVar

from pydantic import BaseModel

from batching.journal.store import RunStore

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


class Blackboard:
    """A run's step journal, read and written as typed entries.

    Args:
        store: the run store.
        run_id: the job's run id (a row of ``runs``).
        on_step: called with ``(step_key, reused)`` for every step served or computed.

    Attributes:
        computed: steps computed by this invocation.
        reused: steps read back from an earlier invocation of the same run.
    """

    def __init__(
        self, store: RunStore, run_id: str, on_step: Callable[[str, bool], None] | None = None
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.on_step = on_step
        self.computed = 0
        self.reused = 0

    def get(self, key: str, model: type[M]) -> M | None:
        """The entry ``key`` when it was written with status ``done``, else None."""
        rec = self.store.lookup_step(self.run_id, key)
        if rec is None or rec.status != "done":
            return None
        return model.model_validate(rec.payload)

    def put(self, key: str, value: BaseModel, *, status: str = "done") -> None:
        """Write one entry (one transaction)."""
        self.put_many([(key, value)], status=status)

    def put_many(self, items: Sequence[tuple[str, BaseModel]], *, status: str = "done") -> None:
        """Write several entries in one transaction: all of them land, or none."""
        if not items:
            return
        rows = [(k, status, v.model_dump(mode="json", by_alias=True)) for k, v in items]
        self.store.record_steps(self.run_id, rows)
        self.computed += len(items)
        for k, _ in items:
            logger.debug("step %s: %s", k, status)
            if self.on_step is not None:
                self.on_step(k, False)

    def step(self, key: str, model: type[M], compute: Callable[[], M]) -> M:
        """The entry ``key``: read back when done, else computed and written."""
        found = self.get(key, model)
        if found is not None:
            self.note_reused(key)
            return found
        value = compute()
        self.put(key, value)
        return value

    def note_reused(self, key: str) -> None:
        """Count an entry that an agent read back instead of recomputing."""
        self.reused += 1
        logger.debug("step %s: reused", key)
        if self.on_step is not None:
            self.on_step(key, True)

    def fail(self, key: str, error: str) -> None:
        """Record a step that failed (a resume computes it again)."""
        self.store.record_step(self.run_id, key, "failed", {"error": error})

    def keys(self, prefix: str = "") -> list[str]:
        """Keys of the entries written so far, oldest first, optionally under ``prefix``."""
        return [s.step_key for s in self.store.steps(self.run_id) if s.step_key.startswith(prefix)]
