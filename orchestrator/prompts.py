"""The prompts experts see: the question, its options inline, and the answer format to end with."""

from __future__ import annotations

from common.records import Instance

_MC = (
    'Reason step by step, then finish with "The answer is (X)", where X is the letter of the correct option.'
)
_MATH = 'Reason step by step, then finish with "The answer is \\boxed{X}", where X is the final answer.'


def expert_prompt(inst: Instance) -> str:
    """The user message an expert answers."""
    fmt = _MATH if inst.answer_format.kind == "math" else _MC
    return f"{inst.prompt_text()}\n{fmt}"
