"""Live runs: annotate, recruit, run the expert stage batched per model, aggregate, and report.

Every model is loaded once per run: stages are ordered so that the keyword annotator, when it is also an
expert, answers first in the expert stage while still resident, and the aggregator, when it is also an
expert, answers last and stays resident for the aggregation stage.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from batching.engines.base import Engine, GenRequest, GenResult, SamplingParams
from batching.engines.registry import build_engine
from batching.executor import run_plan
from batching.planner import plan_stage
from common.errors import ConfigError
from common.records import ExpertAnswer, FinalAnswer, Instance, RoutingDecision
from orchestrator.aggregation.llm import aggregate_with_llm
from orchestrator.aggregation.reliability import logodds_weight
from orchestrator.aggregation.vote import Ballot, consensus, majority_vote, weighted_vote
from orchestrator.answers import extract_answer, is_correct
from orchestrator.policies import ProfilingData, QueryBatch, RoutingPolicy, policy_registry
from orchestrator.pool import PoolConfig
from orchestrator.profiling import ProfilingRecord
from orchestrator.prompts import expert_prompt
from skills.annotator import LLMKeywordAnnotator
from skills.embedding import Embedder
from skills.keyword_map import KeywordMapper
from skills.similarity_annotator import EmbeddingSkillAnnotator
from skills.vocabulary import load_vocabulary

logger = logging.getLogger(__name__)

ProgressHook = Callable[[str, str, int, int], None]  # (stage, model, done, total)


def sampling_of(cfg: object) -> SamplingParams:
    """Per-request sampling from a config's ``SamplingConfig``."""
    s = cfg.sampling  # type: ignore[attr-defined]
    return SamplingParams(s.temperature, s.top_p, s.max_tokens, s.seed, tuple(s.stop))


