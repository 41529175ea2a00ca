"""The audio team's LLM roles: a planner (brief -> timeline) and a critic (one verdict per clip).

Both run on a pool engine through :class:`agents.llm_role.LLMRole` (schema-constrained where the engine
supports it, validated, repaired and retried). The planner falls back to the rule-based planner when the
LLM gives no valid plan; the critic's word is recorded, and only a valid ``approve: false`` sends a clip
back.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel, ConfigDict, Field

from agents.audio.planner import plan_brief
from agents.audio.timeline import AudioEvent, Timeline
from agents.llm_role import LLMRole
from common.generation import Generator

logger = logging.getLogger(__name__)

PLANNER_PROMPT = (
    "You are the planner of a sound team. Turn the brief into a timeline of audio events. Kinds: speech "
    "(text, voice: male|female|male2|female2), sfx (description: rain, wind, footsteps, door, impact, "
    "thunder, bell, crowd, birds, whoosh, knock), music (one bed for the whole scene), ambience (beds). "
    "Times are in seconds; speech lines must not overlap."
)
CRITIC_PROMPT = (
    "You are the critic of a sound team. Given one rendered event and its measurements, say whether it fits "
    "the plan. Approve unless something is clearly wrong."
)


class PlanDraft(BaseModel):
    """What the LLM planner must return."""

    model_config = ConfigDict(extra="forbid")

    title: str = "untitled"
    duration_s: float = Field(gt=0, le=600)
    events: list[AudioEvent] = Field(min_length=1)


class CriticVerdict(BaseModel):
    """What the LLM critic must return for one clip."""

    model_config = ConfigDict(extra="forbid")

    approve: bool
    comment: str = Field(default="", max_length=400)


def llm_plan(engine: Generator, brief: str, *, expert: str, duration_s: float | None = None) -> Timeline:
    """The LLM's plan, or the rule-based plan (with a note saying why) when it gives no valid one."""
    role = LLMRole("planner", engine, PlanDraft, system_prompt=PLANNER_PROMPT, max_tokens=1024)
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
    return Timeline(
        title=d.title, duration_s=duration_s or d.duration_s, events=tuple(d.events), planner=f"llm:{expert}"
    )


def critic_prompt(event: AudioEvent, detail: str, duration_s: float) -> str:
    what = event.text or event.description
    return (
        f"Event {event.id}: {event.kind}, planned {event.duration_s:.2f} s at {event.start_s:.2f} s: "
        f"{what!r}. Rendered: {duration_s:.2f} s, {detail}."
    )
