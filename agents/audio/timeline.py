"""The audio plan: a timeline of events (speech, sfx, music, ambience), as written to ``timeline.json``.

Example::

    Timeline(title="cabin", duration_s=24.0, events=[
        AudioEvent(id="e01", kind="speech", start_s=1.0, duration_s=2.5, text="Hello.", voice="male"),
        AudioEvent(id="e02", kind="sfx", start_s=4.0, duration_s=1.2, description="door"),
    ])
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

EVENT_KINDS = ("speech", "sfx", "music", "ambience")
"""The kinds a reviewed timeline holds (a raw plan may hold others; the plan reviewer maps or drops them)."""

Layer = Literal["foreground", "background"]

DEFAULT_TARGET_LUFS = {"speech": -17.0, "sfx": -20.0, "music": -24.0, "ambience": -28.0}
"""Per-kind loudness of an event's clip before the mix (speech on top, beds well under it)."""

DEFAULT_LAYER: dict[str, Layer] = {
    "speech": "foreground",
    "sfx": "foreground",
    "music": "background",
    "ambience": "background",
}


class MusicSpec(BaseModel):
    """What the rule-based composer needs: key, mode, tempo, chord progression, mood, instrument."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(default="D", pattern=r"^[A-G](#|b)?$")
    mode: Literal["major", "minor"] = "minor"
    tempo_bpm: float = Field(default=76.0, ge=30, le=220)
    progression: tuple[str, ...] = ("i", "VI", "III", "VII")
    mood: str = "calm"
    program: int | None = Field(
        default=None, ge=0, le=127, description="General MIDI program of the chord pad (default: by mood)."
    )


class AudioEvent(BaseModel):
    """One event of the timeline.

    ``kind`` is a plain string so a raw plan (an LLM's, a user's JSON) can be validated and then fixed by
    the plan reviewer; after review it is one of :data:`EVENT_KINDS`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    kind: str
    start_s: float
    duration_s: float
    text: str = Field(default="", description="What is said (speech).")
    description: str = Field(default="", description="What is heard (sfx, ambience, music).")
    voice: str | None = Field(default=None, description="Voice label (male, female, ...) for speech.")
    speaker: str | None = Field(default=None, description="Who speaks (a character name).")
    layer: Layer | None = None
    target_lufs: float | None = Field(default=None, le=0)
    music: MusicSpec | None = None
    cut_s: float | None = Field(default=None, description="The video cut this event was aligned to.")

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


class Timeline(BaseModel):
    """A whole plan: events on a timeline of ``duration_s`` seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = "untitled"
    duration_s: float = Field(gt=0)
    events: tuple[AudioEvent, ...]
    planner: str = Field(default="rule_based", description="Who wrote the plan.")
    notes: tuple[str, ...] = Field(default=(), description="What the plan reviewer changed, and why.")

    def event(self, event_id: str) -> AudioEvent:
        for e in self.events:
            if e.id == event_id:
                return e
        raise KeyError(event_id)
