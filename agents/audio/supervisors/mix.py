"""The mix supervisor: mix (with :mod:`agents.audio.mixer`), check the delivery and every event in the mix,
fix and remix within a budget.

Fixes it sends back (journaled as each attempt's :class:`MixVerdict`):

- a line whose speech-band level does not clear what is under it: ``change_gain`` on the effects and
  beds overlapping it, by the shortfall plus 1 dB;
- an event whose audible onset, measured on its own stem (:mod:`agents.audio.onsets`), is off its slot
  by more than the tolerance, confidently: ``trim``, shifting its placement by the error (a
  low-confidence measurement is reported and moves nothing);
- loudness or true peak off the delivery target: ``change_gain`` on the limiter margin (0.5 dB more).

The delivered mix is the best attempt by a declared score (:func:`mix_score`): fewest failed checks,
then the smallest sum of absolute onset errors, then the earliest attempt.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict

from agents.audio.config import AudioJobConfig
from agents.audio.mixer import MixResult, render_mix
from agents.audio.onsets import Onset, detect_onset
from agents.audio.supervisors.checks import mix_checks, speech_snr_db
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
    onset_contrast_db: dict[str, float] = {}
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
    contrast: dict[str, float] = {}
    for e in timeline.events:
        ev: list[CheckResult] = []
        planned = e.start_s  # the slot, not where an earlier attempt moved the clip to
        onset = None if e.kind in ("music", "ambience") else _onset(e, result, sr, shift_s.get(e.id, 0.0))
        onsets[e.id] = None if onset is None else onset.time_s
        if onset is not None:
            contrast[e.id] = onset.contrast_db
            err = onset.time_s - planned
            check = CheckResult.compare("onset_error_s", err, cfg.checks.onset_tolerance_s, "abs<=", "s")
            if not check.passed and onset.contrast_db < cfg.checks.onset_min_contrast_db:
                detail = f"low confidence ({onset.contrast_db:.1f} dB); not moved"
                check = check.model_copy(update={"passed": True, "detail": detail})
            ev.append(check)
            if not check.passed:
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
        onset_contrast_db=contrast,
        passed=passed,
        instruction=instruction,
        next_gain_db=next_gain,
        next_shift_s=next_shift,
        next_margin_db=next_margin,
    )


def _onset(e: AudioEvent, result: MixResult, sr: int, shift_s: float) -> Onset | None:
    """The event's audible onset on its own stem, searched from 0.5 s before where it was placed."""
    placed = e.start_s + shift_s
    return detect_onset(result.stems[e.id], sr, max(0.0, placed - 0.5), placed + e.duration_s)


def mix_score(verdict: MixVerdict) -> tuple[int, float, int]:
    """Lower is better: failed checks (mix and per event), summed |onset error| (s), the attempt."""
    failed = sum(not c.passed for c in verdict.checks) + sum(
        not c.passed for checks in verdict.event_checks.values() for c in checks
    )
    errors = sum(abs(c.value or 0.0) for checks in verdict.event_checks.values() for c in checks
                 if c.name == "onset_error_s")  # fmt: skip
    return failed, round(errors, 6), verdict.attempt


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
    tried: list[tuple[MixVerdict, MixResult]] = []
    for n in range(1, cfg.mix_attempts + 1):
        result = mix_once(timeline, clips, cfg, gain_db=gain, shift_s=shift, margin_db=margin)
        settings = (gain, shift, margin)
        verdict = board.step(
            f"mix/{n}/verdict",
            MixVerdict,
            functools.partial(judge_mix, timeline, clips, result, cfg, n, *settings),
        )
        tried.append((verdict, result))
        if verdict.passed:
            break
        gain, shift, margin = verdict.next_gain_db, verdict.next_shift_s, verdict.next_margin_db
    return min(tried, key=lambda vr: mix_score(vr[0]))
