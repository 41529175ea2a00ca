"""The rule-based planner: a text brief to a timeline, deterministically, with no model.

A brief is plain text, written the way people write scripts. Lines it understands (keys are
case-insensitive)::

    title: The cabin in the storm
    duration: 1:30                     # 90s, 1m30s, 2 min, 1.5 minutes; the content's length when longer
    mood: mysterious                   # calm | mysterious | tense | happy | sad
    music: slow strings in D minor, 70 bpm  # or `music: none`; without the line, a bed in the mood
    ambience: rain on the roof         # one background bed per line (also `background:`)
    [sfx] knock at the door            # an effect here; also `SFX: ...`, `(door slams)`, `*door slams*`
    NARRATOR: The storm had been ...   # a spoken line; NAME (female|male|child|boy|girl...): picks the voice
    @12.5 [sfx] bell                   # any line may start with @SECONDS (or @M:SS) to place it there

Speaker names may be any letters (``ZOË``); a name in capitals, a name with a voice hint, or one or two
capitalised words make a speaker, while ``Note:``, ``Scene:``, ``Later that night:`` and the like are
directions. Other lines are prose: quoted text becomes narration and whole sound words (rain, door,
bell, dog, glass, ...) become effects or ambience. A line that yields nothing is reported in the plan's
notes (``line N not placed: ...``), never silently dropped. Events are laid out in order: each line
starts where the previous one ends (effects overlap what follows by part of their length), with a
lead-in and a tail. Voices come from :mod:`agents.audio.casting`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agents.audio.casting import Casting
from agents.audio.generators.sfx_catalog import CATALOG, keyword_recipe, timing
from agents.audio.timeline import AudioEvent, MusicSpec, Timeline

LEAD_IN_S = 1.0
TAIL_S = 1.5
SPEECH_GAP_S = 0.35
WORDS_PER_S = 3.4
"""Speaking rate the planner assumes (Piper, flite and espeak-ng at 165 wpm say 3.3-3.7 words/s); the
plan's slots move to the real length of each line after it is spoken."""
TEMPO_RANGE = (30.0, 220.0)

MOOD_WORDS = {
    "mysterious": ("storm", "night", "dark", "mystery", "mysterious", "stranger", "fog", "shadow"),
    "tense": ("tense", "danger", "chase", "fear", "alarm", "run"),
    "happy": ("happy", "sunny", "party", "bright", "cheerful", "laugh"),
    "sad": ("sad", "loss", "funeral", "alone", "tears"),
}
PROGRESSIONS = {
    ("minor", "mysterious"): ("i", "VI", "III", "VII"), ("minor", "tense"): ("i", "ii°", "V", "i"),
    ("minor", "sad"): ("i", "iv", "i", "V"), ("minor", "calm"): ("i", "iv", "VI", "v"),
    ("major", "happy"): ("I", "V", "vi", "IV"), ("major", "calm"): ("I", "IV", "vi", "V"),
}  # fmt: skip
INSTRUMENTS = {"strings": 48, "piano": 0, "pad": 89, "guitar": 24, "harp": 46, "organ": 19, "choir": 52,
               "jazz": 0, "synth": 81, "flute": 73, "violin": 40, "cello": 42, "brass": 61}  # fmt: skip

NOT_SPEAKERS = frozenset(
    [
        "note",
        "notes",
        "scene",
        "setting",
        "location",
        "time",
        "later",
        "meanwhile",
        "summary",
        "description",
        "caption",
        "cut",
        "fade",
        "int",
        "ext",
        "interior",
        "exterior",
        "act",
        "chapter",
        "part",
        "end",
        "title",
        "sound",
        "sounds",
        "effect",
        "effects",
        "direction",
        "directions",
        "sfx",
        "fx",
        "music",
        "ambience",
        "ambiance",
        "background",
        "duration",
        "mood",
        "transition",
    ]
)
"""First words of a ``Word: ...`` line that make it a direction, not a speaker."""

