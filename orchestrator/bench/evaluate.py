"""Evaluate a method on a batch of questions whose expert answers can be fetched (recorded or generated).

Fit the method's policy on the profiling split, recruit for the questions, fetch the recruited answers
(one batched stage per call: an adaptive policy fetches once per round), and decide every question with
the method's :class:`~orchestrator.aggregation.decide.Decider`, the same decision live runs use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from common.records import RoutingDecision
from orchestrator.aggregation.decide import Decided, Decider, Question
from orchestrator.method import MethodConfig
from orchestrator.policies import ProfilingData, QueryBatch

AnswerFetcher = Callable[[list[tuple[str, str]]], Mapping[tuple[str, str], str | None]]


@dataclass(frozen=True)
class MethodOutcome:
    """A method's decisions, expert answers and final answers on a batch."""

    decisions: list[RoutingDecision]
    expert_answers: list[dict[str, str | None]]
    decided: list[Decided]

    @property
    def final(self) -> list[str | None]:
        return [d.answer for d in self.decided]

    @property
    def calls(self) -> list[int]:
        return [len(d.experts) for d in self.decisions]


def evaluate_method(
    cfg: MethodConfig,
    profiling: ProfilingData,
    profiling_gold: Sequence[str],
    queries: QueryBatch,
    fetch: AnswerFetcher,
    *,
    seed: int = 0,
) -> MethodOutcome:
    """Fit on profiling data, recruit for ``queries``, fetch answers and decide.

    Args:
        cfg: the method (``aggregation: llm`` is not possible without a live aggregator).
        profiling: every expert's profiling behaviour.
        profiling_gold: gold answers of the profiling questions (for the stacked vote).
        queries: the test questions.
        fetch: answers a list of (instance id, expert) pairs (one batched stage per call).
        seed: recruitment seed.

    Raises:
        ValueError: ``aggregation: llm`` (the bench aggregates by votes).
    """
    if cfg.aggregation == "llm":
        raise ValueError(f"method {cfg.name!r}: aggregation 'llm' needs a live aggregator; use a vote")
    policy = cfg.build_policy().fit(profiling)
    decisions = policy.recruit(queries, seed=seed)
    n_opts = queries.n_options if queries.n_options is not None else np.zeros(len(queries), dtype=int)
    if policy.interactive:
        decisions = policy.extend(decisions, [int(n) for n in n_opts], fetch)  # type: ignore[attr-defined]
    answers = fetch([(d.instance_id, e) for d in decisions for e in dict.fromkeys(d.experts)])
    decider = Decider(cfg, policy, profiling, profiling_gold)
    acc = decider.local_accuracy(queries.embeddings)
    decided = []
    for i, d in enumerate(decisions):
        q = Question(d.experts, [answers[(d.instance_id, e)] for e in d.experts], int(n_opts[i]),
                     decider.accuracy_row(acc, i))  # fmt: skip
        out = decider.decide(q)
        assert out is not None  # only aggregation 'llm' defers, rejected above
        decided.append(out)
    per_instance = [{e: answers[(d.instance_id, e)] for e in d.experts} for d in decisions]
    return MethodOutcome(decisions, per_instance, decided)
