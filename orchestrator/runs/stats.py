"""Run reports built from the run store: per stage and expert, and the ``symoe runs list/show`` tables.

Figures come from the journal only, so they cover every invocation of a resumed run: generation seconds
are each batch's time shared over its rows, load seconds come from ``load`` events, failures are
generations that came back with an error (or missing) plus worker failures.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict
from rich.markup import escape
from rich.table import Table

from batching.journal.store import RunRecord, RunStore


class StageExpertStats(BaseModel):
    """One expert's figures in one stage of a run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stage: str
    expert: str
    calls: int
    computed: int
    reused: int
    failures: int
    loads: int
    load_seconds: float
    generation_seconds: float
    prompt_tokens: int
    generated_tokens: int
    tokens_per_s: float


def expert_stats(store: RunStore, run_id: str) -> list[StageExpertStats]:
    """Per (stage, expert) figures of a run, in the order the pairs first appear in the journal."""
    rows: dict[tuple[str, str], dict[str, float]] = {}

    def acc(stage: str, expert: str) -> dict[str, float]:
        return rows.setdefault((stage, expert), dict.fromkeys(_FIELDS, 0.0))

    for g in store.generations(run_id):
        a = acc(g["stage"], g["expert"])
        a["calls"] += 1
        a["reused"] += g["reused_from"] is not None
        a["computed"] += g["reused_from"] is None
        a["failures"] += bool(g["error"] is not None or g["missing"])
        a["generation_seconds"] += g["seconds"]
        a["prompt_tokens"] += g["prompt_tokens"]
        a["generated_tokens"] += g["generated_tokens"]
    for e in store.events(run_id):
        a = acc(e["stage"], e["expert"])
        if e["kind"] == "load":
            a["loads"] += 1
            a["load_seconds"] += e["seconds"]
        elif e["kind"] == "failure":
            a["failures"] += 1
    out = []
    for (stage, expert), a in rows.items():
        gen = a["generation_seconds"]
        out.append(
            StageExpertStats(
                stage=stage,
                expert=expert,
                **{k: int(a[k]) for k in _INT_FIELDS},
                load_seconds=round(a["load_seconds"], 4),
                generation_seconds=round(gen, 4),
                tokens_per_s=round(a["generated_tokens"] / gen, 1) if gen > 0 else 0.0,
            )
        )
    return out


_INT_FIELDS = ("calls", "computed", "reused", "failures", "loads", "prompt_tokens", "generated_tokens")
_FIELDS = (*_INT_FIELDS, "load_seconds", "generation_seconds")


def _table(title: str, columns: Sequence[tuple[str, int]]) -> Table:
    """A table whose columns with a minimum width (ids, names) never wrap or truncate."""
    table = Table(title=title)
    for name, min_width in columns:
        table.add_column(name, justify="left" if min_width else "right", no_wrap=bool(min_width),
                         min_width=min_width or None)  # fmt: skip
    return table


def latest_attempt(record: RunRecord) -> tuple[str, str, str]:
    """(computed, reused, seconds) of the run's latest attempt, from its stored report ("" before one
    finished): what both ``runs list`` and ``runs show`` print, so they agree after a resume."""
    rep = record.report or {}
    seconds = f"{rep['total_seconds']:.1f}" if "total_seconds" in rep else ""
    return str(rep.get("generations_computed", "")), str(rep.get("generations_reused", "")), seconds


def runs_table(runs: list[RunRecord]) -> Table:
    """The ``symoe runs list`` table: one row per run, newest first (ids start with their start time);
    status and figures are the latest attempt's."""
    cols = [("run id", 22), ("status", 7), ("pool", 8), ("backend", 7), ("n", 0), ("computed", 0),
            ("reused", 0), ("s", 0)]  # fmt: skip
    table = _table("runs (latest attempt of each)", cols)
    for r in runs:
        table.add_row(r.run_id, r.status, escape(r.pool), r.backend, str(r.n_instances), *latest_attempt(r))
    return table


def run_table(store: RunStore, record: RunRecord) -> Table:
    """The ``symoe runs show`` table: the run's status and its latest report's figures (as ``runs list``)
    in the title, then per stage and expert over every attempt: calls, generated, cached from other runs,
    failures, loads, times and tokens/s."""
    n = len(store.generations(record.run_id))
    computed, reused, seconds = latest_attempt(record)
    latest = (
        f"last report: computed {computed}, reused {reused}, {seconds} s" if computed else "no report yet"
    )
    cols = [("stage", 8), ("expert", 12), ("calls", 0), ("generated", 0), ("cached", 0), ("failed", 0),
            ("loads", 0), ("load s", 0), ("gen s", 0), ("tokens", 0), ("tok/s", 0)]  # fmt: skip
    title = (
        f"run {escape(record.run_id)}: pool {escape(record.pool)}, {record.status}; {latest}\n"
        f"{n} generations journaled over all attempts, per stage and expert:"
    )
    table = _table(title, cols)
    for s in expert_stats(store, record.run_id):
        table.add_row(
            escape(s.stage),
            escape(s.expert),
            str(s.calls),
            str(s.computed),
            str(s.reused),
            str(s.failures),
            str(s.loads),
            f"{s.load_seconds:.2f}",
            f"{s.generation_seconds:.2f}",
            str(s.generated_tokens),
            f"{s.tokens_per_s:.0f}",
        )
    return table
