"""What a run reports (``OUTDIR/report.json``): per-model counters, stage times, counts, store figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from batching.engines.base import EngineCounters
from common.private_files import private_dir, write_private_text
from common.records import FinalAnswer
from orchestrator.rag.report import RetrievalReport
from orchestrator.runs.stats import StageExpertStats


class ModelStats(BaseModel):
    """One model's counters over a run."""

    model_config = ConfigDict(extra="forbid")

    loads: int
    unloads: int
    load_seconds: float
    prompt_tokens: int
    generated_tokens: int
    generation_seconds: float
    requests: int
    errors: int


class RunReport(BaseModel):
    """What ``symoe run`` writes to ``OUTDIR/report.json``.

    ``models`` counts what the engines did in this invocation; ``experts`` is built from the run store
    and covers the whole run (every invocation of a resumed run).
    """

    model_config = ConfigDict(extra="forbid")

    pool: str
    n: int
    accuracy: float | None = Field(default=None, description="0-100, when the questions carry gold answers.")
    expert_calls_per_question: float
    models: dict[str, ModelStats]
    stage_seconds: dict[str, float]
    total_seconds: float
    counts: dict[str, int] = Field(default_factory=dict)
    config: dict[str, Any] = Field(default_factory=dict)
    run_id: str = ""
    backend: str = "local"
    generations_computed: int = Field(default=0, description="Generations engines computed in this call.")
    generations_reused: int = Field(
        default=0, description="Generations read back from the store (earlier attempts, or the cache)."
    )
    skipped_rows: int = Field(default=0, description="Malformed input rows skipped (--skip-malformed).")
    experts: list[StageExpertStats] = Field(default_factory=list)
    ray: dict[str, Any] | None = Field(
        default=None,
        description="Ray backend only: per expert counters over restarts, failures, the Ray resources each "
        "worker got, and each worker's lifetime (slot, started_at, ended_at).",
    )
    retrieval: RetrievalReport | None = Field(
        default=None,
        description="Retrieval (mode always/gated): rho, the cost terms of E[C] = C_gate + rho C_retrieve + "
        "C_experts, the saving against always-retrieve, accuracy per branch and the audit's regret.",
    )


def model_stats(counters: dict[str, EngineCounters]) -> dict[str, ModelStats]:
    """Per-model figures of a run from the engines' counters over that run."""
    return {
        name: ModelStats(
            loads=c.loads,
            unloads=c.unloads,
            load_seconds=round(c.load_seconds, 4),
            prompt_tokens=c.prompt_tokens,
            generated_tokens=c.generated_tokens,
            generation_seconds=round(c.generation_seconds, 4),
            requests=c.requests,
            errors=c.errors,
        )
        for name, c in counters.items()
    }


def write_run(out_dir: Path, report: RunReport, finals: list[FinalAnswer]) -> list[Path]:
    """Write ``answers.jsonl`` and ``report.json``, 0600 each (they hold users' questions and answers;
    a folder created here is 0700), each written whole to a temporary name and renamed."""
    private_dir(out_dir)
    answers = out_dir / "answers.jsonl"
    write_private_text(answers, "".join(f.model_dump_json(exclude_none=True) + "\n" for f in finals))
    path = out_dir / "report.json"
    write_private_text(path, json.dumps(report.model_dump(mode="json"), indent=2))
    return [path, answers]
