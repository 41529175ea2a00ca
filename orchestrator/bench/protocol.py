"""Run every method over the protocol's splits: fit on each split's profiling rows, answer its test rows.

For each split (the paper's one, or each fold of each cross-validation seed) every method is fitted on
the profiling rows only (:func:`~orchestrator.bench.evaluate.fit_method`) and answers the test rows,
reading the recorded answers of exactly the experts it calls; its correctness, calls and cost go into
its :class:`~orchestrator.bench.tally.MethodTally`. A budgeted method named by ``cost_curve`` is also
answered at every budget of the grid, from the same fit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, ConfigDict

from common.records import FinalAnswer, Instance
from orchestrator.answers import is_correct
from orchestrator.autoselect import AutoChoice, resolve
from orchestrator.bench.cv import Split
from orchestrator.bench.evaluate import FittedMethod, MethodOutcome, fit_method, run_fitted
from orchestrator.bench.table import BenchTable
from orchestrator.bench.tally import MethodTally
from orchestrator.method import MethodConfig
from orchestrator.policies import ProfilingData

StepHook = Callable[[int, int], None]  # (splits done, splits in all)


class SplitChoice(BaseModel):
    """The recipe an ``auto`` method chose on one split (seed, held-out fold)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int
    fold: int
    choice: AutoChoice


