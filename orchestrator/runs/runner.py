"""`symoe run` and `symoe profile`: the whole method live over a pool, with answers and a run report.

Runs are durable: :func:`run_pool` journals every generation in a :class:`~batching.journal.store.RunStore`
and :func:`resume_run` continues an interrupted run without recomputing anything it finished.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from common.errors import ConfigError
from common.records import FinalAnswer, Instance, RoutingDecision
from orchestrator.answers import extract_answer, is_correct
from batching.journal.engine import Journal
from orchestrator.live import LiveRun, ProgressHook, load_profiling
from orchestrator.pool import PoolConfig, resolve_local_models
from orchestrator.profiling import ProfilingRecord
from common.logs import log_context
from orchestrator.ray.slots import ControllerConfig
from batching.journal.store import RunStore
from orchestrator.runs.stats import StageExpertStats, expert_stats
from skills.embedding import Embedder

logger = logging.getLogger(__name__)


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
    experts: list[StageExpertStats] = Field(default_factory=list)
    ray: dict[str, Any] | None = Field(
        default=None,
        description="Ray backend only: per expert counters over restarts, failures, the Ray resources each "
        "worker got, and each worker's lifetime (slot, started_at, ended_at).",
    )


@dataclass(frozen=True)
class RunOptions:
    """Where a run is journaled and how its expert stage executes.

    Attributes:
        store: the run store; a throwaway in-memory store when None.
        run_id: the run's id (new runs: generated when None).
        resume: continue ``run_id``: every generation already in the store is reused, none recomputed.
        cache: also reuse identical generations (same prompt hash) of other runs in the store.
        backend: ``local`` (this process) or ``ray`` (worker actors; see :mod:`orchestrator.ray.controller`).
        ray: the Ray controller config (``backend="ray"`` only).
    """

    store: RunStore | None = None
    run_id: str | None = None
    resume: bool = False
    cache: bool = False
    backend: Literal["local", "ray"] = "local"
    ray: ControllerConfig = field(default_factory=ControllerConfig)


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


def _open_run(pool: PoolConfig, instances: list[Instance], opts: RunOptions, store: RunStore) -> str:
    """Create the run in the store, or check that a resumed run has the same pool and questions."""
    if not opts.resume:
        return store.create_run(pool, instances, backend=opts.backend, run_id=opts.run_id)
    if opts.run_id is None:
        raise ConfigError("resume: no run id given; pass --resume <run-id> (see `symoe runs list`)")
    record = store.get_run(opts.run_id)
    if record.config != pool.model_dump(mode="json"):
        raise ConfigError(
            f"resume {opts.run_id}: the pool config differs from the run's (pool {record.pool!r}); resume "
            "without --pool to use the stored one, or start a new run (with --cache to reuse generations)"
        )
    if [i.id for i in store.instances(opts.run_id)] != [i.id for i in instances]:
        raise ConfigError(
            f"resume {opts.run_id}: the questions differ from the run's ({record.n_instances} stored); "
            "resume without --input to use the stored ones"
        )
    store.finish_run(opts.run_id, "running")
    return opts.run_id


def run_pool(
    pool: PoolConfig,
    instances: list[Instance],
    *,
    embedder: Embedder | None = None,
    progress: ProgressHook | None = None,
    options: RunOptions | None = None,
    on_tokens: Callable[[str, str, int, float], None] | None = None,
) -> tuple[RunReport, list[FinalAnswer]]:
    """Annotate, recruit, answer and aggregate ``instances`` with ``pool``; every model loads once.

    Every generation is journaled in the run store as it completes; with ``options.resume`` the ones
    already there are read back instead of computed.

    Args:
        pool: the pool config.
        instances: the questions.
        embedder: a shared embedder (built on first use otherwise).
        progress: called with (stage, model, done, total) as batches complete.
        options: store, run id, resume, cache and backend (defaults: in-memory store, local backend).
        on_tokens: called with (stage, model, generated tokens, seconds) per journaled batch.

    Raises:
        ConfigError: a bad pool, or a resume whose pool/questions differ from the stored run's.
    """
    opts = options or RunOptions()
    store = opts.store or RunStore(":memory:")
    run_id = _open_run(pool, instances, opts, store)
    journal = Journal(store, run_id, cache=opts.cache, on_record=on_tokens)
    start = time.perf_counter()
    with log_context(run_id=run_id):
        logger.info(
            "run %s: pool %s, %d questions, backend %s", run_id, pool.name, len(instances), opts.backend
        )
        try:
            report, finals = _run(
                resolve_local_models(pool), instances, journal, opts, embedder, progress, start
            )
        except BaseException as exc:
            store.finish_run(run_id, "failed", error=f"{type(exc).__name__}: {exc}")
            raise
    store.finish_run(run_id, "done", report=report.model_dump(mode="json", exclude={"config", "experts"}))
    return report, finals


def _run(
    pool: PoolConfig,
    instances: list[Instance],
    journal: Journal,
    opts: RunOptions,
    embedder: Embedder | None,
    progress: ProgressHook | None,
    start: float,
) -> tuple[RunReport, list[FinalAnswer]]:
    backend = None
    if opts.backend == "ray":
        try:
            from orchestrator.ray.backend import RayBackend
        except ImportError as exc:
            raise ConfigError(f"backend 'ray' needs the `ray` package ({exc}); pip install ray") from exc

        def on_event(stage: str, expert: str, kind: str, seconds: float, detail: str) -> None:
            journal.store.event(journal.run_id, stage, expert, kind, seconds, detail)

        batch = pool.batch_size
        backend = RayBackend(
            opts.ray, pool.models, run_id=journal.run_id, batch_size=batch, on_event=on_event
        )
    run = LiveRun(pool, embedder=embedder, progress=progress, journal=journal, backend=backend)
    try:
        profiling, vocabulary = load_profiling(
            pool, run.embedder or (Embedder() if pool.policy == "knn_top_k" else None)
        )
        skills = run.annotate(instances, vocabulary)
        decisions = run.recruit(instances, skills, profiling)
        decisions = [d.model_copy(update={"keywords": s}) for d, s in zip(decisions, skills, strict=True)]
        ray_stats = None
        if backend is not None:
            _, finals = run.answer_streaming(instances, decisions, profiling)
            ray_stats = backend.stats()
        else:
            results = run.expert_stage(instances, decisions)
            finals = run.aggregate(instances, decisions, results, profiling)
    finally:
        run.close()
        if backend is not None:
            backend.close()
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
        run_id=journal.run_id,
        backend=opts.backend,
        generations_computed=journal.computed,
        generations_reused=journal.reused,
        experts=expert_stats(journal.store, journal.run_id),
        ray=ray_stats,
    )
    return report, finals


def resume_run(
    store: RunStore,
    run_id: str,
    *,
    embedder: Embedder | None = None,
    progress: ProgressHook | None = None,
    options: RunOptions | None = None,
    on_tokens: Callable[[str, str, int, float], None] | None = None,
) -> tuple[PoolConfig, RunReport, list[FinalAnswer]]:
    """Resume ``run_id`` with its stored pool config and questions; nothing already journaled reruns.

    Args:
        store: the store holding the run.
        run_id: the run to resume (``symoe runs list``).
        embedder: a shared embedder.
        progress: progress hook, as for :func:`run_pool`.
        options: backend and cache settings (store, run id and resume are set here).
        on_tokens: tokens hook, as for :func:`run_pool`.

    Returns:
        The stored pool config, the report and the final answers.
    """
    record = store.get_run(run_id)
    pool = PoolConfig.model_validate(record.config)
    base = options or RunOptions(backend=record.backend)  # type: ignore[arg-type]
    opts = replace(base, store=store, run_id=run_id, resume=True)
    report, finals = run_pool(
        pool, store.instances(run_id), embedder=embedder, progress=progress, options=opts, on_tokens=on_tokens
    )
    return pool, report, finals


def profile_pool(
    pool: PoolConfig,
    instances: list[Instance],
    *,
    embedder: Embedder | None = None,
    progress: ProgressHook | None = None,
) -> ProfilingRecord:
    """Run every expert on validation questions (with gold answers) and record who got what right."""
    pool = resolve_local_models(pool)
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
