"""The prompts experts see: retrieved passages (if any), the question with its options inline, and the
answer format to end with.

One format for live runs, the bench and the zoo reader's training data (``scripts/train_zoo.py`` passes
:func:`expert_prompt` down to :mod:`zoo.train`), so a model trained to read passages sees at run time
exactly what it was trained on::

    Context:
    [1] (facts/veltrin-bridge) The Veltrin Bridge ... opened in 1873 ...

    Question: In which year was the Veltrin Bridge opened?
    Reason step by step, then finish with "The answer is \\boxed{X}", where X is the final answer.
"""

from __future__ import annotations

from collections.abc import Sequence

from common.records import Instance, Passage

_MC = (
    'Reason step by step, then finish with "The answer is (X)", where X is the letter of the correct option.'
)
_MATH = 'Reason step by step, then finish with "The answer is \\boxed{X}", where X is the final answer.'


def context_block(passages: Sequence[Passage]) -> str:
    """Passages numbered from 1, each with its source id: ``[1] (source) text``."""
    return "\n".join(f"[{i}] ({p.source}) {p.text}" for i, p in enumerate(passages, start=1))


def expert_prompt(inst: Instance, passages: Sequence[Passage] = ()) -> str:
    """The user message an expert answers; with passages, a ``Context:`` block comes first."""
    fmt = _MATH if inst.answer_format.kind == "math" else _MC
    if not passages:
        return f"{inst.prompt_text()}\n{fmt}"
    return f"Context:\n{context_block(passages)}\n\nQuestion: {inst.prompt_text()}\n{fmt}"
