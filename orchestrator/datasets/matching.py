"""Mapping Symbolic-MoE split questions onto MMLU-Pro recording questions by their text."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from common.errors import ConfigError
from common.records import Instance
from orchestrator.datasets.splits import parse_inline_options

logger = logging.getLogger(__name__)

MatchStrategy = Literal["text", "text_options"]
MATCH_STRATEGIES: tuple[MatchStrategy, ...] = ("text", "text_options")

_REFERENCE_OPTIONS_SEPARATOR = " The options are:"


@dataclass(frozen=True, slots=True)
class MatchResult:
    """The outcome of matching split instances onto recording instances.

    Attributes:
        matched: ``(split_instance, recording_instance)`` pairs, in split order. The recording
            instance carries the recordings' ``question_id``, options and gold answer.
        unmatched: split instances with no recording question of the same text, in split order.
        strategy: the strategy used.
    """

    matched: list[tuple[Instance, Instance]]
    unmatched: list[Instance]
    strategy: MatchStrategy


def question_key(question: str) -> str:
    """The matching key of a question: its text before ``" The options are:"``, whitespace-normalised.

    This is the reference protocol's key, reproduced exactly (``str.split`` on the separator, then
    ``" ".join(text.split())``); a recording question without inline options keys on its whole text.

    Args:
        question: a split or recording question.

    Returns:
        The key.
    """
    return " ".join(question.split(_REFERENCE_OPTIONS_SEPARATOR)[0].split())


def _normalise_option(option: str) -> str:
    # The split files end each question with a period, which lands on the last inline option.
    return " ".join(option.split()).rstrip(" .").casefold()


def _options_overlap(split_instance: Instance, candidate: Instance) -> int:
    """How many of the candidate's options appear among the split question's inline options."""
    split_options = split_instance.options or parse_inline_options(split_instance.question)
    wanted = {_normalise_option(o) for o in split_options}
    return sum(_normalise_option(o) in wanted for o in candidate.options)


def _best_by_options(split_instance: Instance, candidates: list[Instance]) -> Instance:
    scores = [_options_overlap(split_instance, c) for c in candidates]
    best = max(scores)
    # The last of the best, so that ties resolve as the reference protocol's dict overwrite does.
    return next(c for c, s in zip(reversed(candidates), reversed(scores), strict=True) if s == best)


def match_split_to_recordings(
    split_instances: Sequence[Instance],
    recording_instances: Sequence[Instance],
    *,
    strategy: MatchStrategy = "text",
) -> MatchResult:
    """Match split questions to recording questions by question text.

    ``"text"`` reproduces the reference protocol exactly: recording questions are indexed by
    :func:`question_key`, and when several share a key the last one in ``recording_instances``
    order wins (a dict overwrite). ``"text_options"`` is the more faithful variant: among the
    recording questions sharing the key it picks the one with the most options found among the
    split question's inline options, ties going to the later one as in ``"text"``.

    Args:
        split_instances: split instances (e.g. from :func:`~orchestrator.datasets.splits.load_split`).
        recording_instances: recording instances (e.g. from
            :func:`~orchestrator.datasets.mmlu_pro.load_mmlu_pro`), in file order.
        strategy: ``"text"`` or ``"text_options"``.

    Returns:
        The matched pairs and the unmatched split instances.

    Raises:
        ConfigError: the strategy is unknown.
    """
    if strategy not in MATCH_STRATEGIES:
        raise ConfigError(f"unknown match strategy {strategy!r}; choose one of {', '.join(MATCH_STRATEGIES)}")
    by_key: dict[str, list[Instance]] = {}
    for rec in recording_instances:
        by_key.setdefault(question_key(rec.question), []).append(rec)
    matched: list[tuple[Instance, Instance]] = []
    unmatched: list[Instance] = []
    for inst in split_instances:
        candidates = by_key.get(question_key(inst.question))
        if not candidates:
            unmatched.append(inst)
            continue
        if strategy == "text" or len(candidates) == 1:
            matched.append((inst, candidates[-1]))
            continue
        matched.append((inst, _best_by_options(inst, candidates)))
    logger.info(
        "matched %d of %d split questions to recordings (strategy=%s)",
        len(matched),
        len(split_instances),
        strategy,
    )
    return MatchResult(matched=matched, unmatched=unmatched, strategy=strategy)
