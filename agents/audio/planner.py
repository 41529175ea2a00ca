"""The rule-based planner: a text brief to a timeline, deterministically, with no model.

A brief is plain text. Lines it understands (case-insensitive keys)::

    title: The cabin in the storm
    duration: 26s                      # optional; the content's length when longer
    mood: mysterious                   # calm | mysterious | tense | happy | sad
    music: slow strings in D minor, 70 bpm  # or `music: none`; without the line, a bed in the mood
    ambience: rain on the roof         # one background bed per line, over the whole scene
    [sfx] knock at the door            # a sound effect at the current position
    NARRATOR: The storm had been ...   # a spoken line; NAME (female): ... picks the voice
    @12.5 [sfx] bell                   # any line may start with @SECONDS to place it there

Other lines are prose: quoted text becomes narration and sound words (rain, door, bell, ...) become
effects or ambience. Events are laid out in order: each line starts where the previous one ends (effects
overlap what follows by part of their length), with a lead-in and a tail. Each new speaker gets the next
voice label (male, female, male2, female2, ...; ``(male)``/``(female)`` after the name chooses).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agents.audio.generators.sfx_recipes import recipe_for
from agents.audio.timeline import AudioEvent, MusicSpec, Timeline

LEAD_IN_S = 1.0
TAIL_S = 1.5
SPEECH_GAP_S = 0.35
WORDS_PER_S = 3.4
"""Speaking rate the planner assumes (Piper, flite and espeak-ng at 165 wpm say 3.3-3.7 words/s);
the supervisor retimes a line whose real length is off."""

SFX_TIMING = {
    "thunder": (3.0, 1.2), "footsteps": (2.2, 2.3), "knock": (0.8, 0.9), "door": (1.6, 1.7),
    "bell": (3.0, 1.0), "impact": (1.0, 0.9), "whoosh": (1.0, 0.8), "crowd": (2.5, 2.5),
    "rain": (3.0, 3.0), "wind": (3.0, 3.0), "birds": (3.0, 3.0), "room tone": (3.0, 3.0),
}  # fmt: skip
"""Recipe -> (duration_s, how far the next line starts after it)."""

AMBIENCE_RECIPES = ("rain", "wind", "crowd", "birds", "room tone")

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
INSTRUMENTS = {"strings": 48, "piano": 0, "pad": 89, "guitar": 24, "harp": 46, "organ": 19, "choir": 52}

_SPEAKER = re.compile(r"^([A-Z][A-Za-z0-9 .'-]{0,30}?)\s*(?:\((male|female)\))?\s*:\s*(.+)$")
_KEY = re.compile(r"^(title|duration|mood|music|ambience|ambiance)\s*:\s*(.+)$", re.IGNORECASE)
_SFX = re.compile(r"^\[(?:sfx|fx|sound)\]\s*(.+)$", re.IGNORECASE)
_AT = re.compile(r"^@\s*(\d+(?:\.\d+)?)\s*s?\s+(.+)$")


def estimate_speech_s(text: str) -> float:
    """Planned length of a spoken line: words at :data:`WORDS_PER_S` plus pauses at punctuation."""
    words = len(text.split())
    pauses = len(re.findall(r"[,;:.!?](?=\s|$)", text))
    return round(0.1 + words / WORDS_PER_S + 0.08 * pauses, 2)


@dataclass
class _Layout:
    cursor_s: float = LEAD_IN_S
    events: list[AudioEvent] = field(default_factory=list)
    voices: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def next_id(self, kind: str) -> str:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        return f"{kind}-{self.counts[kind]}"

    def voice_for(self, speaker: str, gender: str | None) -> str:
        if speaker not in self.voices:
            taken = set(self.voices.values())
            order = [f"{g}{s}" for s in ("", "2", "3") for g in ((gender,) if gender else ("male", "female"))]
            self.voices[speaker] = next((v for v in order if v not in taken), order[0])
        return self.voices[speaker]

    def speech(self, speaker: str, gender: str | None, text: str) -> None:
        duration = estimate_speech_s(text)
        event = AudioEvent(id=self.next_id("speech"), kind="speech", start_s=round(self.cursor_s, 3),
                           duration_s=duration, text=text, speaker=speaker,
                           voice=self.voice_for(speaker, gender))  # fmt: skip
        self.events.append(event)
        self.cursor_s += duration + SPEECH_GAP_S

    def sfx(self, description: str) -> None:
        duration, advance = SFX_TIMING.get(recipe_for(description) or "", (1.5, 1.5))
        self.events.append(AudioEvent(id=self.next_id("sfx"), kind="sfx", start_s=round(self.cursor_s, 3),
                                      duration_s=duration, description=description))  # fmt: skip
        self.cursor_s += advance


@dataclass
class _Header:
    title: str = "untitled"
    duration_s: float | None = None
    mood: str | None = None
    music: str | None = None
    ambience: list[str] = field(default_factory=list)


def plan_brief(brief: str, *, duration_s: float | None = None) -> Timeline:
    """Plan a text brief (format in the module docstring).

    Args:
        brief: the brief's text.
        duration_s: force the scene length (a video's), else the brief's ``duration:`` or the content's.
    """
    header, layout = _Header(), _Layout()
    for raw in brief.splitlines():
        line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if line:
            _plan_line(line, header, layout)
    content_s = max([layout.cursor_s + TAIL_S] + [e.end_s + TAIL_S for e in layout.events])
    total = duration_s or max(header.duration_s or 0.0, content_s)
    mood = header.mood or _guess_mood(brief)
    beds = [AudioEvent(id=layout.next_id("ambience"), kind="ambience", start_s=0.0, duration_s=total,
                       description=d) for d in header.ambience]  # fmt: skip
    if (header.music or "").lower() not in ("none", "no", "off"):
        music = _music_spec(header.music or "", mood)
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
    return Timeline(title=header.title, duration_s=round(total, 3), events=(*beds, *layout.events))


def _plan_line(line: str, header: _Header, layout: _Layout) -> None:
    at = _AT.match(line)
    if at:
        layout.cursor_s = float(at.group(1))
        line = at.group(2).strip()
    if key := _KEY.match(line):
        _header_line(key.group(1).lower(), key.group(2).strip(), header)
    elif sfx := _SFX.match(line):
        layout.sfx(sfx.group(1).strip())
    elif who := _SPEAKER.match(line):
        layout.speech(who.group(1).strip().title(), who.group(2), who.group(3).strip())
    else:
        _prose(line, header, layout)


def _header_line(key: str, value: str, header: _Header) -> None:
    if key == "title":
        header.title = value
    elif key == "duration":
        header.duration_s = float(re.sub(r"[^\d.]", "", value) or 0) or None
    elif key == "mood":
        header.mood = value.lower().split()[0]
    elif key == "music":
        header.music = value
    else:
        header.ambience.append(value)


def _prose(line: str, header: _Header, layout: _Layout) -> None:
    """Free text: quotes are narration, sound words are effects (or ambience, once per kind)."""
    for part in re.split(r"(\"[^\"]+\")", line):
        if part.startswith('"') and part.endswith('"') and len(part) > 2:
            layout.speech("Narrator", None, part.strip('"'))
            continue
        for sentence in re.split(r"(?<=[.!?])\s+", part):
            name = recipe_for(sentence)
            if name is None:
                continue
            taken = {recipe_for(a) for a in header.ambience}
            if name in AMBIENCE_RECIPES and name not in taken:
                header.ambience.append(sentence.strip() or name)
            elif name not in AMBIENCE_RECIPES:
                layout.sfx(sentence.strip())


def _guess_mood(text: str) -> str:
    low = text.lower()
    scores = {mood: sum(low.count(w) for w in words) for mood, words in MOOD_WORDS.items()}
    best = max(scores, key=lambda m: scores[m])
    return best if scores[best] > 0 else "calm"


def _music_spec(description: str, mood: str) -> MusicSpec:
    """Key, mode, tempo and instrument from a music line (``slow strings in D minor, 70 bpm``)."""
    low = description.lower()
    key = re.search(r"\bin ([a-g])([#b]?)\s*(major|minor)?", low)
    mode = key.group(3) if key and key.group(3) else ("major" if mood in ("happy", "calm") else "minor")
    tempo = re.search(r"(\d{2,3})\s*bpm", low)
    default_tempo = {"tense": 110.0, "happy": 112.0}.get(mood, 72.0)
    program = next((p for word, p in INSTRUMENTS.items() if word in low), None)
    progression = PROGRESSIONS.get((mode, mood)) or PROGRESSIONS[(mode, "calm")]
    return MusicSpec(key=(key.group(1).upper() + key.group(2)) if key else ("C" if mode == "major" else "D"),
                     mode=mode, tempo_bpm=float(tempo.group(1)) if tempo else default_tempo,
                     progression=progression, mood=mood, program=program)  # fmt: skip
