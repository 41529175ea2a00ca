"""The LLM planner: a pool model reads the brief line by line; the rule-based layout times the result.

A model reads each line of the brief and says which sounds it asks for (:class:`LineReading`: speech with
speaker, voice and words; effects, ambience and music with a description). Timing is not asked of it:
the readings are written back as canonical brief lines (``Anna (female): ...``, ``[sfx] ...``,
``ambience: ...``) and laid out by :func:`agents.audio.planner.plan_brief`, like a user's brief, and the
reviewer later moves slots to the real spoken lengths. Reading one line at a time keeps every prompt
short (about 600 tokens with a real tokenizer, well inside a 2,048-token context) and lets the pool
engine batch all lines of a brief in one call, so a 135M-parameter model plans as well as a large one
can be asked to.

Every reading is checked against its line before it is used (:func:`reading_problem`): a line whose
syntax names its kind (``NAME: ...``, ``[sfx] ...``, ``ambience: ...``) must be read as that kind, a
stage direction (``*the phone rings*``) has no speech, a speaker must be named in the line, spoken
words must be the line's own (none invented, none repeated), a description must share a word with the
line, and the sounds must account for most of the line's content words. A reading that fails is sent
back with the problem (:class:`agents.llm_role.LLMRole` retries it), and a line the model never reads
well keeps its own text, which the rule-based parser reads; the plan's notes say which lines. Setting
lines (``title:``, ``duration:``, ``mood:``, ``music: none``) and comments are not sent to the model.
The request carries :class:`LineReading`'s JSON schema, so engines that constrain decoding (vLLM,
OpenAI-compatible servers) can only write valid JSON.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agents.audio.planner import (
    BED_KEYS,
    MUSIC_KEYS,
    SFX_WORDS,
    is_direction,
    plan_brief,
    setting_line,
    split_at,
    strip_comment,
    written_kinds,
)
from agents.audio.timeline import Timeline
from agents.llm_role import LLMRole
from common.generation import Generator

logger = logging.getLogger(__name__)

LINE_PROMPT = (
    "You read one line of a script for a soundtrack and list the sounds it asks for. Kinds: speech (a "
    "character speaks: speaker, voice male, female or child, and the exact words as text), sfx (a sound "
    "effect: description), ambience (a background sound: description), music (the score: description), "
    "none (no sound: a note or a heading)."
)
LINE_EXAMPLES: tuple[tuple[str, dict[str, object]], ...] = (
    ("MARK: Where did you put the keys?",
     {"events": [{"kind": "speech", "speaker": "Mark", "voice": "male",
                  "text": "Where did you put the keys?"}]}),
    ("[sfx] a glass shatters on the floor",
     {"events": [{"kind": "sfx", "description": "a glass shatters on the floor"}]}),
    ("ambience: busy street with traffic",
     {"events": [{"kind": "ambience", "description": "busy street with traffic"}]}),
    ("Lucy (girl): Look, a rabbit!",
     {"events": [{"kind": "speech", "speaker": "Lucy", "voice": "child", "text": "Look, a rabbit!"}]}),
    ("The dog barks twice and the phone rings.",
     {"events": [{"kind": "sfx", "description": "a dog barks twice"},
                 {"kind": "sfx", "description": "a phone rings"}]}),
    ("NARRATOR: It was late, and the house was quiet.",
     {"events": [{"kind": "speech", "speaker": "Narrator", "voice": "male",
                  "text": "It was late, and the house was quiet."}]}),
    ("ambience: rain on the window", {"events": [{"kind": "ambience", "description": "rain on the window"}]}),
    ("JANE (female): Is anyone home? Hello?",
     {"events": [{"kind": "speech", "speaker": "Jane", "voice": "female",
                  "text": "Is anyone home? Hello?"}]}),
    ("music: calm piano, 80 bpm", {"events": [{"kind": "music", "description": "calm piano, 80 bpm"}]}),
    ("Note: keep this part short.", {"events": [{"kind": "none"}]}),
)  # fmt: skip
"""Worked examples, given as earlier turns of the chat."""
LINE_MAX_TOKENS = 160
PLANNER_CONTEXT_TOKENS = 2048
"""The context every planner request fits: instructions, examples, one line, its answer and a repair."""
MIN_COVERAGE = 0.8
"""Share of a line's content words its sounds must account for (speaker, words or descriptions)."""

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")
_STOP = frozenset(
    ["the", "and", "but", "for", "with", "from", "into", "that", "this", "then", "than", "are", "was",
     "were", "has", "had", "have", "its", "his", "her", "their", "our", "your", "you", "she", "him",
     "they", "them", "who", "what", "not", "all", "any", "can"]
)  # fmt: skip
_BRACKETED = re.compile(r"\([^)]*\)|\[[^\]]*\]|\*[^*]*\*")
_KIND_WORD = re.compile(rf"^\s*(?:{'|'.join(SFX_WORDS + MUSIC_KEYS + BED_KEYS)})\s*:", re.IGNORECASE)
"""A line's leading kind word (``music:``), which says how to read it and is no sound to account for."""


