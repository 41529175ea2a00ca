"""Policy and vote variants on synthetic data: abstention fallback, sequential vote with lossless
early stopping, the cost-aware cascade, group-calibrated family-max votes, the stacked vote's features."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from common.records import LETTERS, Pair
from orchestrator.bench.evaluate import evaluate_method, fit_method, run_fitted
from orchestrator.method import MethodConfig
from orchestrator.policies import ProfilingData, QueryBatch
from orchestrator.voting.calibration import VoteConfig, choose_beta, fit_vote_accuracy


def _data(
    answers: list[list[str | None]],
    gold: list[str],
    *,
    experts: tuple[str, ...],
    n_options: int = 4,
    metadata: list[dict[str, str]] | None = None,
    costs: list[float] | None = None,
    families: tuple[str, ...] = (),
    options: list[list[str]] | None = None,
    texts: list[list[str | None]] | None = None,
) -> tuple[ProfilingData, QueryBatch, dict[Pair, str | None], dict[Pair, str | None]]:
    """The same questions as profiling data and as queries, with a fetch table (answers and texts)."""
    n = len(answers)
    if n_options:
        correct = np.array([[a == g for a in row] for row, g in zip(answers, gold, strict=True)])
    else:
        from orchestrator.answers import math_equal

        correct = np.array([[math_equal(a, g) for a in row] for row, g in zip(answers, gold, strict=True)])
    meta = metadata or [{"category": "c"} for _ in range(n)]
    prof = ProfilingData(
        experts=experts,
        embeddings=np.eye(n, 8),
        skills=[[] for _ in range(n)],
        correct=correct,
        answers=answers,
        n_options=np.full(n, n_options),
        metadata=meta,
        options=options or [],
        texts=texts or [],
        costs=None if costs is None else np.array(costs, dtype=float),
        families=families,
    )
    ids = [f"q{i}" for i in range(n)]
    queries = QueryBatch(
        ids=ids,
        embeddings=np.eye(n, 8),
        skills=[[] for _ in range(n)],
        n_options=np.full(n, n_options),
        metadata=meta,
        options=options or [],
    )
    table = {(ids[i], e): answers[i][j] for i in range(n) for j, e in enumerate(experts)}
    text_table = {
        (ids[i], e): (texts[i][j] if texts else None) for i in range(n) for j, e in enumerate(experts)
    }
    return prof, queries, table, text_table


class Fetcher:
    """Answers pairs from a table and counts every call."""

    def __init__(self, table: dict[Pair, str | None]) -> None:
        self.table = table
        self.calls: list[Pair] = []

    def __call__(self, pairs: list[Pair]) -> dict[Pair, str | None]:
        self.calls.extend(p for p in pairs if p not in self.calls)
        return {p: self.table[p] for p in pairs}


def test_fallback_calls_the_next_expert_only_when_the_best_abstains() -> None:
    rows: list[list[str | None]] = [["A", "B", "C"]] * 8 + [[None, "A", "C"], [None, None, "A"]]
    gold = ["A"] * 10
    prof, queries, table, _ = _data(rows, gold, experts=("best", "second", "third"))
    best_single = MethodConfig(name="bs", policy="global_top_k", k=1)
    ours = MethodConfig(name="ours", policy="top_k_fallback", k=1)
    plain = evaluate_method(best_single, prof, gold, queries, Fetcher(table))
    fetch = Fetcher(table)
    out = evaluate_method(ours, prof, gold, queries, fetch)
    assert plain.final == ["A"] * 8 + [None, None]
    assert out.final == ["A"] * 10  # never worse than the best single, better where it abstained
    assert out.calls == [1] * 8 + [2, 3]
    assert len(fetch.calls) == 8 + 2 + 3


def test_group_top1_recruits_the_best_expert_of_each_category() -> None:
    """Each expert is right on its own category only; the global best is right on half the questions."""
    rows: list[list[str | None]] = []
    gold, meta = [], []
    for i in range(40):
        cat = ("maths", "law", "law", "chemistry")[i % 4]
        rows.append(
            ["A" if cat == "maths" else "B", "A" if cat == "law" else "C", "A" if cat == "chemistry" else "D"]
        )
        gold.append("A")
        meta.append({"category": cat})
    prof, queries, table, _ = _data(rows, gold, experts=("maths", "law", "chem"), metadata=meta)
    vote = {"accuracy": "group", "group_by": "category", "betas": [10]}
    per_category = MethodConfig(name="cat", policy="group_top_k", k=1, vote=vote)
    out = evaluate_method(per_category, prof, gold, queries, Fetcher(table))
    best = evaluate_method(
        MethodConfig(name="bs", policy="global_top_k", k=1), prof, gold, queries, Fetcher(table)
    )
    assert out.final == ["A"] * 40 and out.calls == [1] * 40
    assert best.final.count("A") == 20  # "law" for every question
    unseen = QueryBatch(ids=["new"], embeddings=np.eye(1, 8), skills=[[]], n_options=np.array([4]),
                        metadata=[{"category": "history"}], options=[])  # fmt: skip
    fitted = fit_method(per_category, prof, gold)
    [decision] = fitted.policy.recruit(unseen)
    assert decision.experts == ["law"]  # a category it never saw: the global ranking
    with pytest.raises(ValueError, match="vote.accuracy must be group"):
        MethodConfig(name="g", policy="group_top_k", k=1).policy_class(
            k=1, vote=VoteConfig(accuracy="global")
        )


def _math_pool(seed: int, n: int = 60) -> tuple[list[list[str | None]], list[str], list[dict[str, str]]]:
    """Free-form answers of 6 experts in 3 families; accuracy depends on the question's level."""
    rng = np.random.default_rng(seed)
    skill = {1: [0.9, 0.85, 0.75, 0.75, 0.6, 0.3], 5: [0.8, 0.35, 0.4, 0.4, 0.7, 0.3]}
    answers, gold, meta = [], [], []
    for i in range(n):
        level = 1 if i % 2 else 5
        g = str(i)
        wrong = [f"\\frac{{{2 * i + 1}}}{{2}}", f"{i}.5", str(i + 1)]  # two spellings of one wrong value
        row: list[str | None] = [
            g if rng.random() < p else wrong[int(rng.integers(0, 3))] for p in skill[level]
        ]
        answers.append(row)
        gold.append(g)
        meta.append({"category": "algebra" if i % 3 else "geometry", "level": str(level)})
    return answers, gold, meta