_NAME = r"[^\W\d_][\w.'’ -]{0,30}?"
_SPEAKER = re.compile(rf"^(?P<name>{_NAME})\s*(?:\((?P<hint>[^)]{{1,30}})\))?\s*:\s*(?P<text>.*)$")
SETTING_KEYS = ("title", "duration", "length", "mood")
"""``key:`` lines that set the scene's parameters, not a sound."""
MUSIC_KEYS = ("music", "score")
BED_KEYS = ("ambience", "ambiance", "background", "atmosphere")
SFX_WORDS = ("sfx", "fx", "sound effect", "sound")
"""The words that name a line's kind of sound: ``music:``, ``ambience:``, ``[sfx]`` / ``SFX:``."""
_KEY = re.compile(rf"^({'|'.join(SETTING_KEYS + MUSIC_KEYS + BED_KEYS)})\s*:\s*(.+)$", re.IGNORECASE)
_SFX_WORD = "|".join(SFX_WORDS)
_SFX = re.compile(
    rf"^(?:\[(?:{_SFX_WORD})\s*[:\]]\s*(.+?)\]?|(?:{_SFX_WORD})\s*:\s*(.+))$",
    re.IGNORECASE,
)
"""An effect named as one: ``[sfx] ...``, ``[SFX: ...]``, ``SFX: ...`` (any description renders)."""
_DIRECTION_LINE = re.compile(r"^(?:\((.+)\)|\*(.+)\*|\[(.+)\])$")
"""A stage direction: ``(door slams)``, ``*door slams*``, ``[door slams]`` (placed when it names a sound)."""
_AT = re.compile(r"^(?:@\s*|\[)\s*(\d+(?::\d{1,2})?(?:\.\d+)?)\s*s?\]?\s+(.+)$")
_DIRECTION = re.compile(r"\(([^)]*)\)")


def estimate_speech_s(text: str) -> float:
    """Planned length of a spoken line: words at :data:`WORDS_PER_S` plus pauses at punctuation."""
    words = len(text.split())
    pauses = len(re.findall(r"[,;:.!?](?=\s|$)", text))
    return round(0.1 + words / WORDS_PER_S + 0.08 * pauses, 2)


def parse_seconds(text: str) -> float | None:
    """``1:30``, ``90``, ``90s``, ``1m30s``, ``2 min``, ``1.5 minutes``, ``1h`` -> seconds (None if none)."""
    t = text.strip().lower()
    if m := re.fullmatch(r"(?:(\d+):)?(\d+):(\d{1,2}(?:\.\d+)?)", t):
        return int(m.group(1) or 0) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
    total, found = 0.0, False
    units = {"h": 3600, "hr": 3600, "hour": 3600, "hours": 3600, "m": 60, "min": 60, "mins": 60,
             "minute": 60, "minutes": 60, "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
             "": 1}  # fmt: skip
    for num, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", t):
        if unit not in units:
            continue
        total += float(num) * units[unit]
        found = True
    return total if found else None


@dataclass(kw_only=True)
class _Layout:
    cursor_s: float = LEAD_IN_S
    events: list[AudioEvent] = field(default_factory=list)
    casting: Casting = field(default_factory=Casting)
    counts: dict[str, int] = field(default_factory=dict)

    def next_id(self, kind: str) -> str:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        return f"{kind}-{self.counts[kind]}"

    def speech(self, speaker: str, hint: str | None, text: str) -> None:
        duration = estimate_speech_s(text)
        event = AudioEvent(id=self.next_id("speech"), kind="speech", start_s=round(self.cursor_s, 3),
                           duration_s=duration, text=text, speaker=speaker,
                           voice=self.casting.voice_for(speaker, hint))  # fmt: skip
        self.events.append(event)
        self.cursor_s += duration + SPEECH_GAP_S

    def sfx(self, description: str) -> None:
        duration, advance = timing(description)
        self.events.append(AudioEvent(id=self.next_id("sfx"), kind="sfx", start_s=round(self.cursor_s, 3),
                                      duration_s=duration, description=description))  # fmt: skip
        self.cursor_s += advance


