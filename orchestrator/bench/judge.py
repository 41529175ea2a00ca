"""How often our math-verify scoring agrees with the LLM judge verdicts some recordings carry.

MATH-500's recordings hold, per (problem, model), ``judge_correct``: the harness's LLM judge's verdict on
the model's answer (reference only; we score with :func:`orchestrator.answers.math_equal`). Two figures:
agreement on every recorded answer, and agreement on a method's final answers (the judge's verdict on
the first expert whose recorded answer is that exact string).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from batching.config import ExpertConfig
from batching.engines.replay import recording_path
from common.io import open_text
from orchestrator.bench.table import BenchTable


def read_judge_verdicts(recordings_dir: Path, pool: Sequence[ExpertConfig], table: BenchTable) -> np.ndarray:
    """(N, m) the recordings' judge verdicts (1/0) on the table's answers; NaN where there is none."""
    out = np.full(table.correct.shape, np.nan)
    for j, expert in enumerate(pool):
        if expert.engine != "replay":
            continue
        path = recording_path(expert.recordings_dir or recordings_dir, expert.recording_name)
        with open_text(path) as fh:
            for line in fh:
                row = json.loads(line) if line.strip() else {}
                i = table.row_of.get(str(row.get("question_id")))
                if i is not None and row.get("judge_correct") is not None:
                    out[i, j] = float(bool(row["judge_correct"]))
    return out


def answer_agreement(table: BenchTable, judge: np.ndarray) -> float | None:
    """Share of recorded answers with a judge verdict where ``table.correct`` equals it."""
    has = ~np.isnan(judge)
    return float((table.correct[has] == (judge[has] > 0.5)).mean()) if has.any() else None


def final_agreement(
    table: BenchTable,
    judge: np.ndarray,
    rows: np.ndarray,
    finals: Sequence[Sequence[str | None]],
    right: np.ndarray,
) -> float | None:
    """Share of final answers whose judge verdict (via an expert with that exact answer) equals ours.

    Args:
        table: the bench table.
        judge: :func:`read_judge_verdicts`.
        rows: the table row of each evaluated question.
        finals: (seeds, n) final answers.
        right: (seeds, n) our verdicts (1/0).
    """
    agree = total = 0
    for s, seed_finals in enumerate(finals):
        for p, answer in enumerate(seed_finals):
            if answer is None:
                continue
            i = rows[p]
            j = next(
                (j for j, a in enumerate(table.answers[i]) if a == answer and not np.isnan(judge[i, j])), None
            )
            if j is not None:
                total += 1
                agree += int((judge[i, j] > 0.5) == bool(right[s, p]))
    return agree / total if total else None