@dataclass
class LiveRun:
    """One live run over a pool: owns the engines (one per model) and the stage timings."""

    pool: PoolConfig
    embedder: Embedder | None = None
    progress: ProgressHook | None = None
    engines: dict[str, Engine] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.engines = {m.name: build_engine(m) for m in self.pool.models}
        self.configs = {m.name: m for m in self.pool.models}
        self.experts = [e.name for e in self.pool.experts]

    @contextmanager
    def _stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.stage_seconds[name] = self.stage_seconds.get(name, 0.0) + time.perf_counter() - start

    def _hook(self, stage: str) -> Callable[[str, int, int], None] | None:
        if self.progress is None:
            return None
        hook = self.progress
        return lambda model, done, total: hook(stage, model, done, total)

    def _embedder(self) -> Embedder:
        if self.embedder is None:
            self.embedder = Embedder()
        return self.embedder

    # -- stage 1: skills -------------------------------------------------------------------------
    def annotate(self, instances: Sequence[Instance], vocabulary: Sequence[str] | None) -> list[list[str]]:
        """Skills per question: LLM keywords mapped onto ``vocabulary``, or nearest vocabulary skills."""
        ann = self.pool.annotation
        texts = [i.prompt_text() for i in instances]
        with self._stage("annotate"):
            if ann.annotator == "embedding":
                vocab = list(vocabulary) if vocabulary else load_vocabulary(ann.vocabulary).skills
                return EmbeddingSkillAnnotator(self._embedder(), vocab, top_n=ann.top_n).annotate(
                    [i.question for i in instances]
                )
            engine = self.engines[ann.annotator]
            sampling = SamplingParams(temperature=0.7, max_tokens=ann.max_tokens, seed=self.pool.seed)
            llm = LLMKeywordAnnotator(
                engine, n_samples=ann.n_samples, min_count=ann.min_count, sampling=sampling
            )
            result = llm.annotate_with_stats(texts)
            self.counts["annotation_parse_failures"] = int(sum(result.parse_failures))
            keywords = result.keywords
            if vocabulary:
                keywords = KeywordMapper(self._embedder(), list(vocabulary)).map_many(keywords)
            return keywords

    # -- stage 2: recruitment --------------------------------------------------------------------
    def recruit(
        self, instances: Sequence[Instance], skills: list[list[str]], profiling: ProfilingData | None
    ) -> list[RoutingDecision]:
        """Route every question with the pool's policy (fitted on the profiling record when given)."""
        with self._stage("recruit"):
            policy: RoutingPolicy = policy_registry.get(self.pool.policy)(k=self.pool.k)
            if profiling is None:
                if self.pool.policy not in ("random_k", "global_top_k"):
                    raise ConfigError(
                        f"policy {self.pool.policy!r} needs expert profiles: set `profiles:` in the pool "
                        "config (build one with `symoe profile`) or use policy random_k / global_top_k"
                    )
                profiling = _empty_profiling(self.experts)
            policy.fit(profiling)
            needs_emb = self.pool.policy == "knn_top_k"
            emb = (
                self._embedder().embed([i.question for i in instances])
                if needs_emb
                else np.zeros((len(instances), 1))
            )
            queries = QueryBatch(
                [i.id for i in instances], emb, skills, np.array([_n_opts(i) for i in instances])
            )
            return policy.recruit(queries, seed=self.pool.seed)

    # -- stage 3: experts ------------------------------------------------------------------------
    def expert_stage(
        self, instances: Sequence[Instance], decisions: Sequence[RoutingDecision]
    ) -> dict[tuple[str, str], GenResult]:
        """Every recruited (question, expert) pair, batched per expert; each expert loads once."""
        by_id = {i.id: i for i in instances}
        first = [self.pool.annotation.annotator] if self.pool.annotation.annotator in self.experts else []
        last = [self.pool.aggregator] if self.pool.aggregator in self.experts else []
        order = first + [e for e in self.experts if e not in first and e not in last] + last
        plan = plan_stage("experts", [(d.instance_id, d.experts) for d in decisions], load_order=order)
        keep = frozenset(x for x in (self.pool.aggregator,) if x and self.pool.aggregation == "llm")

        def request(iid: str, expert: str) -> GenRequest:
            prompt = expert_prompt(by_id[iid])
            return GenRequest(
                f"{iid}:{expert}", prompt, (("user", prompt),), sampling_of(self.configs[expert]), iid
            )

        with self._stage("experts"):
            # the annotator may still be resident from annotation; release every other model first
            for name, engine in self.engines.items():
                if name not in plan.experts[:1]:
                    engine.unload()
            done = run_plan(
                plan,
                self.engines,
                request,
                batch_size=self.pool.batch_size,
                keep_loaded=keep,
                on_progress=self._hook("experts"),
            )
        return done.results

    # -- stage 4: aggregation --------------------------------------------------------------------
    def aggregate(
        self,
        instances: Sequence[Instance],
        decisions: Sequence[RoutingDecision],
        results: dict[tuple[str, str], GenResult],
        profiling: ProfilingData | None,
    ) -> list[FinalAnswer]:
        """Consensus skip, then the LLM aggregator (one batch) or a vote, per the pool config."""
        answers = {
            k: (extract_answer(r.text, _fmt(instances, k[0])) if r.text else None) for k, r in results.items()
        }
        acc = _global_accuracy(profiling, self.experts)
        finals: dict[str, tuple[str | None, str, bool, str | None]] = {}
        need_llm: dict[str, tuple[str, list[str], object]] = {}
        with self._stage("aggregate"):
            for inst, d in zip(instances, decisions, strict=True):
                ballots = [Ballot(e, answers.get((inst.id, e))) for e in dict.fromkeys(d.experts)]
                agreed = consensus(ballots) if self.pool.consensus_skip else None
                if agreed is not None:
                    finals[inst.id] = (agreed, "consensus", False, None)
                elif self.pool.aggregation == "llm":
                    texts = [results[(inst.id, e)].text or "" for e in dict.fromkeys(d.experts)]
                    need_llm[inst.id] = (inst.prompt_text(), texts, inst.answer_format)
                elif self.pool.aggregation == "weighted":
                    w = logodds_weight(np.array([acc[e] for e in (b.expert for b in ballots)]), _n_opts(inst))
                    weighted = [Ballot(b.expert, b.answer, float(x)) for b, x in zip(ballots, w, strict=True)]
                    finals[inst.id] = (weighted_vote(weighted), "weighted", False, None)
                else:
                    finals[inst.id] = (majority_vote(ballots), "majority", False, None)
            if need_llm:
                assert self.pool.aggregator is not None
                agg = self.configs[self.pool.aggregator]
                s = self.pool.aggregator_sampling
                out = aggregate_with_llm(
                    self.engines[self.pool.aggregator],
                    need_llm,  # type: ignore[arg-type]
                    SamplingParams(s.temperature, s.top_p, s.max_tokens, s.seed, tuple(s.stop)),
                    max_chars_per_response=self.pool.aggregator_max_chars_per_response,
                )
                fallbacks = 0
                for iid, (answer, text) in out.items():
                    if answer is None:  # unparsable aggregator output: fall back to the experts' vote
                        d = next(x for x in decisions if x.instance_id == iid)
                        answer = majority_vote([Ballot(e, answers.get((iid, e))) for e in d.experts])
                        fallbacks += 1
                    finals[iid] = (answer, "llm", True, text)
                self.counts["aggregator_fallbacks"] = fallbacks
                logger.info("aggregator %s: %d instances, %d fallbacks", agg.name, len(out), fallbacks)
        self.counts["aggregator_calls"] = len(need_llm)
        self.counts["consensus_skips"] = sum(1 for v in finals.values() if v[1] == "consensus")
        return [
            FinalAnswer(
                instance_id=inst.id,
                answer=finals[inst.id][0],
                correct=is_correct(finals[inst.id][0], inst.gold, inst.answer_format) if inst.gold else None,
                method=self.pool.policy,
                aggregation=finals[inst.id][1],
                aggregator_called=finals[inst.id][2],
                routing=d,
                text=finals[inst.id][3],
                expert_answers=[
                    ExpertAnswer(
                        instance_id=inst.id,
                        expert=e,
                        text=results[(inst.id, e)].text,
                        answer=answers.get((inst.id, e)),
                        missing=results[(inst.id, e)].missing,
                        prompt_tokens=results[(inst.id, e)].prompt_tokens,
                        generated_tokens=results[(inst.id, e)].generated_tokens,
                    )
                    for e in dict.fromkeys(d.experts)
                ],
            )
            for inst, d in zip(instances, decisions, strict=True)
        ]

    def close(self) -> None:
        for engine in self.engines.values():
            engine.close()


