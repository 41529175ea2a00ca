"""The benchmark: profile the pool, run every method on the same test questions, report.

Stages: load data -> expert stage (every expert answers every profiling and every test question, batched
per expert and loaded once per run; methods then read only the answers their recruits would have given,
and are charged only for those calls) -> embeddings -> skills -> routing and aggregation per method ->
report. Experts are replayed recordings (the MMLU-Pro benches) or live engines (the skill zoo demo);
with greedy decoding a live expert's answer does not depend on which method recruited it, so one stage
serves every method and the oracle.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np

from batching.config import ExpertConfig
from batching.engines.base import Engine
from batching.engines.registry import build_engine
from common.generation import GenRequest
from common.records import ExpertAnswer, FinalAnswer, Instance, MethodResult
from orchestrator.answers import is_correct
from orchestrator.bench.config import BenchConfig
from orchestrator.bench.data import BenchData, load_bench_data
from orchestrator.bench.evaluate import MethodOutcome, evaluate_method
from orchestrator.bench.rag import (
    RagInputs,
    RagOutcome,
    TwoBooks,
    evaluate_with_retrieval,
    retrieval_stats,
    run_two_books,
)
from orchestrator.bench.report import BenchReport
from orchestrator.bench.stages import AnswerMatrix, ProgressHook, run_expert_stage
from orchestrator.method import MethodConfig
from orchestrator.policies import ProfilingData, QueryBatch
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
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


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
) -> tuple[BenchReport, list[FinalAnswer]]:
    """Run a whole replay benchmark.

    Args:
        cfg: the bench config.
        data_dir: the folder holding the recordings and split files.
        embedder: the question embedder (a cached all-MiniLM-L6-v2 when omitted).
        progress: given a stage name, returns a per-expert progress callback.

    Returns:
        The report and the per-instance traces of the configured (non-baseline) methods.
    """
    timer = _Timer()
    with timer.stage("load data"):
        data = load_bench_data(cfg, data_dir)
        engines = _pool_engines(cfg, data_dir)
    stage_hook: Callable[[str], ProgressHook | None] = progress or (lambda _stage: None)
    books: TwoBooks | None = None
    try:
        with timer.stage("expert stage"):
            if cfg.uses_retrieval:
                embedder = embedder or _default_embedder(cfg)
                books = _two_books(cfg, data, engines, embedder, stage_hook("experts"))
                prof, test = books.closed.subset(data.profile), books.closed.subset(data.test)
            else:
                prof, test = _expert_answers(cfg, data, engines, stage_hook("experts"))
    finally:
        for engine in engines.values():
            engine.close()
    if cfg.methods:  # the baselines need neither embeddings nor skills
        embedder = embedder or _default_embedder(cfg)
        bar = stage_hook("embeddings")  # the slowest stage of a cold bench: a bar per split
        with timer.stage("embeddings + skills"):
            emb_prof, skills_prof = _embed_and_annotate(cfg, embedder, data.profile, bar, "profile split")
            emb_test, skills_test = _embed_and_annotate(cfg, embedder, data.test, bar, "test split")
    else:
        emb_prof, emb_test = np.zeros((len(data.profile), 1)), np.zeros((len(data.test), 1))
        skills_prof, skills_test = [[] for _ in data.profile], [[] for _ in data.test]
    with timer.stage("routing + aggregation"):
        profiling = _profiling_data(prof, emb_prof, skills_prof)
        gold_prof = [i.gold or "" for i in data.profile]
        results: dict[str, MethodResult] = {}
        traces: list[FinalAnswer] = []
        rag = None
        if books is not None:
            assert cfg.retrieval is not None  # the config checks it
            opened = _profiling_data(books.opened.subset(data.profile), emb_prof, skills_prof)
            rag = RagInputs(cfg.retrieval, profiling, opened, gold_prof, data.profile, data.test, emb_test,
                            skills_test, books)  # fmt: skip
        for method in [*baseline_methods(cfg), *cfg.methods]:
            if method.retrieval is not None and rag is not None:
                outcome: MethodOutcome = evaluate_with_retrieval(method, rag, seed=cfg.seed)
            else:
                outcome = _run_method(
                    method, cfg, profiling, data.profile, gold_prof, data.test, emb_test, skills_test, test
                )
            results[method.name] = _score(method, outcome, data.test)
            if method in cfg.methods:
                traces.extend(_traces(method, outcome, data.test))
        results[ORACLE] = _oracle(test, data.test, books.opened.subset(data.test) if books else None)
    agree, with_text = test.extractor_agreement() if cfg.answer_source == "recorded" else (0, 0)
    report = BenchReport.build(
        cfg=cfg,
        data=data,
        methods=results,
        engines=engines,
        stage_seconds=timer.seconds,
        embeddings_computed=embedder.computed if embedder is not None else 0,
        missing_recordings=prof.missing + test.missing,
        extractor_agreement=agree / with_text if with_text else None,
        note=REPLAY_NOTE if all(e.engine == "replay" for e in cfg.pool) else LIVE_NOTE,
    )
    return report, traces


def _expert_answers(
    cfg: BenchConfig, data: BenchData, engines: dict[str, Engine], on_progress: ProgressHook | None
) -> tuple[AnswerMatrix, AnswerMatrix]:
    """Every expert's answer to every profiling and test question, in one stage (one load per expert)."""
    both = list({i.id: i for i in (*data.profile, *data.test)}.values())
    matrix = run_expert_stage(
        "experts",
        both,
        tuple(engines),
        engines,
        _requester(cfg.pool),
        answer_source=cfg.answer_source,
        on_progress=on_progress,
    )
    return matrix.subset(data.profile), matrix.subset(data.test)


