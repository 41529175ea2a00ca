"""What one call of an expert costs: its parameters in billions by default, or a price per 1k tokens.

Costs make routing methods comparable on more than expert calls: a call of a 671B model is not a call of
a 1.5B one. The unit is the pool's choice, and one pool should use one unit:

- ``cost: X`` on an expert: every call costs X (e.g. a measured GPU-second figure, or a guess of the size
  of a model whose size is not published).
- ``price_per_1k_tokens: P`` (API models): a call costs P x generated tokens / 1000, the tokens of the
  recording (replay counts whitespace-separated words) or of the generation.
- Neither: the model's parameters in billions, parsed from its id (:func:`parameters_b`), else 1.

The parsing rule: a published size from :data:`KNOWN_PARAMETERS_B` when the id contains one of its keys
(mixture-of-experts models at their **total** parameters, the weights a server must hold: DeepSeek-V3 is
671, not its 37 active); else ``NxMb`` as N x M (``8x7b`` = 56); else the last ``<number>b`` in the id
(``qwen-2.5-72b`` = 72, ``Meta-Llama-3_1-8B`` = 8); else None.
"""

from __future__ import annotations

import re

KNOWN_PARAMETERS_B: dict[str, float] = {
    "deepseek-v3": 671.0,  # MoE, 37B active
    "deepseek-r1": 671.0,  # MoE, 37B active (the distills carry their size in the name)
    "mixtral-8x7b": 46.7,  # MoE, 12.9B active (shared attention: less than 8 x 7)
    "mixtral-8x22b": 140.6,  # MoE, 39B active
    "phi-3-mini": 3.8,
    "gemma-7b": 8.5,  # 8.54B with the embeddings
    "mathstral-7b": 7.3,
    "cotype-nano": 1.5,  # a Qwen2.5-1.5B fine-tune
}
"""Published sizes (billions) of models whose ids carry no size, or a rounded one; keys are lower case."""

_MOE = re.compile(r"(\d+)x(\d+(?:\.\d+)?)b(?![a-z])")
_SIZE = re.compile(r"(?<![a-z])(\d+(?:\.\d+)?)b(?![a-z])")
DEFAULT_COST = 1.0


def parameters_b(model_id: str) -> float | None:
    """Parameters in billions of a model, from its id (the rule is in the module docstring).

    Example:
        >>> parameters_b("Qwen/Qwen2.5-72B-Instruct"), parameters_b("deepseek-v3"), parameters_b("gpt-4o")
        (72.0, 671.0, None)
    """
    name = model_id.rsplit("/", 1)[-1].lower().replace("_", ".")
    for key in sorted(KNOWN_PARAMETERS_B, key=len, reverse=True):
        if key in name:
            return KNOWN_PARAMETERS_B[key]
    moe = _MOE.search(name)
    if moe:
        return float(moe.group(1)) * float(moe.group(2))
    sizes = _SIZE.findall(name)
    return float(sizes[-1]) if sizes else None


def call_cost(
    cost: float | None, price_per_1k_tokens: float | None, model_id: str, generated_tokens: int
) -> float:
    """The cost of one call (see the module docstring for the precedence of the three rules).

    Args:
        cost: the expert's configured per-call cost, or None.
        price_per_1k_tokens: the expert's price per 1,000 generated tokens, or None.
        model_id: the model id, parsed when neither is given.
        generated_tokens: the tokens this call generated (used with a price only).
    """
    if price_per_1k_tokens is not None:
        return price_per_1k_tokens * generated_tokens / 1000.0
    if cost is not None:
        return cost
    size = parameters_b(model_id)
    return size if size is not None else DEFAULT_COST