@dataclass
class CurveTally:
    """A budgeted method's correctness and cost per (budget, seed, evaluated question)."""

    budgets: np.ndarray
    right: np.ndarray  # (budgets, seeds, n)
    cost: np.ndarray  # (budgets, seeds, n)

    def points(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean cost per question and accuracy (0-100, mean over seeds) at each budget."""
        return self.cost.mean(axis=(1, 2)), 100.0 * np.nanmean(self.right, axis=2).mean(axis=1)


@dataclass(kw_only=True)
class ProtocolResult:
    """Every method's tally, the cost curve's, and the traces of the configured methods (seed 0)."""

    tallies: dict[str, MethodTally]
    curve: CurveTally | None
    traces: dict[str, list[FinalAnswer | None]] = field(default_factory=dict)
    choices: dict[str, list[SplitChoice]] = field(default_factory=dict)
    """``auto`` methods: the recipe chosen on each split's profiling rows, with its inner-CV table."""


@dataclass(kw_only=True)
class Protocol:
    """The inputs every split shares.

    Args:
        table: every question's answers (profiling and test rows index it).
        profile_rows: the table row of each profiling-list position.
        test_rows: the table row of each test-list position.
        test: the evaluated questions (test-list order).
        seeds: repetitions of the protocol.
        seed: the bench seed (random baselines draw with it, shifted per split).
    """

    table: BenchTable
    profile_rows: np.ndarray
    test_rows: np.ndarray
    test: list[Instance]
    seeds: int
    seed: int

    def run(
        self,
        methods: Sequence[MethodConfig],
        splits: Sequence[Split],
        *,
        traced: Sequence[str] = (),
        curve: tuple[str, np.ndarray] | None = None,
        on_step: StepHook | None = None,
    ) -> ProtocolResult:
        """Fit and answer every method on every split.

        Args:
            methods: the baselines and the configured methods.
            splits: the protocol's splits.
            traced: methods whose per-question traces (seed 0) are kept.
            curve: (method name, budgets) of the cost curve to trace, or None.
            on_step: called after each split with (done, total).
        """
        n = len(self.test)
        tallies = {m.name: MethodTally(self.seeds, n) for m in methods}
        curve_tally = None
        if curve is not None:
            shape = (len(curve[1]), self.seeds, n)
            curve_tally = CurveTally(curve[1], np.full(shape, np.nan), np.zeros(shape))
        traces: dict[str, list[FinalAnswer | None]] = {name: [None] * n for name in traced}
        choices: dict[str, list[SplitChoice]] = {}
        for done, split in enumerate(splits, start=1):
            profiling = _ProfilingCache(self.table, self.profile_rows[split.profile])
            for method in methods:
                recipe, choice = resolve(method, profiling.get(method.use_category), profiling.gold)
                if choice is not None:
                    choices.setdefault(method.name, []).append(SplitChoice(seed=split.seed, fold=split.fold,
                                                                           choice=choice))  # fmt: skip
                fitted = self._run_method(
                    recipe, split, profiling, tallies[method.name], traces.get(method.name)
                )
                if curve_tally is not None and curve is not None and method.name == curve[0]:
                    self._run_curve(fitted, split, curve_tally)
            if on_step is not None:
                on_step(done, len(splits))
        return ProtocolResult(tallies=tallies, curve=curve_tally, traces=traces, choices=choices)

    def _seed(self, split: Split) -> int:
        """A split's recruitment seed (the bench seed on the first split; random draws differ per split)."""
        return self.seed + 1000 * split.seed + split.fold

    def _run_method(
        self,
        method: MethodConfig,
        split: Split,
        profiling: _ProfilingCache,
        tally: MethodTally,
        traces: list[FinalAnswer | None] | None,
    ) -> FittedMethod:
        test_rows = self.test_rows[split.test]
        fitted = fit_method(method, profiling.get(method.use_category), profiling.gold)
        queries = self.table.queries(test_rows, use_category=method.use_category)
        out = run_fitted(fitted, queries, self.table.fetch, texts=self.table.texts, seed=self._seed(split))
        right, calls, cost = self._score(out, test_rows, split.test)
        tally.record(split.seed, split.test, right, calls, cost, out.final)
        if traces is not None and split.seed == 0:
            instances = [self.test[int(p)] for p in split.test]
            for p, t in zip(split.test, out.final_answers(method.name, instances, right), strict=True):
                traces[int(p)] = t
        return fitted

    def _run_curve(self, fitted: FittedMethod, split: Split, curve: CurveTally) -> None:
        """The budgeted method at every budget, from its fit on the split."""
        test_rows = self.test_rows[split.test]
        queries = self.table.queries(test_rows, use_category=fitted.method.use_category)
        for b, budget in enumerate(curve.budgets):
            at = run_fitted(
                fitted.at_budget(float(budget)), queries, self.table.fetch, seed=self._seed(split)
            )
            right, _, cost = self._score(at, test_rows, split.test)
            curve.right[b, split.seed, split.test] = right
            curve.cost[b, split.seed, split.test] = cost

    def oracle(self) -> MethodTally:
        """Right whenever any expert is right; it calls every expert."""
        tally = MethodTally(1, len(self.test))
        rows = self.test_rows
        tally.record(
            0,
            np.arange(len(rows)),
            self.table.correct[rows].any(axis=1),
            np.full(len(rows), len(self.table.experts)),
            self.table.call_cost[rows].sum(axis=1),
        )
        return tally

    def _score(
        self, out: MethodOutcome, rows: np.ndarray, positions: np.ndarray
    ) -> tuple[list[bool], list[int], list[float]]:
        """Per question: right, calls, cost (a recruited expert drawn twice is two calls)."""
        col = {e: j for j, e in enumerate(self.table.experts)}
        right, calls, cost = [], [], []
        for d, final, row, p in zip(out.decisions, out.final, rows, positions, strict=True):
            inst = self.test[int(p)]
            if inst.answer_format.kind == "code":  # a picked program is right when its expert's verdict is
                right.append(any(self.table.correct[row, col[e]] and self.table.answers[row][col[e]] == final
                                 for e in d.experts if final is not None))  # fmt: skip
            else:
                right.append(is_correct(final, inst.gold, inst.answer_format))
            calls.append(d.n_calls)
            paid = [*d.experts, *(e for e in dict.fromkeys(d.consulted) if e not in d.experts)]
            cost.append(float(sum(self.table.call_cost[row, col[e]] for e in paid)))
        return right, calls, cost


class _ProfilingCache:
    """A split's profiling data, with and without the category as a skill (built on first use)."""

    def __init__(self, table: BenchTable, rows: np.ndarray) -> None:
        self.table, self.rows = table, rows
        self.gold = table.gold(rows)
        self._built: dict[bool, ProfilingData] = {}

    def get(self, use_category: bool) -> ProfilingData:
        if use_category not in self._built:
            self._built[use_category] = self.table.profiling(self.rows, use_category=use_category)
        return self._built[use_category]
