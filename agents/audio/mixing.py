"""The mix supervisor: mix, check the delivery and every event in the mix, fix and remix within a budget.

Fixes it sends back (journaled as each attempt's :class:`MixVerdict`):

- a line whose speech-band level does not clear what is under it: ``change_gain`` on the effects and
  beds overlapping it, by the shortfall plus 1 dB;
- an event whose onset in the mix is off the plan: ``trim``, shifting its placement by the error;
- loudness or true peak off the delivery target: ``change_gain`` on the limiter margin (0.5 dB more).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict

from agents.audio.checks import BED_REFERENCE_S, ONSET_REFERENCE_S, measure_onset_s, mix_checks, speech_snr_db
from agents.audio.config import AudioJobConfig
from agents.audio.mixer import MixResult, render_mix
from agents.audio.timeline import AudioEvent, Timeline
from agents.blackboard import Blackboard
from agents.messages import CheckResult, Instruction


class MixVerdict(BaseModel):
    """One mix attempt: the settings it used, its checks, and the settings for the next attempt."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    attempt: int
    gain_db: dict[str, float]
    shift_s: dict[str, float]
    margin_db: float
    checks: tuple[CheckResult, ...]
    event_checks: dict[str, tuple[CheckResult, ...]]
    onsets_s: dict[str, float | None]
    passed: bool
    instruction: Instruction
    next_gain_db: dict[str, float]
    next_shift_s: dict[str, float]
    next_margin_db: float


def mix_once(
    timeline: Timeline,
    clips: Mapping[str, np.ndarray],
    cfg: AudioJobConfig,
    *,
    gain_db: Mapping[str, float],
    shift_s: Mapping[str, float],
    margin_db: float,
) -> MixResult:
    """One mix with the given per-event gains, placement shifts and limiter margin."""
    placed = timeline.model_copy(
        update={
            "events": tuple(
                e.model_copy(update={"start_s": e.start_s + shift_s.get(e.id, 0.0)}) for e in timeline.events
            )
        }
    )
    mix_cfg = cfg.mix.model_copy(update={"limiter_margin_db": margin_db})
    return render_mix(
        placed,
        clips,
        sample_rate=cfg.delivery.sample_rate,
        delivery=cfg.delivery,
        cfg=mix_cfg,
        gain_db=gain_db,
    )


def judge_mix(
    timeline: Timeline,
    clips: Mapping[str, np.ndarray],
    result: MixResult,
    cfg: AudioJobConfig,
    attempt: int,
    gain_db: Mapping[str, float],
    shift_s: Mapping[str, float],
    margin_db: float,
) -> MixVerdict:
    """Measure a mix and decide what the next attempt changes."""
    sr = cfg.delivery.sample_rate
    checks = mix_checks(result.mix, sr, cfg.delivery)
    per_event: dict[str, tuple[CheckResult, ...]] = {}
    onsets: dict[str, float | None] = {}
    next_gain, next_shift, next_margin = dict(gain_db), dict(shift_s), margin_db
    reasons: list[str] = []
    for e in timeline.events:
        onsets[e.id] = _onset(e, clips[e.id], result, cfg, shift_s.get(e.id, 0.0))
        err = None if onsets[e.id] is None else onsets[e.id] - e.start_s  # type: ignore[operator]
        ev = [CheckResult.compare("onset_error_s", err, cfg.checks.onset_tolerance_s, "abs<=", "s")]
        if err is not None and not ev[0].passed:
            next_shift[e.id] = round(shift_s.get(e.id, 0.0) - err, 4)
            reasons.append(f"{e.id} onset off by {err * 1000:.0f} ms")
        if e.kind == "speech":
            snr = speech_snr_db(result.stems[e.id], result.mix - result.stems[e.id], e, sr)
            ev.append(
                CheckResult.compare("speech_band_snr_db", snr, cfg.checks.min_speech_snr_db, ">=", "dB")
            )
            if not ev[-1].passed:
                _lower_overlaps(timeline, e.id, cfg.checks.min_speech_snr_db - snr + 1.0, next_gain)
                reasons.append(f"{e.id} speech {snr:.1f} dB over the bed")
        per_event[e.id] = tuple(ev)
    if not all(c.passed for c in checks):
        next_margin = margin_db + 0.5
        reasons.append("delivery loudness/peak off target")
    passed = not reasons
    instruction = (
        Instruction(action="accept", reason="mix checks passed")
        if passed
        else Instruction(
            action="trim" if all("onset" in r for r in reasons) else "change_gain", reason="; ".join(reasons)
        )
    )
    return MixVerdict(
        attempt=attempt,
        gain_db=dict(gain_db),
        shift_s=dict(shift_s),
        margin_db=margin_db,
        checks=tuple(checks),
        event_checks=per_event,
        onsets_s=onsets,
        passed=passed,
        instruction=instruction,
        next_gain_db=next_gain,
        next_shift_s=next_shift,
        next_margin_db=next_margin,
    )


def _onset(
    e: AudioEvent, clip: np.ndarray, result: MixResult, cfg: AudioJobConfig, shift_s: float
) -> float | None:
    """The event's onset in the mix (beds: a long reference past their fade-in)."""
    bed = e.kind in ("music", "ambience")
    return measure_onset_s(
        result.mix,
        clip,
        e.start_s + shift_s,
        cfg.delivery.sample_rate,
        offset_s=cfg.mix.bed_fade_s if bed else 0.0,
        reference_s=BED_REFERENCE_S if bed else ONSET_REFERENCE_S,
    )


def _lower_overlaps(timeline: Timeline, speech_id: str, by_db: float, gains: dict[str, float]) -> None:
    s = timeline.event(speech_id)
    for e in timeline.events:
        if e.kind != "speech" and e.start_s < s.end_s and e.end_s > s.start_s:
            gains[e.id] = round(gains.get(e.id, 0.0) - by_db, 2)


def supervise_mix(
    board: Blackboard, timeline: Timeline, clips: Mapping[str, np.ndarray], cfg: AudioJobConfig
) -> tuple[MixVerdict, MixResult]:
    """Mix until the checks pass or ``mix_attempts`` is spent; every verdict is a blackboard entry."""
    gain: dict[str, float] = {}
    shift: dict[str, float] = {}
    margin = cfg.mix.limiter_margin_db
    verdict: MixVerdict | None = None
    result: MixResult | None = None
    for n in range(1, cfg.mix_attempts + 1):
        result = mix_once(timeline, clips, cfg, gain_db=gain, shift_s=shift, margin_db=margin)
        settings = (gain, shift, margin)
        verdict = board.step(
            f"mix/{n}/verdict",
            MixVerdict,
            lambda n=n, r=result, s=settings: judge_mix(timeline, clips, r, cfg, n, *s),
        )
        if verdict.passed:
            break
        gain, shift, margin = verdict.next_gain_db, verdict.next_shift_s, verdict.next_margin_db
    assert verdict is not None and result is not None  # mix_attempts >= 1
    return verdict, result
