"""``mix.png``: the event lanes (labelled spans per kind), the mix's waveform and its spectrogram."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from agents.audio.timeline import Timeline

KIND_COLOURS = {"speech": "#d62728", "sfx": "#ff7f0e", "music": "#1f77b4", "ambience": "#2ca02c"}
LANES = ("speech", "sfx", "music", "ambience")


def _label(e: object) -> str:
    text = getattr(e, "text", "") or getattr(e, "description", "")
    text = "".join(c if c.isprintable() else " " for c in text)  # the font has no glyph for controls
    words = text.split()
    short = " ".join(words[:4]) + ("…" if len(words) > 4 else "")
    who = getattr(e, "speaker", None)
    return f"{who}: {short}" if who else short


def plot_mix(
    mix: np.ndarray, sample_rate: int, timeline: Timeline, path: str | Path, duck_db: np.ndarray | None = None
) -> Path:
    """Write the figure (with the music's ducking gain over the waveform, when given); returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (lanes, wave, spec) = plt.subplots(
        3, 1, figsize=(14, 9), sharex=True, gridspec_kw={"height_ratios": [1.3, 1, 1.4]}
    )
    for row, kind in enumerate(LANES):
        events = [e for e in timeline.events if e.kind == kind]
        split = len(events) > 1 and kind != "speech"  # overlapping kinds get two sub-lanes
        for k, e in enumerate(events):
            y = row + ((0.18 if k % 2 else -0.18) if split else 0.0)
            lanes.barh(
                y,
                e.duration_s,
                left=e.start_s,
                height=0.32 if split else 0.6,
                color=KIND_COLOURS[kind],
                alpha=0.75,
                edgecolor="black",
                linewidth=0.5,
            )
            lanes.text(e.start_s + 0.05, y, f"{e.id} {_label(e)}", va="center", fontsize=7, clip_on=True)
    lanes.set_yticks(range(len(LANES)), LANES)
    lanes.set_ylim(len(LANES) - 0.4, -0.6)
    lanes.set_title(timeline.title)
    t = np.arange(mix.size) / sample_rate
    wave.plot(t, mix, lw=0.3, color="black")
    for e in timeline.events:
        if e.kind == "speech":
            wave.axvspan(e.start_s, e.end_s, color=KIND_COLOURS["speech"], alpha=0.12)
        elif e.kind == "sfx":
            wave.axvline(e.start_s, color=KIND_COLOURS["sfx"], lw=0.8, ls="--")
    wave.set_ylim(-1, 1)
    wave.set_ylabel("mix (full scale)")
    if duck_db is not None:
        gain = wave.twinx()
        gain.plot((np.arange(duck_db.size) + 0.5) * 0.01, duck_db, color=KIND_COLOURS["music"], lw=1.2)
        gain.set_ylim(-20, 2)
        gain.set_ylabel("music ducking (dB)", color=KIND_COLOURS["music"])
    with np.errstate(divide="ignore"):  # digital silence is -inf dB
        spec.specgram(mix, NFFT=2048, Fs=sample_rate, noverlap=1536, cmap="magma", vmin=-130)
    spec.set_ylim(0, 8000)
    spec.set_ylabel("Hz")
    spec.set_xlabel("seconds")
    for e in timeline.events:
        if e.kind in ("speech", "sfx"):
            spec.axvline(e.start_s, color=KIND_COLOURS[e.kind], lw=0.8, alpha=0.8)
    spec.set_xlim(0, timeline.duration_s)
    out = Path(path)
    with warnings.catch_warnings():  # a character the font lacks draws as a box, not an error
        warnings.filterwarnings("ignore", message="Glyph .* missing from font", category=UserWarning)
        fig.tight_layout()
        fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
