"""Input limits of an audio job, checked before any work (no model loads, no file is written).

Every limit has a default sized for a scene a person writes by hand (a few minutes, a few hundred
events) with room to spare; each can be raised in the audio config's ``limits:`` block. A job over a
limit fails at once with a :class:`~common.errors.DataError` naming the limit, the value and the key to
change (the CLI exits 2). The same module cleans text fields: control characters (a NUL in a speech line
makes every speech engine fail) are removed, and each removal is reported as a plan note.

Example::

    limits = AudioLimitsConfig()
    check_brief_text("NARRATOR: Hello.", limits)       # raises DataError when too large
    check_timeline(timeline, limits)                   # events, duration, start times, words per line
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

from agents.audio.timeline import AudioEvent, Timeline
from common.errors import DataError

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
"""Control characters except tab (\\x09) and newline (\\x0a)."""


class AudioLimitsConfig(BaseModel):
    """Largest input a job accepts (checked before any work)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_brief_bytes: int = Field(
        default=32_000, ge=1, description="Brief text size in bytes (about 5,000 words; a long radio scene)."
    )
    max_timeline_bytes: int = Field(
        default=1_000_000, ge=1, description="JSON timeline file size in bytes (about 4,000 events)."
    )
    max_events: int = Field(default=400, ge=1, description="Events in a plan or JSON timeline.")
    max_duration_s: float = Field(
        default=1800.0, gt=0, description="Scene length in seconds (30 min; memory grows with length)."
    )
    max_words_per_line: int = Field(
        default=120, ge=1, description="Words in one speech line (speech engines allocate per line)."
    )
    max_text_chars: int = Field(default=2_000, ge=1, description="Characters of one event's text field.")


def decode_brief(data: bytes, limits: AudioLimitsConfig, path: str | None = None) -> str:
    """A brief file's bytes as text: size checked first, then strict UTF-8.

    Raises:
        DataError: larger than ``max_brief_bytes`` or not UTF-8 (names the byte and the fix).
    """
    check_size(len(data), limits, path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save the brief as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)",
            path=path,
            line=line,
        ) from exc


def check_size(n_bytes: int, limits: AudioLimitsConfig, path: str | None = None) -> None:
    """Raises DataError when a brief is over ``max_brief_bytes``."""
    if n_bytes > limits.max_brief_bytes:
        raise DataError(
            f"brief is {n_bytes:,} bytes, over the limit of {limits.max_brief_bytes:,} "
            "(limits.max_brief_bytes in the audio config); split the scene or raise the limit",
            path=path,
        )


def check_brief_text(text: str, limits: AudioLimitsConfig, path: str | None = None) -> None:
    """Size and words per line of a brief's text.

    Raises:
        DataError: over ``max_brief_bytes``, or a line over ``max_words_per_line`` words.
    """
    check_size(len(text.encode("utf-8", "surrogatepass")), limits, path)
    for n, line in enumerate(text.splitlines(), 1):
        words = len(line.split())
        if words > limits.max_words_per_line:
            raise DataError(
                f"line has {words:,} words, over the limit of {limits.max_words_per_line} "
                "(limits.max_words_per_line); split it into shorter lines",
                path=path,
                line=n,
            )


def check_timeline(timeline: Timeline, limits: AudioLimitsConfig, where: str = "timeline") -> None:
    """Events, length, start times and words per line of a plan, before generation.

    Raises:
        DataError: any value over its limit (names the event and the config key).
    """
    n = len(timeline.events)
    if n > limits.max_events:
        raise DataError(f"{where}: {n:,} events, over the limit of {limits.max_events} (limits.max_events)")
    _check_seconds(f"{where}: duration_s", timeline.duration_s, limits)
    for e in timeline.events:
        _check_seconds(f"{where}: event {e.id!r} start_s", e.start_s, limits)
        _check_seconds(f"{where}: event {e.id!r} end", e.start_s + e.duration_s, limits)
        for field_name in ("text", "description"):
            value = getattr(e, field_name)
            if len(value) > limits.max_text_chars:
                raise DataError(
                    f"{where}: event {e.id!r} {field_name} has {len(value):,} characters, over the limit "
                    f"of {limits.max_text_chars} (limits.max_text_chars)"
                )
        words = len(e.text.split())
        if words > limits.max_words_per_line:
            raise DataError(
                f"{where}: event {e.id!r} has {words:,} words, over the limit of "
                f"{limits.max_words_per_line} (limits.max_words_per_line); split the line"
            )


def _check_seconds(what: str, value: float, limits: AudioLimitsConfig) -> None:
    if not value == value or abs(value) > limits.max_duration_s:  # NaN fails the first test
        raise DataError(
            f"{what} = {value:g} s is outside +-{limits.max_duration_s:g} s "
            "(limits.max_duration_s in the audio config); fix the time or raise the limit"
        )


def clean_text(text: str) -> tuple[str, int]:
    """``text`` without control characters (tab and newline kept), and how many were removed."""
    cleaned, n = _CONTROL.subn(" ", text)
    return (re.sub(r" {2,}", " ", cleaned) if n else cleaned), n


def clean_timeline(timeline: Timeline) -> Timeline:
    """The timeline with control characters removed from every text field, one note per event changed."""
    notes = list(timeline.notes)
    events: list[AudioEvent] = []
    for e in timeline.events:
        update: dict[str, str] = {}
        for field_name in ("text", "description", "speaker"):
            value = getattr(e, field_name)
            if value:
                cleaned, n = clean_text(value)
                if n:
                    update[field_name] = cleaned.strip()
                    notes.append(f"{e.id}: {n} control character(s) removed from its {field_name}")
        events.append(e.model_copy(update=update) if update else e)
    if len(notes) == len(timeline.notes):
        return timeline
    return timeline.model_copy(update={"events": tuple(events), "notes": tuple(notes)})


def check_renderable(timeline: Timeline, limits: AudioLimitsConfig) -> None:
    """A reviewed plan is within the limits and has something to render.

    Raises:
        DataError: over a limit, or no event left (names what the reviewer dropped, if anything).
    """
    check_timeline(timeline, limits, "plan")
    if not any(e.kind in ("speech", "sfx", "ambience") for e in timeline.events):
        dropped = "; ".join(timeline.notes[:5])
        raise DataError(
            "nothing to render: the plan has no speech, effect or ambience"
            + (f" ({dropped})" if dropped else "")
            + "; give at least one line (NAME: text, [sfx] ..., ambience: ...)"
        )
