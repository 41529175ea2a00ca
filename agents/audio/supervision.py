"""The event supervisor team: model-free checks first, then (only when they pass) the model-based critic."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from agents.audio.checks import event_verdict
from agents.audio.clips import ClipRecord, load_clip
from agents.audio.roles import CRITIC_PROMPT, CriticVerdict, critic_prompt
from agents.audio.timeline import Timeline
from agents.llm_role import LLMRole
from agents.messages import CheckResult, Instruction, Verdict
from agents.supervisor import Attempt

if TYPE_CHECKING:
    from agents.audio.team import AudioTeam

logger = logging.getLogger(__name__)


class EventSupervisor:
    """Checks one attempt of one event and decides what happens next."""

    def __init__(self, team: AudioTeam, timeline: Timeline) -> None:
        self.team = team
        self.timeline = timeline
        self.critic_name = team.config.critic.expert

    def check(self, attempt: Attempt, clip: ClipRecord) -> Verdict:
        event = self.timeline.event(attempt.task_id)
        verdict = event_verdict(event, clip, attempt.number, self.team.config.checks)
        if verdict.passed and self.team.config.critic.clap_model and event.kind != "speech":
            verdict = self._clap(verdict, clip)
        if not verdict.passed or self.critic_name is None:
            return verdict
        return self._critique(verdict, clip)

    def _clap(self, verdict: Verdict, clip: ClipRecord) -> Verdict:
        """CLAP's text-audio similarity as one more check (after the free ones passed)."""
        cfg = self.team.config.critic
        event = self.timeline.event(verdict.task_id)
        sr = self.team.config.delivery.sample_rate
        [score] = self.team.clap().score([event.description], [load_clip(clip, sr)], sr)
        check = CheckResult.compare("clap_similarity", score, cfg.clap_min_score, ">=")
        if check.passed:
            return verdict.model_copy(update={"checks": (*verdict.checks, check)})
        return verdict.model_copy(
            update={
                "checks": (*verdict.checks, check),
                "passed": False,
                "instruction": Instruction(action="next_generator", reason=f"CLAP similarity {score:.2f}"),
            }
        )

    def _critique(self, verdict: Verdict, clip: ClipRecord) -> Verdict:
        """Ask the LLM critic; only a valid ``approve: false`` fails the attempt."""
        assert self.critic_name is not None
        event = self.timeline.event(verdict.task_id)
        role = LLMRole(
            "critic",
            self.team.engine(self.critic_name),
            CriticVerdict,
            system_prompt=CRITIC_PROMPT,
            max_attempts=self.team.config.critic.max_attempts,
            max_tokens=128,
        )
        [out] = role.run([critic_prompt(event, clip.detail, clip.duration_s)])
        if out.value is None:
            check = CheckResult.compare("critic_valid_json", float(out.attempts), 0, "<=")
            note = check.model_copy(
                update={"passed": True, "detail": f"critic unavailable: {out.errors[-1][:160]}"}
            )
            return verdict.model_copy(update={"checks": (*verdict.checks, note)})
        approve = CheckResult.compare("critic_approves", 1.0 if out.value.approve else 0.0, 1.0, ">=")
        approve = approve.model_copy(update={"detail": out.value.comment[:200]})
        if out.value.approve:
            return verdict.model_copy(update={"checks": (*verdict.checks, approve)})
        return verdict.model_copy(
            update={
                "checks": (*verdict.checks, approve),
                "passed": False,
                "instruction": Instruction(
                    action="next_generator", reason=f"critic: {out.value.comment[:200]}"
                ),
            }
        )
