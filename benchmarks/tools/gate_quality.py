"""How well the retrieval gate's score predicts that the routed answer is wrong, on recorded expert answers.

No corpus matches MMLU-Pro, so retrieval itself cannot be measured there; what can be is the gate's
closed-book side: the estimate that the method's answer is right (:class:`~orchestrator.rag.outcome.
OutcomeModel`), fitted on the profiling split by cross-validation inside it, scored on the test split.
A good gate retrieves for the questions the method gets wrong, so the score to grade is
``1 - p_closed`` and the figures are its ROC AUC as a predictor of a wrong answer and the share of
questions it must retrieve for to cover 80% of the wrong answers. Compared:

- ``local_accuracy``: 1 - the mean kNN local accuracy of the recruited experts (the plain profile
  estimate);
- ``pre``: the gate's pre-generation model (recruited accuracy, the method's kNN track record, the
  group's rate, question length, option count, numeric options);
- ``agreement``: 1 - the share of recruited experts that voted for the final answer (post-generation);
- ``confidence``: 1 - the vote's own confidence in its answer (the stacked vote's probability);
- ``post``: the pre-generation model plus the vote (agreement, margin, spread, confidence).

Example::

    result = gate_quality(load_bench_config("configs/bench/mmlu_pro_paper_small.yaml"), data_dir)
    result.auc["pre"], result.auc["post"], result.rate_to_cover["pre"]

``benchmarks/gate_quality.py`` runs :func:`run_gate_quality` and prints :func:`gate_quality_table`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from rich.table import Table

from orchestrator.answers import is_correct
from orchestrator.bench.config import BenchConfig, load_bench_config
from orchestrator.bench.data import load_bench_data, needs_data_dir, resolve_data_dir
from orchestrator.bench.record import BenchmarkRecord, record_header
from orchestrator.bench.runner import (
    _default_embedder,
    _embed_and_annotate,
    _expert_answers,
    _pool_engines,
    _replay_pool,
)
from orchestrator.bench.table import BenchTable, n_options
from orchestrator.rag.branch import QuestionContext, fit_branch
from orchestrator.rag.gate import first_skills
from orchestrator.rag.logistic import rate_to_cover, roc_auc
from orchestrator.rag.outcome import OutcomeModel, Outcomes, Signals, cross_validate, question_features
from skills.embedding import Embedder

logger = logging.getLogger(__name__)

GroupBy = Literal["skill", "category"]
L2_GRID = (1.0, 10.0, 30.0)


class GateQualityConfig(BaseModel):
    """Settings of ``benchmarks/gate_quality.py``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    config: str = Field(
        default="configs/bench/mmlu_pro_paper_small.yaml", description="Bench config with recorded answers."
    )
    data_dir: str | None = Field(default=None, description="Data folder (default: ../shared/data).")
    method: str | None = Field(default=None, description="Method to protect (default: the best policy).")
    group_by: GroupBy = Field(default="skill", description="Group of the group-rate feature.")
    folds: int = Field(default=5, ge=2, description="CV folds inside the profiling split.")
    neighbours: int = Field(default=20, ge=1, description="Neighbours of the kNN features.")
    l2: float | None = Field(
        default=None, ge=0, description="L2 penalty of the logistic models (None: chosen inside profiling)."
    )
    cover_share: float = Field(default=0.8, gt=0, le=1, description="Share of wrong answers to cover.")


class GateQuality(BaseModel):
    """The gate's scores as predictors of a wrong routed answer on the test split."""

    model_config = ConfigDict(extra="forbid")

    bench: str
    method: str
    n_profile: int
    n_test: int
    accuracy: float = Field(description="The method's test accuracy (0-100).")
    profiling_cv_accuracy: float = Field(description="Its accuracy inside the profiling split, by CV.")
    group_by: str
    auc: dict[str, float] = Field(description="ROC AUC of each score as a predictor of a wrong answer.")
    rate_to_cover: dict[str, float] = Field(
        description="Share of test questions, highest scores first, holding 80% of the wrong answers."
    )
    cover_share: float = 0.8
    l2: float = Field(description="The logistic models' penalty used.")
    inner_cv: dict[str, float] = Field(
        default_factory=dict,
        description="The pre-generation model's settings compared inside the profiling split: mean AUC "
        "of its own 5-fold CV over 3 seeds (how l2 and the difficulty feature were chosen).",
    )


