"""Live runs: annotate, recruit, run the expert stage batched per model, aggregate, and report.

Every model is loaded once per run: stages are ordered so that the keyword annotator, when it is also an
expert, answers first in the expert stage while still resident, and the aggregator, when it is also an
expert, answers last and stays resident for the aggregation stage.

With ``memory_budget_gib`` in the pool config, models are acquired through a
:class:`~batching.residency.ResidencyManager`: models that fit the budget together stay resident across
stages (LRU eviction when the next one does not fit), and while one expert generates the next one's
weights are prefetched into the page cache. Without it each model is released after its batch.

Every engine is wrapped in a :class:`~batching.journal.store.JournalEngine`: each generation is journaled in
the run store as it completes and a generation already in the store is never computed again (resume).
The expert stage runs locally (:func:`~batching.executor.run_plan`) or, with a Ray backend, on worker
actors with streaming aggregation (:meth:`LiveRun.answer_streaming`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from batching.engines.registry import build_engine
from batching.executor import run_plan
from batching.journal.engine import Journal, JournalEngine, with_request_id
from batching.journal.store import RunStore, new_run_id
from batching.planner import plan_stage
from batching.residency import ResidencyManager
from common.errors import ConfigError
from common.generation import GenRequest, GenResult, SamplingParams
from common.records import ExpertAnswer, FinalAnswer, Instance, RoutingDecision
from orchestrator.aggregation.llm import build_aggregator_prompt
from orchestrator.aggregation.reliability import logodds_weight
from orchestrator.aggregation.vote import Ballot, consensus, majority_vote, weighted_vote
from orchestrator.answers import extract_answer, is_correct
from orchestrator.policies import ProfilingData, QueryBatch
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
Pair = tuple[str, str]  # (instance_id, expert)
DecidedAnswer = tuple[str | None, str, bool, str | None]  # (answer, aggregation, aggregator_called, text)


def sampling_of(cfg: object) -> SamplingParams:
    """Per-request sampling from a config's ``SamplingConfig``."""
    s = cfg.sampling  # type: ignore[attr-defined]
    return SamplingParams(s.temperature, s.top_p, s.max_tokens, s.seed, tuple(s.stop))


