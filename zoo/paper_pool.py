"""The paper's 16-expert pool as real architectures with random weights, built locally (no download).

Four architectures at their published shapes (Llama-3-8B, Qwen2-7B, Gemma-7B, Mistral-7B), four experts
each. Each architecture gets one folder with a ``config.json``, a locally trained tokenizer
(:func:`zoo.tiny.build_tiny_tokenizer`) and, for the ``tiny`` scale, seeded random weights written with
``save_pretrained``. At the ``real`` scale no weight is written (16 GB a model): vLLM fills the weights
with random values from the config (``load_format: dummy``), so a GPU run measures the real models'
load, swap, memory and generation cost. The ``tiny`` scale keeps each architecture's class and traits
(grouped-query attention, Gemma's head size) at a width a CPU runs in milliseconds, so CI runs the same
code path.

Example::

    pool = build_paper_pool(tmp_dir, scale="tiny")   # {"llama3-8b": Path, "qwen2-7b": Path, ...}
    experts = paper_experts(pool)                     # 16 (expert name, architecture) pairs
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

logger = logging.getLogger(__name__)

Scale = Literal["tiny", "real"]
EXPERTS_PER_ARCH = 4
"""16 experts in all, as in the paper's pool."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchShape:
    """One architecture: its transformers config class and its published shape."""

    name: str
    config_class: str
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    intermediate_size: int
    vocab_size: int
    head_dim: int | None = None


ARCHITECTURES: tuple[ArchShape, ...] = (
    ArchShape(
        name="llama3-8b",
        config_class="LlamaConfig",
        hidden_size=4096,
        num_layers=32,
        num_heads=32,
        num_kv_heads=8,
        intermediate_size=14336,
        vocab_size=128256,
    ),
    ArchShape(
        name="qwen2-7b",
        config_class="Qwen2Config",
        hidden_size=3584,
        num_layers=28,
        num_heads=28,
        num_kv_heads=4,
        intermediate_size=18944,
        vocab_size=152064,
    ),
    ArchShape(
        name="gemma-7b",
        config_class="GemmaConfig",
        hidden_size=3072,
        num_layers=28,
        num_heads=16,
        num_kv_heads=16,
        intermediate_size=24576,
        vocab_size=256000,
        head_dim=256,
    ),
    ArchShape(
        name="mistral-7b",
        config_class="MistralConfig",
        hidden_size=4096,
        num_layers=32,
        num_heads=32,
        num_kv_heads=8,
        intermediate_size=14336,
        vocab_size=32000,
    ),
)
"""The shapes from each model's published ``config.json``."""


def _config(arch: ArchShape, scale: Scale, tokenizer: Any) -> Any:
    import transformers

    cls = getattr(transformers, arch.config_class)
    special = {
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "max_position_embeddings": 2048,
        "tie_word_embeddings": arch.config_class == "GemmaConfig",  # Gemma ties, the others do not
    }
    if scale == "real":
        shape = {
            "hidden_size": arch.hidden_size,
            "num_hidden_layers": arch.num_layers,
            "num_attention_heads": arch.num_heads,
            "num_key_value_heads": arch.num_kv_heads,
            "intermediate_size": arch.intermediate_size,
            "vocab_size": arch.vocab_size,
        }
    else:  # same class and traits, a CPU-sized width: GQA ratio kept where the real model has one
        heads = 4
        kv = heads if arch.num_kv_heads == arch.num_heads else 2
        shape = {
            "hidden_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": heads,
            "num_key_value_heads": kv,
            "intermediate_size": 128,
            "vocab_size": len(tokenizer),
        }
    if arch.head_dim is not None:
        shape["head_dim"] = arch.head_dim if scale == "real" else 32
    return cls(**shape, **special)


def build_paper_pool(root: str | Path, *, scale: Scale = "tiny", seed: int = 0) -> dict[str, Path]:
    """Write one folder per architecture under ``root`` (skipping folders already complete).

    Args:
        root: the parent folder.
        scale: ``tiny`` (random weights saved, CPU-sized) or ``real`` (published shapes, config and
            tokenizer only: load them with vLLM's ``load_format: dummy``).
        seed: seed of the tiny weights.

    Returns:
        Architecture name -> folder.
    """
    import torch
    from transformers import AutoModelForCausalLM

    from zoo.tiny import build_tiny_tokenizer, save_tokenizer

    out: dict[str, Path] = {}
    tokenizer = None
    for i, arch in enumerate(ARCHITECTURES):
        folder = Path(root) / f"{arch.name}-{scale}"
        out[arch.name] = folder
        marker = folder / "paper_pool.json"
        if marker.is_file() and json.loads(marker.read_text()) == {
            "arch": arch.name,
            "scale": scale,
            "seed": seed,
        }:
            continue
        tokenizer = tokenizer or build_tiny_tokenizer()
        folder.mkdir(parents=True, exist_ok=True)
        config = _config(arch, scale, tokenizer)
        if scale == "tiny":
            with torch.random.fork_rng():
                torch.manual_seed(seed + i)
                model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
            model.generation_config.do_sample = False
            model.save_pretrained(folder)
        else:
            config.save_pretrained(folder)
        save_tokenizer(tokenizer, folder)
        marker.write_text(json.dumps({"arch": arch.name, "scale": scale, "seed": seed}))
        logger.info("paper pool: wrote %s (%s)", folder, scale)
    return out


def paper_experts(pool: dict[str, Path]) -> list[tuple[str, str]]:
    """The 16 experts as (name, architecture): ``llama3-8b-0`` .. ``mistral-7b-3``, architectures
    interleaved so consecutive experts differ (every swap changes the model)."""
    return [(f"{arch.name}-{j}", arch.name) for j in range(EXPERTS_PER_ARCH) for arch in ARCHITECTURES]
