"""``auto``: choose a method's recipe from the profiling data alone, by nested cross-validation.

A method with ``policy: auto`` (:class:`~orchestrator.policies.auto.AutoPolicy`) names no recipe. Given
the pool's profiling data (live: the stored profiles; bench: a split's profiling rows or training
folds), :func:`choose` scores every recipe of a declared space (:func:`recipe_space`) by repeated
stratified k-fold cross-validation *inside* that data, with the same fit, recruitment and vote code the
method then runs, and takes

1. the recipes whose mean calls per question stay within ``max_calls`` (and cost within ``budget``);
2. of those, the most accurate (the *best*);
3. the first recipe in the space's declared order (simplest and cheapest first) whose inner-CV accuracy
   is within ``se_rule`` standard errors of the best's (the one-standard-error rule: when the inner CV
   cannot tell two recipes apart, the simpler one is taken). The standard error is that of the paired
   per-question difference between the recipe and the best (both answer the same questions, as the
   bench's paired tests compare methods).

The space is the same for every pool and dataset; it only drops recipes that cannot apply (stacked votes
need letter answers; a cascade needs a budget). A question an expert never answered counts as not
answered (an abstention), never as wrong. The choice is deterministic: fold seeds are fixed, so the
bench and a live run on the same profiling data choose alike.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from orchestrator.aggregation.decide import Decider, Question
from orchestrator.folds import stratified_folds
from orchestrator.method import MethodConfig
from orchestrator.policies import AutoOptions, ProfilingData, QueryBatch

logger = logging.getLogger(__name__)

_KNN = {"neighbours": 10, "alpha": 10.0, "tau": 0.05}
_CATEGORY = {"accuracy": "group", "group_by": "category", "betas": [10]}
"""The best expert per ``category`` (subject, task, skill), shrunk toward the global ranking by 10
pseudo-questions: a small category's few profiling answers do not swing the choice alone."""
_INNER_SEED = 200


class RecipeScore(BaseModel):
    """One recipe's inner cross-validation result (a row of the choice's table)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    accuracy: float
    se: float
    """Standard error of the paired per-question difference from the best recipe (0 for the best)."""
    calls: float
    cost: float
    eligible: bool


class AutoChoice(BaseModel):
    """What ``auto`` chose and why: the chosen recipe, the most accurate one, and every recipe's score."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chosen: str
    best: str
    threshold: float
    questions: int
    table: list[RecipeScore]
    method: MethodConfig

    def summary(self) -> str:
        """One line: the chosen recipe and its inner-CV accuracy beside the best's."""
        row = {r.name: r for r in self.table}
        c, b = row[self.chosen], row[self.best]
        tail = (
            ""
            if self.chosen == self.best
            else f"; best {b.name} {b.accuracy:.2f} (one-SE threshold {self.threshold:.2f})"
        )
        return f"auto chose {c.name} (inner CV {c.accuracy:.2f} at {c.calls:.2f} calls{tail})"