class LineSound(BaseModel):
    """One sound a line asks for, as the model writes it."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["speech", "sfx", "ambience", "music", "none"]
    speaker: str | None = Field(default=None, max_length=40)
    voice: Literal["male", "female", "child"] | None = None
    text: str = Field(default="", max_length=600)
    description: str = Field(default="", max_length=200)


class LineReading(BaseModel):
    """What the model must return for one line."""

    model_config = ConfigDict(extra="forbid")

    events: list[LineSound] = Field(min_length=1, max_length=4)


def _words(text: str) -> list[str]:
    return [w.lower().replace("’", "'") for w in _WORD.findall(text)]


def _content(words: list[str]) -> set[str]:
    return {w for w in words if len(w) >= 3 and w not in _STOP}


def reading_problem(line: str, reading: LineReading) -> str | None:
    """What is wrong with ``reading`` as a reading of ``line`` (None when it can be used)."""
    written = written_kinds(line)
    read = {e.kind for e in reading.events} - {"none"}
    if written and not written <= read:  # sounds beyond it may come from a stage direction in the line
        return f"the line is written as {' and '.join(sorted(written))}; read it as that"
    if "speech" in read and is_direction(line):
        return "the line is a stage direction: list its sounds, nobody speaks it"
    line_words = _words(line)
    have = set(line_words)
    covered: set[str] = set()
    for e in reading.events:
        if e.kind == "none":
            continue
        if e.kind == "speech":
            spoken = _words(e.text)
            if not spoken:
                return "a speech event needs the words in `text`"
            if len(spoken) > len(line_words) or sum(w in have for w in spoken) < 0.9 * len(spoken):
                return f"`text` must be the line's own words, as written: {e.text[:80]!r} is not"
            speaker = _words(e.speaker or "")
            if speaker and speaker != ["narrator"] and not set(speaker) <= have:
                return f"the speaker {e.speaker!r} is not named in the line"
            covered |= set(spoken) | set(speaker)
        else:
            described = _words(e.description)
            if not _content(described) & have:
                return f"the {e.kind} description {e.description[:60]!r} shares no word with the line"
            covered |= set(described)
    bare = _KIND_WORD.sub(" ", line)
    spoken_or_sounding = _content(_words(_BRACKETED.sub(" ", bare))) or _content(_words(bare))
    if all(e.kind == "none" for e in reading.events):
        return None if not _sounds_in(line) else "the line asks for sounds; list them"
    missing = spoken_or_sounding - covered
    if spoken_or_sounding and 1 - len(missing) / len(spoken_or_sounding) < MIN_COVERAGE:
        return f"the events leave out words of the line ({', '.join(sorted(missing)[:6])}); include them"
    return None


def _sounds_in(line: str) -> bool:
    """Whether the rule-based parser finds any sound in ``line`` (the check of a model's "none")."""
    plan = plan_brief(f"music: none\n{line}")
    return bool(plan.events)


def canonical_lines(reading: LineReading, at: str) -> list[str]:
    """The brief lines that say what ``reading`` says (``at``: the original line's ``@time`` prefix)."""
    out: list[str] = []
    for e in reading.events:
        if e.kind == "speech":
            name = " ".join(_WORD.findall(e.speaker or "")[:3]).upper() or "NARRATOR"
            hint = f" ({e.voice})" if e.voice else ""
            text = " ".join(_BRACKETED.sub(" ", e.text).split())
            out.append(f"{name}{hint}: {text}")
        elif e.kind == "sfx":
            out.append(f"[sfx] {_one_line(e.description)}")
        elif e.kind in ("ambience", "music"):
            out.append(f"{e.kind}: {_one_line(e.description)}")
    return [at + out[0], *out[1:]] if out and at else out


def _one_line(text: str) -> str:
    return " ".join(text.replace("#", " ").split())


@dataclass(frozen=True, slots=True, kw_only=True)
class BriefReading:
    """What a model read of a brief: the brief rewritten in canonical lines, and how it went."""

    brief: str
    """The brief with each line the model read replaced by its canonical lines; the others as written."""
    asked: int
    """Lines sent to the model (not settings, comments or blank lines)."""
    repaired: int
    """Lines read after at least one repair round."""
    left: tuple[str, ...]
    """The lines left to the rules, each ``line N (why)``."""

    @property
    def read(self) -> int:
        return self.asked - len(self.left)

    def note(self, expert: str) -> str:
        """The plan's first note: how many lines the model read, and which it did not, with why."""
        return (
            f"LLM planner {expert!r}: read {self.read} of {self.asked} lines ({self.repaired} after a repair)"
            + (f"; kept as written, for the rules: {'; '.join(self.left)}" if self.left else "")
        )


def read_brief(engine: Generator, brief: str) -> BriefReading:
    """Have the model read every line of ``brief`` that asks for sound, checked and repaired per line."""
    role = LLMRole("planner", engine, LineReading, system_prompt=LINE_PROMPT, max_tokens=LINE_MAX_TOKENS,
                   check=lambda line, r: reading_problem(split_at(line)[1], r),
                   examples=[(q, json.dumps(a)) for q, a in LINE_EXAMPLES])  # fmt: skip
    lines = [strip_comment(raw) for raw in brief.splitlines()]
    asked = [n for n, line in enumerate(lines) if line and not setting_line(line)]
    results = role.run([lines[n] for n in asked]) if asked else []
    canonical = list(lines)
    left: list[str] = []
    repaired = 0
    for n, result in zip(asked, results, strict=True):
        if result.value is None:
            left.append(f"line {n + 1} ({result.errors[-1][:80]})")
            continue
        repaired += result.attempts > 1
        canonical[n] = "\n".join(canonical_lines(result.value, split_at(lines[n])[0]))
    return BriefReading(brief="\n".join(canonical), asked=len(asked), repaired=repaired, left=tuple(left))


def plan_reading(reading: BriefReading, *, expert: str, duration_s: float | None = None) -> Timeline:
    """The timeline of a model's reading, laid out by the rules; named for the rules when it read nothing."""
    plan = plan_brief(reading.brief, duration_s=duration_s)
    notes = (reading.note(expert), *plan.notes)
    if reading.asked and reading.read == 0:
        logger.warning("LLM planner %s read no line of the brief; the rule-based planner plans it", expert)
        return plan.model_copy(update={"planner": f"rule_based (fallback from {expert})", "notes": notes})
    return plan.model_copy(update={"planner": f"llm:{expert}", "notes": notes})


def llm_plan(engine: Generator, brief: str, *, expert: str, duration_s: float | None = None) -> Timeline:
    """The plan of the model's line readings; lines it never reads well keep their text (noted)."""
    return plan_reading(read_brief(engine, brief), expert=expert, duration_s=duration_s)
