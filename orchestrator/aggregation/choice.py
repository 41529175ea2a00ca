"""The LLM aggregator's prompt and how a pool's aggregator model is chosen: the one place for both.

- :func:`build_aggregation_prompt` / :func:`build_aggregator_prompt`: the prompt an aggregator model
  answers, in the aggregator benchmark and in live runs alike (the question, the labelled responses, an
  instruction to synthesise them critically, the answer format; live responses are trimmed at
  ``</think>`` and to the aggregator's context budget first, with the passages the experts read).
- :func:`rank_aggregators`: score every candidate on benchmark items and rank them, best first.
- :func:`rank_pool_aggregators`: ``aggregator: auto``: the experts' validation outputs (from
  ``symoe profile``) give, per question, correct and wrong reasoning chains; every candidate model is
  asked to synthesise one correct and two wrong chains into an answer, and the one that recovers the
  gold answer most often is recorded in the profiles file as the pool's aggregator.

The benchmark's items and the scoring of one aggregator on them are pure functions of recorded outputs
(:mod:`skills.aggregator_bench`); this module hands them the prompt.

Example::

    best, ranking = rank_pool_aggregators(instances, texts, experts, engines, candidates=["a", "b"],
                                          pool_name="p", seed=0, sampling=SamplingParams())
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from functools import partial

from common.errors import ConfigError
from common.generation import Generator, SamplingParams
from common.records import AnswerFormat, Instance, Pair, Passage
from orchestrator.answers import extract_answer, is_correct, trim_reasoning
from orchestrator.prompts import context_block
from skills.aggregator_bench import (
    DEFAULT_AGGREGATOR_SAMPLING,
    AggregatorBenchItem,
    AnswerExtractor,
    AnswerMatcher,
    ReasoningChain,
    build_bench_items,
    exact_match,
    score_aggregator,
)

logger = logging.getLogger(__name__)

AUTO_AGGREGATOR = "auto"
"""A pool's ``aggregator: auto``: ``symoe profile`` ranks the candidates and records the winner."""

_AGGREGATION_INTRO = (
    "Question: {question}\n\n"
    "Below are {n} responses to this question written by different models. Some of them may be wrong, "
    "biased or incomplete. Evaluate them critically and write one improved response of your own: check "
    "each step, correct any mistakes, and do not simply copy a response or count votes.\n"
)
_FINAL_INSTRUCTION = {
    "multiple_choice": (
        'Reason step by step, then finish with the line "The answer is (X)", where X is the letter of '
        "the correct option."
    ),
    "math": 'Reason step by step, then finish with "The answer is \\boxed{X}", where X is the final answer.',
}


def build_aggregation_prompt(question: str, responses: Sequence[str], answer_format: AnswerFormat) -> str:
    """The prompt asking an aggregator to synthesise ``responses`` into one answer.

    Args:
        question: the question as the experts saw it (options inline).
        responses: the experts' reasoning chains, in the order to show them.
        answer_format: decides whether to ask for ``The answer is (X)`` or ``\\boxed{X}``.
    """
    parts = [_AGGREGATION_INTRO.format(question=question, n=len(responses))]
    parts += [f"\n### Response {i}:\n{text.strip()}\n" for i, text in enumerate(responses, 1)]
    parts.append("\n" + _FINAL_INSTRUCTION[answer_format.kind])
    return "".join(parts)


