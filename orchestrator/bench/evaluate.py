"""Evaluate a method on a batch of questions whose expert answers can be fetched (recorded or generated).

Fit the method's policy on the profiling split, recruit for the questions, fetch the recruited answers
(one batched stage per call: an interactive policy fetches once per round), and decide every question
with the method's :class:`~orchestrator.aggregation.decide.Decider`, the same decision live runs use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from common.records import ExpertAnswer, FinalAnswer, Instance, Pair, RetrievalTrace, RoutingDecision
from orchestrator.aggregation.decide import Decided, Decider, Question
from orchestrator.method import MethodConfig
from orchestrator.policies import ProfilingData, QueryBatch, RoutingPolicy
from orchestrator.policies.base import AnswerFetcher


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
        return [d.n_calls for d in self.decisions]

    def final_answers(
        self,
        method: str,
        instances: Sequence[Instance],
        right: Sequence[bool],
        retrieval: Sequence[RetrievalTrace | None] | None = None,
    ) -> list[FinalAnswer]:
        """Per-instance traces: ids, answers (letters or math answers), decisions and, with retrieval,
        its trace; no question text."""
        traces = retrieval if retrieval is not None else [None] * len(instances)
        return [
            FinalAnswer(
                instance_id=inst.id,
                answer=decided.answer,
                correct=ok,
                method=method,
                aggregation=decided.how,
                routing=d,
                expert_answers=[
                    ExpertAnswer(instance_id=inst.id, expert=x, answer=a) for x, a in answers.items()
                ],
                retrieval=trace,
            )
            for d, answers, decided, inst, ok, trace in zip(
                self.decisions, self.expert_answers, self.decided, instances, right, traces, strict=True
            )
        ]


@dataclass(frozen=True)
class FittedMethod:
    """A method's policy and decider, fitted on one profiling split."""

    method: MethodConfig
    policy: RoutingPolicy
    decider: Decider

    def at_budget(self, budget: float) -> FittedMethod:
        """The same fit at another cost budget (``budgeted`` policies only; the decider is shared)."""
        return FittedMethod(self.method, self.policy.at_budget(budget), self.decider)


def fit_method(cfg: MethodConfig, profiling: ProfilingData, profiling_gold: Sequence[str]) -> FittedMethod:
    """Fit ``cfg``'s policy and decider on a profiling split.

    Raises:
        ValueError: an aggregator that needs a model (``llm``; the bench aggregates by votes).
    """
    if cfg.aggregator_class.needs_model:
        raise ValueError(
            f"method {cfg.name!r}: aggregation {cfg.aggregation!r} needs a live aggregator; use a vote"
        )
    policy = cfg.build_policy().fit(profiling)
    return FittedMethod(cfg, policy, Decider(cfg, policy, profiling, profiling_gold))


def run_fitted(
    fitted: FittedMethod,
    queries: QueryBatch,
    fetch: AnswerFetcher,
    *,
    texts: Mapping[Pair, str | None] | None = None,
    seed: int = 0,
) -> MethodOutcome:
    """Recruit for ``queries``, fetch the recruited answers and decide every question.

    Args:
        fitted: the fitted method.
        queries: the test questions.
        fetch: answers a list of (instance id, expert) pairs (one batched stage per call).
        texts: the experts' responses by pair (needed by a stacked vote's answer-statement feature).
        seed: recruitment seed.
    """
    policy, decider = fitted.policy, fitted.decider
    decisions = policy.recruit(queries, seed=seed)
    n_opts = queries.n_options if queries.n_options is not None else np.zeros(len(queries), dtype=int)
    if policy.interactive:
        decisions = policy.extend(decisions, [int(n) for n in n_opts], fetch)  # type: ignore[attr-defined]
    answers = fetch([(d.instance_id, e) for d in decisions for e in d.called])
    acc = decider.local_accuracy(queries)
    with_texts = bool(decider.features) and texts is not None
    decided = []
    for i, d in enumerate(decisions):
        iid = d.instance_id
        q = Question(
            experts=d.experts,
            answers=[answers[(iid, e)] for e in d.experts],
            n_options=int(n_opts[i]),
            local_accuracy=decider.accuracy_row(acc, i),
            texts=[texts.get((iid, e)) for e in d.experts] if with_texts and texts is not None else None,
            options=queries.options[i] if queries.options else (),
        )
        out = decider.decide(q)
        assert out is not None  # only aggregation 'llm' defers, rejected by fit_method
        decided.append(out)
    per_instance = [{e: answers[(d.instance_id, e)] for e in d.experts} for d in decisions]
    return MethodOutcome(decisions, per_instance, decided)


def evaluate_method(
    cfg: MethodConfig,
    profiling: ProfilingData,
    profiling_gold: Sequence[str],
    queries: QueryBatch,
    fetch: AnswerFetcher,
    *,
    seed: int = 0,
    texts: Mapping[Pair, str | None] | None = None,
) -> MethodOutcome:
    """Fit on profiling data, recruit for ``queries``, fetch answers and decide (see :func:`run_fitted`).

    Raises:
        ValueError: ``aggregation: llm`` (the bench aggregates by votes).
    """
    return run_fitted(fit_method(cfg, profiling, profiling_gold), queries, fetch, texts=texts, seed=seed)
