"""The retrieval gate on synthetic profiles: its fit, its decisions, and the scores that grade it.

Two kinds of questions in two embedding clusters: ``facts`` (nobody knows the answer closed-book; the
``reader`` answers from passages) and ``arith`` (the ``calc`` specialist is right closed-book; passages
only distract it). The gate must retrieve for the first kind only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from common.errors import ConfigError
from orchestrator.method import MethodConfig
from orchestrator.policies import ProfilingData, QueryBatch
from orchestrator.pool import PoolConfig, with_retrieval
from orchestrator.rag.branch import fit_branch, vote_features
from orchestrator.rag.config import GateConfig
from orchestrator.rag.gate import GateInputs, RetrievalGate
from orchestrator.rag.logistic import LogisticModel, rate_to_cover, roc_auc
from orchestrator.rag.outcome import Signals, question_features
from orchestrator.retrieval.hits import Coverage

EXPERTS = ("calc", "reader")
METHOD = MethodConfig(
    name="knn", policy="knn_top_k", k=1, options={"neighbours": 10, "alpha": 3.0, "tau": 0.5}
)


def _cluster(rng: np.random.Generator, centre: np.ndarray, n: int) -> np.ndarray:
    x = centre + 0.15 * rng.standard_normal((n, centre.size))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _books(n_each: int, seed: int) -> tuple[ProfilingData, ProfilingData, list[str], list[str], np.ndarray]:
    """Closed- and open-book profiles, gold answers, groups and coverage features of 2 x n_each questions."""
    rng = np.random.default_rng(seed)
    centres = np.eye(8)[:2]
    emb = np.vstack([_cluster(rng, centres[0], n_each), _cluster(rng, centres[1], n_each)])
    groups = ["facts"] * n_each + ["arith"] * n_each
    gold = [str(i) for i in range(2 * n_each)]
    facts = np.array([g == "facts" for g in groups])

    def book(p_calc: np.ndarray, p_reader: np.ndarray) -> ProfilingData:
        correct = np.c_[rng.random(len(gold)) < p_calc, rng.random(len(gold)) < p_reader]
        answers = [[g if c else "wrong" for c in row] for g, row in zip(gold, correct, strict=True)]
        return ProfilingData(
            experts=EXPERTS,
            embeddings=emb,
            skills=[[g] for g in groups],
            correct=correct,
            answers=answers,
            n_options=np.zeros(len(gold), int),
        )

    closed = book(np.where(facts, 0.02, 0.95), np.where(facts, 0.02, 0.1))
    opened = book(np.where(facts, 0.02, 0.6), np.where(facts, 0.9, 0.05))
    coverage = np.array([[0.7, 2.5, 0.2, 1.0, 1.0] if f else [0.2, 0.3, 0.01, 0.05, 1.0] for f in facts])
    return closed, opened, gold, groups, coverage


def _gate(cfg: GateConfig, *, open_book: bool = True) -> tuple[RetrievalGate, Signals]:
    closed, opened, gold, groups, coverage = _books(60, seed=0)
    signals = Signals(
        embeddings=closed.embeddings,
        groups=groups,
        questions=question_features(["q"] * len(gold), [0] * len(gold)),
        coverage=coverage,
    )
    gate = RetrievalGate.fit(cfg, METHOD, closed, gold, signals, open_book=opened if open_book else None)
    return gate, signals


def _inputs(gate_cfg: GateConfig, n_each: int = 20, *, hits: bool = True) -> tuple[GateInputs, list[str]]:
    """Gate inputs of new questions drawn like the profiling ones (routing with both books' branches)."""
    closed, opened, gold, groups, coverage = _books(60, seed=0)
    test_closed, _, _, test_groups, test_cov = _books(n_each, seed=1)
    emb = test_closed.embeddings
    queries = QueryBatch(
        ids=[str(i) for i in range(len(test_groups))], embeddings=emb, skills=[[g] for g in test_groups]
    )
    cb, ob = fit_branch("closed", METHOD, closed, gold), fit_branch("open", METHOD, opened, gold)
    cd, od = cb.route(queries), ob.route(queries)
    signals = Signals(
        embeddings=emb,
        groups=test_groups,
        questions=question_features(["q"] * len(emb), [0] * len(emb)),
        coverage=test_cov,
    )
    has_hits = np.full(len(emb), hits)
    return GateInputs(signals=signals, closed_accuracy=cb.recruited_accuracy(cd, cb.accuracy(queries)),
                      open_accuracy=ob.recruited_accuracy(od, ob.accuracy(queries)),
                      has_hits=has_hits), test_groups  # fmt: skip


def test_the_gate_retrieves_for_what_passages_fix_and_never_for_a_strong_skill() -> None:
    cfg = GateConfig(min_gain=0.05)
    gate, _ = _gate(cfg)
    assert gate.strong_skills == ["arith"]  # calc is right 95% closed-book and passages do not help it
    assert gate.skills["facts"].open is not None and gate.skills["facts"].open > 0.7
    inputs, groups = _inputs(cfg)
    decisions = gate.assess(inputs)
    for d, g in zip(decisions, groups, strict=True):
        if g == "facts":
            assert d.retrieve and d.reason == "gain", d
            assert d.p_open is not None and d.p_open > 0.6 and d.p_closed < 0.2 and d.score > 0.4
        else:
            assert not d.retrieve and d.reason == "skill", d
            assert d.p_closed > 0.8


def test_without_a_strong_skill_rule_the_expected_gain_still_keeps_arith_closed_book() -> None:
    cfg = GateConfig(min_gain=0.05, min_skill_questions=1000)
    gate, _ = _gate(cfg)
    assert gate.strong_skills == []
    decisions = gate.assess(_inputs(cfg)[0])
    reasons = {(g, d.reason) for d, g in zip(decisions, _inputs(cfg)[1], strict=True)}
    assert reasons == {("facts", "gain"), ("arith", "no_gain")}


def test_a_question_the_store_has_nothing_for_is_not_retrieved() -> None:
    cfg = GateConfig(min_gain=0.05)
    gate, _ = _gate(cfg)
    inputs, groups = _inputs(cfg, hits=False)
    for d, g in zip(gate.assess(inputs), groups, strict=True):
        assert not d.retrieve and d.reason == ("coverage" if g == "facts" else "skill")


def test_min_gain_prices_a_retrieval() -> None:
    """A price above every expected gain retrieves nothing; a price of -1 retrieves for every question."""
    gate, _ = _gate(GateConfig(min_gain=0.95))
    assert not any(d.retrieve for d in gate.assess(_inputs(GateConfig())[0]))
    gate, _ = _gate(GateConfig(min_gain=-1.0, min_skill_questions=1000))
    assert all(d.retrieve for d in gate.assess(_inputs(GateConfig())[0]))


def test_without_open_book_profiles_the_gate_falls_back_to_the_closed_book_estimate() -> None:
    cfg = GateConfig(min_skill_questions=1000, fallback_accuracy=0.5)
    gate, _ = _gate(cfg, open_book=False)
    inputs, groups = _inputs(cfg)
    inputs = GateInputs(
        signals=inputs.signals,
        closed_accuracy=inputs.closed_accuracy,
        open_accuracy=None,
        has_hits=inputs.has_hits,
    )
    for d, g in zip(gate.assess(inputs), groups, strict=True):
        assert d.p_open is None
        assert (d.retrieve, d.reason) == ((True, "fallback") if g == "facts" else (False, "no_gain"))


def test_post_generation_gate_reads_the_vote() -> None:
    """Disagreeing experts lower the closed-book estimate; post_min_gain prices the second pass."""
    gate, _ = _gate(GateConfig(min_gain=0.5, min_skill_questions=1000, post_min_gain=-0.5))
    inputs, groups = _inputs(GateConfig())
    split = np.tile([0.5, 0.0, 1.0, 0.5], (len(groups), 1))
    agree = np.tile([1.0, 1.0, 0.5, 1.0], (len(groups), 1))
    post_split = gate.assess_post(inputs, split)
    post_agree = gate.assess_post(inputs, agree)
    assert all(d.reason in ("disagreement", "no_gain") for d in post_split)
    assert sum(d.p_closed for d in post_split) <= sum(d.p_closed for d in post_agree)
    facts = [d for d, g in zip(post_split, groups, strict=True) if g == "facts"]
    assert all(d.retrieve for d in facts)


def test_vote_features() -> None:
    assert vote_features(["A", "A", "B", None], "A", 0.7) == (0.5, 0.25, 0.5, 0.7)
    assert vote_features(["A"], "A", 1.0) == (1.0, 1.0, 1.0, 1.0)


def test_logistic_model_auc_and_rate_to_cover() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 2))
    y = (x[:, 0] + 0.3 * rng.standard_normal(400) > 0).astype(float)
    model = LogisticModel(l2=1.0).fit(x, y)
    p = model.predict(x)
    assert roc_auc(y, p) > 0.9 and model.weights is not None and model.weights[1] > 0
    assert roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.3, 0.4])) == 1.0
    assert roc_auc(np.array([0, 1, 0, 1]), np.array([0.5, 0.5, 0.5, 0.5])) == 0.5
    assert rate_to_cover(np.array([1, 0, 1, 0, 0]), np.array([5, 4, 3, 2, 1]), 0.8) == pytest.approx(0.6)
    assert rate_to_cover(np.array([1, 0, 1, 0, 0]), np.array([5, 4, 3, 2, 1]), 0.5) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="both classes"):
        roc_auc(np.ones(3), np.arange(3))