def gate_quality(
    cfg: BenchConfig,
    data_dir: Path | None,
    *,
    method: str | None = None,
    group_by: GroupBy = "category",
    folds: int = 5,
    neighbours: int = 20,
    l2: float | None = None,
    embedder: Embedder | None = None,
    cover_share: float = 0.8,
) -> GateQuality:
    """Fit the gate's closed-book models on the profiling split and grade them on the test split.

    Args:
        cfg: a bench config with recorded (or live) expert answers.
        data_dir: the data folder (recordings and split files).
        method: the method whose answers the gate protects (the config's best policy by default).
        group_by: the group of the group-rate feature: the question's first skill, or its dataset
            category (MMLU-Pro's subject).
        folds: cross-validation folds inside the profiling split.
        neighbours: neighbours of the kNN track-record feature.
        l2: the logistic models' penalty; None picks the best of 1, 10 and 30 by the pre-generation
            model's own cross-validation inside the profiling split (:func:`inner_cv_auc`).
        embedder: the question embedder (a cached all-MiniLM-L6-v2 by default).
        cover_share: the share of wrong answers the retrieval rate must cover.
    """
    name = method or cfg.best_policy or (cfg.methods[-1].name if cfg.methods else "")
    chosen = next((m for m in cfg.methods if m.name == name), None)
    if chosen is None:
        raise ValueError(f"bench {cfg.name!r} has no method {name!r}")
    data = load_bench_data(cfg, data_dir)
    engines = _pool_engines(cfg, data_dir)
    try:
        matrix = _expert_answers(cfg, data, engines, None)
    finally:
        for engine in engines.values():
            engine.close()
    emb, skills = _embed_and_annotate(cfg, embedder or _default_embedder(cfg), matrix.instances)
    table = BenchTable.build(matrix, _replay_pool(cfg, data_dir), emb, skills)
    prof_rows, test_rows = table.rows(data.profile), table.rows(data.test)
    profiling = table.profiling(prof_rows, use_category=chosen.use_category)
    gold_p = table.gold(prof_rows)

    def signals(rows: np.ndarray) -> Signals:
        insts = [table.instances[i] for i in rows]
        groups = (
            [i.category or "" for i in insts]
            if group_by == "category"
            else first_skills([table.skills[i] for i in rows])
        )
        q = question_features([i.question for i in insts], [n_options(i) for i in insts],
                              [i.options for i in insts])  # fmt: skip
        return Signals(embeddings=table.embeddings[rows], groups=groups, questions=q)

    outcomes = cross_validate("closed", chosen, profiling, gold_p, data.profile, folds=folds, seed=cfg.seed)
    sig_p, sig_t = signals(prof_rows), signals(test_rows)
    inner = {
        f"l2={x:g}{'' if diff else ', no difficulty'}": float(np.mean(
            [inner_cv_auc(outcomes, sig_p, l2=x, neighbours=neighbours, difficulty=diff, seed=100 + s)
             for s in range(3)]
        ))
        for diff in (False, True)
        for x in L2_GRID
    }  # fmt: skip
    if l2 is None:
        l2 = max(L2_GRID, key=lambda x: inner[f"l2={x:g}"])
    pre = OutcomeModel(neighbours=neighbours, l2=l2).fit(outcomes, sig_p)
    post = OutcomeModel(neighbours=neighbours, l2=l2, post=True).fit(outcomes, sig_p)

    branch = fit_branch("closed", chosen, profiling, gold_p)
    queries = table.queries(test_rows, use_category=chosen.use_category)
    decisions = branch.route(queries, table.fetch, seed=cfg.seed)
    tests = [table.instances[i] for i in test_rows]
    answers = [{e: table.by_pair.get((t.id, e)) for e in d.experts} for t, d in zip(tests, decisions,
                                                                                  strict=True)]  # fmt: skip
    n_opts = [n_options(t) for t in tests]
    context = QuestionContext([{e: table.texts.get((t.id, e)) for e in table.experts} for t in tests],
                              [t.options for t in tests])  # fmt: skip
    vote_acc = branch.decider.local_accuracy(queries)
    decided = branch.decide_rows(decisions, answers, vote_acc, n_opts, context)
    finals = [o.answer for o in decided]
    wrong = np.array([not is_correct(a, t.gold, t.answer_format) for a, t in zip(finals, tests, strict=True)])
    accuracy_feats = branch.recruited_accuracy(decisions, branch.accuracy(queries))
    vote = branch.vote_signals(decisions, answers, vote_acc, n_opts, finals, context)
    scores = {
        "local_accuracy": 1.0 - accuracy_feats[:, 0],
        "pre": 1.0 - pre.predict(accuracy_feats, sig_t),
        "agreement": 1.0 - vote[:, 0],
        "confidence": 1.0 - vote[:, 3],
        "post": 1.0 - post.predict(accuracy_feats, sig_t, vote),
    }
    return GateQuality(
        bench=cfg.name,
        method=name,
        n_profile=len(data.profile),
        n_test=len(tests),
        accuracy=100.0 * (1 - wrong.mean()),
        profiling_cv_accuracy=100.0 * outcomes.correct.mean(),
        group_by=group_by,
        auc={k: roc_auc(wrong, s) for k, s in scores.items()},
        rate_to_cover={k: rate_to_cover(wrong, s, cover_share) for k, s in scores.items()},
        cover_share=cover_share,
        l2=l2,
        inner_cv=inner,
    )


