"""`symoe run` and `symoe profile`: the whole method live over a pool, with answers and a run report.

Runs are durable: :func:`run_pool` journals every generation in a
:class:`~batching.journal.store.RunStore` and :func:`resume_run` continues an interrupted run without
recomputing anything it finished. A run opens its own :class:`~orchestrator.pipeline.Session` (closed at
its end) unless it is given one to share (the Python API, the service's batch worker).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from batching.journal.engine import Journal
from batching.journal.store import RunRecord, RunStore, stored_config
from batching.model_path import check_local_model
from common.errors import ConfigError
from common.extras import require_extra
from common.logs import log_context
from common.records import FinalAnswer, Instance, RoutingDecision
from common.secrets import has_redactions
from orchestrator.aggregation.choice import is_auto, rank_pool_aggregators
from orchestrator.answers import extract_answer, is_correct
from orchestrator.pipeline import LIVE_STAGES, Job, ProgressHook, Session, run_stages
from orchestrator.pipeline.annotate import annotate
from orchestrator.pipeline.experts import answer_pairs
from orchestrator.pipeline.job import n_options
from orchestrator.pipeline.session import require_profiles
from orchestrator.policies.base import instance_metadata
from orchestrator.pool import PoolConfig
from orchestrator.profiling import ProfilingRecord
from orchestrator.rag.report import RetrievalReport, retrieval_report
from orchestrator.ray.slots import ControllerConfig
from orchestrator.runs.report import RunReport, model_stats
from orchestrator.runs.stats import expert_stats
from skills.embedding import Embedder
from skills.vocabulary import load_vocabulary

logger = logging.getLogger(__name__)

TokensHook = Callable[[str, str, int, float], None]  # (stage, model, generated tokens, seconds)


@dataclass(frozen=True, kw_only=True)
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


def open_session(
    pool: PoolConfig,
    *,
    embedder: Embedder | None = None,
    backend: Literal["local", "ray"] = "local",
    ray: ControllerConfig | None = None,
    keep_resident: bool = False,
    name: str | None = None,
) -> Session:
    """Open a session over ``pool``: its ``tiny:``/``zoo:`` models resolved, on this process or on Ray.

    With Ray, ``name`` names the controller actor ``symoe-controller-<name>`` (a one-shot run passes its
    run id; default: a new id).

    Raises:
        ConfigError: a bad pool, or ``backend='ray'`` without the ``ray`` extra (a MissingExtraError).
    """
    ray_backend = None
    if backend == "ray":
        require_extra("ray", "backend 'ray'")
        from batching.journal.store import new_run_id
        from orchestrator.ray.backend import RayBackend

        resolved = pool.resolved()
        ray_backend = RayBackend(ray or ControllerConfig(), resolved.models, run_id=name or new_run_id(),
                                 batch_size=pool.batch_size)  # fmt: skip
        return Session(pool, embedder=embedder, backend=ray_backend, keep_resident=keep_resident)
    return Session(pool, embedder=embedder, keep_resident=keep_resident)


def check_pool(pool: PoolConfig) -> None:
    """Check what a run needs of ``pool`` before it starts, loading no model: its local models resolve
    and exist, its skill vocabulary reads, and its profiling record (when the policy needs one) is there
    and readable.

    Raises:
        ConfigError: a model, the vocabulary or the profiling record is missing or invalid (names it and
            the fix; a local model path that holds nothing is "no model at PATH").
    """
    for model in pool.resolved().models:
        check_local_model(model)
    if pool.profiles:
        ProfilingRecord.load(pool.profiles)
    require_profiles(pool, pool.method.build_policy(), has_profiles=bool(pool.profiles))
    if pool.annotation.vocabulary:
        load_vocabulary(pool.annotation.vocabulary)


def stored_pool(record: RunRecord, given: PoolConfig | None = None) -> PoolConfig:
    """The pool to resume ``record`` with: ``given`` when it is the run's pool (the store keeps a copy
    without secrets), else the stored copy.

    Raises:
        ConfigError: the stored copy had secrets redacted (a token in a ``base_url``) and no matching
            ``given`` pool supplies them.
    """
    if given is not None and record.config == stored_config(given):
        return given
    if has_redactions(record.config):
        raise ConfigError(
            f"run {record.run_id}: its pool config held a secret (a token in a base_url) that the run store "
            "does not keep; resume with --pool FILE, the run's pool config"
        )
    return PoolConfig.model_validate(record.config)


def _open_run(pool: PoolConfig, instances: list[Instance], opts: RunOptions, store: RunStore) -> str:
    """Create the run in the store, or check that a resumed run has the same pool and questions."""
    if not opts.resume:
        return store.create_run(pool, instances, backend=opts.backend, run_id=opts.run_id)
    if opts.run_id is None:
        raise ConfigError("resume: no run id given; pass --resume <run-id> (see `symoe runs list`)")
    record = store.get_run(opts.run_id)
    if record.config != stored_config(pool):
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
    on_tokens: TokensHook | None = None,
    session: Session | None = None,
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
        session: run in this open session (its models stay loaded afterwards); a new one otherwise.

    Raises:
        ConfigError: a bad pool, a session of another pool, or a resume whose pool/questions differ.
    """
    opts = options or RunOptions()
    if session is not None and session.config != pool:
        raise ConfigError(f"run_pool: the session serves pool {session.config.name!r}, not {pool.name!r}")
    store = opts.store or RunStore(":memory:")
    run_id = _open_run(pool, instances, opts, store)
    journal = Journal(store=store, run_id=run_id, cache=opts.cache, on_record=on_tokens)
    start = time.perf_counter()
    with log_context(run_id=run_id):
        logger.info(
            "run %s: pool %s, %d questions, backend %s", run_id, pool.name, len(instances), opts.backend
        )
        own = session is None
        try:
            if session is None:
                session = open_session(
                    pool, embedder=embedder, backend=opts.backend, ray=opts.ray, name=run_id
                )
            job, ray_stats = _execute(session, instances, journal, progress)
        except BaseException as exc:
            store.finish_run(run_id, "failed", error=f"{type(exc).__name__}: {exc}")
            raise
        finally:
            if own and session is not None:
                session.close()  # before the report, so a one-shot run's unloads are in it
    report = _report(job, opts.backend, ray_stats, time.perf_counter() - start)
    store.finish_run(run_id, "done", report=report.model_dump(mode="json", exclude={"config", "experts"}))
    return report, job.finals()


