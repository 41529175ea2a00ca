"""The benchmark: profile the pool, run every method on the same test questions, report.

Stages: load data -> expert stage (every expert answers every profiling and every test question, batched
per expert and loaded once per run; methods then read only the answers their recruits would have given,
and are charged only for those calls and their cost) -> embeddings -> skills -> the question table ->
the protocol (the paper's one profiling/test split, or repeated stratified cross-validation; see
:mod:`orchestrator.bench.cv`) with routing and aggregation per method and split -> paired tests against
the best baseline, the accuracy-cost curve -> report. Experts are replayed recordings (MMLU-Pro, GPQA,
MATH-500) or live engines (the skill zoo demo); with greedy decoding a live expert's answer does not
depend on which method recruited it, so one stage serves every method and the oracle.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from batching.config import ExpertConfig
from batching.engines.base import Engine
from batching.engines.cpu_threads import available_cpus
from batching.engines.registry import build_engine
from common.errors import ConfigError
from common.generation import GenRequest
from common.records import FinalAnswer, Instance, MethodResult
from orchestrator.bench.config import BenchConfig
from orchestrator.bench.cost import CostCurve, area, budget_grid, oracle_curve, summarise
from orchestrator.bench.cv import Split, cv_splits, fixed_split
from orchestrator.bench.data import BenchData, load_bench_data
from orchestrator.bench.judge import answer_agreement, final_agreement, read_judge_verdicts
from orchestrator.bench.peer_routers import run_peers
from orchestrator.bench.protocol import CurveTally, Protocol, SplitChoice, StepHook
from orchestrator.bench.rag import TwoBooks, evaluate_rag_methods, run_two_books
from orchestrator.bench.report import BenchReport
from orchestrator.bench.stages import AnswerMatrix, ProgressHook, run_expert_stage
from orchestrator.bench.table import BenchTable
from orchestrator.bench.tally import MethodTally
from orchestrator.bench.verdicts import matrix_pairs, persistent_verdicts, precompute_verdicts, verdict_file
from orchestrator.method import MethodConfig
from orchestrator.policies import ProfilingData
from orchestrator.pool import resolve_local_model_configs
from orchestrator.prompts import expert_prompt
from skills.embedding import Embedder
from skills.similarity_annotator import EmbeddingSkillAnnotator
from skills.vocabulary import load_vocabulary

logger = logging.getLogger(__name__)

ORACLE = "oracle"
REPLAY_NOTE = (
    "replay mode: no LLM is available, so skills come from the embedding annotator (nearest skill "
    "names) and answers are aggregated by votes, not by an LLM aggregator"
)
LIVE_NOTE = (
    "live engines: every expert generated every profiling and test answer in one stage (loaded once); "
    "skills come from the embedding annotator and answers are aggregated by votes"
)


def baseline_methods(cfg: BenchConfig) -> list[MethodConfig]:
    """The fixed baselines every bench reports."""
    m = len(cfg.pool)
    k3 = cfg.top_k_majority
    return [
        MethodConfig(name="best_single", policy="global_top_k", k=1, description="best expert on profiling"),
        MethodConfig(
            name=f"top{k3}_majority", policy="global_top_k", k=k3, description="top-k global majority"
        ),
        MethodConfig(name="all_majority", policy="global_top_k", k=m, description="every expert, majority"),
        MethodConfig(
            name=f"random_{cfg.random_k}", policy="random_k", k=cfg.random_k, description="random k"
        ),
    ]


class _Timer:
    """Wall and CPU seconds (this process, all threads) per stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.cpu_seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
            self.cpu_seconds[name] = self.cpu_seconds.get(name, 0.0) + time.process_time() - cpu


def _requester(pool: Sequence[ExpertConfig]) -> Callable[[Instance, str], GenRequest]:
    """Builds an expert's request: the expert prompt, with the expert's own sampling settings."""
    sampling = {e.name: e.sampling.params() for e in pool}

    def request(inst: Instance, expert: str) -> GenRequest:
        prompt = expert_prompt(inst)
        return GenRequest.chat(f"{inst.id}:{expert}", prompt, sampling[expert], inst.id)

    return request