def _two_books(
    cfg: BenchConfig,
    data: BenchData,
    engines: dict[str, Engine],
    embedder: Embedder,
    hook: ProgressHook | None,
) -> TwoBooks:
    """Every expert's answer to every question closed- and open-book (:mod:`orchestrator.bench.rag`)."""
    assert cfg.retrieval is not None  # BenchConfig checks it
    both = list({i.id: i for i in (*data.profile, *data.test)}.values())
    sampling = {e.name: e.sampling.params() for e in cfg.pool}
    return run_two_books(
        both, engines, sampling, cfg.retrieval, embedder, answer_source=cfg.answer_source, on_progress=hook
    )


def _pool_engines(cfg: BenchConfig, data_dir: Path | None) -> dict[str, Engine]:
    """One engine per pool expert; replay experts read recordings from the data dir unless they say.

    ``tiny:`` and ``zoo:`` model ids are resolved to their local folders.
    """
    rec_dir = str(data_dir / cfg.recordings) if data_dir is not None else None
    pool = [
        e.model_copy(update={"recordings_dir": e.recordings_dir or rec_dir}) if e.engine == "replay" else e
        for e in resolve_local_model_configs(cfg.pool)
    ]
    return {e.name: build_engine(e) for e in pool}


def _default_embedder(cfg: BenchConfig) -> Embedder:
    return Embedder(cache_dir=cfg.embedding_cache_dir) if cfg.embedding_cache_dir else Embedder()


def _embed_and_annotate(
    cfg: BenchConfig,
    embedder: Embedder,
    instances: list[Instance],
    progress: ProgressHook | None = None,
    label: str = "",
) -> tuple[np.ndarray, list[list[str]]]:
    """Question embeddings and skills (nearest vocabulary names) for a list of instances; ``progress``
    gets (label, texts embedded, texts to embed)."""
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
    emb, skills = _embed_and_annotate(cfg, embedder or _default_embedder(cfg), data.profile)
    return _profiling_data(prof, emb, skills), [i.gold or "" for i in data.profile]


def _profiling_data(matrix: AnswerMatrix, emb: np.ndarray, skills: list[list[str]]) -> ProfilingData:
    return ProfilingData(
        experts=matrix.experts,
        embeddings=emb,
        skills=skills,
        correct=np.array(matrix.correct_rows(), dtype=bool).reshape(
            len(matrix.instances), len(matrix.experts)
        ),
        answers=matrix.answer_rows(),
        n_options=np.array([_n_options(i) for i in matrix.instances]),
    )


