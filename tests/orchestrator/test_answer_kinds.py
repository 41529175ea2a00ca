"""Answers that are not letters or math: exact strings (BIG-Bench-Hard), programs (HumanEval) scored by
the recording's verdict and picked rather than voted, a model's missing rows read as not answered, and
the peer routers skipped with a note where their packages are absent.

Real components: replay engines over recordings written here, the bench runner, the decider.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from common.records import CODE_ANSWERS, STRING_ANSWERS
from orchestrator.aggregation.decide import Decider, Question
from orchestrator.bench import run_bench
from orchestrator.bench.config import BenchConfig
from orchestrator.bench.peer_routers import run_peers
from orchestrator.method import MethodConfig
from orchestrator.policies import GlobalTopKPolicy, ProfilingData


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)


def _code_recordings(folder: Path, n: int = 40) -> Path:
    """Programs: "solid-70b" passes 80% (distinct programs), three small models share one identical
    failing program (a vote would pick it), and "partial-70b" passes everything it ran but ran only the
    even-numbered problems."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    qs = [
        {
            "question_id": f"P/{i}",
            "question": f"def f{i}(x):\n    '''Return x plus {i}.'''\n",
            "options": [],
            "answer": f"    return x + {i}\n",
            "category": "code",
            "entry_point": f"f{i}",
        }
        for i in range(n)
    ]
    _write(folder / "questions.jsonl.gz", qs)
    solid = []
    for i in range(n):
        ok = bool(rng.random() < 0.8)
        solid.append(
            {
                "question_id": f"P/{i}",
                "pred": f"def f{i}(x):\n    return x + {i if ok else -1}  # solid\n",
                "text": "```python\n...\n```",
                "correct": ok,
            }
        )
    _write(folder / "solid-70b.jsonl.gz", solid)
    for name in ("tiny-1b", "tiny-2b", "tiny-3b"):
        rows = [
            {
                "question_id": f"P/{i}",
                "pred": "def f(x):\n    return 0\n",
                "text": "```python\n```",
                "correct": False,
            }
            for i in range(n)
        ]
        _write(folder / f"{name}.jsonl.gz", rows)
    partial = [
        {
            "question_id": f"P/{i}",
            "pred": f"def f{i}(x):\n    return x + {i}  # partial\n",
            "text": "```python\n```",
            "correct": True,
        }
        for i in range(0, n, 2)
    ]
    _write(folder / "partial-70b.jsonl.gz", partial)
    return folder


def test_programs_are_picked_scored_by_verdict_and_missing_rows_are_not_answered(tmp_path: Path) -> None:
    _code_recordings(tmp_path / "code")
    cfg = BenchConfig.model_validate(
        {
            "name": "code",
            "task": "humaneval",
            "recordings": "code",
            "data": {"kind": "random_split", "profile_fraction": 0.5, "seed": 0},
            "pool": [
                {"name": e, "engine": "replay"}
                for e in ("solid-70b", "tiny-1b", "tiny-2b", "tiny-3b", "partial-70b")
            ],
            "methods": [],
        }
    )
    report, _ = run_bench(cfg, tmp_path)
    m = report.methods
    # partial-70b is right on every problem it ran: ranked first (not counted wrong where it never ran);
    # alone it leaves its missing half unanswered
    assert 0 < m["best_single"].accuracy <= 60
    # the small models' identical failing program would win any vote: "majority" over code is a pick of
    # the best-ranked program, so solid-70b answers where partial-70b never ran
    assert m["all_majority"].accuracy > m["best_single"].accuracy + 25
    assert m["top3_majority"].accuracy == pytest.approx(m["all_majority"].accuracy)
    assert m["oracle"].accuracy == pytest.approx(m["all_majority"].accuracy)  # verdicts, not strings
    assert report.missing_recordings == 20


def test_exact_string_answers_vote_by_string_and_code_is_picked() -> None:
    experts = ("a", "b", "c")
    prof = ProfilingData(
        experts=experts,
        embeddings=np.zeros((2, 1)),
        skills=[[], []],
        correct=np.ones((2, 3), dtype=bool),
        answers=[["x"] * 3, ["y"] * 3],
        n_options=np.array([STRING_ANSWERS, STRING_ANSWERS]),
    )
    method = MethodConfig(name="m", policy="global_top_k", k=3, aggregation="majority")
    decider = Decider(method, GlobalTopKPolicy(k=3).fit(prof), prof)
    # word sorting: anagram-like answers are different answers (math-verify would call products equal)
    words = ["apple banana cherry", "cherry banana apple", "cherry banana apple"]
    out = decider.decide(Question(experts=experts, answers=words, n_options=STRING_ANSWERS))
    assert out is not None and out.answer == "cherry banana apple" and out.how == "majority"
    programs = [None, "def f(): return 1", "def f(): return 0"]
    picked = decider.decide(
        Question(experts=experts, answers=[*programs[:2], programs[1]], n_options=CODE_ANSWERS)
    )
    assert picked is not None and (picked.answer, picked.how) == ("def f(): return 1", "pick")
    first = decider.decide(Question(experts=experts, answers=["p1", "p2", "p2"], n_options=CODE_ANSWERS))
    assert first is not None and first.answer == "p1"  # the best-ranked program, not the most common


def test_global_accuracy_counts_answered_rows_only() -> None:
    correct = np.array([[True, True], [False, True], [False, False], [False, True]])
    answered = np.array([[True, True], [False, True], [False, True], [False, True]])
    prof = ProfilingData(
        experts=("half", "full"),
        embeddings=np.zeros((4, 1)),
        skills=[[]] * 4,
        correct=correct,
        answers=[["A", "A"]] * 4,
        n_options=np.full(4, 4),
        answered=answered,
    )
    assert prof.global_accuracy.tolist() == [1.0, 0.75]
    assert prof.subset(np.array([2, 3])).global_accuracy.tolist() == [0.5, 0.5]  # none answered: 0.5


@pytest.mark.skipif(importlib.util.find_spec("llmrouter") is not None, reason="peers installed here")
def test_peer_routers_are_skipped_with_a_note_where_not_importable() -> None:
    emb = np.eye(4, 3)
    run = run_peers(
        sys.executable,
        emb,
        np.ones((4, 2), bool),
        np.ones((4, 2), bool),
        ["a", "b"],
        np.ones(2),
        [(np.arange(2), np.arange(2, 4))],
        ["llmrouter_knn"],
    )
    assert run.picks == {} and run.notes["llmrouter_knn"].startswith("skipped:")
    assert "peers" in run.notes["llmrouter_knn"]