def run_bench(
    cfg: BenchConfig,
    data_dir: Path | None,
    *,
    embedder: Embedder | None = None,
    progress: Callable[[str], ProgressHook | None] | None = None,
    on_step: StepHook | None = None,
) -> tuple[BenchReport, list[FinalAnswer]]:
    """Run a whole benchmark: the paper protocol (one split) or cross-validation (many).

    Args:
        cfg: the bench config.
        data_dir: the folder holding the recordings and split files.
        embedder: the question embedder (a cached all-MiniLM-L6-v2 when omitted).
        progress: given a stage name, returns a per-expert progress callback.
        on_step: called with (splits done, splits in all) as the protocol advances.

    Returns:
        The report and the per-instance traces of the configured (non-baseline) methods (under
        cross-validation, of the first seed, in which every question is held out once).
    """
    with _single_threaded_blas():
        return _run_bench(cfg, data_dir, embedder=embedder, progress=progress, on_step=on_step)


def _run_bench(
    cfg: BenchConfig,
    data_dir: Path | None,
    *,
    embedder: Embedder | None,
    progress: Callable[[str], ProgressHook | None] | None,
    on_step: StepHook | None,
) -> tuple[BenchReport, list[FinalAnswer]]:
    timer = _Timer()
    with timer.stage("load data"):
        data = load_bench_data(cfg, data_dir)
        engines = _pool_engines(cfg, data_dir)
    stage_hook: Callable[[str], ProgressHook | None] = progress or (lambda _stage: None)
    free_form = any(i.answer_format.kind == "math" for i in (*data.profile, *data.test))
    verdicts = verdict_file(cfg.verdict_cache_dir) if free_form else None
    with persistent_verdicts(verdicts):
        books: TwoBooks | None = None
        try:
            with timer.stage("expert stage"):
                if cfg.uses_retrieval:  # every expert answers every question closed- and open-book
                    embedder = embedder or _default_embedder(cfg)
                    books = _two_books(cfg, data, engines, embedder, stage_hook("experts"))
                    matrix = books.closed
                else:
                    matrix = _expert_answers(cfg, data, engines, stage_hook("experts"))
        finally:
            for engine in engines.values():
                engine.close()
        if free_form:
            with timer.stage("math-verify"):
                bar = stage_hook("math-verify")  # minutes when the verdicts are cold
                on_verified = None if bar is None else functools.partial(bar, "answer pairs")
                for m in (matrix, books.opened) if books is not None else (matrix,):
                    precompute_verdicts(matrix_pairs(m), available_cpus(), on_progress=on_verified)
        with timer.stage("embeddings + skills"):
            embedder = (embedder or _default_embedder(cfg)) if cfg.methods else None
            bar = stage_hook("embeddings")  # the slowest stage of a cold bench
            emb, skills = _embed_and_annotate(cfg, embedder, matrix.instances, bar, "questions")
        with timer.stage("scoring"):
            table = BenchTable.build(matrix, _replay_pool(cfg, data_dir), emb, skills)
            opened = (
                BenchTable.build(books.opened, _replay_pool(cfg, data_dir), emb, skills) if books else None
            )
        with timer.stage("routing + aggregation"):
            outcome = _run_protocol(cfg, data, table, on_step)
            if books is not None and opened is not None:
                _add_rag_methods(cfg, data, outcome, table, opened, books)
    judge = _judge(cfg, data_dir, table, outcome) if free_form else None
    letters = all(i.answer_format.kind == "multiple_choice" for i in (*data.profile, *data.test))
    agree, with_text = matrix.extractor_agreement() if cfg.answer_source == "recorded" and letters else (0, 0)
    report = BenchReport.build(
        cfg=cfg,
        data=data,
        methods=outcome.results,
        engines=engines,
        stage_seconds=timer.seconds,
        stage_cpu_seconds=timer.cpu_seconds,
        embeddings_computed=embedder.computed if embedder is not None else 0,
        missing_recordings=matrix.missing,
        extractor_agreement=agree / with_text if with_text else None,
        note=REPLAY_NOTE if all(e.engine == "replay" for e in cfg.pool) else LIVE_NOTE,
        protocol=outcome.protocol,
        reference=outcome.reference,
        curves=outcome.curves,
        judge_agreement=judge,
        auto_choices=outcome.choices,
    )
    return report, outcome.traces


@dataclass(kw_only=True)
class _Outcome:
    results: dict[str, MethodResult]
    reference: str
    curves: dict[str, CostCurve]
    traces: list[FinalAnswer]
    protocol: dict[str, Any]
    tallies: dict[str, MethodTally]
    test_rows: np.ndarray
    choices: dict[str, list[SplitChoice]]


