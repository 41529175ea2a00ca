"""Speech keeps its natural length; the plan's slots move instead.

The planner estimates each line's length from its words. Once a line is spoken, its real length
replaces the estimate: a longer line pushes every later foreground event (speech and effects) back by
the overrun, a shorter one leaves the rest where it was planned, and no two lines overlap. Events
aligned to a video cut do not move unless a line would run into them. Beds (music, ambience) that
covered the whole scene grow with it. Each move is a plan note, so the report says which lines moved.

Example::

    fitted = fit_speech_slots(timeline, {"speech-1": 2.49})
"""

from __future__ import annotations

from collections.abc import Mapping

from agents.audio.planner import SPEECH_GAP_S, TAIL_S
from agents.audio.timeline import AudioEvent, Timeline

MIN_MOVE_S = 0.005


def fit_speech_slots(timeline: Timeline, spoken_s: Mapping[str, float]) -> Timeline:
    """The timeline with each spoken line at its real length (``spoken_s``) and later events moved.

    Args:
        timeline: the reviewed plan.
        spoken_s: event id -> the spoken clip's length in seconds (lines without a clip keep the plan).
    """
    notes = list(timeline.notes)
    shift = 0.0
    speech_end = -1.0
    placed: dict[str, AudioEvent] = {}
    for e in sorted(timeline.events, key=lambda e: (e.start_s, e.id)):
        if e.kind in ("music", "ambience"):
            continue
        start = e.start_s if e.cut_s is not None else e.start_s + shift
        if e.kind == "speech":
            start = max(start, speech_end + SPEECH_GAP_S if speech_end >= 0 else start)
            length = spoken_s.get(e.id, e.duration_s)
            shift = max(shift, start - e.start_s) + max(0.0, length - e.duration_s)
            speech_end = start + length
            if abs(length - e.duration_s) > MIN_MOVE_S:
                notes.append(f"{e.id}: spoken in {length:.2f} s (planned {e.duration_s:.2f} s); kept at its "
                             "natural rate")  # fmt: skip
            e = e.model_copy(update={"duration_s": round(length, 4)})
        if abs(start - e.start_s) > MIN_MOVE_S:
            notes.append(f"{e.id}: moved from {e.start_s:g} s to {start:.2f} s to make room for speech")
        placed[e.id] = e.model_copy(update={"start_s": round(start, 4)})
    end = max([p.end_s for p in placed.values()] + [0.0])
    total = (
        max(timeline.duration_s, round(end + TAIL_S, 3))
        if end + 0.5 > timeline.duration_s
        else timeline.duration_s
    )
    events = []
    for e in timeline.events:
        if e.id in placed:
            events.append(placed[e.id])
        elif abs(e.end_s - timeline.duration_s) < 1e-6 and total > timeline.duration_s:
            events.append(e.model_copy(update={"duration_s": round(total - e.start_s, 3)}))
        else:
            events.append(e)
    if total > timeline.duration_s:
        notes.append(
            f"timeline extended from {timeline.duration_s:g} s to {total:g} s to fit the spoken lines"
        )
    return timeline.model_copy(update={"events": tuple(events), "duration_s": total, "notes": tuple(notes)})
