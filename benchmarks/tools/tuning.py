"""Cross-validation inside the profiling split: choose a method's settings without seeing test questions.

Each fold holds out a slice of the profiling questions, fits the method on the rest, and scores it on the
held-out slice using the experts' recorded profiling answers. Repeated over seeds to steady the choice.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from orchestrator.bench.evaluate import evaluate_method
from orchestrator.method import MethodConfig
from orchestrator.policies import ProfilingData, QueryBatch


@dataclass(frozen=True)
class CVResult:
    """Mean held-out accuracy (0-100) and calls per question of one setting."""

    settings: dict[str, Any]
    accuracy: float
    calls_per_question: float


def cross_validate(
    method: MethodConfig,
    profiling: ProfilingData,
    gold: Sequence[str],
    *,
    folds: int = 5,
    seeds: Sequence[int] = (0, 1, 2),
) -> CVResult:
    """Score one method by k-fold cross-validation on the profiling questions."""
    n = len(gold)
    ids = [f"p{i}" for i in range(n)]
    accs: list[float] = []
    calls: list[float] = []
    gold_arr = np.asarray(gold)
    col = {e: j for j, e in enumerate(profiling.experts)}

    def fetch(pairs: list[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
        return {(i, e): profiling.answers[int(i[1:])][col[e]] for i, e in pairs}

    texts = {
        (ids[i], e): row[j] for i, row in enumerate(profiling.texts) for j, e in enumerate(profiling.experts)
    }

    for seed in seeds:
        perm = np.random.default_rng(seed).permutation(n)
        for f in range(folds):
            held = np.sort(perm[f::folds])
            train = np.setdiff1d(perm, held)
            queries = QueryBatch(
                ids=[ids[i] for i in held],
                embeddings=profiling.embeddings[held],
                skills=[profiling.skills[i] for i in held],
                n_options=profiling.n_options[held],
                metadata=[profiling.metadata[i] for i in held] if profiling.metadata else [],
                options=[profiling.options[i] for i in held] if profiling.options else [],
            )
            out = evaluate_method(
                method, profiling.subset(train), list(gold_arr[train]), queries, fetch, seed=seed, texts=texts
            )
            accs.append(100.0 * float(np.mean(np.array(out.final, dtype=object) == gold_arr[held])))
            calls.append(float(np.mean(out.calls)))
    return CVResult({}, float(np.mean(accs)), float(np.mean(calls)))


def grid_search(
    method: MethodConfig,
    grid: Mapping[str, Sequence[Any]],
    profiling: ProfilingData,
    gold: Sequence[str],
    **cv_args: Any,
) -> list[CVResult]:
    """Cross-validate every combination of ``grid`` values over ``method``; best first."""
    keys = list(grid)
    results = []
    for values in itertools.product(*(grid[k] for k in keys)):
        settings = dict(zip(keys, values, strict=True))
        res = cross_validate(with_settings(method, settings), profiling, gold, **cv_args)
        results.append(CVResult(settings, res.accuracy, res.calls_per_question))
    return sorted(results, key=lambda r: -r.accuracy)


def with_settings(method: MethodConfig, settings: Mapping[str, Any]) -> MethodConfig:
    """``method`` with ``settings`` applied: method fields (k, aggregation...) directly, others as options."""
    data = method.model_dump()
    for key, value in settings.items():
        if key in MethodConfig.model_fields:
            data[key] = value
        else:
            data["options"] = {**data["options"], key: value}
    return MethodConfig.model_validate(data)