EXPERTS6 = ("a", "b", "c", "d", "e", "f")
FAMILIES6 = ("x", "y", "y", "y", "z", "w")
COSTS6 = [5.0, 7.0, 8.0, 9.0, 30.0, 70.0]


@pytest.mark.parametrize("family_max", [True, False])  # one vote per family, or per expert
def test_sequential_vote_stops_early_and_loses_nothing(family_max: bool) -> None:
    answers, gold, meta = _math_pool(0)
    prof, queries, table, _ = _data(
        answers, gold, experts=EXPERTS6, n_options=0, metadata=meta, costs=COSTS6, families=FAMILIES6
    )
    vote: dict[str, Any] = {"accuracy": "group", "group_by": "level", "betas": [5, 10, 20],
                            "family_max": family_max, "free_form_options": 2}  # fmt: skip
    everyone = MethodConfig(name="all", policy="global_top_k", k=6, aggregation="weighted", vote=vote)
    seq = MethodConfig(name="seq", policy="sequential_vote", aggregation="weighted", vote=vote)
    full = evaluate_method(everyone, prof, gold, queries, Fetcher(table))
    fetch = Fetcher(table)
    early = evaluate_method(seq, prof, gold, queries, fetch)
    assert early.final == full.final  # lossless
    assert np.mean(early.calls) < 6
    costs = dict(zip(EXPERTS6, COSTS6, strict=True))
    mean_cost = sum(costs[e] for _, e in fetch.calls) / len(gold)
    assert mean_cost < sum(COSTS6)
    # the first expert called is the cheapest
    assert all(d.scores[0].expert == "a" for d in early.decisions)
    lossy = MethodConfig(name="lossy", policy="sequential_vote", aggregation="weighted", vote=vote,
                         options={"slack": 0.8})  # fmt: skip
    assert np.mean(evaluate_method(lossy, prof, gold, queries, Fetcher(table)).calls) <= np.mean(early.calls)