def _execute(
    session: Session, instances: list[Instance], journal: Journal, progress: ProgressHook | None
) -> tuple[Job, dict[str, Any] | None]:
    """Run the live stages; returns the job and the Ray backend's stats (None locally)."""
    if session.backend is not None:

        def on_event(stage: str, expert: str, kind: str, seconds: float, detail: str) -> None:
            journal.store.event(journal.run_id, stage, expert, kind, seconds, detail)

        session.backend.on_event = on_event
    job = run_stages(Job(session, instances, journal, progress=progress), LIVE_STAGES)
    job.finals()  # fills the aggregation counts
    return job, session.backend.stats() if session.backend is not None else None


def _report(job: Job, backend: str, ray_stats: dict[str, Any] | None, seconds: float) -> RunReport:
    finals = job.finals()
    graded = [f.correct for f in finals if f.correct is not None]
    journal, session = job.journal, job.session
    return RunReport(
        pool=session.pool.name,
        n=len(job.instances),
        accuracy=100.0 * sum(graded) / len(graded) if graded else None,
        expert_calls_per_question=sum(d.n_calls for d in job.decisions) / max(len(job.decisions), 1),
        models=model_stats(job.counters()),
        stage_seconds={k: round(v, 4) for k, v in job.stage_seconds.items()},
        total_seconds=round(seconds, 4),
        counts=job.counts,
        config=stored_config(session.config),  # report.json: no token of a base_url
        run_id=journal.run_id,
        backend=backend,
        generations_computed=journal.computed,
        generations_reused=journal.reused,
        experts=expert_stats(journal.store, journal.run_id),
        ray=ray_stats,
        retrieval=_retrieval_report(job, finals),
    )


def _retrieval_report(job: Job, finals: list[FinalAnswer]) -> RetrievalReport | None:
    mode = job.session.pool.retrieval.mode
    if mode == "never":
        return None
    state = job.retrieval_state()
    first_pass = {
        iid: (
            sum(r.prompt_tokens for r in res.values()),
            sum(r.generated_tokens for r in res.values()),
            len(res),
        )
        for iid, res in state.first_pass.items()
    }
    return retrieval_report(
        finals,
        mode=mode,
        first_pass=first_pass,
        stage_seconds=job.stage_seconds,
        rag_seconds=state.seconds,
        store_queries=job.counts.get("store_queries", 0),
    )


def resume_run(
    store: RunStore,
    run_id: str,
    *,
    embedder: Embedder | None = None,
    progress: ProgressHook | None = None,
    options: RunOptions | None = None,
    on_tokens: TokensHook | None = None,
    session: Session | None = None,
    pool: PoolConfig | None = None,
) -> tuple[PoolConfig, RunReport, list[FinalAnswer]]:
    """Resume ``run_id`` with its stored pool config and questions; nothing already journaled reruns.

    Args:
        store: the store holding the run.
        run_id: the run to resume (``symoe runs list``).
        embedder: a shared embedder.
        progress: progress hook, as for :func:`run_pool`.
        options: backend and cache settings (store, run id and resume are set here).
        on_tokens: tokens hook, as for :func:`run_pool`.
        session: an open session of the run's pool to run in.
        pool: the run's pool with its secrets (a ``base_url`` token the store does not keep); used
            when it is the run's pool (:func:`stored_pool`).

    Returns:
        The stored pool config, the report and the final answers.
    """
    record = store.get_run(run_id)
    pool = stored_pool(record, pool)
    base = options or RunOptions(backend=record.backend)  # type: ignore[arg-type]
    opts = replace(base, store=store, run_id=run_id, resume=True)
    report, finals = run_pool(pool, store.instances(run_id), embedder=embedder, progress=progress,
                              options=opts, on_tokens=on_tokens, session=session)  # fmt: skip
    return pool, report, finals