def test_retrieval_config_errors_are_clear() -> None:
    method = {"policy": "global_top_k", "k": 1, "aggregation": "majority"}
    pool = PoolConfig(name="p", experts=[{"name": "a", "engine": "replay"}], method=method)
    assert with_retrieval(pool, "gated", 0.25).retrieval.mode == "gated"
    assert with_retrieval(pool, None, None) is pool
    with pytest.raises(ConfigError, match="--retrieval"):
        with_retrieval(pool, "sometimes")
    with pytest.raises(ConfigError, match="--retrieval"):
        with_retrieval(pool, None, 1.5)
    with pytest.raises(ValueError, match="retrieval: {mode: gated}"):
        PoolConfig(
            name="p", experts=[{"name": "a", "engine": "replay"}], method={**method, "retrieval": "gated"}
        )


def test_coverage_of_an_empty_search_is_all_none() -> None:
    from orchestrator.rag.outcome import coverage_features

    feats = coverage_features(
        [Coverage(), None, Coverage(top_dense=0.5, top_bm25=3.0, dense_margin=0.1, bm25_margin=1.0)]
    )
    assert feats[0].tolist() == [0.0, 0.0, 0.0, 0.0, 0.0] and feats[1].tolist() == feats[0].tolist()
    assert feats[2][0] == 0.5 and feats[2][4] == 1.0


def test_a_run_checks_its_retrieval_before_loading_models(tmp_path: Path) -> None:
    from common.errors import DataError
    from orchestrator.rag.config import RetrievalConfig
    from orchestrator.rag.knowledge import check_retrieval
    from orchestrator.retrieval.config import KnowledgeConfig

    store = KnowledgeConfig(uri=str(tmp_path / "no-kb"))
    check_retrieval(RetrievalConfig(mode="never", store=store), has_profiles=False)
    with pytest.raises(ConfigError, match="needs expert profiles"):
        check_retrieval(RetrievalConfig(mode="gated", store=store), has_profiles=False)
    with pytest.raises(DataError, match="no knowledge store"):
        check_retrieval(RetrievalConfig(mode="always", store=store), has_profiles=False)
    missing = RetrievalConfig(mode="always", store=store, documents=[str(tmp_path / "facts.jsonl")])
    with pytest.raises(DataError, match="documents not found"):
        check_retrieval(missing, has_profiles=False)
    (tmp_path / "facts.jsonl").write_text("{}\n")
    check_retrieval(missing, has_profiles=False)  # ingested on first use