def recipe_space(profiling: ProfilingData, options: AutoOptions) -> list[MethodConfig]:
    """The recipes ``auto`` chooses among, simplest and cheapest first (the one-SE rule's order).

    Stacked votes (letters only) are left out when any profiling question is not multiple choice, and
    the cascade is in only when ``options.budget`` is set.
    """
    m = len(profiling.experts)
    letters = bool(len(profiling.n_options)) and bool((np.asarray(profiling.n_options) > 0).all())
    glob: dict[str, Any] = {"accuracy": "global"}
    space: list[dict[str, Any]] = [
        {"name": "best_single_fallback", "policy": "top_k_fallback", "k": 1},
        {"name": "best_single", "policy": "global_top_k", "k": 1},
        {"name": "category_top1", "policy": "group_top_k", "k": 1, "vote": _CATEGORY},
        {"name": "knn_top1", "policy": "knn_top_k", "k": 1, "options": _KNN},
        {"name": "top3_majority", "policy": "global_top_k", "k": 3},
        {"name": "top3_weighted", "policy": "global_top_k", "k": 3, "aggregation": "weighted", "vote": glob},
        {"name": "top5_weighted", "policy": "global_top_k", "k": 5, "aggregation": "weighted", "vote": glob},
        {
            "name": "knn_top3_weighted",
            "policy": "knn_top_k",
            "k": 3,
            "options": _KNN,
            "aggregation": "weighted",
        },
        {
            "name": "knn_top5_weighted",
            "policy": "knn_top_k",
            "k": 5,
            "options": _KNN,
            "aggregation": "weighted",
        },
        {
            "name": "sequential_family_vote",
            "policy": "sequential_vote",
            "k": 1,
            "options": {"order": "cost"},
            "aggregation": "weighted",
            "vote": {"accuracy": "global", "family_max": True},
        },
        {
            "name": "sequential_category_vote",
            "policy": "sequential_vote",
            "k": 1,
            "options": {"order": "cost"},
            "aggregation": "weighted",
            "vote": {"accuracy": "group", "group_by": "category", "betas": [5, 10, 20], "family_max": True},
        },
    ]
    if letters:
        space += [
            {
                "name": "knn_top5_stacked",
                "policy": "knn_top_k",
                "k": 5,
                "options": _KNN,
                "aggregation": "stacked",
            },
            {
                "name": "knn_top5_stacked_features",
                "policy": "knn_top_k",
                "k": 5,
                "options": _KNN,
                "aggregation": "stacked",
                "vote": {"features": ["options", "answer_statement"]},
            },
        ]
    if options.budget is not None:
        space.append({"name": "cascade", "policy": "cascade", "options": {"budget": options.budget}})
    out = []
    for spec in space:
        if spec["policy"] == "global_top_k" and spec["k"] >= m:
            continue  # the same as a smaller top-k or the sequential votes
        by_category = spec["name"] in ("category_top1", "sequential_category_vote")
        if by_category and not any(profiling.meta("category")):
            continue
        if spec["name"] == "knn_top5_stacked_features" and not profiling.texts:
            spec["vote"] = {"features": ["options"]}
        out.append(MethodConfig.model_validate({**spec, "k": min(spec["k"], m)}))
    return out


def resolve(
    method: MethodConfig, profiling: ProfilingData | None, gold: Sequence[str] | None
) -> tuple[MethodConfig, AutoChoice | None]:
    """The method to fit: ``method`` itself, or for ``policy: auto`` the recipe chosen on ``profiling``.

    Raises:
        ValueError: ``policy: auto`` without profiling data and gold answers.
    """
    if not method.policy_class.chooses_recipe:
        return method, None
    if profiling is None or gold is None:
        raise ValueError(f"method {method.name!r}: policy 'auto' needs profiling data with gold answers")
    choice = choose(method, profiling, gold)
    logger.info("method %s: %s", method.name, choice.summary())
    return choice.method, choice


