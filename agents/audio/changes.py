"""What happened to each of the user's lines between the brief and the mix: dropped, cut or moved.

Compared per event id between the plan (as written or planned) and the events in the delivered mix
(their final positions), plus the brief lines the planner could not place. The CLI prints one line per
change; ``report.json`` lists them under ``line_changes``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict

from agents.audio.timeline import Timeline

MOVE_TOLERANCE_S = 0.05


class LineChange(BaseModel):
    """One change to a user's line."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    change: Literal["dropped", "shortened", "moved", "not placed"]
    label: str
    detail: str


def line_changes(
    plan: Timeline, final: Timeline, reasons: Mapping[str, str], unplaced: tuple[str, ...]
) -> tuple[LineChange, ...]:
    """Changes to speech and effects (beds follow the scene's length and are not listed).

    Args:
        plan: the plan before review.
        final: the events in the delivered mix, at their final positions.
        reasons: event id -> why it was dropped (review notes, generator errors).
        unplaced: the planner's ``line N not placed: ...`` notes.
    """
    out = [LineChange(id=n.split(" not placed", 1)[0], change="not placed", label="", detail=n)
           for n in unplaced]  # fmt: skip
    now = {e.id: e for e in final.events}
    for e in plan.events:
        if e.kind.strip().lower() in ("music", "ambience"):
            continue
        label = (e.text or e.description)[:60]
        f = now.get(e.id)
        if f is None:
            out.append(
                LineChange(id=e.id, change="dropped", label=label, detail=reasons.get(e.id, "dropped"))
            )
            continue
        if f.end_s > final.duration_s + 1e-3:
            detail = f"cut at the end of the mix ({final.duration_s:.2f} s)"
            out.append(LineChange(id=e.id, change="shortened", label=label, detail=detail))
        if abs(f.start_s - e.start_s) > MOVE_TOLERANCE_S:
            out.append(LineChange(id=e.id, change="moved", label=label,
                                  detail=f"from {e.start_s:.2f} s to {f.start_s:.2f} s"))  # fmt: skip
    return tuple(out)
