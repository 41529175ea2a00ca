"""A small rule-based composer: key, mode, tempo, chord progression and mood to a General MIDI file.

Three parts on three channels: a sustained chord pad (the mood's instrument), a bass on the chord roots,
and an arpeggio over the chord tones (eighths for lively moods, quarters for calm ones). Seeded, so a
spec always gives the same file.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from agents.audio.timeline import MusicSpec

_PITCH = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
_NUMERALS = ("i", "ii", "iii", "iv", "v", "vi", "vii")
_TICKS = 480

MOOD_PROGRAMS = {
    "calm": (89, 0, 32),  # warm pad, piano, acoustic bass
    "mysterious": (49, 46, 32),  # slow strings, harp, acoustic bass
    "tense": (48, 11, 33),  # strings, vibraphone, finger bass
    "happy": (0, 24, 33),  # piano, nylon guitar, finger bass
    "sad": (48, 0, 32),  # strings, piano, acoustic bass
}
"""Mood -> (pad, arpeggio, bass) General MIDI programs."""

LIVELY_MOODS = ("happy", "tense")


def tonic_pitch(key: str) -> int:
    """MIDI pitch class of a key name (``D``, ``F#``, ``Bb``)."""
    return (_PITCH[key[0]] + (1 if key.endswith("#") else -1 if key.endswith("b") else 0)) % 12


def chord(numeral: str, key: str, mode: str) -> tuple[int, int, int]:
    """Pitch classes of a roman-numeral triad: upper case major, lower case minor, ``°`` diminished."""
    base = numeral.rstrip("°o").lower()
    if base not in _NUMERALS:
        raise ValueError(f"chord {numeral!r}: not a roman numeral I-VII")
    root = (tonic_pitch(key) + _SCALES[mode][_NUMERALS.index(base)]) % 12
    third = 4 if numeral[0].isupper() else 3
    fifth = 6 if numeral.endswith(("°", "o")) else 7
    return root, (root + third) % 12, (root + fifth) % 12


def compose(spec: MusicSpec, duration_s: float, seed: int, path: Path) -> Path:
    """Write a MIDI file at least ``duration_s`` long (whole bars) for ``spec``."""
    import mido

    bar_s = 4 * 60.0 / spec.tempo_bpm
    bars = max(1, math.ceil(duration_s / bar_s))
    programs = MOOD_PROGRAMS.get(spec.mood, MOOD_PROGRAMS["calm"])
    rng = np.random.default_rng(seed)
    events: list[tuple[int, int, int, int, int]] = []  # (tick, order, channel, note, velocity); 0 = off
    for bar in range(bars):
        pcs = chord(spec.progression[bar % len(spec.progression)], spec.key, spec.mode)
        start = bar * 4 * _TICKS
        _add(events, 0, start, 4 * _TICKS - 10, [57 + (pc - 9) % 12 for pc in pcs], 62)
        _add(events, 2, start, 2 * _TICKS - 20, [36 + pcs[0]], 80)
        _add(events, 2, start + 2 * _TICKS, 2 * _TICKS - 20, [36 + (pcs[2] if bar % 2 else pcs[0])], 72)
        step = _TICKS // 2 if spec.mood in LIVELY_MOODS else _TICKS
        tones = [60 + pc for pc in pcs] + [72 + pcs[0]]
        for k in range(4 * _TICKS // step):
            note = tones[int(rng.integers(len(tones)))] if k % 4 == 3 else tones[k % len(tones)]
            _add(events, 1, start + k * step, step - 10, [note], int(rng.integers(50, 70)))
    mid = mido.MidiFile(ticks_per_beat=_TICKS)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(spec.tempo_bpm), time=0))
    if spec.program is not None:
        programs = (spec.program, *programs[1:])
    for channel, program in enumerate(programs):
        track.append(mido.Message("program_change", channel=channel, program=program, time=0))
    now = 0
    for tick, _, channel, note, velocity in sorted(events):
        kind = "note_on" if velocity else "note_off"
        track.append(mido.Message(kind, channel=channel, note=note, velocity=velocity, time=tick - now))
        now = tick
    mid.save(str(path))
    return path


def _add(events: list[tuple[int, int, int, int, int]], channel: int, start: int, length: int,
         notes: list[int], velocity: int) -> None:  # fmt: skip
    for note in notes:
        events.append((start, 1, channel, note, velocity))
        events.append((start + length, 0, channel, note, 0))
