"""Accuracy per cost: budget grids, the oracle's curve, and the two numbers that summarise a curve.

A curve is a set of (mean cost per question, accuracy) points, e.g. a budgeted policy at every budget of
:func:`budget_grid`. Its summary:

- **reach**: the lowest mean cost at which the curve reaches the best single expert's accuracy, also as
  a share of that expert's cost per question (below 1: the routing buys its accuracy cheaper);
- **AUC share**: the area under the curve's monotone envelope (accuracy as a step function of cost, 0
  before the first point, held after the last) on [0, cost of calling every expert], divided by the same
  area for the oracle, which under a budget B calls the cheapest right expert costing at most B.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class CostCurve(BaseModel):
    """One accuracy-cost curve and its summary, as reports store it."""

    model_config = ConfigDict(extra="forbid")

    name: str
    budgets: list[float] = Field(default_factory=list, description="The budget of each point (if swept).")
    costs: list[float] = Field(description="Mean cost per question of each point.")
    accuracies: list[float] = Field(description="Accuracy (0-100) of each point.")
    reach_cost: float | None = Field(
        default=None, description="Lowest mean cost at which the curve reaches the best single's accuracy."
    )
    reach_share: float | None = Field(default=None, description="reach_cost / the best single's cost.")
    auc_share: float = Field(description="Area under the curve / the oracle's, on [0, all experts' cost].")


def budget_grid(expert_costs: np.ndarray, points: int) -> np.ndarray:
    """Budgets: ``points`` log-spaced from the cheapest expert's cost to all experts' cost, plus each
    expert's own cost (so every single expert is a point)."""
    costs = np.asarray(expert_costs, dtype=float)
    low, high = max(float(costs.min()), 1e-9), float(costs.sum())
    return np.unique(np.concatenate([np.geomspace(low, high, points), costs]))


def area(costs: np.ndarray, accuracies: np.ndarray, c_max: float) -> float:
    """Area under the monotone step envelope of the points on [0, c_max] (see the module docstring)."""
    order = np.argsort(costs, kind="stable")
    x = np.concatenate([[0.0], np.asarray(costs, dtype=float)[order], [c_max]])
    y = np.concatenate([[0.0], np.asarray(accuracies, dtype=float)[order], [float(np.max(accuracies))]])
    y = np.maximum.accumulate(y)
    keep = x <= c_max
    x, y = np.append(x[keep], c_max), np.append(y[keep], y[keep][-1])
    return float(np.sum(np.diff(x) * y[:-1]))


def reach(costs: np.ndarray, accuracies: np.ndarray, target: float) -> float | None:
    """The lowest mean cost among the points whose accuracy reaches ``target`` (None: never)."""
    hit = [c for c, a in zip(costs, accuracies, strict=True) if a >= target - 1e-9]
    return float(min(hit)) if hit else None


def oracle_curve(
    correct: np.ndarray, call_cost: np.ndarray, budgets: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The oracle's (mean cost, accuracy) at each budget: it calls the cheapest right expert within budget.

    Args:
        correct: (n, m) whether each expert is right on each question.
        call_cost: (n, m) the cost of each call.
        budgets: the per-question budgets.
    """
    costs, accs = [], []
    for b in budgets:
        ok = correct & (call_cost <= b + 1e-9)
        cheapest = np.where(ok, call_cost, np.inf).min(axis=1)
        costs.append(float(np.where(ok.any(axis=1), cheapest, 0.0).mean()))
        accs.append(100.0 * float(ok.any(axis=1).mean()))
    return np.array(costs), np.array(accs)


def summarise(
    name: str,
    costs: np.ndarray,
    accuracies: np.ndarray,
    *,
    reference: tuple[float, float],
    oracle_area: float,
    c_max: float,
    budgets: np.ndarray | None = None,
) -> CostCurve:
    """A curve with its reach of ``reference`` = (accuracy, cost) and its AUC share of ``oracle_area``."""
    ref_acc, ref_cost = reference
    hit = reach(costs, accuracies, ref_acc)
    return CostCurve(
        name=name,
        budgets=[float(b) for b in budgets] if budgets is not None else [],
        costs=[float(c) for c in costs],
        accuracies=[float(a) for a in accuracies],
        reach_cost=hit,
        reach_share=None if hit is None or ref_cost <= 0 else hit / ref_cost,
        auc_share=area(costs, accuracies, c_max) / oracle_area if oracle_area > 0 else 0.0,
    )