def _add_rag_methods(
    cfg: BenchConfig,
    data: BenchData,
    outcome: _Outcome,
    table: BenchTable,
    opened: BenchTable,
    books: TwoBooks,
) -> None:
    """The methods with retrieval (fixed split only), their traces, and the oracle over both books."""
    assert cfg.retrieval is not None  # BenchConfig checks it
    methods = [m for m in cfg.methods if m.retrieval is not None]
    rag = evaluate_rag_methods(methods, cfg.retrieval, data, table, opened, books, seed=cfg.seed)
    reference = outcome.tallies[outcome.reference]
    for m in methods:
        tally, extra, traces = rag[m.name]
        outcome.tallies[m.name] = tally
        cmp = tally.compare_with(reference, outcome.reference)
        desc = m.description or f"{m.policy} k={m.k}, {m.aggregation}, retrieval {m.retrieval}"
        result = tally.result(data.test, desc, cv=False, comparison=cmp)
        outcome.results[m.name] = result.model_copy(update=extra)
        outcome.traces.extend(traces)
    rows = table.rows(data.test)
    oracle = outcome.tallies[ORACLE]
    oracle.right[0] = table.correct[rows].any(axis=1) | opened.correct[rows].any(axis=1)
    oracle.calls[0] *= 2
    oracle.cost[0] += opened.call_cost[rows].sum(axis=1)
    both = "any expert right, closed- or open-book (upper bound)"
    outcome.results[ORACLE] = oracle.result(data.test, both, cv=False)
    order = [*(m.name for m in baseline_methods(cfg)), *(m.name for m in cfg.methods), ORACLE]
    outcome.results = {name: outcome.results[name] for name in order}


def _two_books(
    cfg: BenchConfig,
    data: BenchData,
    engines: dict[str, Engine],
    embedder: Embedder,
    hook: ProgressHook | None,
) -> TwoBooks:
    """Every expert's answer to every question closed- and open-book (:mod:`orchestrator.bench.rag`)."""
    assert cfg.retrieval is not None  # BenchConfig checks it
    if data.cross_validation is not None:
        raise ConfigError(
            f"bench {cfg.name!r}: methods with retrieval run on a fixed profiling/test split, not under "
            "cross-validation"
        )
    both = list({i.id: i for i in (*data.profile, *data.test)}.values())
    sampling = {e.name: e.sampling.params() for e in cfg.pool}
    return run_two_books(both, engines, sampling, cfg.retrieval, embedder, answer_source=cfg.answer_source,
                         on_progress=hook)  # fmt: skip


def _run_protocol(cfg: BenchConfig, data: BenchData, table: BenchTable, on_step: StepHook | None) -> _Outcome:
    """Every method over the protocol's splits, summed into results, paired tests and the cost curve."""
    cv = data.cross_validation
    splits = cv_splits(data.test, cv) if cv is not None else fixed_split(len(data.profile), len(data.test))
    seeds = cv.seeds if cv is not None else 1
    test_rows = table.rows(data.test)
    protocol = Protocol(
        table=table,
        profile_rows=table.rows(data.profile),
        test_rows=test_rows,
        test=data.test,
        seeds=seeds,
        seed=cfg.seed,
    )
    methods = [*baseline_methods(cfg), *(m for m in cfg.methods if m.retrieval is None)]
    budgets = None
    if cfg.cost_curve is not None and cfg.cost_curve.method in {m.name for m in cfg.methods}:
        budgets = budget_grid(table.call_cost.mean(axis=0), cfg.cost_curve.points)
    run = protocol.run(
        methods,
        splits,
        traced=[m.name for m in cfg.methods if m.retrieval is None],
        curve=(cfg.cost_curve.method, budgets)
        if cfg.cost_curve is not None and budgets is not None
        else None,
        on_step=on_step,
    )
    tallies = {**run.tallies, ORACLE: protocol.oracle()}
    peers = _peer_tallies(cfg, table, protocol, splits) if cfg.peers is not None else {}
    tallies.update({name: t for name, (t, _) in peers.items() if t is not None})
    names = [m.name for m in baseline_methods(cfg)] + [n for n, (t, _) in peers.items() if t is not None]
    reference = max(names, key=lambda n: (tallies[n].seed_accuracies.mean(), -names.index(n)))
    results = {}
    for m in methods:
        cmp = None if m.name == reference else tallies[m.name].compare_with(tallies[reference], reference)
        desc = m.description or f"{m.policy} k={m.k}, {m.aggregation}"
        results[m.name] = tallies[m.name].result(data.test, desc, cv=cv is not None, comparison=cmp)
    for name, (tally, desc) in peers.items():
        if tally is not None:
            cmp = None if name == reference else tally.compare_with(tallies[reference], reference)
            results[name] = tally.result(data.test, desc, cv=cv is not None, comparison=cmp)
    results[ORACLE] = tallies[ORACLE].result(data.test, "any expert right (upper bound)", cv=False)
    curves = _curves(cfg, table, test_rows, run.curve, results) if run.curve is not None else {}
    traces = [t for name in run.traces for t in run.traces[name] if t is not None]
    info: dict[str, Any] = {
        "kind": "cross_validation" if cv is not None else "fixed_split",
        "splits": len(splits),
    }
    if cv is not None:
        info.update(folds=cv.folds, seeds=cv.seeds, stratify=cv.stratify)
    if peers:
        info["peers"] = {name: desc for name, (_, desc) in peers.items()}
    return _Outcome(
        results=results,
        reference=reference,
        curves=curves,
        traces=traces,
        protocol=info,
        tallies=tallies,
        test_rows=test_rows,
        choices=run.choices,
    )


