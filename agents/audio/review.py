"""The plan reviewer: fixes what a planner (rules, an LLM, a user's JSON) got wrong, and says what it fixed.

Fixes, each noted in ``Timeline.notes``:

- unknown kinds: mapped by synonym (``dialogue`` -> speech, ``fx`` -> sfx, ``bgm`` -> music, ...) or
  dropped; events with nothing to render (speech without text) are dropped;
- negative starts are moved to 0; zero or negative durations get the kind's default; a line (speech or
  effect) past the end makes the timeline longer (a user's line is never dropped or cut); beds running
  past the end are cut;
- overlapping speech: a later line moves to after the earlier one (a line aligned to a video cut stays
  and the other one moves), and the timeline grows when needed;
- more than one music bed at a time: the earlier bed ends where the next begins (or is dropped);
- missing layer gets the kind's default, missing target loudness comes from the words
  (:mod:`agents.audio.dynamics`); ids are made unique.
"""

from __future__ import annotations

from agents.audio.casting import Casting
from agents.audio.dynamics import target_lufs
from agents.audio.generators.sfx_catalog import timing
from agents.audio.planner import SPEECH_GAP_S, TAIL_S, estimate_speech_s
from agents.audio.timeline import DEFAULT_LAYER, EVENT_KINDS, AudioEvent, Timeline

KIND_SYNONYMS = {
    "dialogue": "speech", "dialog": "speech", "voice": "speech", "narration": "speech", "line": "speech",
    "tts": "speech", "vo": "speech", "effect": "sfx", "sound effect": "sfx", "sound_effect": "sfx",
    "fx": "sfx", "foley": "sfx", "sound": "sfx", "bgm": "music", "score": "music", "song": "music",
    "soundtrack": "music", "background music": "music", "ambient": "ambience", "ambiance": "ambience",
    "atmosphere": "ambience", "background": "ambience", "room tone": "ambience", "bed": "ambience",
}  # fmt: skip
MIN_MUSIC_S = 1.0


def review_plan(plan: Timeline) -> Timeline:
    """The fixed timeline, with one note per change."""
    notes: list[str] = list(plan.notes)
    events = _fix_kinds_and_values(plan, notes)
    duration_s = plan.duration_s
    events, duration_s = _fix_speech_overlaps(events, duration_s, notes)
    events = _fix_music_overlaps(events, notes)
    clamped = [_clamp(e, duration_s, notes) for e in events]
    kept = [e for e in clamped if e is not None]
    return plan.model_copy(update={"events": tuple(kept), "duration_s": round(duration_s, 3),
                                   "notes": tuple(notes)})  # fmt: skip


def _fix_kinds_and_values(plan: Timeline, notes: list[str]) -> list[AudioEvent]:
    out: list[AudioEvent] = []
    ids: set[str] = set()
    for e in plan.events:
        kind = e.kind.strip().lower()
        kind = kind if kind in EVENT_KINDS else KIND_SYNONYMS.get(kind, "")
        if not kind:
            notes.append(f"{e.id}: unknown kind {e.kind!r} dropped (kinds: {', '.join(EVENT_KINDS)})")
            continue
        if kind != e.kind:
            notes.append(f"{e.id}: kind {e.kind!r} read as {kind!r}")
        if (kind == "speech" and not e.text.strip()) or (kind != "speech" and not e.description.strip()):
            notes.append(f"{e.id}: {kind} with nothing to render dropped")
            continue
        update: dict[str, object] = {"kind": kind}
        if e.start_s < 0:
            notes.append(f"{e.id}: start {e.start_s:g} s moved to 0")
            update["start_s"] = 0.0
        if e.duration_s <= 0:
            update["duration_s"] = _default_duration(kind, e, plan.duration_s)
            notes.append(f"{e.id}: duration {e.duration_s:g} s set to {update['duration_s']:g} s")
        update["layer"] = e.layer or DEFAULT_LAYER[kind]
        words = e.description if kind != "speech" else ""
        update["target_lufs"] = e.target_lufs if e.target_lufs is not None else target_lufs(kind, words)
        if kind == "speech" and e.voice is None:
            update["voice"] = _voice_for(e, out)
        new_id = e.id
        while new_id in ids:
            new_id += "b"
        if new_id != e.id:
            notes.append(f"{e.id}: duplicate id renamed {new_id}")
            update["id"] = new_id
        ids.add(new_id)
        out.append(e.model_copy(update=update))
    return out