@dataclass(kw_only=True)
class _Header:
    title: str = "untitled"
    duration_s: float | None = None
    mood: str | None = None
    music: str | None = None
    ambience: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def plan_brief(brief: str, *, duration_s: float | None = None) -> Timeline:
    """Plan a text brief (format in the module docstring).

    Args:
        brief: the brief's text.
        duration_s: force the scene length (a video's), else the brief's ``duration:`` or the content's.
    """
    header, layout = _Header(), _Layout()
    for n, raw in enumerate(brief.splitlines(), 1):
        line = strip_comment(raw)
        if line:
            before = len(layout.events) + len(header.ambience)
            why = _plan_line(line, header, layout)
            if (
                why is not None
                or before == len(layout.events) + len(header.ambience)
                and not _KEY.match(_strip_at(line))
            ):
                header.notes.append(f"line {n} not placed: {why or 'nothing to render'}: {line[:80]!r}")
    content_s = max([layout.cursor_s + TAIL_S] + [e.end_s + TAIL_S for e in layout.events])
    total = duration_s or max(header.duration_s or 0.0, content_s)
    mood = header.mood or _guess_mood(brief)
    beds = [AudioEvent(id=layout.next_id("ambience"), kind="ambience", start_s=0.0, duration_s=total,
                       description=d) for d in header.ambience]  # fmt: skip
    if (header.music or "").lower() not in ("none", "no", "off") and (layout.events or header.ambience):
        music = _music_spec(header.music or "", mood, header.notes)
        beds.append(
            AudioEvent(
                id="music-1",
                kind="music",
                start_s=0.0,
                duration_s=total,
                description=header.music or f"{mood} underscore",
                music=music,
            )
        )
    return Timeline(title=header.title, duration_s=round(total, 3), events=(*beds, *layout.events),
                    notes=tuple(header.notes))  # fmt: skip


def strip_comment(raw: str) -> str:
    """A brief line without its comment (a ``#`` line, or `` # ...`` at the end) and outer spaces."""
    return "" if raw.lstrip().startswith("#") else re.sub(r"\s+#\s.*$", "", raw).strip()


def split_at(line: str) -> tuple[str, str]:
    """``"@12.5 [sfx] bell"`` -> ``("@12.5 ", "[sfx] bell")``; a line with no time gives ``("", line)``."""
    at = _AT.match(line)
    return (line[: at.start(2)], at.group(2).strip()) if at else ("", line)


def _strip_at(line: str) -> str:
    return split_at(line)[1]


def setting_line(line: str) -> bool:
    """A line that sets the scene's parameters (title, duration, mood, ``music: none``), not a sound."""
    key = _KEY.match(_strip_at(line))
    if key is None:
        return False
    name, value = key.group(1).lower(), key.group(2).strip().lower()
    return name in SETTING_KEYS or (name in MUSIC_KEYS and value in ("none", "no", "off"))


def _plan_line(line: str, header: _Header, layout: _Layout) -> str | None:
    """Place one line; returns why it could not be placed, or None."""
    at = _AT.match(line)
    if at:
        layout.cursor_s = parse_seconds(at.group(1)) or 0.0
        line = at.group(2).strip()
    if key := _KEY.match(line):
        return _header_line(key.group(1).lower(), key.group(2).strip(), header)
    if sfx := _SFX.match(line):
        layout.sfx(next(g for g in sfx.groups() if g).strip())
        return None
    if direction := _DIRECTION_LINE.match(line):
        text = next(g for g in direction.groups() if g).strip()
        if keyword_recipe(text) is None:
            return "a stage direction with no sound word"
        layout.sfx(text)
        return None
    who = _SPEAKER.match(line)
    if who and _is_speaker(who.group("name"), who.group("hint")):
        text = _DIRECTION.sub(" ", who.group("text")).strip()
        text = " ".join(text.split())
        if not re.search(r"\w", text):
            return "a speaker with no words"
        layout.speech(_speaker_name(who.group("name")), who.group("hint"), text)
        return None
    if who and who.group("name").strip().lower().split()[0] in ("note", "notes"):
        return "a note to the reader, not a sound"
    return _prose(line, header, layout)


def written_kinds(line: str) -> frozenset[str] | None:
    """The kinds of sound a line's own syntax names (``NAME: ...`` speech, ``[sfx]``, ``ambience:``,
    ``music:``; none for a setting), or None for prose and stage directions, which need reading."""
    body = _strip_at(line)
    if key := _KEY.match(body):
        name = key.group(1).lower()
        if name in MUSIC_KEYS:
            return frozenset({"music"})
        return frozenset({"ambience"}) if name in BED_KEYS else frozenset()
    if _SFX.match(body):
        return frozenset({"sfx"})
    who = _SPEAKER.match(body)
    if who and _is_speaker(who.group("name"), who.group("hint")):
        return frozenset({"speech"})
    return None


def is_direction(line: str) -> bool:
    """A stage direction (``(door slams)``, ``*door slams*``, ``[door slams]``): sounds, never speech."""
    body = _strip_at(line)
    return _DIRECTION_LINE.match(body) is not None and _SFX.match(body) is None


