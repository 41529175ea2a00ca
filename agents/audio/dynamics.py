"""Per-event loudness from the plan's words: a massive explosion is loud, a distant bell is quiet.

Each kind has a default target (integrated loudness of the event's clip before the mix) and a range it
may move in; the description's intensity and distance (:func:`agents.audio.generators.sfx_params.
parse_params`) move an effect or bed within that range:

=========  =======  ==============
kind       default  range (LUFS)
=========  =======  ==============
speech     -17      -17 (fixed: dialogue is the anchor)
sfx        -20      -30 .. -12
ambience   -28      -34 .. -24
music      -24      -28 .. -21
=========  =======  ==============

``target = default + 16 * (intensity - 0.5) - 10 * max(0, distance - 0.2)``, clamped to the range.
An explicit ``target_lufs`` in a JSON timeline is kept as written.
"""

from __future__ import annotations

from agents.audio.generators.sfx_params import parse_params
from agents.audio.timeline import DEFAULT_TARGET_LUFS

LOUDNESS_RANGE_LUFS = {
    "speech": (-17.0, -17.0),
    "sfx": (-30.0, -12.0),
    "ambience": (-34.0, -24.0),
    "music": (-28.0, -21.0),
}
"""Per kind: the quietest and loudest target the words may choose."""


def target_lufs(kind: str, description: str) -> float:
    """The loudness target of an event of ``kind`` described by ``description`` (see the module table)."""
    base = DEFAULT_TARGET_LUFS[kind]
    low, high = LOUDNESS_RANGE_LUFS[kind]
    if low == high:
        return base
    p = parse_params(description)
    value = base + 16.0 * (p.intensity - 0.5) - 10.0 * max(0.0, p.distance - 0.2)
    return round(min(max(value, low), high), 1)
