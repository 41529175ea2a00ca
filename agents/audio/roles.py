"""The audio team's LLM roles: a planner (brief -> timeline) and a critic (one verdict per clip).

Both run on a pool engine through :class:`agents.llm_role.LLMRole` (schema-constrained where the engine
supports it, validated, repaired and retried). The planner falls back to the rule-based planner when the
LLM gives no valid plan; the critic's word is recorded, and only a valid ``approve: false`` sends a clip
back.
"""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agents.audio.planner import plan_brief
from agents.audio.timeline import AudioEvent, Timeline
from agents.llm_role import LLMRole
from common.generation import Generator

logger = logging.getLogger(__name__)

PLANNER_PROMPT = (
    "You plan a soundtrack. Turn the brief into audio events on a timeline (seconds). Kinds: speech "
    "(say `text` in a `voice`: male, female, male2, female2, child), sfx (a sound `description`, any "
    "sound), ambience (a background bed), music (one bed). Keep every line of the brief; speech lines "
    "must not overlap."
)
PLANNER_SCHEMA_HINT = (
    '{"title": str, "duration_s": number, "events": [{"id": str, "kind": "speech"|"sfx"|"ambience"|'
    '"music", "start_s": number, "duration_s": number, "text": str, "description": str, "speaker": str, '
    '"voice": str}]}\nExample: {"title": "Door", "duration_s": 6, "events": [{"id": "e1", "kind": '
    '"ambience", "start_s": 0, "duration_s": 6, "description": "rain"}, {"id": "e2", "kind": "speech", '
    '"start_s": 1, "duration_s": 2, "text": "Who is there?", "speaker": "Anna", "voice": "female"}, '
    '{"id": "e3", "kind": "sfx", "start_s": 3.5, "duration_s": 1, "description": "a knock at the door"}]}'
)
"""The plan's shape in the prompt: a compact schema and one short example (the full JSON schema of
:class:`PlanDraft` goes with the request for engines that constrain decoding)."""
PLANNER_MAX_TOKENS = 1024
PLANNER_CONTEXT_TOKENS = 2048
"""The planner's prompt, a brief of a few hundred words and its answer fit this context."""
CRITIC_PROMPT = (
    "You are the critic of a sound team. Given one rendered event and its measurements, say whether it fits "
    "the plan. Approve unless something is clearly wrong."
)


class PlanEvent(BaseModel):
    """One event as the LLM planner writes it (the fields a plan needs; the reviewer fills the rest)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=40)
    kind: Literal["speech", "sfx", "ambience", "music"]
    start_s: float = Field(ge=0, le=1800)
    duration_s: float = Field(gt=0, le=1800)
    text: str = Field(default="", max_length=2000)
    description: str = Field(default="", max_length=300)
    speaker: str | None = Field(default=None, max_length=60)
    voice: str | None = Field(default=None, max_length=20)


class PlanDraft(BaseModel):
    """What the LLM planner must return."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(default="untitled", max_length=200)
    duration_s: float = Field(gt=0, le=1800)
    events: list[PlanEvent] = Field(min_length=1, max_length=400)


class CriticVerdict(BaseModel):
    """What the LLM critic must return for one clip."""

    model_config = ConfigDict(extra="forbid")

    approve: bool
    comment: str = Field(default="", max_length=400)


def llm_plan(engine: Generator, brief: str, *, expert: str, duration_s: float | None = None) -> Timeline:
    """The LLM's plan, or the rule-based plan (with a note saying why) when it gives no valid one."""
    role = LLMRole("planner", engine, PlanDraft, system_prompt=PLANNER_PROMPT, max_tokens=PLANNER_MAX_TOKENS,
                   schema_hint=PLANNER_SCHEMA_HINT)  # fmt: skip
    [out] = role.run([brief + (f"\nThe scene lasts {duration_s:g} s." if duration_s else "")])
    if out.value is None:
        logger.warning(
            "LLM planner %s gave no valid plan after %d attempts; using the rule-based planner",
            expert,
            out.attempts,
        )
        fallback = plan_brief(brief, duration_s=duration_s)
        note = f"LLM planner {expert!r}: no valid plan in {out.attempts} attempts ({out.errors[-1][:120]})"
        return fallback.model_copy(
            update={"planner": f"rule_based (fallback from {expert})", "notes": (note,)}
        )
    d = out.value
    events = tuple(AudioEvent(**e.model_dump()) for e in d.events)
    return Timeline(
        title=d.title, duration_s=duration_s or d.duration_s, events=events, planner=f"llm:{expert}"
    )


def critic_prompt(event: AudioEvent, detail: str, duration_s: float) -> str:
    what = event.text or event.description
    return (
        f"Event {event.id}: {event.kind}, planned {event.duration_s:.2f} s at {event.start_s:.2f} s: "
        f"{what!r}. Rendered: {duration_s:.2f} s, {detail}."
    )