def _is_speaker(name: str, hint: str | None) -> bool:
    words = name.strip().split()
    if not words or words[0].lower().strip(".") in NOT_SPEAKERS:
        return False
    letters = [c for c in name if c.isalpha()]
    if hint or (letters and name.upper() == name and len(words) <= 4):
        return True
    return len(words) <= 2 and all(w[:1].isupper() for w in words)


def _speaker_name(name: str) -> str:
    return " ".join(w[:1].upper() + w[1:].lower() for w in name.strip().split())


def _header_line(key: str, value: str, header: _Header) -> str | None:
    if key == "title":
        header.title = value
    elif key in ("duration", "length"):
        seconds = parse_seconds(value)
        if seconds is None or seconds <= 0:
            return f"cannot read a duration in {value!r} (write 90s, 1:30 or 2 min)"
        header.duration_s = seconds
    elif key == "mood":
        header.mood = value.lower().split()[0]
    elif key in MUSIC_KEYS:
        header.music = value
    else:  # BED_KEYS
        header.ambience.append(value)
    return None


def _prose(line: str, header: _Header, layout: _Layout) -> str | None:
    """Free text: quotes are narration, whole sound words are effects (or ambience, once per kind)."""
    placed = False
    for part in re.split(r"(\"[^\"]+\"|“[^”]+”)", line):
        if len(part) > 2 and part[0] in '"“' and part[-1] in '"”':
            layout.speech("Narrator", None, part[1:-1])
            placed = True
            continue
        for sentence in re.split(r"(?<=[.!?])\s+", part):
            name = keyword_recipe(sentence)
            if name is None:
                continue
            placed = True
            taken = {keyword_recipe(a) for a in header.ambience}
            if CATALOG[name].ambience:
                if name not in taken:
                    header.ambience.append(sentence.strip() or name)
            else:
                layout.sfx(sentence.strip())
    return None if placed else "no quoted speech and no sound word"


def _guess_mood(text: str) -> str:
    low = text.lower()
    scores = {
        mood: sum(len(re.findall(rf"\b{w}\b", low)) for w in words) for mood, words in MOOD_WORDS.items()
    }
    best = max(scores, key=lambda m: scores[m])
    return best if scores[best] > 0 else "calm"


def _music_spec(description: str, mood: str, notes: list[str]) -> MusicSpec:
    """Key, mode, tempo and instrument from a music line (``slow strings in D minor, 70 bpm``).

    A key is a capital letter (``in D``, ``in F# minor``) or any letter followed by major/minor, so
    ``in a cafe`` is no key. A tempo outside 30-220 bpm is clamped, with a note.
    """
    low = description.lower()
    key = re.search(r"\bin ([A-G])([#b♯♭]?)(?:\s*(major|minor))?\b", description) or re.search(
        r"\bin ([a-g])([#b]?)\s*(major|minor)\b", low
    )
    mode_word = key.group(3).lower() if key and key.group(3) else None
    mode = mode_word or ("major" if mood in ("happy", "calm") else "minor")
    tempo = re.search(r"(\d{1,4}(?:\.\d+)?)\s*bpm", low)
    default_tempo = {"tense": 110.0, "happy": 112.0}.get(mood, 72.0)
    bpm = float(tempo.group(1)) if tempo else default_tempo
    if not TEMPO_RANGE[0] <= bpm <= TEMPO_RANGE[1]:
        clamped = min(max(bpm, TEMPO_RANGE[0]), TEMPO_RANGE[1])
        notes.append(
            f"music: {bpm:g} bpm is outside {TEMPO_RANGE[0]:g}-{TEMPO_RANGE[1]:g}; using {clamped:g}"
        )
        bpm = clamped
    program = next((p for word, p in INSTRUMENTS.items() if re.search(rf"\b{word}\b", low)), None)
    progression = PROGRESSIONS.get((mode, mood)) or PROGRESSIONS[(mode, "calm")]
    name = (key.group(1).upper() + key.group(2).replace("♯", "#").replace("♭", "b")) if key else None
    return MusicSpec(key=name or ("C" if mode == "major" else "D"), mode=mode,  # type: ignore[arg-type]
                     tempo_bpm=bpm, progression=progression, mood=mood, program=program)  # fmt: skip
