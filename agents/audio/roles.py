"""The audio team's LLM critic: one verdict per clip (the LLM planner is :mod:`agents.audio.llm_planner`).

It runs on a pool engine through :class:`agents.llm_role.LLMRole` (schema-constrained where the engine
supports it, validated, repaired and retried). The critic's word is recorded, and only a valid
``approve: false`` sends a clip back.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from agents.audio.timeline import AudioEvent

CRITIC_PROMPT = (
    "You are the critic of a sound team. Given one rendered event and its measurements, say whether it fits "
    "the plan. Approve unless something is clearly wrong."
)


CRITIC_EXAMPLES: tuple[tuple[str, str], ...] = (
    ("Event speech-3: speech, planned 2.10 s at 6.20 s: 'Who is there?'. Rendered: 9.70 s, flite voice slt.",
     '{"approve": false, "comment": "a short line rendered at more than four times its planned length"}'),
    ("Event sfx-2: sfx, planned 1.50 s at 4.00 s: 'a door slams'. Rendered: 1.48 s, recipe door "
     "(similarity 0.81).",
     '{"approve": true, "comment": "a door slam of the planned length"}'),
)  # fmt: skip
"""Worked examples, given as earlier turns of the chat (a small model copies their form)."""


class CriticVerdict(BaseModel):
    """What the LLM critic must return for one clip."""

    model_config = ConfigDict(extra="forbid")

    approve: bool
    comment: str = Field(default="", max_length=400)


def critic_prompt(event: AudioEvent, detail: str, duration_s: float) -> str:
    what = event.text or event.description
    return (
        f"Event {event.id}: {event.kind}, planned {event.duration_s:.2f} s at {event.start_s:.2f} s: "
        f"{what!r}. Rendered: {duration_s:.2f} s, {detail}."
    )