def _n_options(inst: Instance) -> int:
    return inst.answer_format.n_options if inst.answer_format.kind == "multiple_choice" else 0


def _with_category(skills: list[list[str]], instances: list[Instance]) -> list[list[str]]:
    return [
        [*s, f"category:{i.category}"] if i.category else list(s)
        for s, i in zip(skills, instances, strict=True)
    ]


def _run_method(
    method: MethodConfig,
    cfg: BenchConfig,
    profiling: ProfilingData,
    profile_instances: list[Instance],
    gold_prof: list[str],
    test_instances: list[Instance],
    emb_test: np.ndarray,
    skills_test: list[list[str]],
    test: AnswerMatrix,
) -> MethodOutcome:
    if method.use_category:
        profiling = replace(profiling, skills=_with_category(profiling.skills, profile_instances))
    queries = QueryBatch(
        ids=[i.id for i in test_instances],
        embeddings=emb_test,
        skills=_with_category(skills_test, test_instances) if method.use_category else skills_test,
        n_options=np.array([_n_options(i) for i in test_instances]),
    )

    def fetch(pairs: list[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
        return {p: test.answers.get(p) for p in pairs}

    return evaluate_method(method, profiling, gold_prof, queries, fetch, seed=cfg.seed)


def _score(method: MethodConfig, outcome: MethodOutcome, instances: list[Instance]) -> MethodResult:
    ok = [is_correct(a, i.gold, i.answer_format) for a, i in zip(outcome.final, instances, strict=True)]
    rag = isinstance(outcome, RagOutcome)
    calls = outcome.calls
    if rag:  # a second pass calls the first pass's experts too
        calls = [c + len(t.first_pass_experts) for c, t in zip(calls, outcome.traces, strict=True)]
    return MethodResult(
        accuracy=100.0 * sum(ok) / max(len(ok), 1),
        calls_per_question=float(np.mean(calls)) if calls else 0.0,
        n=len(ok),
        correct=sum(ok),
        per_category=_per_category(ok, instances),
        description=method.description or f"{method.policy} k={method.k}, {method.aggregation}",
        retrieval_rate=float(np.mean([t.retrieved for t in outcome.traces])) if rag else None,
        retrieval_stats=retrieval_stats(outcome, instances) if rag else {},
    )


def _per_category(ok: list[bool], instances: list[Instance]) -> dict[str, float]:
    tally: dict[str, list[int]] = {}
    for good, inst in zip(ok, instances, strict=True):
        t = tally.setdefault(inst.category or "all", [0, 0])
        t[0] += int(good)
        t[1] += 1
    return {c: 100.0 * a / b for c, (a, b) in sorted(tally.items())}


def _oracle(
    test: AnswerMatrix, instances: list[Instance], opened: AnswerMatrix | None = None
) -> MethodResult:
    rows = test.correct_rows()
    ok = [any(r) for r in rows]
    if opened is not None:
        ok = [a or any(r) for a, r in zip(ok, opened.correct_rows(), strict=True)]
    return MethodResult(
        accuracy=100.0 * sum(ok) / max(len(ok), 1),
        calls_per_question=float(len(test.experts)) * (2 if opened is not None else 1),
        n=len(ok),
        correct=sum(ok),
        per_category=_per_category(ok, instances),
        description="any expert right"
        + (", closed- or open-book" if opened is not None else "")
        + " (upper bound)",
    )


def _traces(method: MethodConfig, outcome: MethodOutcome, instances: list[Instance]) -> list[FinalAnswer]:
    out = []
    rag = outcome.traces if isinstance(outcome, RagOutcome) else [None] * len(instances)
    for d, answers, decided, inst, trace in zip(
        outcome.decisions, outcome.expert_answers, outcome.decided, instances, rag, strict=True
    ):
        out.append(
            FinalAnswer(
                instance_id=inst.id,
                answer=decided.answer,
                correct=is_correct(decided.answer, inst.gold, inst.answer_format),
                method=method.name,
                aggregation=decided.how,
                routing=d,
                expert_answers=[
                    ExpertAnswer(instance_id=inst.id, expert=e, answer=a) for e, a in answers.items()
                ],
                retrieval=trace,
            )
        )
    return out
