"""`auto` (a recipe chosen by nested CV on the profiling data) and invariance to answer position.

Real components throughout: replay engines over recordings written here, the packaged MiniLM embedder,
the bench runner and a live session over the same recordings.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from orchestrator.bench import run_bench
from orchestrator.bench.config import BenchConfig
from orchestrator.datasets import load_questions
from orchestrator.pipeline.session import Session
from orchestrator.pool import PoolConfig
from orchestrator.runs.runner import profile_pool
from skills.embedding import Embedder

LETTERS = "ABCD"
SKILL = {"alpha-7b": 0.8, "beta-7b": 0.45, "gamma-7b": 0.4, "delta-7b": 0.35, "eps-7b": 0.3}


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)


def _recordings(folder: Path, *, perm_seed: int | None, n: int = 120) -> Path:
    """Four-option questions whose gold is "A" 90% of the time (a letter prior to exploit); with
    ``perm_seed``, every question's options are relabelled by its own permutation, applied to the gold,
    the options and every model's answer and response alike."""
    rng = np.random.default_rng(0)
    relabel = np.random.default_rng(perm_seed) if perm_seed is not None else None
    folder.mkdir(parents=True)
    questions: list[dict[str, Any]] = []
    preds: dict[str, list[dict[str, Any]]] = {e: [] for e in SKILL}
    for i in range(n):
        gold = 0 if rng.random() < 0.9 else int(rng.integers(1, 4))
        options = [f"option {j} of {i}" + " word" * int(rng.integers(1, 6)) for j in range(4)]
        answers = {}
        for e, p in SKILL.items():
            wrong = int(rng.choice([j for j in range(4) if j != gold]))
            answers[e] = gold if rng.random() < p else wrong
        perm = relabel.permutation(4) if relabel is not None else np.arange(4)  # old index -> new index
        new_options = [""] * 4
        for old, new in enumerate(perm):
            new_options[int(new)] = options[old]
        cat = ("alpha", "beta")[i % 2]
        questions.append(
            {
                "question_id": f"q{i}",
                "question": f"Synthetic question {i} about {cat}?",
                "options": new_options,
                "answer": LETTERS[int(perm[gold])],
                "category": cat,
            }
        )
        for e, a in answers.items():
            letter = LETTERS[int(perm[a])]
            preds[e].append({"question_id": f"q{i}", "pred": letter, "text": f"The answer is ({letter})."})
    _write(folder / "questions.jsonl.gz", questions)
    for e, rows in preds.items():
        _write(folder / f"{e}.jsonl.gz", rows)
    return folder


def _bench(name: str, data: Any, methods: list[dict[str, Any]]) -> BenchConfig:
    return BenchConfig.model_validate(
        {
            "name": name,
            "task": "synthetic",
            "recordings": name,
            "data": data,
            "pool": [{"name": e, "engine": "replay"} for e in SKILL],
            "methods": methods,
            "best_policy": "auto",
        }
    )


METHODS: list[dict[str, Any]] = [
    {"name": "auto", "policy": "auto"},
    {"name": "knn_stacked", "policy": "knn_top_k", "k": 5, "aggregation": "stacked"},
    {
        "name": "stacked_features",
        "policy": "knn_top_k",
        "k": 5,
        "aggregation": "stacked",
        "vote": {"features": ["options", "answer_statement"]},
    },
    {"name": "knn_weighted", "policy": "knn_top_k", "k": 3, "aggregation": "weighted"},
    {"name": "paper", "policy": "paper", "k": 3},
    {"name": "adaptive", "policy": "adaptive_k", "k": 1, "options": {"k_max": 3}, "aggregation": "weighted"},
    {"name": "sequential", "policy": "sequential_vote", "aggregation": "weighted"},
]


@pytest.fixture(scope="module")
def embedder(tmp_path_factory: pytest.TempPathFactory, minilm: Any) -> Embedder:
    return Embedder(cache_dir=tmp_path_factory.mktemp("emb"), model=minilm)