def _peer_tallies(
    cfg: BenchConfig, table: BenchTable, protocol: Protocol, splits: Sequence[Split]
) -> dict[str, tuple[MethodTally | None, str]]:
    """Each peer router's tally over the splits of its seeds (one call per question), or why it is absent."""
    assert cfg.peers is not None
    mine = [s for s in splits if s.seed < cfg.peers.seeds]
    rows = [(protocol.profile_rows[s.profile], protocol.test_rows[s.test]) for s in mine]
    answered = table.answered if table.answered is not None else np.ones_like(table.correct)
    run = run_peers(cfg.peers.python, table.embeddings, table.correct, answered, table.experts,
                    table.call_cost.mean(axis=0), rows, cfg.peers.routers)  # fmt: skip
    seeds = max(s.seed for s in mine) + 1
    out: dict[str, tuple[MethodTally | None, str]] = {}
    for name in cfg.peers.routers:
        if name not in run.picks:
            out[name] = (None, run.notes.get(name, "no result"))
            continue
        tally = MethodTally(seeds, len(protocol.test))
        for s, (_, test), cols in zip(mine, rows, run.picks[name], strict=True):
            right = table.correct[test, cols]
            tally.record(s.seed, s.test, list(right), [1] * len(test), list(table.call_cost[test, cols]),
                         [table.answers[r][c] for r, c in zip(test, cols, strict=True)])  # fmt: skip
        out[name] = (tally, f"peer router {name} (its own package, one call; seeds 0..{seeds - 1})")
    logger.info("peer routers: %s", ", ".join(f"{k} {v:.1f}s" for k, v in run.seconds.items()))
    return out


def _curves(
    cfg: BenchConfig, table: BenchTable, rows: np.ndarray, curve: CurveTally, results: dict[str, MethodResult]
) -> dict[str, CostCurve]:
    """The budgeted method's curve and the oracle's, summarised against the best single expert."""
    assert cfg.cost_curve is not None
    c_max = float(table.call_cost.mean(axis=0).sum())
    o_cost, o_acc = oracle_curve(table.correct[rows], table.call_cost[rows], curve.budgets)
    oracle_area = area(o_cost, o_acc, c_max)
    best = results["best_single"]
    ref = (best.accuracy, best.cost_per_question)
    cost, acc = curve.points()
    return {
        cfg.cost_curve.method: summarise(
            cfg.cost_curve.method, cost, acc, reference=ref, oracle_area=oracle_area, c_max=c_max,
            budgets=curve.budgets,
        ),
        ORACLE: summarise(
            ORACLE, o_cost, o_acc, reference=ref, oracle_area=oracle_area, c_max=c_max, budgets=curve.budgets
        ),
    }  # fmt: skip


