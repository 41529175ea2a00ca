"""The batch planner: group every (instance, expert) pair of a stage by expert.

Grouping is what makes the method fast: each expert model is loaded once per stage and answers all of its
instances while resident, instead of being loaded once per question.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ExpertBatch:
    """All the instances one expert must answer in a stage, in first-seen order."""

    expert: str
    instance_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StagePlan:
    """A stage's work, one batch per expert; the order of ``batches`` is the load order."""

    stage: str
    batches: tuple[ExpertBatch, ...]

    @property
    def n_pairs(self) -> int:
        return sum(len(b.instance_ids) for b in self.batches)

    @property
    def experts(self) -> list[str]:
        return [b.expert for b in self.batches]


def plan_stage(
    stage: str,
    assignments: Iterable[tuple[str, Sequence[str]]],
    load_order: Sequence[str] | None = None,
) -> StagePlan:
    """Group ``(instance_id, experts)`` assignments into one batch per expert.

    Duplicate (instance, expert) pairs collapse into one. Experts come in ``load_order`` when given (unknown
    experts after it, by first appearance), else by first appearance.

    Args:
        stage: the stage name (for traces).
        assignments: each instance id with the experts recruited for it.
        load_order: preferred expert order, e.g. to keep an expert that is also the aggregator last.
    """
    groups: dict[str, dict[str, None]] = {}
    for instance_id, experts in assignments:
        for expert in experts:
            groups.setdefault(expert, {})[instance_id] = None
    order = list(groups)
    if load_order is not None:
        rank = {e: i for i, e in enumerate(load_order)}
        order.sort(key=lambda e: rank.get(e, len(rank)))
    return StagePlan(stage, tuple(ExpertBatch(e, tuple(groups[e])) for e in order))
