"""The event supervisor: model-free checks first, then (only when they pass) CLAP and the LLM critic.

It judges one attempt of one event (a :class:`~agents.audio.clips.ClipRecord`) and returns the
:class:`~agents.messages.Verdict` whose instruction the supervisor loop (:mod:`agents.supervisor`)
carries out: accept, regenerate with a change, or move to the next generator.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from agents.audio.clap import ClapCritic
from agents.audio.clips import ClipRecord, load_clip
from agents.audio.config import AudioJobConfig
from agents.audio.roles import CRITIC_EXAMPLES, CRITIC_PROMPT, CriticVerdict, critic_prompt
from agents.audio.supervisors.checks import event_verdict
from agents.audio.timeline import Timeline
from agents.llm_role import LLMRole
from agents.messages import CheckResult, Instruction, Verdict
from agents.supervisor import Attempt
from common.generation import Generator

logger = logging.getLogger(__name__)


class EventSupervisor:
    """Checks one attempt of one event and decides what happens next.

    Args:
        config: the job's config (``checks``, ``critic``, the delivery sample rate).
        timeline: the plan the attempts' events come from.
        clap: the CLAP critic (built on first use; called only when ``critic.clap_model`` is set).
        critic_engine: the engine of a pool expert (called only when ``critic.expert`` is set).
    """

    def __init__(
        self,
        config: AudioJobConfig,
        timeline: Timeline,
        *,
        clap: Callable[[], ClapCritic],
        critic_engine: Callable[[str], Generator],
    ) -> None:
        self.config = config
        self.timeline = timeline
        self.clap = clap
        self.critic_engine = critic_engine
        self.critic_name = config.critic.expert

    def check(self, attempt: Attempt, clip: ClipRecord) -> Verdict:
        event = self.timeline.event(attempt.task_id)
        verdict = event_verdict(event, clip, attempt.number, self.config.checks)
        if verdict.passed and self.config.critic.clap_model and event.kind != "speech":
            verdict = self._clap(verdict, clip)
        if not verdict.passed or self.critic_name is None:
            return verdict
        return self._critique(verdict, clip)

    def _clap(self, verdict: Verdict, clip: ClipRecord) -> Verdict:
        """CLAP's text-audio similarity as one more check (after the free ones passed)."""
        cfg = self.config.critic
        event = self.timeline.event(verdict.task_id)
        sr = self.config.delivery.sample_rate
        [score] = self.clap().score([event.description], [load_clip(clip, sr)], sr)
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
            self.critic_engine(self.critic_name),
            CriticVerdict,
            system_prompt=CRITIC_PROMPT,
            max_attempts=self.config.critic.max_attempts,
            max_tokens=64,
            examples=CRITIC_EXAMPLES,
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
