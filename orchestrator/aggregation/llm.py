"""The paper's LLM aggregator: one model reads the experts' reasoning and writes a refined answer.

The prompt is the one the aggregator benchmark uses
(:func:`orchestrator.aggregation.choice.build_aggregator_prompt`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from batching.engines.base import Engine
from common.generation import GenRequest, SamplingParams
from common.records import AnswerFormat
from orchestrator.aggregation.base import Aggregator, Decided, Question, aggregator_registry
from orchestrator.aggregation.choice import build_aggregator_prompt
from orchestrator.answers import extract_answer
from orchestrator.voting.vote import Ballot, Same


@aggregator_registry.register("llm")
class LLMAggregator(Aggregator):
    """The pool's aggregator model answers every question the consensus skip leaves (live runs only).

    :meth:`decide` hands the question to the model (None); the caller reads the model's reply with
    :meth:`~orchestrator.aggregation.decide.Decider.from_aggregator`.
    """

    name = "llm"
    needs_model = True

    def decide(self, q: Question, ballots: Sequence[Ballot], same: Same | None) -> Decided | None:
        return None


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
