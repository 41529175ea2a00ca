"""What each method did over every split of the protocol, summed into its :class:`MethodResult`.

Under the paper protocol there is one seed and each test question is answered once; under
cross-validation each seed answers every question once (in its held-out fold). Accuracy is the mean over
seeds (with their std); paired tests use per-question correctness averaged over seeds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from common.records import Instance, MethodResult, PairedComparison
from orchestrator.bench.significance import compare


class MethodTally:
    """Per seed and evaluated question: right or wrong, calls, cost, and the final answer.

    Args:
        seeds: the protocol's repetitions.
        n: the evaluated questions.
    """

    def __init__(self, seeds: int, n: int) -> None:
        self.right = np.full((seeds, n), np.nan)
        self.calls = np.zeros((seeds, n))
        self.cost = np.zeros((seeds, n))
        self.finals: list[list[str | None]] = [[None] * n for _ in range(seeds)]

    def record(
        self,
        seed: int,
        positions: np.ndarray,
        right: npt.ArrayLike,
        calls: npt.ArrayLike,
        cost: npt.ArrayLike,
        finals: Sequence[str | None] | None = None,
    ) -> None:
        """One split's outcome on its evaluated questions (``positions``)."""
        self.right[seed, positions] = np.asarray(right, dtype=float)
        self.calls[seed, positions] = calls
        self.cost[seed, positions] = cost
        if finals is not None:
            for p, a in zip(positions, finals, strict=True):
                self.finals[seed][int(p)] = a

    @property
    def per_question(self) -> np.ndarray:
        """(n,) each question's correctness averaged over seeds (the paired tests' input)."""
        return np.asarray(np.nanmean(self.right, axis=0))

    @property
    def seed_accuracies(self) -> np.ndarray:
        return np.asarray(100.0 * np.nanmean(self.right, axis=1), dtype=float)

    def result(
        self,
        instances: Sequence[Instance],
        description: str,
        *,
        cv: bool,
        comparison: PairedComparison | None = None,
        judge_agreement: float | None = None,
    ) -> MethodResult:
        """The method's result row (accuracy is the mean over seeds)."""
        q = self.per_question
        seeds = self.seed_accuracies
        return MethodResult(
            accuracy=float(seeds.mean()),
            calls_per_question=float(self.calls.mean()),
            n=len(q),
            correct=int(round(float(q.sum()))),
            per_category=_per_category(q, instances),
            description=description,
            cost_per_question=float(self.cost.mean()),
            accuracy_std=float(seeds.std()) if cv else None,
            seed_accuracies=[float(a) for a in seeds] if cv else [],
            comparison=comparison,
            judge_agreement=judge_agreement,
        )

    def compare_with(self, reference: MethodTally, name: str) -> PairedComparison:
        """Paired tests of this method against ``reference`` (named ``name``)."""
        test = compare(self.per_question, reference.per_question)
        return PairedComparison(
            reference=name, delta=test.delta, p_bootstrap=test.p_bootstrap, p_sign=test.p_sign
        )


def _per_category(q: np.ndarray, instances: Sequence[Instance]) -> dict[str, float]:
    tally: dict[str, list[float]] = {}
    for ok, inst in zip(q, instances, strict=True):
        t = tally.setdefault(inst.category or "all", [0.0, 0.0])
        t[0] += float(ok)
        t[1] += 1
    return {c: 100.0 * a / b for c, (a, b) in sorted(tally.items())}