def _judge(cfg: BenchConfig, data_dir: Path | None, table: BenchTable, outcome: _Outcome) -> float | None:
    """Agreement of our scoring with the recordings' LLM judge (None when they carry no verdicts)."""
    if data_dir is None:
        return None
    verdicts = read_judge_verdicts(data_dir / cfg.recordings, _replay_pool(cfg, data_dir), table)
    overall = answer_agreement(table, verdicts)
    if overall is None:
        return None
    for name, tally in outcome.tallies.items():
        if name == ORACLE:
            continue
        share = final_agreement(table, verdicts, outcome.test_rows, tally.finals, tally.right)
        outcome.results[name] = outcome.results[name].model_copy(update={"judge_agreement": share})
    return overall


@contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """One BLAS thread while the bench runs: its matrices are small, and on a few shared cores a
    threaded BLAS made every kNN product and vote fit 10-20x slower (threads spinning on each other)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


def _expert_answers(
    cfg: BenchConfig, data: BenchData, engines: dict[str, Engine], on_progress: ProgressHook | None
) -> AnswerMatrix:
    """Every expert's answer to every profiling and test question, in one stage (one load per expert)."""
    both = list({i.id: i for i in (*data.profile, *data.test)}.values())
    return run_expert_stage(
        "experts",
        both,
        tuple(engines),
        engines,
        _requester(cfg.pool),
        answer_source=cfg.answer_source,
        on_progress=on_progress,
    )


def expert_answer_matrix(cfg: BenchConfig, data: BenchData, data_dir: Path | None) -> AnswerMatrix:
    """Every expert's answer to every question of ``data`` (the bench's expert stage; engines closed)."""
    engines = _pool_engines(cfg, data_dir)
    try:
        return _expert_answers(cfg, data, engines, None)
    finally:
        for engine in engines.values():
            engine.close()


def _replay_pool(cfg: BenchConfig, data_dir: Path | None) -> list[ExpertConfig]:
    """The pool with replay experts reading recordings from the data dir unless they say otherwise."""
    rec_dir = str(data_dir / cfg.recordings) if data_dir is not None else None
    return [
        e.model_copy(update={"recordings_dir": e.recordings_dir or rec_dir}) if e.engine == "replay" else e
        for e in cfg.pool
    ]


def _pool_engines(cfg: BenchConfig, data_dir: Path | None) -> dict[str, Engine]:
    """One engine per pool expert (``tiny:`` and ``zoo:`` model ids resolved to their local folders)."""
    return {e.name: build_engine(e) for e in resolve_local_model_configs(_replay_pool(cfg, data_dir))}


def _default_embedder(cfg: BenchConfig) -> Embedder:
    return Embedder(cache_dir=cfg.embedding_cache_dir) if cfg.embedding_cache_dir else Embedder()


def _embed_and_annotate(
    cfg: BenchConfig,
    embedder: Embedder | None,
    instances: list[Instance],
    progress: ProgressHook | None = None,
    label: str = "",
) -> tuple[np.ndarray, list[list[str]]]:
    """Question embeddings and skills (nearest vocabulary names); none without an embedder (baselines
    only need neither). ``progress`` gets (label, texts embedded, texts to embed)."""
    if embedder is None:
        return np.zeros((len(instances), 1)), [[] for _ in instances]
    texts = [i.question for i in instances]
    vocabulary = load_vocabulary(cfg.skills.vocabulary).skills
    annotator = EmbeddingSkillAnnotator(embedder, vocabulary, top_n=cfg.skills.top_n)
    on_progress = None if progress is None else (lambda done, total: progress(label, done, total))
    return embedder.embed(texts, on_progress=on_progress), annotator.annotate(texts)


def profiling_for_tuning(
    cfg: BenchConfig, data_dir: Path | None, *, embedder: Embedder | None = None
) -> tuple[ProfilingData, list[str]]:
    """The profiling split alone (every expert's answers, embeddings, skills) and its gold answers.

    This is all that cross-validation may see: no test question is loaded into it.
    """
    data = load_bench_data(cfg, data_dir)
    engines = _pool_engines(cfg, data_dir)
    try:
        prof = run_expert_stage(
            "profile",
            data.profile,
            tuple(engines),
            engines,
            _requester(cfg.pool),
            answer_source=cfg.answer_source,
        )
    finally:
        for engine in engines.values():
            engine.close()
    emb, skills = _embed_and_annotate(cfg, embedder or _default_embedder(cfg), prof.instances)
    table = BenchTable.build(prof, _replay_pool(cfg, data_dir), emb, skills)
    rows = table.rows(data.profile)
    return table.profiling(rows), table.gold(rows)
