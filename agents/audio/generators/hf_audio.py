"""GPU generators: transformers ``text-to-speech``/``text-to-audio`` pipelines (Bark, MusicGen) and diffusers
AudioLDM2 / Stable Audio Open. Heavy imports happen in ``_load``; the models must be in the local
Hugging Face cache (nothing is downloaded at run time: ``local_files_only``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import Field

from agents.audio.generators.base import AudioGenerator, AudioTask, GeneratorConfig, RenderedAudio
from agents.audio.timeline import AudioEvent

logger = logging.getLogger(__name__)


class _HFConfig(GeneratorConfig):
    model: str = Field(description="Hugging Face model id or local folder.")
    device: str = "cuda"
    dtype: Literal["float32", "float16", "bfloat16"] = "float16"
    local_files_only: bool = True
    voices: dict[str, str] = Field(default_factory=dict, description="Voice label -> voice preset (Bark).")


class TransformersAudioConfig(_HFConfig):
    generator: Literal["transformers_audio"] = "transformers_audio"
    task: Literal["text-to-speech", "text-to-audio"] = "text-to-audio"
    tokens_per_s: float = Field(default=51.2, gt=0, description="MusicGen: audio tokens per second.")
    max_speech_ratio: float = Field(
        default=2.5,
        gt=0,
        description="Bark: semantic tokens (49.9 a second) capped at this many times the line's planned "
        "length; a longer line fails the speech-length check anyway, and Bark may babble on without it.",
    )


class TransformersAudioGenerator(AudioGenerator):
    """A transformers pipeline: speech (Bark, with voice presets) or music/sound (MusicGen)."""

    config_cls = TransformersAudioConfig
    config: TransformersAudioConfig

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._pipe: Any = None
        self._processor: Any = None
        self._bark = False

    def accepts(self, event: AudioEvent) -> bool:
        if event.kind == "speech" and self.config.voices:
            return event.kind in self.config.priors and (event.voice or "male") in self.config.voices
        return event.kind in self.config.priors

    def _load(self) -> None:
        """Model and processor loaded explicitly (``local_files_only`` goes to ``from_pretrained``, which
        takes it in every transformers release; ``pipeline(model_kwargs=...)`` does not in 5.x), then
        handed to the pipeline."""
        import torch
        from transformers import (
            AutoModelForTextToSpectrogram,
            AutoModelForTextToWaveform,
            AutoProcessor,
            pipeline,
        )

        local = self.config.local_files_only
        dtype = getattr(torch, self.config.dtype)
        try:
            model = AutoModelForTextToWaveform.from_pretrained(
                self.config.model, dtype=dtype, local_files_only=local
            )
        except ValueError:  # a spectrogram model (SpeechT5-style) is the other text-to-speech family
            model = AutoModelForTextToSpectrogram.from_pretrained(
                self.config.model, dtype=dtype, local_files_only=local
            )
        processor = AutoProcessor.from_pretrained(self.config.model, local_files_only=local)  # type: ignore[no-untyped-call]
        tokenizer = getattr(processor, "tokenizer", processor)
        task: Any = self.config.task
        self._processor, self._bark = processor, model.config.model_type == "bark"
        self._pipe = pipeline(
            task, model=model, tokenizer=tokenizer, processor=processor, device=self.config.device
        )

    def _unload(self) -> None:
        self._pipe = self._processor = None
        _free_cuda()

    def _speech_params(self, event: AudioEvent) -> dict[str, Any]:
        """Bark's voice preset goes to ``generate`` as ``history_prompt`` (the tensors the processor loads
        for a preset name; ``generate`` rejects a ``voice_preset`` argument), with the semantic stage
        capped by ``max_speech_ratio``."""
        params: dict[str, Any] = {}
        if self.config.voices:
            preset = self.config.voices[event.voice or "male"]
            params["history_prompt"] = self._processor("", voice_preset=preset)["history_prompt"]
        if self._bark:
            params["semantic_max_new_tokens"] = (
                int(event.duration_s * 49.9 * self.config.max_speech_ratio) + 1
            )
        return params

    def _generate(self, batch: Sequence[AudioTask]) -> list[RenderedAudio]:
        out = []
        for task in batch:
            e = task.event
            kwargs: dict[str, Any] = {}
            if e.kind == "speech":
                text = e.text
                if params := self._speech_params(e):
                    kwargs["forward_params"] = params
            else:
                text = e.description
                kwargs["forward_params"] = {
                    "max_new_tokens": int(e.duration_s * self.config.tokens_per_s) + 8
                }
            res = self._pipe(text, **kwargs)
            audio = np.asarray(res["audio"], dtype=np.float64).reshape(-1)
            out.append(
                RenderedAudio(samples=audio, sample_rate=int(res["sampling_rate"]), detail=self.config.model)
            )
        return out


class DiffusersAudioConfig(_HFConfig):
    generator: Literal["diffusers_audio"] = "diffusers_audio"
    pipeline: Literal["audioldm2", "stable_audio"] = "audioldm2"
    steps: int = Field(default=50, ge=1)
    negative_prompt: str = "low quality, distorted"


class DiffusersAudioGenerator(AudioGenerator):
    """diffusers AudioLDM2 or Stable Audio Open: sound effects, ambience and music from a description."""

    config_cls = DiffusersAudioConfig
    config: DiffusersAudioConfig

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._pipe: Any = None

    def _load(self) -> None:
        import diffusers
        import torch

        cls: Any = (  # diffusers' pipelines are untyped
            diffusers.AudioLDM2Pipeline
            if self.config.pipeline == "audioldm2"
            else diffusers.StableAudioPipeline
        )
        dtype = getattr(torch, self.config.dtype)
        local = self.config.local_files_only
        parts: dict[str, Any] = {}
        if self.config.pipeline == "audioldm2":
            # AudioLDM2 steps its GPT-2 with GenerationMixin helpers, which transformers >= 4.50 gives only to
            # the LM-head class, while checkpoints name a bare GPT2Model (diffusers issue 12630): load the
            # same weights into GPT2LMHeadModel, whose hidden states are the same.
            from transformers import GPT2LMHeadModel

            parts["language_model"] = GPT2LMHeadModel.from_pretrained(
                self.config.model, subfolder="language_model", dtype=dtype, local_files_only=local
            )
        self._pipe = cls.from_pretrained(
            self.config.model, torch_dtype=dtype, local_files_only=local, **parts
        ).to(self.config.device)

    def _unload(self) -> None:
        self._pipe = None
        _free_cuda()

    def _generate(self, batch: Sequence[AudioTask]) -> list[RenderedAudio]:
        import torch

        out = []
        for task in batch:
            e = task.event
            gen = torch.Generator(device=self.config.device).manual_seed(task.seed + task.attempt)
            common = {
                "num_inference_steps": self.config.steps,
                "negative_prompt": self.config.negative_prompt,
                "generator": gen,
            }
            if self.config.pipeline == "audioldm2":
                res = self._pipe(e.description, audio_length_in_s=e.duration_s, **common)
                audio = np.asarray(res.audios[0], dtype=np.float64)
                sr = int(self._pipe.vocoder.config.sampling_rate)
            else:
                res = self._pipe(e.description, audio_end_in_s=e.duration_s, **common)
                audio = res.audios[0].float().cpu().numpy().mean(axis=0).astype(np.float64)
                sr = int(self._pipe.vae.sampling_rate)
            out.append(
                RenderedAudio(
                    samples=audio.reshape(-1),
                    sample_rate=sr,
                    detail=f"{self.config.pipeline} {self.config.model}",
                )
            )
        return out


def _free_cuda() -> None:
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
