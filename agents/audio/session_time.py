"""A job's total time across sessions: each run of a job (the first and every resume) journals its own
elapsed time, so a resumed job reports the time of every session, not only the last one.

A session's time is journaled at each stage and after each generator batch; a session killed between
two ticks loses at most the time since its last tick.
"""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict

from agents.blackboard import Blackboard

PREFIX = "time/session-"


class SessionTime(BaseModel):
    """One session's elapsed wall time so far."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seconds: float


class SessionClock:
    """Times this session and reads the earlier ones from the journal."""

    def __init__(self, board: Blackboard) -> None:
        self.board = board
        earlier = board.keys(PREFIX)
        self.earlier_s = sum((board.get(k, SessionTime) or SessionTime(seconds=0.0)).seconds for k in earlier)
        self.key = f"{PREFIX}{len(earlier) + 1}"
        self.sessions = len(earlier) + 1
        self.start = time.perf_counter()

    @property
    def session_s(self) -> float:
        return time.perf_counter() - self.start

    @property
    def total_s(self) -> float:
        """Every session's time, this one included."""
        return self.earlier_s + self.session_s

    def tick(self) -> None:
        """Journal this session's time so far (not counted as a computed step)."""
        row = (self.key, "done", SessionTime(seconds=round(self.session_s, 3)).model_dump(mode="json"))
        self.board.store.record_steps(self.board.run_id, [row])
