"""Recruitment policies: determinism for a seed, ranking rules, adaptive extension."""

from __future__ import annotations

import numpy as np
import pytest

from orchestrator.policies import ProfilingData, QueryBatch, policy_registry
from orchestrator.policies.adaptive import AdaptiveKPolicy
from orchestrator.policies.reliability import LocalReliability, ReliabilityConfig

EXPERTS = ("good", "math", "law", "weak")


def _profiling(n: int = 60, seed: int = 0) -> ProfilingData:
    """Two clusters of questions: 'math' is right on cluster 0, 'law' on cluster 1, 'good' on most."""
    rng = np.random.default_rng(seed)
    centres = np.eye(8)[:2]
    cluster = np.arange(n) % 2
    emb = centres[cluster] + 0.05 * rng.normal(size=(n, 8))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    correct = np.stack(
        [rng.random(n) < 0.7, cluster == 0, cluster == 1, rng.random(n) < 0.1],
        axis=1,
    )
    skills = [["algebra"] if c == 0 else ["contract law"] for c in cluster]
    answers = [["A" if ok else "B" for ok in row] for row in correct]
    return ProfilingData(
        experts=EXPERTS,
        embeddings=emb,
        skills=skills,
        correct=correct,
        answers=answers,
        n_options=np.full(n, 4),
    )


def _queries(n: int = 10) -> QueryBatch:
    emb = np.eye(8)[np.arange(n) % 2]
    skills = [["algebra"] if i % 2 == 0 else ["contract law"] for i in range(n)]
    return QueryBatch(ids=[f"q{i}" for i in range(n)], embeddings=emb, skills=skills, n_options=np.full(n, 4))


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("paper", {"k": 3}),
        ("random_k", {"k": 2}),
        ("global_top_k", {"k": 2}),
        ("skill_top_k", {"k": 2}),
        ("knn_top_k", {"k": 2}),
        ("adaptive_k", {"k": 2, "k_max": 3}),
    ],
)
def test_policies_are_deterministic_for_a_seed(name: str, kwargs: dict[str, int]) -> None:
    prof, q = _profiling(), _queries()
    a = policy_registry.get(name)(**kwargs).fit(prof).recruit(q, seed=7)
    b = policy_registry.get(name)(**kwargs).fit(prof).recruit(q, seed=7)
    assert [d.experts for d in a] == [d.experts for d in b]
    assert all(len(d.experts) == kwargs["k"] for d in a)


def test_random_policies_change_with_the_seed() -> None:
    prof, q = _profiling(), _queries(40)
    for name in ("paper", "random_k"):
        p = policy_registry.get(name)(k=3).fit(prof)
        runs = {tuple(tuple(d.experts) for d in p.recruit(q, seed=s)) for s in range(5)}
        assert len(runs) > 1, name


def test_skill_and_knn_policies_pick_the_specialist() -> None:
    prof, q = _profiling(), _queries()
    for name in ("skill_top_k", "knn_top_k"):
        decisions = policy_registry.get(name)(k=1).fit(prof).recruit(q)
        assert [d.experts[0] for d in decisions[:2]] == ["math", "law"], name


def test_paper_policy_draws_only_positive_experts() -> None:
    prof, q = _profiling(), _queries(20)
    decisions = policy_registry.get("paper")(k=3).fit(prof).recruit(q, seed=1)
    for d in decisions:
        assert "weak" not in d.experts  # its profile scores are negative everywhere
        assert d.skills


def test_global_top_k_orders_by_profiling_accuracy() -> None:
    prof = _profiling()
    d = policy_registry.get("global_top_k")(k=4).fit(prof).recruit(_queries(1))[0]
    acc = dict(zip(EXPERTS, prof.global_accuracy, strict=True))
    assert [acc[e] for e in d.experts] == sorted(acc.values(), reverse=True)


def test_k_must_be_positive() -> None:
    with pytest.raises(ValueError, match="k=0 must be >= 1"):
        policy_registry.get("knn_top_k")(k=0)


def test_local_reliability_shrinks_toward_global_accuracy() -> None:
    prof = _profiling()
    q = _queries(2).embeddings
    weak = LocalReliability(ReliabilityConfig(neighbours=5, alpha=1000.0)).fit(prof.embeddings, prof.correct)
    sharp = LocalReliability(ReliabilityConfig(neighbours=5, alpha=0.0)).fit(prof.embeddings, prof.correct)
    np.testing.assert_allclose(weak.estimate(q), np.tile(prof.global_accuracy, (2, 1)), atol=0.01)
    assert sharp.estimate(q)[0, 1] == pytest.approx(1.0) and sharp.estimate(q)[0, 2] == pytest.approx(0.0)
    loo = sharp.estimate(prof.embeddings, exclude_self=True)
    assert loo.shape == prof.correct.shape


def test_adaptive_adds_experts_only_while_uncertain() -> None:
    prof, q = _profiling(), _queries(4)
    policy = AdaptiveKPolicy(k=1, k_max=4, threshold=0.9).fit(prof)
    decisions = policy.recruit(q)
    calls: list[list[tuple[str, str]]] = []

    def agreeing(pairs: list[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
        calls.append(pairs)
        return {p: "A" for p in pairs}

    final = policy.extend(decisions, [4] * 4, agreeing)
    assert all(2 <= len(d.experts) <= 4 for d in final)

    def split(pairs: list[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
        return {p: ("A" if hash(p[1]) % 2 else "B") for p in pairs}

    final_split = AdaptiveKPolicy(k=1, k_max=4, threshold=0.999).fit(prof).extend(decisions, [4] * 4, split)
    assert all(len(d.experts) == 4 for d in final_split)
    assert len(calls) >= 2  # one batched stage per round