def build_aggregator_prompt(
    question: str,
    responses: Sequence[str],
    answer_format: AnswerFormat,
    *,
    max_chars_per_response: int = 6000,
    passages: Sequence[Passage] = (),
) -> str:
    """Build a live run's aggregation prompt for one question.

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


def rank_aggregators(
    engines: Mapping[str, Generator],
    items: Sequence[AggregatorBenchItem],
    extract: AnswerExtractor,
    *,
    sampling: SamplingParams = DEFAULT_AGGREGATOR_SAMPLING,
    is_correct: AnswerMatcher = exact_match,
) -> list[tuple[str, float]]:
    """Score every candidate and rank them, best first (ties broken by name).

    Each engine gets one ``generate`` call; an engine that was not loaded before is unloaded after its
    turn, so candidates are resident one at a time.

    Returns:
        ``(name, accuracy)`` pairs, accuracy a fraction in [0, 1]; the first is the chosen aggregator.

    Raises:
        ConfigError: no candidates or no items.
    """
    if not engines:
        raise ConfigError("aggregator bench: no candidate aggregators given")
    if not items:
        raise ConfigError("aggregator bench: no items; the experts need correct and wrong validation chains")
    scores = []
    for name, engine in engines.items():
        was_loaded = engine.is_loaded
        try:
            score = score_aggregator(
                engine, items, extract, sampling=sampling, is_correct=is_correct, name=name
            )
        finally:
            if not was_loaded:
                engine.unload()
        scores.append((name, score.accuracy))
    return sorted(scores, key=lambda s: (-s[1], s[0]))


def is_auto(aggregator: str | None) -> bool:
    """The pool leaves its aggregator model to the benchmark (``aggregator: auto``)."""
    return aggregator == AUTO_AGGREGATOR


def rank_pool_aggregators(
    instances: Sequence[Instance],
    texts: Mapping[Pair, str | None],
    experts: Sequence[str],
    engines: Mapping[str, Generator],
    *,
    candidates: Sequence[str],
    pool_name: str,
    seed: int,
    sampling: SamplingParams,
    lock: AbstractContextManager[object] | None = None,
    max_items: int = 200,
) -> tuple[str, list[tuple[str, float]]]:
    """Score every candidate aggregator on the experts' validation chains.

    Args:
        instances: the profiling questions (gold-labelled).
        texts: ``(instance id, expert)`` -> the expert's response (every expert answered every question).
        experts: the pool's experts, in pool order.
        engines: model name -> engine; every candidate must be here.
        candidates: the models to try.
        pool_name: for the error message.
        seed: seeds the benchmark's items.
        sampling: the aggregator's sampling parameters.
        lock: held around each scoring call (a session's lock: engines are shared).
        max_items: benchmark items at most (a seeded subsample).

    Returns:
        The best candidate and the ranking ``[(name, accuracy 0-1)]``, best first (ties: name order).

    Raises:
        ConfigError: no question has both a correct and two wrong expert chains.
    """
    chains: dict[str, list[ReasoningChain]] = {}
    for inst in instances:
        for e in experts:
            text = texts[(inst.id, e)]
            a = extract_answer(text, inst.answer_format) if text else None
            ok = inst.gold is not None and is_correct(a, inst.gold, inst.answer_format)
            chains.setdefault(inst.id, []).append(
                ReasoningChain(expert=e, text=text or "", answer=a, is_correct=ok)
            )
    items = build_bench_items(
        instances, chains, prompt=build_aggregation_prompt, seed=seed, max_items=max_items
    )
    if not items:
        raise ConfigError(
            f"pool {pool_name!r}, aggregator: auto: no validation question has one correct and two wrong "
            "expert answers to benchmark aggregators on; name the aggregator in the pool config instead"
        )
    fmt = {i.id: i.answer_format for i in instances}
    by_kind: dict[str, list[AggregatorBenchItem]] = {}
    for it in items:  # the extractor reads one answer format, so each format is scored on its own
        by_kind.setdefault(fmt[it.instance_id].kind, []).append(it)
    scores = []
    for name in candidates:
        correct = 0
        for group in by_kind.values():
            f = fmt[group[0].instance_id]
            with lock if lock is not None else nullcontext():
                score = score_aggregator(
                    engines[name],
                    group,
                    partial(extract_answer, answer_format=f),
                    sampling=sampling,
                    is_correct=partial(is_correct, answer_format=f),
                    name=name,
                )
            correct += score.correct
        scores.append((name, correct / len(items)))
    ranking = sorted(scores, key=lambda s: (-s[1], s[0]))
    logger.info("aggregator bench over %d items: %s", len(items), ranking)
    return ranking[0][0], ranking
