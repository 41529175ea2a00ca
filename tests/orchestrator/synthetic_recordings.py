"""Synthetic recording sets for bench tests: a questions file and one recording per expert, in the
``mmlu_pro_recordings`` layout (multiple choice, or free-form with a MATH-style ``level``)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np


def write_gz(path: Path, rows: list[dict[str, Any]]) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")


def write_recordings(
    folder: Path, skill: dict[str, float], *, n: int = 60, free_form: bool = False, seed: int = 0
) -> Path:
    """``n`` questions over two categories; expert e is right with probability ``skill[e]``.

    Free-form questions have gold ``str(i)``; a wrong answer is ``i + 1`` spelled ``"{i+1}"`` or
    ``"\\frac{2(i+1)}{2}"`` (equivalent, so votes must group them), and rows carry ``judge_correct``.
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    questions, preds = [], {e: [] for e in skill}
    for i in range(n):
        cat = "alpha" if i % 2 else "beta"
        q: dict[str, Any] = {"question_id": f"q{i}", "question": f"Synthetic question {i} about {cat}?",
                             "category": cat, "src": "synthetic"}  # fmt: skip
        if free_form:
            q.update(options=[], answer=str(i), level=1 + i % 5)
        else:
            q.update(options=["w", "x", "y", "z"], answer="ABCD"[i % 4], high_level_domain=cat.upper())
        questions.append(q)
        for e, p in skill.items():
            right = rng.random() < p
            if free_form:
                pred = (
                    str(i)
                    if right
                    else (str(i + 1) if rng.random() < 0.5 else f"\\frac{{{2 * (i + 1)}}}{{2}}")
                )
                text = f"So the answer is $\\boxed{{{pred}}}$."
                preds[e].append({"question_id": f"q{i}", "pred": pred, "text": text, "judge_correct": right})
            else:
                pred = q["answer"] if right else "ABCD"[(i + 1) % 4]
                preds[e].append({"question_id": f"q{i}", "pred": pred, "text": f"The answer is ({pred})."})
    write_gz(folder / "questions.jsonl.gz", questions)
    for e, rows in preds.items():
        write_gz(folder / f"{e}.jsonl.gz", rows)
    return folder