@pytest.mark.slow
def test_every_method_is_invariant_to_answer_position(tmp_path: Path, embedder: Embedder) -> None:
    """One permutation per question, applied to every model: every method's accuracy is unchanged."""
    _recordings(tmp_path / "plain", perm_seed=None)
    _recordings(tmp_path / "relabelled", perm_seed=7)
    split = {"kind": "random_split", "profile_fraction": 0.5, "seed": 0}
    reports = [
        run_bench(_bench(name, split, METHODS), tmp_path, embedder=embedder)[0]
        for name in ("plain", "relabelled")
    ]
    plain, relabelled = (r.methods for r in reports)
    assert set(plain) == set(relabelled) and len(plain) == len(METHODS) + 5  # 4 baselines + oracle
    for name in plain:
        assert relabelled[name].accuracy == pytest.approx(plain[name].accuracy), name
        assert relabelled[name].calls_per_question == pytest.approx(plain[name].calls_per_question), name
    # the prior is there to exploit: gold "A" on most questions of the plain set, on about a quarter after
    with gzip.open(tmp_path / "plain" / "questions.jsonl.gz", "rt") as fh:
        gold = [json.loads(x)["answer"] for x in fh]
    assert gold.count("A") > 0.6 * len(gold)
    choice = reports[0].auto_choices["auto"][0].choice
    assert choice.chosen == reports[1].auto_choices["auto"][0].choice.chosen


def test_auto_reports_its_choice_and_prefers_the_simpler_recipe(tmp_path: Path, embedder: Embedder) -> None:
    """Under CV every split's choice and inner-CV table is in the report; with one dominant expert the
    inner CV cannot beat it by a standard error, so the simplest recipe (the best single) is taken."""
    _recordings(tmp_path / "cv", perm_seed=None, n=60)
    cv = {"kind": "cross_validation", "folds": 3, "seeds": 1}
    report, _ = run_bench(_bench("cv", cv, METHODS[:1]), tmp_path, embedder=embedder)
    choices = report.auto_choices["auto"]
    assert [(c.seed, c.fold) for c in choices] == [(0, 0), (0, 1), (0, 2)]
    for c in choices:
        names = [r.name for r in c.choice.table]
        assert names[0] == "best_single_fallback" and c.choice.chosen in names
        rows = {r.name: r for r in c.choice.table}
        best, chosen = rows[c.choice.best], rows[c.choice.chosen]
        assert best.accuracy == max(r.accuracy for r in c.choice.table if r.eligible)
        assert chosen.accuracy >= best.accuracy - chosen.se - 1e-9 and chosen.calls <= 5
        # nothing before the chosen recipe in the declared order was within its standard error
        for r in c.choice.table[: names.index(c.choice.chosen)]:
            assert not r.eligible or r.accuracy < best.accuracy - r.se
    assert report.methods["auto"].calls_per_question <= 5


def test_replay_and_live_choose_identically(tmp_path: Path, embedder: Embedder) -> None:
    """The bench (profiling split of a question-file bench) and a live session (the same questions'
    stored profiles) choose the same recipe with the same inner-CV table."""
    rec = _recordings(tmp_path / "rec", perm_seed=3, n=60)
    with gzip.open(rec / "questions.jsonl.gz", "rt") as fh:
        rows = [json.loads(x) for x in fh]
    for name, part in (("profile", rows[:40]), ("test", rows[40:])):
        (tmp_path / f"{name}.jsonl").write_text(
            "".join(
                json.dumps(
                    {
                        "id": r["question_id"],
                        "question": r["question"],
                        "options": r["options"],
                        "answer": r["answer"],
                        "category": r["category"],
                    }
                )
                + "\n"
                for r in part
            )
        )
    experts = [{"name": e, "engine": "replay", "recordings_dir": str(rec)} for e in SKILL]
    cfg = BenchConfig.model_validate(
        {
            "name": "files",
            "task": "synthetic",
            "answer_source": "extracted",
            "pool": experts,
            "data": {
                "kind": "question_files",
                "profile": str(tmp_path / "profile.jsonl"),
                "test": str(tmp_path / "test.jsonl"),
            },
            "methods": [{"name": "auto", "policy": "auto"}],
            "best_policy": "auto",
        }
    )
    report, _ = run_bench(cfg, None, embedder=embedder)
    bench_choice = report.auto_choices["auto"][0].choice

    pool = PoolConfig.model_validate(
        {"name": "live", "experts": experts, "method": {"name": "auto", "policy": "auto"}}
    )
    profiled = load_questions(tmp_path / "profile.jsonl").instances
    record = profile_pool(pool, profiled, embedder=embedder)
    with Session(pool, embedder=embedder) as session:
        live = session.refit(record)
    assert live.choice is not None
    assert live.choice.chosen == bench_choice.chosen
    assert live.choice.table == bench_choice.table
    assert live.method.policy == bench_choice.method.policy and live.method.k == bench_choice.method.k
