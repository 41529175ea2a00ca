"""The paper's LLM aggregator: one model reads the experts' reasoning and writes a refined answer.

The prompt follows the structure of the Symbolic-MoE aggregator (itself from Mixture-of-Agents): an
instruction to critically synthesise the responses, each response labelled and trimmed at ``</think>``,
then the question and the required answer format. The wording here is our own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from batching.engines.base import Engine, GenRequest, SamplingParams
from common.records import AnswerFormat
from orchestrator.answers import extract_answer, trim_reasoning

_INSTRUCTION = (
    "Several models have answered the question below. Combine their responses into one answer of the "
    "highest quality. Judge each response critically: some of them may be wrong or biased, so do not "
    "copy any of them blindly; weigh their arguments, correct their mistakes and give a refined, "
    "accurate and well-structured reply.\n\nThe models' responses:\n\n"
)
_MC_FORMAT = (
    'Reason step by step, then finish with "The answer is (X)", where X is the letter of the chosen option.'
)
_MATH_FORMAT = (
    'Reason step by step, then finish with "The answer is \\boxed{X}", where X is the final answer.'
)


def build_aggregator_prompt(
    question: str,
    responses: Sequence[str],
    answer_format: AnswerFormat,
    *,
    max_chars_per_response: int = 6000,
) -> str:
    """Build the aggregation prompt for one question.

    Args:
        question: the question with its options inline.
        responses: the experts' raw outputs, best-ranked first.
        answer_format: decides the closing instruction (letter or boxed answer).
        max_chars_per_response: each response is trimmed at ``</think>`` and then to its last this many
            characters, so the prompt fits the aggregator's context budget.
    """
    parts = [_INSTRUCTION]
    for i, text in enumerate(responses, 1):
        parts.append(f"### Response {i}:\n{trim_reasoning(text, max_chars_per_response)}\n\n")
    fmt = _MATH_FORMAT if answer_format.kind == "math" else _MC_FORMAT
    parts.append(f"Question: {question}\n{fmt}")
    return "".join(parts)


def aggregate_with_llm(
    engine: Engine,
    items: Mapping[str, tuple[str, Sequence[str], AnswerFormat]],
    sampling: SamplingParams,
    *,
    max_chars_per_response: int = 6000,
) -> dict[str, tuple[str | None, str | None]]:
    """Aggregate many instances with one resident aggregator, in one batch.

    Args:
        engine: the aggregator's engine (loaded on first use, left loaded for the caller to release).
        items: instance id -> (question, expert responses, answer format).
        sampling: the aggregator's sampling parameters.

    Returns:
        instance id -> (extracted answer or None, the aggregator's text or None when it failed).
    """
    ids = list(items)
    requests = []
    for iid in ids:
        question, responses, fmt = items[iid]
        prompt = build_aggregator_prompt(
            question, responses, fmt, max_chars_per_response=max_chars_per_response
        )
        requests.append(
            GenRequest(
                request_id=f"aggregate:{iid}",
                prompt=prompt,
                messages=(("user", prompt),),
                sampling=sampling,
                instance_id=iid,
            )
        )
    results = engine.generate(requests)
    out: dict[str, tuple[str | None, str | None]] = {}
    for iid, res in zip(ids, results, strict=True):
        fmt = items[iid][2]
        answer = extract_answer(res.text, fmt) if res.text else None
        out[iid] = (answer, res.text)
    return out
