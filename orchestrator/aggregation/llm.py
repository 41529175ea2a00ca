"""The paper's LLM aggregator: one model reads the experts' reasoning and writes a refined answer.

The prompt is the one the aggregator benchmark uses (:func:`skills.aggregator_bench.build_aggregation_prompt`:
the question, the labelled responses, an instruction to synthesise them critically, the answer format),
with each response trimmed at ``</think>`` and to the aggregator's context budget first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from batching.engines.base import Engine
from common.generation import GenRequest, SamplingParams
from common.records import AnswerFormat, Passage
from orchestrator.answers import extract_answer, trim_reasoning
from orchestrator.prompts import context_block
from skills.aggregator_bench import build_aggregation_prompt


def build_aggregator_prompt(
    question: str,
    responses: Sequence[str],
    answer_format: AnswerFormat,
    *,
    max_chars_per_response: int = 6000,
    passages: Sequence[Passage] = (),
) -> str:
    """Build the aggregation prompt for one question.

    Args:
        question: the question with its options inline.
        responses: the experts' raw outputs, best-ranked first.
        answer_format: decides the closing instruction (letter or boxed answer).
        max_chars_per_response: each response is trimmed at ``</think>`` and then to its last this many
            characters, so the prompt fits the aggregator's context budget.
        passages: the passages the experts read (retrieval), shown to the aggregator with their source
            ids in the same ``Context:`` block as in the experts' prompts.
    """
    trimmed = [trim_reasoning(text, max_chars_per_response) for text in responses]
    if passages:
        question = f"Context:\n{context_block(passages)}\n\nQuestion: {question}"
    return build_aggregation_prompt(question, trimmed, answer_format)


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
