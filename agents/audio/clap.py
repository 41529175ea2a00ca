"""The CLAP critic (GPU): text-audio similarity of a clip and its description, from a CLAP model.

It runs only after an event's model-free checks pass; a clip scoring under ``min_score`` is sent to the
next generator. The model must be in the local Hugging Face cache (``local_files_only``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.audio.wavio import resample

CLAP_SAMPLE_RATE = 48000


class ClapCritic:
    """Cosine similarity between CLAP's text and audio embeddings.

    Args:
        model: a CLAP checkpoint (e.g. ``laion/clap-htsat-unfused``) in the local cache, or a folder.
        device: torch device.
    """

    def __init__(self, model: str, device: str = "cuda") -> None:
        self.model_id = model
        self.device = device
        self._model: Any = None
        self._processor: Any = None

    def load(self) -> None:
        if self._model is not None:
            return
        from transformers import ClapModel, ClapProcessor

        self._processor = ClapProcessor.from_pretrained(self.model_id, local_files_only=True)
        self._model = ClapModel.from_pretrained(self.model_id, local_files_only=True).to(self.device).eval()  # type: ignore[arg-type]

    def score(self, texts: list[str], clips: list[np.ndarray], sample_rate: int) -> list[float]:
        """One similarity in [-1, 1] per (text, clip) pair, in one batch."""
        import torch

        self.load()
        audio = [resample(c, sample_rate, CLAP_SAMPLE_RATE).astype(np.float32) for c in clips]
        inputs = self._processor(
            text=texts, audio=audio, sampling_rate=CLAP_SAMPLE_RATE, return_tensors="pt", padding=True
        ).to(self.device)
        with torch.no_grad():
            out = self._model(**inputs)
        t = torch.nn.functional.normalize(out.text_embeds, dim=-1)
        a = torch.nn.functional.normalize(out.audio_embeds, dim=-1)
        return [float(x) for x in (t * a).sum(dim=-1).cpu()]

    def close(self) -> None:
        self._model = None
        self._processor = None