def inner_cv_auc(
    outcomes: Outcomes,
    signals: Signals,
    *,
    l2: float,
    neighbours: int = 20,
    difficulty: bool = True,
    folds: int = 5,
    seed: int = 0,
) -> float:
    """The pre-generation model's AUC inside the profiling split (its own CV over the CV outcomes).

    How the model's settings are chosen without a test question: ``difficulty=False`` replaces the
    pool's kNN difficulty by a constant.
    """
    n = len(outcomes.correct)
    perm = np.random.default_rng(seed).permutation(n)
    scores = np.zeros(n)
    for f in range(folds):
        held = np.sort(perm[f::folds])
        train = np.setdiff1d(perm, held)
        pool = outcomes.pool[train] if difficulty else np.full(len(train), 0.5)
        sub = Outcomes(correct=outcomes.correct[train], accuracy=outcomes.accuracy[train],
                       vote=outcomes.vote[train], answers=[outcomes.answers[i] for i in train],
                       pool=pool)  # fmt: skip
        model = OutcomeModel(neighbours=neighbours, l2=l2).fit(sub, signals.take(train))
        scores[held] = model.predict(outcomes.accuracy[held], signals.take(held))
    return roc_auc(~outcomes.correct, -scores)


class GateQualityResult(BenchmarkRecord):
    """The benchmark's JSON record: the header, then the figures."""

    name: str = "gate_quality"
    result: GateQuality


def run_gate_quality(cfg: GateQualityConfig) -> GateQualityResult:
    """Run :func:`gate_quality` as ``cfg`` says, with the record header (config hash, git SHA, versions)."""
    bench = load_bench_config(cfg.config)
    data_dir = resolve_data_dir(cfg.data_dir) if needs_data_dir(bench) else None
    result = gate_quality(bench, data_dir, method=cfg.method, group_by=cfg.group_by, folds=cfg.folds,
                          neighbours=cfg.neighbours, l2=cfg.l2, cover_share=cfg.cover_share)  # fmt: skip
    return GateQualityResult(**record_header(cfg, packages=("numpy", "scipy")), result=result)


SCORES = {
    "local_accuracy": "pre: 1 - mean local accuracy of the recruited experts (plain kNN profile estimate)",
    "pre": "pre: the gate's model (accuracy, kNN track record and difficulty, group rate, question)",
    "agreement": "post: 1 - share of recruited experts voting for the answer",
    "confidence": "post: 1 - the vote's confidence in its answer (stacked vote's probability)",
    "post": "post: the gate's model + agreement, margin, spread, confidence",
}


def gate_quality_table(result: GateQualityResult) -> Table:
    """Each score's AUC and the retrieval rate that covers the wrong answers."""
    r = result.result
    table = Table(
        title=f"{r.bench}/{r.method}: predicting a wrong answer ({r.n_test} test questions, accuracy "
        f"{r.accuracy:.2f}; fitted on {r.n_profile} profiling questions, l2={r.l2:g})"
    )
    for col in ("score", "ROC AUC", f"rate to cover {100 * r.cover_share:.0f}% wrong", "what"):
        table.add_column(col, justify="left" if col in ("score", "what") else "right")
    for key, what in SCORES.items():
        table.add_row(key, f"{r.auc[key]:.4f}", f"{100 * r.rate_to_cover[key]:.1f}%", what)
    return table