@dataclass
class LiveRun:
    """One live run over a pool: owns the engines (one per model), the journal and the stage timings.

    Args:
        pool: the pool config (tiny models already resolved).
        embedder: the sentence embedder (built on first use when needed).
        progress: called with (stage, model, done, total) as batches complete.
        journal: the run's journal in the store; a throwaway in-memory store when None.
        backend: a :class:`~orchestrator.ray.backend.RayBackend` to run the models on Ray actors, or None
            to run them in this process.
    """

    pool: PoolConfig
    embedder: Embedder | None = None
    progress: ProgressHook | None = None
    journal: Journal = field(default_factory=lambda: Journal(RunStore(":memory:"), new_run_id()))
    backend: Any = None
    engines: dict[str, JournalEngine] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        make = self.backend.engine if self.backend is not None else build_engine
        self.engines = {m.name: JournalEngine(make(m), self.journal) for m in self.pool.models}
        self.configs = {m.name: m for m in self.pool.models}
        self.experts = [e.name for e in self.pool.experts]
        budget = self.pool.memory_budget_gib
        self.residency = ResidencyManager(budget) if budget and self.backend is None else None

    def _acquire(self, name: str) -> None:
        """Load ``name`` now: through the residency manager when the pool has a memory budget."""
        if self.residency is not None:
            self.residency.acquire(name, self.engines[name])

    @contextmanager
    def _stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        self.journal.stage = name
        if self.backend is not None:
            self.backend.stage = name
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
            self._acquire(ann.annotator)
            sampling = SamplingParams(temperature=0.7, max_tokens=ann.max_tokens, seed=self.pool.seed)
            llm = LLMKeywordAnnotator(
                engine, n_samples=ann.n_samples, min_count=ann.min_count, sampling=sampling
            )
            result = llm.annotate_with_stats(texts)
            if self.progress is not None:
                self.progress("annotate", ann.annotator, len(texts), len(texts))
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
            policy = self.pool.build_policy()
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
    def expert_requests(
        self, instances: Sequence[Instance], decisions: Sequence[RoutingDecision]
    ) -> dict[Pair, GenRequest]:
        """The request of every recruited (instance, expert) pair (request id ``<instance>:<expert>``)."""
        by_id = {i.id: i for i in instances}
        out: dict[Pair, GenRequest] = {}
        for d in decisions:
            prompt = expert_prompt(by_id[d.instance_id])
            for e in dict.fromkeys(d.experts):
                sampling = sampling_of(self.configs[e])
                out[(d.instance_id, e)] = GenRequest(
                    f"{d.instance_id}:{e}", prompt, (("user", prompt),), sampling, d.instance_id
                )
        return out

    def journaled(self, requests: dict[Pair, GenRequest]) -> tuple[dict[Pair, GenResult], dict[Pair, str]]:
        """The pairs already in the store (an earlier attempt, or the cache) and every pair's prompt hash."""
        keys = {pair: self.engines[pair[1]].key(req) for pair, req in requests.items()}
        found = self.journal.lookup(list(keys.values()))
        known = {p: with_request_id(found[k], requests[p].request_id) for p, k in keys.items() if k in found}
        return known, keys

    def load_order(self) -> tuple[str | None, str | None, list[str]]:
        """(first, last, load order): the annotator answers first, the LLM aggregator last."""
        first = self.pool.annotation.annotator if self.pool.annotation.annotator in self.experts else None
        agg = self.pool.aggregator if self.pool.aggregation == "llm" else None
        last = agg if agg in self.experts else None
        middle = [e for e in self.experts if e not in (first, last)]
        return first, last, [x for x in (first,) if x] + middle + [x for x in (last,) if x]

    def expert_stage(
        self, instances: Sequence[Instance], decisions: Sequence[RoutingDecision]
    ) -> dict[Pair, GenResult]:
        """Every recruited (question, expert) pair, batched per expert; each expert loads once.

        Pairs already journaled in the store are read back; only the others are generated.
        """
        if self.backend is not None:
            return self.answer_streaming(instances, decisions, None, aggregate=False)[0]
        requests = self.expert_requests(instances, decisions)
        with self._stage("experts"):
            results, _ = self.journaled(requests)
            todo = [
                (d.instance_id, [e for e in d.experts if (d.instance_id, e) not in results])
                for d in decisions
            ]
            plan = plan_stage("experts", todo, load_order=self.load_order()[2])
            keep = frozenset(x for x in (self.pool.aggregator,) if x and self.pool.aggregation == "llm")
            if self.residency is None:
                # the annotator may still be resident from annotation; release every other model first
                for name, engine in self.engines.items():
                    if name not in plan.experts[:1]:
                        engine.unload()
            done = run_plan(
                plan,
                self.engines,
                lambda iid, expert: requests[(iid, expert)],
                batch_size=self.pool.batch_size,
                keep_loaded=keep,
                on_progress=self._hook("experts"),
                residency=self.residency,
            )
        if self.residency is not None:
            self.counts["residency_evictions"] = self.residency.evictions
        results.update(done.results)
        return results

    def answer_streaming(
        self,
        instances: Sequence[Instance],
        decisions: Sequence[RoutingDecision],
        profiling: ProfilingData | None,
        *,
        aggregate: bool = True,
    ) -> tuple[dict[Pair, GenResult], list[FinalAnswer]]:
        """Ray backend: experts and aggregation as one stream (see :mod:`orchestrator.streaming`).

        Batches are journaled as they arrive; an instance is aggregated as soon as all its experts
        answered (a vote at once, or a request to the LLM aggregator that joins the same stream).
        """
        from orchestrator.streaming import StreamingStage

        with self._stage("experts"):
            stage = StreamingStage(self, instances, decisions, profiling, aggregate=aggregate)
            results, finals = stage.run()
        return results, (self._finish(instances, decisions, results, finals) if aggregate else [])

    # -- stage 4: aggregation --------------------------------------------------------------------
    def decide(
        self, inst: Instance, d: RoutingDecision, results: dict[Pair, GenResult], acc: dict[str, float]
    ) -> tuple[DecidedAnswer | None, GenRequest | None]:
        """An instance's final answer from its experts (consensus, vote), or the LLM aggregator's request.

        Returns:
            ``(final, None)`` when decided here, ``(None, request)`` when the LLM aggregator must answer.
        """
        experts = list(dict.fromkeys(d.experts))
        ballots = [Ballot(e, _answer(results[(inst.id, e)], inst)) for e in experts]
        agreed = consensus(ballots) if self.pool.consensus_skip else None
        if agreed is not None:
            return (agreed, "consensus", False, None), None
        if self.pool.aggregation == "llm":
            texts = [results[(inst.id, e)].text or "" for e in experts]
            prompt = build_aggregator_prompt(
                inst.prompt_text(),
                texts,
                inst.answer_format,
                max_chars_per_response=self.pool.aggregator_max_chars_per_response,
            )
            s = self.pool.aggregator_sampling
            sampling = SamplingParams(s.temperature, s.top_p, s.max_tokens, s.seed, tuple(s.stop))
            return None, GenRequest(f"aggregate:{inst.id}", prompt, (("user", prompt),), sampling, inst.id)
        if self.pool.aggregation == "weighted":
            w = logodds_weight(np.array([acc[b.expert] for b in ballots]), _n_opts(inst))
            weighted = [Ballot(b.expert, b.answer, float(x)) for b, x in zip(ballots, w, strict=True)]
            return (weighted_vote(weighted), "weighted", False, None), None
        return (majority_vote(ballots), "majority", False, None), None

    def llm_final(
        self, inst: Instance, d: RoutingDecision, results: dict[Pair, GenResult], res: GenResult
    ) -> DecidedAnswer:
        """The final answer from the LLM aggregator's reply (the experts' vote when it is unparsable)."""
        answer = extract_answer(res.text, inst.answer_format) if res.text else None
        if answer is None:  # unparsable aggregator output: fall back to the experts' vote
            answer = majority_vote([Ballot(e, _answer(results[(inst.id, e)], inst)) for e in d.experts])
            self.counts["aggregator_fallbacks"] = self.counts.get("aggregator_fallbacks", 0) + 1
        return (answer, "llm", True, res.text)

    def aggregate(
        self,
        instances: Sequence[Instance],
        decisions: Sequence[RoutingDecision],
        results: dict[Pair, GenResult],
        profiling: ProfilingData | None,
    ) -> list[FinalAnswer]:
        """Consensus skip, then the LLM aggregator (one batch) or a vote, per the pool config."""
        acc = global_accuracy(profiling, self.experts)
        finals: dict[str, DecidedAnswer] = {}
        llm: list[tuple[Instance, RoutingDecision, GenRequest]] = []
        with self._stage("aggregate"):
            for inst, d in zip(instances, decisions, strict=True):
                final, req = self.decide(inst, d, results, acc)
                if final is not None:
                    finals[inst.id] = final
                elif req is not None:
                    llm.append((inst, d, req))
            if llm:
                assert self.pool.aggregator is not None
                self._acquire(self.pool.aggregator)
                out = self.engines[self.pool.aggregator].generate([r for _, _, r in llm])
                for (inst, d, _), res in zip(llm, out, strict=True):
                    finals[inst.id] = self.llm_final(inst, d, results, res)
                if self.progress is not None:
                    self.progress("aggregate", self.pool.aggregator, len(llm), len(llm))
                logger.info(
                    "aggregator %s: %d instances, %d fallbacks",
                    self.pool.aggregator,
                    len(llm),
                    self.counts.get("aggregator_fallbacks", 0),
                )
        return self._finish(instances, decisions, results, finals)

    def _finish(
        self,
        instances: Sequence[Instance],
        decisions: Sequence[RoutingDecision],
        results: dict[Pair, GenResult],
        finals: dict[str, DecidedAnswer],
    ) -> list[FinalAnswer]:
        if self.pool.aggregation == "llm":
            self.counts.setdefault("aggregator_fallbacks", 0)
        self.counts["aggregator_calls"] = sum(1 for f in finals.values() if f[2])
        self.counts["consensus_skips"] = sum(1 for f in finals.values() if f[1] == "consensus")
        out = []
        for inst, d in zip(instances, decisions, strict=True):
            answer, how, called, text = finals[inst.id]
            experts = list(dict.fromkeys(d.experts))
            out.append(
                FinalAnswer(
                    instance_id=inst.id,
                    answer=answer,
                    correct=is_correct(answer, inst.gold, inst.answer_format) if inst.gold else None,
                    method=self.pool.policy,
                    aggregation=how,
                    aggregator_called=called,
                    routing=d,
                    text=text,
                    expert_answers=[_expert_answer(inst, e, results[(inst.id, e)]) for e in experts],
                )
            )
        return out

    def close(self) -> None:
        if self.residency is not None:
            self.residency.release_all()
        for engine in self.engines.values():
            engine.close()


def _answer(result: GenResult, inst: Instance) -> str | None:
    return extract_answer(result.text, inst.answer_format) if result.text else None


def _expert_answer(inst: Instance, expert: str, r: GenResult) -> ExpertAnswer:
    return ExpertAnswer(
        instance_id=inst.id,
        expert=expert,
        text=r.text,
        answer=_answer(r, inst),
        missing=r.missing,
        prompt_tokens=r.prompt_tokens,
        generated_tokens=r.generated_tokens,
    )


def _n_opts(inst: Instance) -> int:
    return inst.answer_format.n_options if inst.answer_format.kind == "multiple_choice" else 0


def _empty_profiling(experts: list[str]) -> ProfilingData:
    m = len(experts)
    return ProfilingData(
        tuple(experts), np.zeros((1, 1)), [[]], np.zeros((1, m), dtype=bool), [[None] * m], np.zeros(1)
    )


def global_accuracy(profiling: ProfilingData | None, experts: list[str]) -> dict[str, float]:
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
