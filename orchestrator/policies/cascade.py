"""A cost-aware two-stage cascade: a cheap first stage, and a second only when the first disagrees.

Call the first-stage set S1; when all of its members answered and agree, that is the answer. Otherwise
call the second-stage set S2 and answer with S2's majority vote (S1's answers are consulted, not
counted). Fitted on the profiling questions: for every pair (S1, S2) -- S1 any set of up to
``max_first`` experts or a top-j prefix of the experts ranked by profiling accuracy, S2 none, one expert
or a top-j prefix -- the profiling accuracy and the expected cost per question::

    cost(S1) + P(S1 does not agree) * cost(S2 without S1)

follow from a few matrix products. Under ``budget`` (a mean cost per question, in the pool's cost unit;
see :mod:`batching.cost`) the policy uses the most accurate pair whose expected cost fits (ties: the
cheaper); without a budget, the most accurate pair. Refitting is not needed to change the budget
(:meth:`CascadePolicy.at_budget`), so one fit traces the whole accuracy-cost curve.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from itertools import combinations

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
from orchestrator.voting.slots import correct_slots, is_right, one_hot, slot_table
from orchestrator.voting.vote import answer_classes


class CascadeOptions(PolicyOptions):
    """The cost budget and how large a first stage may be."""

    budget: float | None = Field(
        default=None, ge=0, description="Mean cost per question (pool cost unit); None: no limit."
    )
    max_first: int = Field(default=3, ge=1, le=4, description="Most experts in an arbitrary first stage.")


@policy_registry.register("cascade")
class CascadePolicy(RoutingPolicy):
    """The most accurate two-stage cascade whose expected cost per question fits the budget."""

    name = "cascade"
    Options = CascadeOptions
    needs_profiles = True
    interactive = True
    budgeted = True

    def __init__(self, k: int = 1, budget: float | None = None, max_first: int = 3) -> None:
        super().__init__(k)  # k is unused: the stages come from the fit
        self.budget = budget
        self.max_first = max_first
        self.pair: tuple[int, int] | None = None

    def _fit(self, profiling: ProfilingData) -> None:
        m = len(self.experts)
        cost = profiling.call_costs
        self._order = np.argsort(-profiling.global_accuracy, kind="stable")
        rank = np.empty(m, dtype=int)
        rank[self._order] = np.arange(m)
        self._rank = rank
        slots = slot_table(profiling.answers, profiling.n_options)
        votes = one_hot(slots)
        good = correct_slots(slots, profiling.correct, votes.shape[2])
        prefixes = [tuple(sorted(self._order[:j])) for j in range(1, m + 1)]
        small = [c for s in range(1, min(self.max_first, m) + 1) for c in combinations(range(m), s)]
        self.first = list(dict.fromkeys([*small, *prefixes]))
        self.second: list[tuple[int, ...] | None] = [
            None,
            *dict.fromkeys([(j,) for j in range(m)] + prefixes),
        ]
        m1, m2 = _members(self.first, m), _members([s for s in self.second if s is not None], m)
        right1 = _set_correct(votes, good, m1, rank)  # (n1, n)
        right2 = _set_correct(votes, good, m2, rank)  # (n2, n)
        answered = slots >= 0
        stop = np.array([_agree(slots, answered, s) for s in self.first], dtype=float)  # (n1, n)
        n = len(slots)
        cost1 = m1 @ cost
        extra = (1 - m1) @ (cost[:, None] * m2.T)  # cost of S2 without S1: (n1, n2)
        go = 1 - stop.mean(axis=1)
        self.accuracy = np.hstack(
            [right1.mean(axis=1)[:, None], ((stop * right1).sum(axis=1)[:, None] + (1 - stop) @ right2.T) / n]
        )
        self.expected_cost = np.hstack([cost1[:, None], cost1[:, None] + go[:, None] * extra])
        self.pair = self._select(self.budget)

    def _select(self, budget: float | None) -> tuple[int, int] | None:
        fits = (
            np.ones_like(self.expected_cost, dtype=bool)
            if budget is None
            else self.expected_cost <= budget + 1e-9
        )
        if not fits.any():
            return None
        value = np.where(fits, self.accuracy - 1e-9 * self.expected_cost, -np.inf)
        i, j = np.unravel_index(int(np.argmax(value)), value.shape)
        return int(i), int(j)

    def at_budget(self, budget: float) -> CascadePolicy:
        """This fitted cascade at another budget (no refit)."""
        other = copy.copy(self)
        other.budget = budget
        other.pair = self._select(budget)
        return other

    def stages(self) -> tuple[list[str], list[str] | None]:
        """The chosen first and second stage (expert names, best-ranked first); empty: no pair fits."""
        if self.pair is None:
            return [], None
        s1, s2 = self.first[self.pair[0]], self.second[self.pair[1]]
        return self._ranked(s1), None if s2 is None else self._ranked(s2)

    def _ranked(self, members: Sequence[int]) -> list[str]:
        return [self.experts[j] for j in sorted(members, key=lambda j: self._rank[j])]

    def _recruit(self, queries: QueryBatch, rng: np.random.Generator) -> list[RoutingDecision]:
        first, second = self.stages()
        why = f"cascade under budget {self.budget}: {first} then, on disagreement, {second}"
        scores = [ExpertScore(expert=self.experts[j], score=float(-self._rank[j])) for j in self._order]
        return [
            RoutingDecision(instance_id=i, scores=scores, experts=first, policy=self.name, why=why)
            for i in queries.ids
        ]

    def extend(
        self, decisions: Sequence[RoutingDecision], n_options: Sequence[int], fetch: AnswerFetcher
    ) -> list[RoutingDecision]:
        """Call the second stage for every question whose first stage did not answer unanimously."""
        first, second = self.stages()
        if not first or second is None:
            return list(decisions)
        answers = fetch([(d.instance_id, e) for d in decisions for e in first])
        go = []
        for d, n_opt in zip(decisions, n_options, strict=True):
            got = [answers[(d.instance_id, e)] for e in first]
            classes = answer_classes(got, answer_equivalence(n_opt))
            if min(classes) < 0 or max(classes) > 0:
                go.append(d.instance_id)
        more = [(iid, e) for iid in go for e in second if e not in first]
        if more:
            fetch(more)
        consulted = [e for e in first if e not in second]
        gone = set(go)
        return [
            d.model_copy(update={"experts": second, "consulted": consulted}) if d.instance_id in gone else d
            for d in decisions
        ]


def _members(sets: Sequence[tuple[int, ...]], m: int) -> np.ndarray:
    out = np.zeros((len(sets), m))
    for i, s in enumerate(sets):
        out[i, list(s)] = 1.0
    return out


def _set_correct(votes: np.ndarray, good: np.ndarray, members: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """(sets, n) whether each set's majority vote (ties: best-ranked voter) is right on each question."""
    m = votes.shape[1]
    tie = members * (1.0 + 1e-3 * (m - rank))[None, :]
    counts = np.einsum("sm,nml->snl", tie, votes)
    pred = np.where(counts.max(axis=2) > 0, counts.argmax(axis=2), -1)
    return np.stack([is_right(good, p) for p in pred]).astype(float)


def _agree(slots: np.ndarray, answered: np.ndarray, members: tuple[int, ...]) -> np.ndarray:
    sub = slots[:, list(members)]
    return np.asarray(answered[:, list(members)].all(axis=1) & (sub == sub[:, :1]).all(axis=1), dtype=bool)