def _default_duration(kind: str, e: AudioEvent, total_s: float) -> float:
    if kind == "speech":
        return estimate_speech_s(e.text)
    if kind == "sfx":
        return timing(e.description)[0]
    return max(MIN_MUSIC_S, round(total_s - max(e.start_s, 0.0), 3))


def _fix_speech_overlaps(
    events: list[AudioEvent], duration_s: float, notes: list[str]
) -> tuple[list[AudioEvent], float]:
    speech = sorted((e for e in events if e.kind == "speech"), key=lambda e: (e.start_s, e.id))
    moved: dict[str, AudioEvent] = {}
    prev: AudioEvent | None = None
    for e in speech:
        e = moved.get(e.id, e)
        if prev is not None and e.start_s < prev.end_s + SPEECH_GAP_S * 0.5:
            if e.cut_s is not None and prev.cut_s is None and prev.start_s < e.start_s:
                new = round(max(0.0, e.start_s - SPEECH_GAP_S - prev.duration_s), 3)
                notes.append(f"{prev.id}: overlapped {e.id} (aligned to a cut); moved to {new:g} s")
                moved[prev.id] = prev.model_copy(update={"start_s": new})
            else:
                new = round(prev.end_s + SPEECH_GAP_S, 3)
                notes.append(f"{e.id}: overlapped {prev.id}; moved from {e.start_s:g} s to {new:g} s")
                e = e.model_copy(update={"start_s": new, "cut_s": None})
                moved[e.id] = e
        prev = e
    out = [moved.get(e.id, e) for e in events]
    # a line (speech or effect) running past the end makes the timeline longer: a user's line stays whole
    end = max([e.end_s for e in out if e.kind in ("speech", "sfx")] + [0.0])
    if end + 0.5 > duration_s:
        new_total = round(end + TAIL_S, 3)
        notes.append(f"timeline extended from {duration_s:g} s to {new_total:g} s to fit the events")
        out = [e.model_copy(update={"duration_s": round(new_total - e.start_s, 3)})
               if e.kind in ("music", "ambience") and abs(e.end_s - duration_s) < 1e-6 else e
               for e in out]  # fmt: skip
        duration_s = new_total
    return out, duration_s


def _fix_music_overlaps(events: list[AudioEvent], notes: list[str]) -> list[AudioEvent]:
    music = sorted((e for e in events if e.kind == "music"), key=lambda e: (e.start_s, e.id))
    changed: dict[str, AudioEvent | None] = {}
    for a, b in zip(music, music[1:], strict=False):
        a = changed.get(a.id) or a
        if a.end_s > b.start_s:
            length = round(b.start_s - a.start_s, 3)
            if length < MIN_MUSIC_S:
                notes.append(f"{a.id}: music bed under {b.id} at the same time; dropped")
                changed[a.id] = None
            else:
                notes.append(f"{a.id}: two music beds at once; {a.id} now ends at {b.start_s:g} s")
                changed[a.id] = a.model_copy(update={"duration_s": length})
    return [changed.get(e.id, e) for e in events if changed.get(e.id, e) is not None]  # type: ignore[misc]


def _clamp(e: AudioEvent, duration_s: float, notes: list[str]) -> AudioEvent | None:
    if e.start_s >= duration_s:
        notes.append(f"{e.id}: starts at {e.start_s:g} s, after the end ({duration_s:g} s); dropped")
        return None
    if e.end_s > duration_s + 1e-6:
        notes.append(f"{e.id}: cut to end at {duration_s:g} s")
        return e.model_copy(update={"duration_s": round(duration_s - e.start_s, 3)})
    return e


def _voice_for(e: AudioEvent, earlier: list[AudioEvent]) -> str:
    """A speech event without a voice: its speaker's earlier voice, else a label no other speaker has."""
    cast = Casting()
    for prev in earlier:
        if prev.kind == "speech" and prev.voice is not None:
            cast.voices.setdefault((prev.speaker or prev.voice).casefold(), prev.voice)
    return cast.voice_for(e.speaker or f"speaker of {e.id}", None)