def _fmt(instances: Sequence[Instance], iid: str):  # type: ignore[no-untyped-def]
    return next(i.answer_format for i in instances if i.id == iid)


def _n_opts(inst: Instance) -> int:
    return inst.answer_format.n_options if inst.answer_format.kind == "multiple_choice" else 0


def _empty_profiling(experts: list[str]) -> ProfilingData:
    m = len(experts)
    return ProfilingData(
        tuple(experts), np.zeros((1, 1)), [[]], np.zeros((1, m), dtype=bool), [[None] * m], np.zeros(1)
    )


def _global_accuracy(profiling: ProfilingData | None, experts: list[str]) -> dict[str, float]:
    if profiling is None:
        return {e: 0.5 for e in experts}
    return dict(zip(profiling.experts, profiling.global_accuracy.tolist(), strict=True))


def load_profiling(
    pool: PoolConfig, embedder: Embedder | None
) -> tuple[ProfilingData | None, list[str] | None]:
    """The pool's profiling data and its skill vocabulary (None, None without a record)."""
    if not pool.profiles:
        return None, None
    record = ProfilingRecord.load(pool.profiles)
    emb = embedder if pool.policy == "knn_top_k" else None
    data = record.to_profiling_data(emb, [e.name for e in pool.experts])
    vocab = sorted({s for row in record.skills for s in row})
    return data, vocab
