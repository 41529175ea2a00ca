"""The MIDI music generator: the rule-based composer's file rendered by FluidSynth with a GM soundfont."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import Field

from agents.audio.generators.base import AudioGenerator, AudioTask, GeneratorConfig, RenderedAudio, run_tool
from agents.audio.generators.composer import compose
from agents.audio.timeline import MusicSpec
from agents.audio.wavio import read_wav
from common.errors import ConfigError

DEFAULT_SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/default-GM.sf2",
                      "/usr/share/sounds/sf2/TimGM6mb.sf2")  # fmt: skip
"""General MIDI soundfonts Debian ships (fluid-soundfont-gm, timgm6mb-soundfont), first found wins."""


class MidiMusicConfig(GeneratorConfig):
    generator: Literal["midi_music"] = "midi_music"
    soundfont: str | None = Field(default=None, description="A GM .sf2; default: the first Debian one found.")
    binary: str = "fluidsynth"
    sample_rate: int = Field(default=44100, ge=8000)
    gain: float = Field(default=0.5, gt=0, le=10, description="FluidSynth master gain (-g).")


class MidiMusicGenerator(AudioGenerator):
    """Composes a MIDI file per music event and renders it with FluidSynth (one process per event)."""

    config_cls = MidiMusicConfig
    config: MidiMusicConfig

    def _load(self) -> None:
        self._soundfont = self._find_soundfont()

    def _find_soundfont(self) -> str:
        candidates = (self.config.soundfont,) if self.config.soundfont else DEFAULT_SOUNDFONTS
        for path in candidates:
            if path and Path(path).is_file():
                return path
        raise ConfigError(
            f"generator {self.name!r}: no General MIDI soundfont at {', '.join(c for c in candidates if c)}; "
            "run scripts/setup.sh (installs fluid-soundfont-gm) or set `soundfont:` in the config"
        )

    def _generate(self, batch: Sequence[AudioTask]) -> list[RenderedAudio]:
        out = []
        for task in batch:
            spec = task.event.music or MusicSpec()
            seed = zlib.crc32(f"{task.seed}:{task.event.id}:{task.attempt}".encode())
            stem = task.work_dir / f"{self.name}-{task.event.id}-{task.attempt}"
            midi = compose(spec, task.event.duration_s, seed, stem.with_suffix(".mid"))
            wav = stem.with_suffix(".wav")
            args = [self.config.binary, "-ni", "-q", "-g", str(self.config.gain), "-r",
                    str(self.config.sample_rate), "-F", str(wav), self._soundfont, str(midi)]  # fmt: skip
            err = run_tool(args)
            if err is not None:
                out.append(RenderedAudio.failed(err))
                continue
            x, sr = read_wav(wav)
            wav.unlink(missing_ok=True)
            detail = (
                f"{spec.key} {spec.mode}, {spec.tempo_bpm:g} bpm, {'-'.join(spec.progression)}, {spec.mood}"
            )
            out.append(RenderedAudio(samples=x, sample_rate=sr, detail=detail))
        return out
