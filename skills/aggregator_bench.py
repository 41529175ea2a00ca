"""The paper's aggregator benchmark: can a model recover the one correct chain among three?

Each item takes a validation question with one correct and two wrong reasoning chains from the experts'
validation outputs, shuffles them (seeded), and asks the candidate aggregator to synthesise a final
answer. This module holds the pure part: the items from recorded outputs and one aggregator's score on
them. The prompt and the choice among candidates live in :mod:`orchestrator.aggregation.choice`.

Example::

    items = build_bench_items(instances, chains_by_instance, prompt=build_aggregation_prompt, seed=0)
    score = score_aggregator(qwen_engine, items, extract_answer)
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from common.errors import ConfigError
from common.generation import Generator, GenRequest, SamplingParams
from common.records import AnswerFormat, Instance

logger = logging.getLogger(__name__)

AnswerExtractor = Callable[[str], str | None]  # model output -> answer (letter or math expression)
AnswerMatcher = Callable[[str | None, str], bool]  # (extracted, gold) -> correct?

DEFAULT_AGGREGATOR_SAMPLING = SamplingParams(temperature=0.7, max_tokens=4096, seed=0)

PromptBuilder = Callable[[str, Sequence[str], AnswerFormat], str]
"""(question, responses in the order shown, answer format) -> the aggregator's prompt."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReasoningChain:
    """One expert's validation output on one question."""

    expert: str
    text: str
    answer: str | None
    is_correct: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class AggregatorBenchItem:
    """One benchmark question: the shuffled chains and the prompt built from them."""

    instance_id: str
    gold: str
    prompt: str
    experts: tuple[str, ...]  # whose chains, in the order shown
    correct_position: int  # index into ``experts`` of the correct chain


@dataclass(frozen=True, slots=True, kw_only=True)
class AggregatorScore:
    """How one aggregator did on the benchmark (``accuracy`` is a fraction in [0, 1])."""

    name: str
    accuracy: float
    correct: int
    n: int
    unanswered: int  # failed requests and outputs with no extractable answer


def build_bench_items(
    instances: Sequence[Instance],
    chains: Mapping[str, Sequence[ReasoningChain]],
    *,
    prompt: PromptBuilder,
    n_wrong: int = 2,
    seed: int = 0,
    max_items: int | None = None,
) -> list[AggregatorBenchItem]:
    """Build benchmark items from the experts' validation outputs.

    Questions without a gold answer, without a correct chain, or with fewer than ``n_wrong`` wrong
    chains are skipped (the paper pads those with empty responses; an empty response says nothing
    about aggregation). Choices are seeded per question, so an item does not depend on which other
    questions are present.

    Args:
        instances: the validation questions.
        chains: instance id -> the experts' chains on it (empty texts are ignored).
        prompt: builds an item's prompt (the live aggregator's,
            :func:`orchestrator.aggregation.choice.build_aggregation_prompt`).
        n_wrong: wrong chains per item (the paper uses 2).
        seed: seeds the choice of chains, their order, and the ``max_items`` subsample.
        max_items: keep a seeded random subset of at most this many items.
    """
    if n_wrong < 0:
        raise ConfigError(f"aggregator bench: n_wrong={n_wrong} must be >= 0")
    items = []
    for inst in instances:
        if inst.gold is None:
            continue
        usable = sorted((c for c in chains.get(inst.id, ()) if c.text.strip()), key=lambda c: c.expert)
        right = [c for c in usable if c.is_correct]
        wrong = [c for c in usable if not c.is_correct]
        if not right or len(wrong) < n_wrong:
            continue
        rng = random.Random(f"{seed}:{inst.id}")
        picked = [rng.choice(right), *rng.sample(wrong, n_wrong)]
        rng.shuffle(picked)
        position = next(i for i, c in enumerate(picked) if c.is_correct)
        text = prompt(inst.prompt_text(), [c.text for c in picked], inst.answer_format)
        items.append(
            AggregatorBenchItem(
                instance_id=inst.id,
                gold=inst.gold,
                prompt=text,
                experts=tuple(c.expert for c in picked),
                correct_position=position,
            )
        )
    if max_items is not None and len(items) > max_items:
        keep = set(random.Random(seed).sample(range(len(items)), max_items))
        items = [it for i, it in enumerate(items) if i in keep]
    logger.info("aggregator bench: %d items from %d questions", len(items), len(instances))
    return items


def exact_match(pred: str | None, gold: str) -> bool:
    """Case- and whitespace-insensitive equality (enough for option letters)."""
    return pred is not None and pred.strip().upper() == gold.strip().upper()


def score_aggregator(
    engine: Generator,
    items: Sequence[AggregatorBenchItem],
    extract: AnswerExtractor,
    *,
    sampling: SamplingParams = DEFAULT_AGGREGATOR_SAMPLING,
    is_correct: AnswerMatcher = exact_match,
    name: str | None = None,
) -> AggregatorScore:
    """Run one aggregator on every item in a single ``generate`` call.

    Args:
        engine: the candidate aggregator.
        items: from :func:`build_bench_items`.
        extract: pulls the final answer out of the aggregator's output.
        sampling: per-request sampling; item ``i`` uses seed ``sampling.seed + i``.
        is_correct: compares an extracted answer with the gold one (pass a math-aware one for AIME).
        name: the name to report (defaults to ``engine.name``).
    """
    label = name or engine.name
    base_seed = sampling.seed if sampling.seed is not None else 0
    requests = [
        GenRequest(
            request_id=f"aggbench-{i}",
            prompt=it.prompt,
            messages=(("user", it.prompt),),
            sampling=dataclasses.replace(sampling, seed=base_seed + i),
            instance_id=it.instance_id,
        )
        for i, it in enumerate(items)
    ]
    results = engine.generate(requests)
    correct = unanswered = 0
    for it, res in zip(items, results, strict=True):
        pred = extract(res.text) if res.text is not None and res.error is None else None
        unanswered += int(pred is None)
        correct += int(is_correct(pred, it.gold))
    n = len(items)
    accuracy = correct / n if n else 0.0
    logger.info("aggregator bench: %s recovered %d/%d (%.1f%%)", label, correct, n, 100 * accuracy)
    return AggregatorScore(name=label, accuracy=accuracy, correct=correct, n=n, unanswered=unanswered)
