"""`symoe run` and `symoe profile`: the whole method live over a pool, with answers and a run report."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from common.records import FinalAnswer, Instance, RoutingDecision
from orchestrator.answers import extract_answer, is_correct
from orchestrator.live import LiveRun, ProgressHook, load_profiling
from orchestrator.pool import PoolConfig, resolve_tiny_models
from orchestrator.profiling import ProfilingRecord
from skills.embedding import Embedder


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
    """What ``symoe run`` writes to ``OUTDIR/report.json``."""

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


def _stats(run: LiveRun) -> dict[str, ModelStats]:
    out = {}
    for name, engine in run.engines.items():
        c = engine.counters
        out[name] = ModelStats(
            loads=c.loads,
            unloads=c.unloads,
            load_seconds=round(c.load_seconds, 4),
            prompt_tokens=c.prompt_tokens,
            generated_tokens=c.generated_tokens,
            generation_seconds=round(c.generation_seconds, 4),
            requests=c.requests,
            errors=c.errors,
        )
    return out


def run_pool(
    pool: PoolConfig,
    instances: list[Instance],
    *,
    embedder: Embedder | None = None,
    progress: ProgressHook | None = None,
) -> tuple[RunReport, list[FinalAnswer]]:
    """Annotate, recruit, answer and aggregate ``instances`` with ``pool``; every model loads once."""
    start = time.perf_counter()
    pool = resolve_tiny_models(pool)
    run = LiveRun(pool, embedder=embedder, progress=progress)
    try:
        profiling, vocabulary = load_profiling(
            pool, run.embedder or (Embedder() if pool.policy == "knn_top_k" else None)
        )
        skills = run.annotate(instances, vocabulary)
        decisions = run.recruit(instances, skills, profiling)
        decisions = [d.model_copy(update={"keywords": s}) for d, s in zip(decisions, skills, strict=True)]
        results = run.expert_stage(instances, decisions)
        finals = run.aggregate(instances, decisions, results, profiling)
    finally:
        run.close()
    graded = [f.correct for f in finals if f.correct is not None]
    report = RunReport(
        pool=pool.name,
        n=len(instances),
        accuracy=100.0 * sum(graded) / len(graded) if graded else None,
        expert_calls_per_question=sum(len(d.experts) for d in decisions) / max(len(decisions), 1),
        models=_stats(run),
        stage_seconds={k: round(v, 4) for k, v in run.stage_seconds.items()},
        total_seconds=round(time.perf_counter() - start, 4),
        counts=run.counts,
        config=pool.model_dump(mode="json"),
    )
    return report, finals


def profile_pool(
    pool: PoolConfig,
    instances: list[Instance],
    *,
    embedder: Embedder | None = None,
    progress: ProgressHook | None = None,
) -> ProfilingRecord:
    """Run every expert on validation questions (with gold answers) and record who got what right."""
    pool = resolve_tiny_models(pool)
    run = LiveRun(pool, embedder=embedder, progress=progress)
    try:
        skills = run.annotate(instances, None)
        everyone = [RoutingDecision(instance_id=i.id, experts=run.experts, policy="all") for i in instances]
        results = run.expert_stage(instances, everyone)
    finally:
        run.close()
    answers = [
        [extract_answer(results[(i.id, e)].text, i.answer_format) for e in run.experts] for i in instances
    ]
    return ProfilingRecord(
        experts=run.experts,
        questions=[i.question for i in instances],
        gold=[i.gold for i in instances],
        skills=skills,
        answers=answers,
        correct=[
            [is_correct(a, i.gold, i.answer_format) for a in row]
            for row, i in zip(answers, instances, strict=True)
        ],
        n_options=[
            i.answer_format.n_options if i.answer_format.kind == "multiple_choice" else 0 for i in instances
        ],
        annotator=pool.annotation.annotator,
    )


def write_run(out_dir: Path, report: RunReport, finals: list[FinalAnswer]) -> list[Path]:
    """Write ``answers.jsonl`` and ``report.json``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    answers = out_dir / "answers.jsonl"
    with answers.open("w", encoding="utf-8") as fh:
        for f in finals:
            fh.write(f.model_dump_json(exclude_none=True) + "\n")
    path = out_dir / "report.json"
    path.write_text(json.dumps(report.model_dump(mode="json"), indent=2), encoding="utf-8")
    return [path, answers]