def test_group_calibration_weighs_experts_by_level_and_tunes_beta() -> None:
    answers, gold, meta = _math_pool(1, n=120)
    prof, *_ = _data(answers, gold, experts=EXPERTS6, n_options=0, metadata=meta, families=FAMILIES6)
    vote = VoteConfig(accuracy="group", group_by="level", betas=[5, 10, 20], family_max=True)
    model = fit_vote_accuracy(prof, vote)
    assert model.kind == "group" and model.beta in (5, 10, 20)
    level1, level5 = model.for_groups(["1", "5"])
    assert level1[1] > level5[1] + 0.3  # expert b is good on level 1 only
    assert choose_beta(prof, vote) == model.beta
    with pytest.raises(ValueError, match="no profiling question"):
        fit_vote_accuracy(prof, vote.model_copy(update={"group_by": "missing"}))


def test_cascade_respects_its_budget_and_traces_a_curve() -> None:
    rng = np.random.default_rng(3)
    n = 200
    gold = [LETTERS[i % 4] for i in range(n)]
    skill = {"cheap": 0.55, "mid": 0.7, "big": 0.85}
    rows: list[list[str | None]] = [
        [g if rng.random() < p else LETTERS[(i + 1 + int(rng.integers(0, 3))) % 4] for p in skill.values()]
        for i, g in enumerate(gold)
    ]
    costs = [1.0, 10.0, 100.0]
    prof, queries, table, _ = _data(rows, gold, experts=tuple(skill), costs=costs)
    method = MethodConfig(name="cascade", policy="cascade", aggregation="majority", options={"budget": 1.0})
    fitted = fit_method(method, prof, gold)
    points = []
    for budget in (1.0, 5.0, 20.0, 111.0):
        at = fitted.at_budget(budget)
        fetch = Fetcher(table)
        out = run_fitted(at, queries, fetch)
        mean_cost = sum(costs[list(skill).index(e)] for _, e in fetch.calls) / n
        acc = np.mean(np.array(out.final) == np.array(gold))
        points.append((mean_cost, acc))
        # planned on these very questions, so the realised cost equals the expected one
        i, j = at.policy.pair  # type: ignore[attr-defined]
        assert mean_cost == pytest.approx(at.policy.expected_cost[i, j])  # type: ignore[attr-defined]
        assert mean_cost <= budget + 1e-9
    assert points[0] == (1.0, pytest.approx(np.mean([r[0] == g for r, g in zip(rows, gold, strict=True)])))
    assert points[-1][1] >= points[0][1] + 0.2
    calls = [
        d
        for budget in (20.0, 80.0, 111.0)
        for d in run_fitted(fitted.at_budget(budget), queries, Fetcher(table)).decisions
    ]
    consulted = [d for d in calls if d.consulted]  # a first stage that disagreed and is outside the second
    assert consulted and all(d.n_calls == len(d.experts) + len(d.consulted) for d in consulted)


def test_stacked_vote_uses_option_and_answer_statement_features() -> None:
    """Gold is always the longest option; two weak experts; one states its answers, one guesses."""
    rng = np.random.default_rng(5)
    n = 300
    options, gold, rows, texts = [], [], [], []
    for i in range(n):
        g = i % 4
        opts = ["short", "tiny", "brief", "small"]
        opts[g] = "a considerably longer option"
        options.append(opts)
        gold.append(LETTERS[g])
        a = LETTERS[g] if rng.random() < 0.5 else LETTERS[(g + 1) % 4]
        b = LETTERS[g] if rng.random() < 0.4 else LETTERS[(g + 2) % 4]
        rows.append([a, b])
        texts.append([f"The answer is ({a})." if a == LETTERS[g] else f"maybe {a}", f"The answer is ({b})."])
    prof, queries, table, text_table = _data(rows, gold, experts=("a", "b"), options=options, texts=texts)
    base = {"policy": "knn_top_k", "k": 2, "aggregation": "stacked", "consensus_skip": False,
            "options": {"neighbours": 5}}  # fmt: skip
    plain = MethodConfig(name="plain", **base)
    rich = MethodConfig(name="rich", vote={"features": ["options", "answer_statement"]}, **base)
    acc = {}
    for method in (plain, rich):
        out = evaluate_method(method, prof, gold, queries, Fetcher(table), texts=text_table)
        acc[method.name] = np.mean(np.array(out.final) == np.array(gold))
    assert acc["rich"] >= 0.95 > acc["plain"]