def choose(method: MethodConfig, profiling: ProfilingData, gold: Sequence[str]) -> AutoChoice:
    """Score the recipe space by inner CV on ``profiling`` and apply the one-SE rule (module docstring)."""
    opts = method.policy_options()
    assert isinstance(opts, AutoOptions)  # AutoPolicy's Options
    space = recipe_space(profiling, opts)
    n = len(gold)
    strata = [c or "" for c in profiling.meta("category")]
    folds = min(opts.inner_folds, max(n // 2, 2))
    right = np.zeros((len(space), opts.inner_seeds, n))
    calls = np.zeros((len(space), opts.inner_seeds, n))
    cost = np.zeros((len(space), opts.inner_seeds, n))
    for s in range(opts.inner_seeds):
        fold = stratified_folds(strata, folds, _INNER_SEED + s)
        for f in range(folds):
            train, test = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
            if not len(test) or not len(train):
                continue
            sub = profiling.subset(train)
            sub_gold = [gold[i] for i in train]
            for r, recipe in enumerate(space):
                ok, c, paid = evaluate_recipe(recipe, sub, sub_gold, profiling, gold, test)
                right[r, s, test], calls[r, s, test], cost[r, s, test] = ok, c, paid
    per_q = right.mean(axis=1)  # (recipes, n)
    acc = 100.0 * per_q.mean(axis=1)
    mean_calls, mean_cost = calls.mean(axis=(1, 2)), cost.mean(axis=(1, 2))
    eligible = mean_calls <= opts.max_calls + 1e-9
    if opts.budget is not None:
        eligible &= mean_cost <= opts.budget + 1e-9
    if not eligible.any():
        eligible[0] = True  # the best single expert always applies
    best = max(np.flatnonzero(eligible), key=lambda r: (acc[r], -r))
    # the standard error of each recipe's paired difference from the best, over profiling questions
    diff = per_q[best][None, :] - per_q
    se = 100.0 * diff.std(axis=1, ddof=1) / np.sqrt(n) if n > 1 else np.zeros(len(space))
    close = eligible & (acc >= acc[best] - opts.se_rule * se - 1e-9)
    chosen = int(np.flatnonzero(close)[0])
    threshold = float(acc[best] - opts.se_rule * se[chosen])
    table = [
        RecipeScore(
            name=str(space[r].name),
            accuracy=float(acc[r]),
            se=float(se[r]),
            calls=float(mean_calls[r]),
            cost=float(mean_cost[r]),
            eligible=bool(eligible[r]),
        )
        for r in range(len(space))
    ]
    picked = space[chosen].model_copy(update={"name": method.name, "description": space[chosen].name})
    return AutoChoice(
        chosen=space[chosen].name,
        best=space[best].name,
        threshold=threshold,
        questions=n,
        table=table,
        method=picked,
    )


def evaluate_recipe(
    recipe: MethodConfig,
    train: ProfilingData,
    train_gold: Sequence[str],
    every: ProfilingData,
    every_gold: Sequence[str],
    rows: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit ``recipe`` on ``train`` and answer ``every``'s ``rows``: per row right, calls and cost.

    A final answer is right when it is an answer some expert gave and was right with (code is scored by
    its expert's verdict this way), or, for letters, the gold letter (a stacked vote may pick an option
    nobody voted for).
    """
    policy = recipe.build_policy().fit(train)
    decider = Decider(recipe, policy, train, train_gold)
    col = {e: j for j, e in enumerate(every.experts)}
    ids = [str(int(i)) for i in rows]

    def pick(values: list[Any]) -> list[Any]:
        return [values[int(i)] for i in rows] if values else []

    queries = QueryBatch(
        ids=ids,
        embeddings=every.embeddings[rows],
        skills=pick(every.skills),
        n_options=every.n_options[rows],
        metadata=pick(every.metadata),
        options=pick(every.options),
    )

    def fetch(pairs: list[tuple[str, str]]) -> Mapping[tuple[str, str], str | None]:
        return {(iid, e): every.answers[int(iid)][col[e]] for iid, e in pairs}

    decisions = policy.recruit(queries, seed=0)
    n_opts = [int(x) for x in every.n_options[rows]]
    if policy.interactive:
        decisions = policy.extend(decisions, n_opts, fetch)  # type: ignore[attr-defined]
    acc = decider.local_accuracy(queries)
    texts = bool(decider.features) and bool(every.texts)
    costs = every.call_costs
    right, calls, paid = np.zeros(len(rows)), np.zeros(len(rows)), np.zeros(len(rows))
    for i, (d, row) in enumerate(zip(decisions, rows, strict=True)):
        r = int(row)
        q = Question(
            experts=d.experts,
            answers=[every.answers[r][col[e]] for e in d.experts],
            n_options=n_opts[i],
            local_accuracy=decider.accuracy_row(acc, i),
            texts=[every.texts[r][col[e]] for e in d.experts] if texts else None,
            options=every.options[r] if every.options else (),
        )
        out = decider.decide(q)
        final = out.answer if out is not None else None
        voters = [j for j, a in enumerate(every.answers[r]) if a is not None and a == final]
        right[i] = final is not None and (
            any(every.correct[r, j] for j in voters) or (n_opts[i] > 0 and final == every_gold[r])
        )
        calls[i] = d.n_calls
        spent = [*d.experts, *(e for e in dict.fromkeys(d.consulted) if e not in d.experts)]
        paid[i] = float(sum(costs[col[e]] for e in spent))
    return right, calls, paid
