"""The bench protocol's parts: CV splits, paired tests, cost-curve metrics, and the suite (table, JSON,
plots), on hand-made inputs and synthetic recordings."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.stats import binomtest
from synthetic_recordings import write_recordings

from common.records import Instance
from orchestrator.bench import BenchConfig
from orchestrator.bench.config import CrossValidationData
from orchestrator.bench.cost import area, budget_grid, oracle_curve, reach, summarise
from orchestrator.bench.cv import cv_splits, fixed_split
from orchestrator.bench.significance import compare, paired_bootstrap, sign_test
from orchestrator.bench.suite import expand_configs, run_suite, suite_table, write_suite
from skills.embedding import Embedder


def _instances(n: int) -> list[Instance]:
    cats = ["a"] * (n // 2) + ["b"] * (n // 3) + ["c"] * (n - n // 2 - n // 3)
    return [Instance(id=f"q{i}", question="x", category=c, metadata={"domain": c.upper()}) for i, c in
            enumerate(cats)]  # fmt: skip


def test_cv_splits_are_stratified_disjoint_and_hold_out_every_question_once_per_seed() -> None:
    instances = _instances(47)
    splits = cv_splits(instances, CrossValidationData(folds=5, seeds=3, stratify="domain"))
    assert len(splits) == 15
    per_category = Counter(i.category for i in instances)
    for seed in range(3):
        held = np.concatenate([s.test for s in splits if s.seed == seed])
        assert sorted(held.tolist()) == list(range(47))  # each question held out exactly once
    for s in splits:
        assert not set(s.profile) & set(s.test)  # no held-out question among the profiling rows
        assert len(s.profile) + len(s.test) == 47
        counts = Counter(instances[i].category for i in s.test)
        for cat, total in per_category.items():  # stratified: each fold holds its share, give or take one
            assert abs(counts[cat] - total / 5) <= 1
    other_seed = cv_splits(instances, CrossValidationData(folds=5, seeds=2, stratify="category"))
    assert not np.array_equal(other_seed[0].test, other_seed[5].test)  # seeds reshuffle
    [only] = fixed_split(3, 4)
    assert only.profile.tolist() == [0, 1, 2] and only.test.tolist() == [0, 1, 2, 3]


def test_paired_tests_on_known_inputs() -> None:
    better, worse = np.ones(20), np.zeros(20)
    delta, p = paired_bootstrap(better, worse)
    assert delta == 100.0 and p == 0.0
    assert sign_test(better, worse) == pytest.approx(2 * 0.5**20)
    same = np.array([1, 0, 1, 0.5])
    assert paired_bootstrap(same, same) == (0.0, 1.0) and sign_test(same, same) == 1.0
    a = np.array([1] * 7 + [0] * 2 + [1] * 11)
    b = np.array([0] * 7 + [1] * 2 + [1] * 11)
    test = compare(a, b)
    assert test.delta == pytest.approx(25.0)
    assert test.p_sign == pytest.approx(binomtest(7, 9, 0.5).pvalue)
    assert 0.0 < test.p_bootstrap < 0.2
    with pytest.raises(ValueError, match="equal-length"):
        sign_test(np.ones(3), np.ones(4))


def test_cost_curve_metrics_on_a_hand_made_curve() -> None:
    costs, accs = np.array([10.0, 2.0, 5.0]), np.array([80.0, 40.0, 70.0])
    # step envelope on [0, 20]: 0 until 2, 40 until 5, 70 until 10, 80 until 20
    assert area(costs, accs, 20.0) == pytest.approx(2 * 0 + 3 * 40 + 5 * 70 + 10 * 80)
    assert area(np.array([2.0, 5.0]), np.array([60.0, 50.0]), 10.0) == pytest.approx(2 * 0 + 8 * 60)
    assert reach(costs, accs, 70.0) == 5.0 and reach(costs, accs, 90.0) is None
    curve = summarise("c", costs, accs, reference=(70.0, 8.0), oracle_area=2000.0, c_max=20.0)
    assert curve.reach_cost == 5.0 and curve.reach_share == pytest.approx(5 / 8)
    assert curve.auc_share == pytest.approx(1270 / 2000)
    grid = budget_grid(np.array([1.0, 3.0, 10.0]), 4)
    assert grid[0] == 1.0 and grid[-1] == 14.0 and {1.0, 3.0, 10.0} <= set(grid.tolist())
    correct = np.array([[True, True], [False, True], [False, False]])
    cost = np.tile([1.0, 10.0], (3, 1))
    o_cost, o_acc = oracle_curve(correct, cost, np.array([1.0, 10.0]))
    assert o_acc.tolist() == pytest.approx([100 / 3, 200 / 3])
    assert o_cost.tolist() == pytest.approx([1 / 3, 11 / 3])


def _cfg(name: str, recordings: str, data: dict[str, Any], **over: Any) -> BenchConfig:
    raw: dict[str, Any] = {
        "name": name,
        "recordings": recordings,
        "data": data,
        "pool": [
            {"name": "strong", "engine": "replay", "cost": 50},
            {"name": "mid", "engine": "replay", "cost": 10, "family": "f"},
            {"name": "weak", "engine": "replay", "cost": 1, "family": "f"},
        ],
        "methods": [
            {"name": "ours", "policy": "top_k_fallback", "k": 1},
            {"name": "cascade", "policy": "cascade", "options": {"budget": 12}},
        ],
        "best_policy": "ours",
        "cost_curve": {"method": "cascade", "points": 5},
    }
    raw.update(over)
    return BenchConfig.model_validate(raw)


def test_suite_runs_benches_and_writes_one_table_json_and_plots(tmp_path: Path, minilm: Any) -> None:
    skill = {"strong": 0.8, "mid": 0.6, "weak": 0.4}
    write_recordings(tmp_path / "mc", skill, n=40)
    write_recordings(tmp_path / "ff", skill, n=40, free_form=True)
    fixed = _cfg("fixed", "mc", {"kind": "random_split", "profile_fraction": 0.5})
    cv = _cfg("cv_math", "ff", {"kind": "cross_validation", "folds": 4, "seeds": 2})
    embedder = Embedder(cache_dir=tmp_path / "emb", model=minilm)
    import orchestrator.bench.runner as runner

    runner._default_embedder = lambda cfg: embedder  # type: ignore[assignment]  # the test's model
    steps: list[tuple[str, int, int]] = []
    runs = run_suite([fixed, cv], tmp_path, steps=lambda name: lambda d, t: steps.append((name, d, t)))
    assert [s for s in steps if s[0] == "cv_math"][-1] == ("cv_math", 8, 8)
    fixed_r, cv_r = (r.report for r in runs)
    assert fixed_r.protocol["kind"] == "fixed_split" and cv_r.protocol["kind"] == "cross_validation"
    assert cv_r.methods["ours"].accuracy_std is not None and len(cv_r.methods["ours"].seed_accuracies) == 2
    assert cv_r.methods["ours"].comparison is not None or cv_r.reference == "ours"
    assert cv_r.judge_agreement == 1.0  # math-verify agrees with the synthetic judge everywhere
    assert set(cv_r.curves) == {"cascade", "oracle"} and cv_r.curves["oracle"].auc_share == 1.0
    assert len(runs[1].traces) == 40 * 2  # seed 0: every question once, for each configured method
    table = suite_table([fixed_r, cv_r])
    assert [c.header for c in table.columns] == ["method", "fixed", "cv_math"]
    assert table.row_count == len(fixed_r.methods)
    written = write_suite(tmp_path / "out", runs)
    suite = json.loads((tmp_path / "out" / "suite.json").read_text())
    assert [b["name"] for b in suite["benchmarks"]] == ["fixed", "cv_math"]
    for bench in ("fixed", "cv_math"):
        for f in ("report.json", "traces.jsonl", "accuracy_vs_calls.png", "accuracy_vs_cost.png"):
            assert (tmp_path / "out" / bench / f).stat().st_size > 0
    assert len(written) == 1 + 2 * 4
    suite_file = tmp_path / "suite.yaml"
    suite_file.write_text("benchmarks: [a.yaml, sub/b.yaml]\n")
    (tmp_path / "c.yaml").write_text("name: c\n")
    assert expand_configs([suite_file, tmp_path / "c.yaml"]) == [
        tmp_path / "a.yaml", tmp_path / "sub" / "b.yaml", tmp_path / "c.yaml"
    ]  # fmt: skip
