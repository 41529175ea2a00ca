"""The model-free checks both supervisors run (event and mix), and the instruction each failure sends back.

Per event (on its clip): the generator worked, duration vs plan, loudness vs target, flat-topped
clipping in the generator's raw output, and the silence ratio. Per mix: integrated loudness vs the
delivery target, true peak and clipped samples, and for speech an intelligibility proxy (speech-band
energy of the line over everything else under it). Onsets are measured by :mod:`agents.audio.onsets`.
"""

from __future__ import annotations

import numpy as np

from agents.audio.clips import ClipRecord
from agents.audio.config import CheckConfig, DeliveryConfig
from agents.audio.levels import band_energy_db, clipped_samples, integrated_lufs, true_peak_dbtp
from agents.audio.timeline import AudioEvent
from agents.messages import CheckResult, Instruction, Verdict

SPEECH_BAND_HZ = (300.0, 3400.0)


def event_checks(event: AudioEvent, clip: ClipRecord, cfg: CheckConfig) -> list[CheckResult]:
    """The free checks of one clip (a generator error is one failed check and nothing else)."""
    if clip.error is not None:
        return [CheckResult.compare("generator_error", 1.0, 0.0, "<=")]
    if event.kind == "speech":
        low, high = cfg.speech_length_ratio
        ratio = clip.duration_s / event.duration_s
        mid, half = (low + high) / 2, (high - low) / 2
        duration = CheckResult.compare("speech_length_plausible", ratio - mid, half, "abs<=", "rel")
    else:
        duration = CheckResult.compare(
            "duration_vs_plan_s", clip.duration_s - event.duration_s, cfg.duration_tolerance_s, "abs<=", "s"
        )
    target = event.target_lufs if event.target_lufs is not None else -20.0
    loud = None if clip.lufs is None else clip.lufs - target
    return [
        duration,
        CheckResult.compare("loudness_vs_target_lu", loud, cfg.event_loudness_tolerance_lu, "abs<=", "LU"),
        CheckResult.compare("raw_clipped_samples", clip.raw_clipped_samples, cfg.max_clipped_samples, "<="),
        CheckResult.compare(
            "silence_ratio", clip.silence_ratio, cfg.max_silence_ratio.get(event.kind, 0.9), "<="
        ),
    ]


def event_verdict(event: AudioEvent, clip: ClipRecord, attempt: int, cfg: CheckConfig) -> Verdict:
    """Checks plus the instruction for the next attempt (accept when every check passes)."""
    checks = event_checks(event, clip, cfg)
    failed = {c.name: c for c in checks if not c.passed}
    return Verdict(
        task_id=event.id,
        attempt=attempt,
        expert=clip.generator,
        checks=tuple(checks),
        passed=not failed,
        instruction=_instruction(event, clip, failed, attempt),
    )


def _instruction(
    event: AudioEvent, clip: ClipRecord, failed: dict[str, CheckResult], attempt: int
) -> Instruction:
    if not failed:
        return Instruction(action="accept", reason="every check passed")
    if "generator_error" in failed:
        return Instruction(action="next_generator", reason=f"generator failed: {clip.error}")
    if "raw_clipped_samples" in failed:
        n = clip.raw_clipped_samples
        if attempt == 1:
            return Instruction(
                action="regenerate", gain_db=-6.0, reason=f"{n} clipped samples; render 6 dB lower"
            )
        return Instruction(action="next_generator", reason=f"{n} clipped samples again")
    if "speech_length_plausible" in failed:
        return Instruction(
            action="next_generator",
            reason=f"speech is {clip.duration_s:.2f} s for about {event.duration_s:.2f} s of words",
        )
    if "duration_vs_plan_s" in failed:
        return Instruction(
            action="regenerate" if attempt == 1 else "next_generator",
            trim_to_s=event.duration_s,
            reason=f"clip is {clip.duration_s:.2f} s for {event.duration_s:.2f} s planned",
        )
    names = ", ".join(failed)
    return Instruction(action="regenerate" if attempt == 1 else "next_generator", reason=f"failed: {names}")


def speech_snr_db(speech_stem: np.ndarray, rest: np.ndarray, event: AudioEvent, sample_rate: int) -> float:
    """Speech-band energy of the line over the rest of the mix, during the line (dB)."""
    a, b = int(event.start_s * sample_rate), int(event.end_s * sample_rate)
    s = band_energy_db(speech_stem[a:b], sample_rate, *SPEECH_BAND_HZ)
    r = band_energy_db(rest[a:b], sample_rate, *SPEECH_BAND_HZ)
    return float(s - r)


def mix_checks(mix: np.ndarray, sample_rate: int, delivery: DeliveryConfig) -> list[CheckResult]:
    """Delivery checks of the whole mix."""
    lufs = integrated_lufs(mix, sample_rate)
    return [
        CheckResult.compare(
            "integrated_lufs_vs_target",
            None if lufs is None else lufs - delivery.target_lufs,
            delivery.loudness_tolerance_lu,
            "abs<=",
            "LU",
        ),
        CheckResult.compare("true_peak_dbtp", true_peak_dbtp(mix), delivery.true_peak_dbtp, "<=", "dBTP"),
        CheckResult.compare("clipped_samples", clipped_samples(mix), 0, "<="),
    ]
