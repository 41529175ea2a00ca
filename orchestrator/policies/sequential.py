"""Sequential vote with lossless early stopping: call experts one at a time until the vote is decided.

The method's weighted vote (one-coin weights from each expert's accuracy, e.g. per MATH level, and
optionally one vote per model family; :class:`~orchestrator.voting.calibration.VoteConfig`) is
computed as answers arrive. Experts are called in a fixed order, cheapest first (``order: cost``; ties:
more accurate first) or most accurate first (``order: accuracy``), one round per expert, so a live run
loads each model once. A question stops as soon as its leading answer's score exceeds every other
answer's score plus the most that answer could still gain from the experts not yet called (per family,
the largest uncalled weight above the answer's current family maximum; a new answer could gain the sum of
those) -- so the final answer is the one calling every expert would give, at a fraction of the cost.
``slack`` s > 0 stops earlier, when the lead exceeds (1 - s) times that bound (lossy; traces a curve).

On MATH-500 this calls 21.5 of 24 experts but at half the cost of calling all (696 against 1,374 billion
parameters per question), with the same answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
from pydantic import Field

from common.records import ExpertScore, RoutingDecision
from orchestrator.answers import answer_equivalence
from orchestrator.policies.base import (
    AnswerFetcher,
    PolicyOptions,
    ProfilingData,
    QueryBatch,
    RoutingPolicy,
    policy_registry,
)
from orchestrator.voting.calibration import GroupAccuracy, VoteConfig, fit_vote_accuracy
from orchestrator.voting.reliability import logodds_weight
from orchestrator.voting.vote import answer_classes


class SequentialOptions(PolicyOptions):
    """Call order and how early to stop."""

    order: Literal["cost", "accuracy"] = Field(
        default="cost", description="cost: cheapest first (ties: more accurate first); accuracy: best first."
    )
    slack: float = Field(
        default=0.0,
        ge=0,
        lt=1,
        description="0: stop only when the answer is certain (lossless); more: earlier.",
    )


@policy_registry.register("sequential_vote")
class SequentialVotePolicy(RoutingPolicy):
    """Call experts in a fixed order until no uncalled expert can change the weighted vote's winner."""

    name = "sequential_vote"
    Options = SequentialOptions
    interactive = True
    uses_vote = True
    provides_accuracy = True

    def __init__(
        self, k: int = 1, order: str = "cost", slack: float = 0.0, vote: VoteConfig | None = None
    ) -> None:
        super().__init__(k)
        self.order = order
        self.slack = slack
        self.vote = vote or VoteConfig(accuracy="global")
        if self.vote.accuracy == "local":
            raise ValueError(
                "policy 'sequential_vote' (stage=recruit): vote.accuracy must be group or global"
            )
        self._accuracy: GroupAccuracy | None = None

    def _fit(self, profiling: ProfilingData) -> None:
        kind = "global" if self.vote.accuracy == "auto" else self.vote.accuracy
        self._accuracy = fit_vote_accuracy(profiling, self.vote.model_copy(update={"accuracy": kind}))
        acc = self._global = profiling.global_accuracy
        costs = profiling.call_costs
        self._sequence = (
            np.lexsort((-acc, costs)) if self.order == "cost" else np.argsort(-acc, kind="stable")
        )
        self._families = list(profiling.family_names)

    def reliability(self) -> GroupAccuracy | None:
        return self._accuracy

    def _recruit(self, queries: QueryBatch, rng: np.random.Generator) -> list[RoutingDecision]:
        assert self._accuracy is not None
        acc = self._accuracy.for_queries(queries)
        first = [self.experts[j] for j in self._sequence[: self.k]]
        why = f"experts in {self.order} order until the vote is decided (slack {self.slack:g})"
        return [
            RoutingDecision(
                instance_id=iid,
                scores=[ExpertScore(expert=self.experts[j], score=float(acc[i, j])) for j in self._sequence],
                experts=first,
                policy=self.name,
                why=why,
            )
            for i, iid in enumerate(queries.ids)
        ]

    def extend(
        self, decisions: Sequence[RoutingDecision], n_options: Sequence[int], fetch: AnswerFetcher
    ) -> list[RoutingDecision]:
        """Call one more expert per round for every undecided question; stop when the winner is certain."""
        fam = dict(zip(self.experts, self._families, strict=True))
        called = {d.instance_id: list(d.experts) for d in decisions}
        weights = {}
        for d, n_opt in zip(decisions, n_options, strict=True):
            acc = np.array([s.score for s in d.scores])
            w = logodds_weight(acc, n_opt, self.vote.free_form_options)
            weights[d.instance_id] = dict(zip((s.expert for s in d.scores), w, strict=True))
        answers = dict(fetch([(iid, e) for iid, es in called.items() for e in es]))
        active = {d.instance_id: n for d, n in zip(decisions, n_options, strict=True)}
        order = [self.experts[j] for j in self._sequence]
        for nxt in order[self.k :]:
            active = {
                iid: n
                for iid, n in active.items()
                if not self._decided(called[iid], answers, iid, weights[iid], fam, n, order)
            }
            if not active:
                break
            for iid in active:
                called[iid].append(nxt)
            answers.update(fetch([(iid, nxt) for iid in active]))
        # voters in profiling-accuracy order (as global_top_k lists them), so the vote's exact ties go to
        # the expert ranked best overall, exactly as when every expert is called
        rank = {e: r for r, e in enumerate(self.experts[j] for j in np.argsort(-self._global, kind="stable"))}
        return [d.model_copy(update={"experts": sorted(called[d.instance_id], key=rank.__getitem__)})
                for d in decisions]  # fmt: skip

    def _decided(
        self,
        called: list[str],
        answers: Mapping[tuple[str, str], str | None],
        iid: str,
        w: Mapping[str, float],
        fam: Mapping[str, str],
        n_options: int,
        order: list[str],
    ) -> bool:
        """Whether no expert still uncalled can change the leader (within the slack).

        Plain floats, not numpy: a bench's nested cross-validation asks this millions of times about a
        handful of classes, where numpy's per-call overhead is most of the cost. The sums run in the same
        order as ever, so the verdicts are bit-for-bit those of the vectorised form.
        """
        same = answer_equivalence(n_options)
        classes = answer_classes([answers[(iid, e)] for e in called], same)
        by_max = self.vote.family_max
        cur: dict[tuple[str, int], float] = {}  # (family, class) -> its current vote
        for e, c in zip(called, classes, strict=True):
            if c >= 0:
                key = (fam[e] if by_max else e, c)
                cur[key] = max(cur.get(key, 0.0), w[e]) if by_max else cur.get(key, 0.0) + w[e]
        n_classes = max(classes, default=-1) + 1
        score = [0.0] * n_classes
        for (_, c), v in cur.items():
            score[c] += v
        remaining: dict[str, float] = {}  # family (or expert) -> what it can still add to one answer
        for e in order[len(called) :]:
            voter = fam[e] if by_max else e
            remaining[voter] = max(remaining.get(voter, 0.0), w[e])
        if not remaining:
            return True
        if n_classes == 0 or max(score) <= 0:
            return False
        keep = 1.0 - self.slack
        total = sum(remaining.values())
        if by_max:
            base = [(f, r, max(r, 0.0)) for f, r in remaining.items()]  # r, 0: f has not voted for the class
            gain = [
                sum(max(r - cur[(f, c)], 0.0) if (f, c) in cur else b for f, r, b in base)
                for c in range(n_classes)
            ]
        else:  # an expert still uncalled has cast no vote yet: it can add its whole weight to any class
            gain = [total] * n_classes
        lead = score.index(max(score))
        bound = keep * total
        for c in range(n_classes):
            if c != lead:
                bound = max(bound, score[c] + keep * gain[c])
        return score[lead] > bound + 1e-9
