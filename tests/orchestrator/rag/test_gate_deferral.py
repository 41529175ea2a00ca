"""The gate defers a skill when the experts' agreement after generation says more than anything before it.

Synthetic profiles of one kind of question (``facts``), answered by three recall experts: half the
questions are about entities they learnt (all three right closed-book), half about entities they never
saw (closed-book guesses). Open-book, all three read the answer from the passage. Before generation the
two halves look alike; after it, agreement separates them when the guesses differ, and not when every
expert guesses the same wrong answer.
"""

from __future__ import annotations

import numpy as np
import pytest

from orchestrator.method import MethodConfig
from orchestrator.policies import ProfilingData, QueryBatch
from orchestrator.rag.branch import fit_branch
from orchestrator.rag.config import GateConfig
from orchestrator.rag.gate import GateInputs, RetrievalGate
from orchestrator.rag.outcome import Signals, question_features

EXPERTS = ("recall-a", "recall-b", "recall-c")
METHOD = MethodConfig(
    name="knn3", policy="knn_top_k", k=3, options={"neighbours": 10, "alpha": 3.0, "tau": 0.5}
)


def _books(n: int, seed: int, *, same_guess: bool) -> tuple[ProfilingData, ProfilingData, list[str]]:
    rng = np.random.default_rng(seed)
    emb = rng.standard_normal((n, 8)) * 0.1 + np.eye(8)[0]
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    gold = [str(i) for i in range(n)]
    known = np.arange(n) % 2 == 0

    def book(answers: list[list[str | None]]) -> ProfilingData:
        correct = np.array([[a == g for a in row] for g, row in zip(gold, answers, strict=True)])
        return ProfilingData(experts=EXPERTS, embeddings=emb, skills=[["facts"]] * n, correct=correct,
                             answers=answers, n_options=np.zeros(n, int))  # fmt: skip

    closed: list[list[str | None]] = [
        [g] * 3 if k else (["guess"] * 3 if same_guess else [f"guess-{j}" for j in range(3)])
        for g, k in zip(gold, known, strict=True)
    ]
    opened: list[list[str | None]] = [
        [g if rng.random() < 0.95 else "misread" for _ in EXPERTS] for g in gold
    ]
    return book(closed), book(opened), gold


def _signals(p: ProfilingData) -> Signals:
    n = len(p.answers)
    return Signals(embeddings=p.embeddings, groups=["facts"] * n,
                   questions=question_features(["q"] * n, [0] * n))  # fmt: skip


def _fit(*, same_guess: bool, threshold: float) -> tuple[RetrievalGate, GateInputs]:
    closed, opened, gold = _books(120, 0, same_guess=same_guess)
    cfg = GateConfig(min_gain=0.02)
    gate = RetrievalGate.fit(cfg, METHOD, closed, gold, _signals(closed), open_book=opened,
                             agreement_threshold=threshold)  # fmt: skip
    test_closed, _, _ = _books(40, 1, same_guess=same_guess)
    queries = QueryBatch(ids=[str(i) for i in range(40)], embeddings=test_closed.embeddings,
                         skills=test_closed.skills)  # fmt: skip
    cb, ob = fit_branch("closed", METHOD, closed, gold), fit_branch("open", METHOD, opened, gold)
    inputs = GateInputs(
        signals=_signals(test_closed),
        closed_accuracy=cb.recruited_accuracy(cb.route(queries), cb.accuracy(queries)),
        open_accuracy=ob.recruited_accuracy(ob.route(queries), ob.accuracy(queries)),
    )
    return gate, inputs


def test_a_skill_whose_experts_disagree_when_they_do_not_know_is_deferred() -> None:
    gate, inputs = _fit(same_guess=False, threshold=1.0)
    record = gate.skills["facts"]
    assert gate.deferred_skills == [
        "facts",
        "*",
    ]  # and a skill the profiles do not hold follows all questions
    assert record.defer_value is not None and record.pre_value is not None
    # waiting retrieves for the unknown half only, at about the same accuracy as retrieving for all
    assert record.defer_value > record.pre_value
    decisions = gate.assess(inputs)
    assert {d.reason for d in decisions} == {"deferred"} and not any(d.retrieve for d in decisions)
    assert all(d.score > 0.2 for d in decisions)  # the expected gain of retrieving now is still there


@pytest.mark.parametrize(("same_guess", "threshold"), [(True, 1.0), (False, 0.0)])
def test_no_deferral_when_agreement_cannot_tell_or_there_is_no_post_generation_gate(
    same_guess: bool, threshold: float
) -> None:
    gate, inputs = _fit(same_guess=same_guess, threshold=threshold)
    assert gate.deferred_skills == []
    decisions = gate.assess(inputs)
    assert all(d.retrieve and d.reason == "gain" for d in decisions)


def test_a_skill_with_few_profiling_questions_leans_on_the_overall_values() -> None:
    closed, opened, gold = _books(120, 0, same_guess=False)
    n = len(gold)
    groups = ["facts"] * (n - 4) + ["rare"] * 4
    rare = np.arange(n) >= n - 4
    # the rare skill's four questions are all known: on its own it would never need the store
    answers = [[g] * 3 if r else a for g, r, a in zip(gold, rare, closed.answers, strict=True)]
    correct = np.array([[x == g for x in row] for g, row in zip(gold, answers, strict=True)])
    closed = ProfilingData(experts=EXPERTS, embeddings=closed.embeddings, skills=[[g] for g in groups],
                           correct=correct, answers=answers, n_options=closed.n_options)  # fmt: skip
    signals = Signals(embeddings=closed.embeddings, groups=groups,
                      questions=question_features(["q"] * n, [0] * n))  # fmt: skip
    gate = RetrievalGate.fit(GateConfig(min_gain=0.02), METHOD, closed, gold, signals, open_book=opened,
                             agreement_threshold=1.0)  # fmt: skip
    rare_record, facts_record = gate.skills["rare"], gate.skills["facts"]
    assert rare_record.defer and facts_record.defer
    # alone, waiting on the rare skill is worth exactly 1 (all right, no retrieval); its four questions
    # move it only part of the way from the overall value
    assert rare_record.defer_value is not None and facts_record.defer_value is not None
    assert facts_record.defer_value < rare_record.defer_value < 1.0 - 1e-9