def profile_pool(
    pool: PoolConfig,
    instances: list[Instance],
    *,
    embedder: Embedder | None = None,
    progress: ProgressHook | None = None,
    session: Session | None = None,
    retrieval: bool = False,
) -> ProfilingRecord:
    """Run every expert on validation questions (with gold answers) and record who got what right.

    With ``aggregator: auto``, every candidate model is then scored by the aggregator benchmark on the
    experts' validation chains and the best is recorded as the pool's aggregator. With ``retrieval``,
    every expert also answers every question open-book (the top passages of the pool's knowledge store,
    one batched search), and the record keeps those answers and each question's coverage signal: what
    the retrieval gate is fitted on.
    """
    own = session is None
    session = session or Session(pool, embedder=embedder)
    try:
        journal = Journal(store=RunStore(":memory:"), run_id="profile")
        job = Job(session, instances, journal, progress=progress)
        with job.stage("annotate"):
            annotate(job, None)
        everyone = [
            RoutingDecision(instance_id=i.id, experts=session.experts, policy="all") for i in instances
        ]
        with job.stage("experts"):
            answer_pairs(job, everyone)
        open_job = _profile_open_book(session, instances, journal, progress, everyone) if retrieval else None
        chosen = _choose_aggregator(job) if is_auto(pool.aggregator) else None
    finally:
        if own:
            session.close()
    record = _record(pool, session.experts, instances, job, chosen)
    if open_job is None:
        return record
    answers = _answers(open_job, session.experts, instances)
    found = open_job.retrieval_state().retrievals
    return record.model_copy(
        update={
            "answers_rag": answers,
            "correct_rag": _correct(answers, instances),
            "coverage": [dataclasses.asdict(found[i.id].coverage) for i in instances],
            "retrieval": {
                "store": pool.retrieval.store.uri,
                "k": pool.retrieval.k,
                "search": pool.retrieval.search,
            },
        }
    )


def _profile_open_book(
    session: Session,
    instances: list[Instance],
    journal: Journal,
    progress: ProgressHook | None,
    everyone: list[RoutingDecision],
) -> Job:
    """Every expert on every question with its passages (one search for all, then batched per expert)."""
    from orchestrator.pipeline.retrieve import search

    job = Job(session, instances, journal, progress=progress)
    with job.stage("retrieve"):
        search(job, range(len(instances)))
        found = job.retrieval_state().retrievals
        job.passages = {i.id: found[i.id].passages() for i in instances}
    with job.stage("experts_open_book"):
        answer_pairs(job, everyone)
    return job


def _answers(job: Job, experts: list[str], instances: list[Instance]) -> list[list[str | None]]:
    return [
        [extract_answer(job.results[(i.id, e)].text, i.answer_format) for e in experts] for i in instances
    ]


def _correct(answers: list[list[str | None]], instances: list[Instance]) -> list[list[bool]]:
    return [
        [is_correct(a, i.gold, i.answer_format) for a in row]
        for row, i in zip(answers, instances, strict=True)
    ]


def _record(
    pool: PoolConfig,
    experts: list[str],
    instances: list[Instance],
    job: Job,
    chosen: tuple[str, list[tuple[str, float]]] | None,
) -> ProfilingRecord:
    answers = _answers(job, experts, instances)
    return ProfilingRecord(
        experts=experts,
        questions=[i.question for i in instances],
        gold=[i.gold for i in instances],
        skills=job.skills,
        answers=answers,
        correct=_correct(answers, instances),
        n_options=[n_options(i) for i in instances],
        metadata=[instance_metadata(i) for i in instances],
        options=[list(i.options) for i in instances],
        texts=[[job.results[(i.id, e)].text for e in experts] for i in instances],
        annotator=pool.annotation.annotator,
        aggregator=chosen[0] if chosen else None,
        aggregator_scores=dict(chosen[1]) if chosen else {},
    )


def _choose_aggregator(job: Job) -> tuple[str, list[tuple[str, float]]]:
    """The aggregator benchmark over the pool's candidates on the job's validation chains (best, ranking)."""
    pool, session = job.session.pool, job.session
    return rank_pool_aggregators(
        job.instances,
        {pair: r.text for pair, r in job.results.items()},
        session.experts,
        job.engines,
        candidates=pool.aggregator_candidates or [m.name for m in pool.models],
        pool_name=pool.name,
        seed=pool.seed,
        sampling=pool.aggregator_sampling.params(),
        lock=session.lock,
    )
