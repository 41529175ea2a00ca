"""One run's pass through the pipeline: its questions, what each stage produced, its journal and timings.

Stages read and write a :class:`Job`: annotation fills ``skills``, recruitment ``decisions`` (and
``embeddings`` when the method needs them), retrieval ``passages``, the expert stage ``results`` and
aggregation ``decided``. :meth:`Job.finals` turns that into the answers with their routing traces.

Every engine a job uses is its session's engine wrapped in a :class:`~batching.journal.engine.
JournalEngine` on the job's journal, so each generation is journaled as it completes and one already
in the store is never computed again (resume, cache).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import KW_ONLY, dataclass, field, replace

import numpy as np

from batching.engines.base import EngineCounters
from batching.journal.engine import Journal, JournalEngine
from common.generation import CONTEXT_LENGTH_EXCEEDED, GenResult, is_context_length_error
from common.records import (
    ExpertAnswer,
    FinalAnswer,
    Instance,
    Pair,
    Passage,
    RetrievalTrace,
    RoutingDecision,
    vote_options,
)
from orchestrator.aggregation.decide import Decided, Decider, Question
from orchestrator.answers import extract_answer, is_correct
from orchestrator.pipeline.session import FittedMethod, Session
from orchestrator.policies import QueryBatch
from orchestrator.policies.base import instance_metadata
from orchestrator.rag.state import RagState

ProgressHook = Callable[[str, str, int, int], None]  # (stage, model, done, total)


@dataclass
class Job:
    """The state of one run through the pipeline.

    Args:
        session: the pool's session (engines, residency, fitted method).
        instances: the questions.
        journal: the run's journal in the run store.
        progress: called with (stage, model, done, total) as batches complete.

    The session, questions and journal are positional; every other field is keyword-only.
    """

    session: Session
    instances: list[Instance]
    journal: Journal
    _: KW_ONLY
    progress: ProgressHook | None = None
    skills: list[list[str]] = field(default_factory=list)
    keywords: list[list[str]] = field(default_factory=list)
    embeddings: np.ndarray | None = None
    decisions: list[RoutingDecision] = field(default_factory=list)
    passages: dict[str, list[Passage]] = field(default_factory=dict)
    results: dict[Pair, GenResult] = field(default_factory=dict)
    decided: dict[str, Decided] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    rag: RagState | None = None
    """The retrieval state (:class:`~orchestrator.rag.state.RagState`), once retrieval runs."""

    def __post_init__(self) -> None:
        self.engines = {
            n: JournalEngine(e, self.journal, before_compute=self._acquirer(n))
            for n, e in self.session.engines.items()
        }
        self._counters_at_start = {n: replace(e.counters) for n, e in self.session.engines.items()}
        self.by_id = {i.id: i for i in self.instances}
        residency = self.session.residency
        self.evictions_at_start = residency.evictions if residency is not None else 0
        self._accuracy: dict[str, np.ndarray | None] = {}

    @property
    def fitted(self) -> FittedMethod:
        return self.session.fitted()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage and journal its generations under its name."""
        start = time.perf_counter()
        self.journal.stage = name
        if self.session.backend is not None:
            self.session.backend.stage = name
        try:
            yield
        finally:
            self.stage_seconds[name] = self.stage_seconds.get(name, 0.0) + time.perf_counter() - start

    def hook(self, stage: str) -> Callable[[str, int, int], None] | None:
        """The progress hook of one stage as (model, done, total), or None without progress."""
        if self.progress is None:
            return None
        hook = self.progress
        return lambda model, done, total: hook(stage, model, done, total)

    def _acquirer(self, name: str) -> Callable[[], None]:
        """Make ``name`` resident right before it computes (a journaled batch loads nothing)."""
        return lambda: self.acquire(name)

    def acquire(self, name: str) -> None:
        """Make model ``name`` resident through the session's residency manager (call under the lock)."""
        if self.session.residency is not None:
            self.session.residency.acquire(name, self.engines[name])

    def count(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def counters(self) -> dict[str, EngineCounters]:
        """What each engine did during this job (the session's counters minus those at its start)."""
        out = {}
        for name, engine in self.session.engines.items():
            now, then = engine.counters, self._counters_at_start[name]
            out[name] = EngineCounters(**{k: v - getattr(then, k) for k, v in now.as_dict().items()})
        return out

    def queries(self) -> QueryBatch:
        """The job's questions as a policy sees them (embeddings when computed, skills, metadata, options)."""
        emb = self.embeddings if self.embeddings is not None else np.zeros((len(self.instances), 1))
        return QueryBatch(
            ids=[i.id for i in self.instances],
            embeddings=emb,
            skills=self.skills or [[] for _ in self.instances],
            n_options=np.array([n_options(i) for i in self.instances]),
            metadata=[instance_metadata(i) for i in self.instances],
            options=[list(i.options) for i in self.instances],
        )

    def question(self, d: RoutingDecision, acc: np.ndarray | None, row: int) -> Question:
        """What the decision needs of ``d``'s question: its experts' answers, responses, local accuracy.

        ``acc`` is the closed-book decider's local accuracy; an open-book question uses its own branch's.
        """
        inst = self.by_id[d.instance_id]
        results = [self.results[(inst.id, e)] for e in d.experts]
        answers = [parse(r, inst) for r in results]
        decider = self.decider(inst.id)
        if decider is not self.fitted.decider:
            acc = self._open_accuracy(decider)
        texts = [r.text for r in results] if decider.features else None
        accuracy = decider.accuracy_row(acc, row)
        return Question(
            experts=d.experts,
            answers=answers,
            n_options=n_options(inst),
            local_accuracy=accuracy,
            texts=texts,
            options=list(inst.options),
        )

    def decider(self, instance_id: str) -> Decider:
        """The decider of a question: the open-book branch's when it was answered with passages."""
        rag = self.fitted.retrieval
        opened = self.rag is not None and instance_id in self.rag.open_book
        if opened and rag is not None and rag.opened is not None:
            return rag.opened.decider
        return self.fitted.decider

    def _open_accuracy(self, decider: Decider) -> np.ndarray | None:
        if "open" not in self._accuracy:
            self._accuracy["open"] = decider.local_accuracy(self.queries())
        return self._accuracy["open"]

    def retrieval_state(self) -> RagState:
        """The run's retrieval state, started empty on first use."""
        if self.rag is None:
            self.rag = RagState()
        return self.rag

    def ensure_embeddings(self) -> np.ndarray:
        """The questions' embeddings (computed now when recruitment did not need them)."""
        if self.embeddings is None:
            self.embeddings = self.session.embed(texts_of(self.instances))
        return self.embeddings

    def finals(self) -> list[FinalAnswer]:
        """Every question's final answer with its routing trace, in input order."""
        self.counts["aggregator_calls"] = sum(1 for f in self.decided.values() if f.aggregator_called)
        self.counts["consensus_skips"] = sum(1 for f in self.decided.values() if f.how == "consensus")
        if self.fitted.method.aggregator_class.needs_model:
            self.counts["aggregator_fallbacks"] = sum(1 for f in self.decided.values() if f.fallback)
        out = []
        for inst, d in zip(self.instances, self.decisions, strict=True):
            final = self.decided[inst.id]
            experts = d.called
            error, code = question_error([(e, self.results[(inst.id, e)]) for e in experts])
            answer = None if error else final.answer  # no expert answered: nothing to aggregate
            out.append(
                FinalAnswer(
                    instance_id=inst.id,
                    answer=answer,
                    correct=is_correct(answer, inst.gold, inst.answer_format) if inst.gold else None,
                    method=self.fitted.method.policy,
                    aggregation=final.how,
                    aggregator_called=final.aggregator_called,
                    routing=d,
                    text=None if error else final.text,
                    expert_answers=[self.expert_answer(inst, e) for e in experts],
                    error=error,
                    error_code=code,
                    retrieval=self._retrieval_trace(inst.id),
                )
            )
        self.counts["errors"] = sum(1 for f in out if f.error)
        return out

    def _retrieval_trace(self, instance_id: str) -> RetrievalTrace | None:
        if self.rag is None:
            return None
        trace = self.rag.traces.get(instance_id)
        if trace is None:
            return None
        audit = self.rag.audit.get(instance_id)
        return trace.model_copy(update={"audit": audit}) if audit is not None else trace

    def expert_answer(self, inst: Instance, expert: str) -> ExpertAnswer:
        r = self.results[(inst.id, expert)]
        return ExpertAnswer(
            instance_id=inst.id,
            expert=expert,
            text=r.text,
            answer=parse(r, inst),
            missing=r.missing,
            error=r.error,
            prompt_tokens=r.prompt_tokens,
            generated_tokens=r.generated_tokens,
        )


def question_error(results: Sequence[tuple[str, GenResult]]) -> tuple[str | None, str | None]:
    """A question's error (each expert's, ``expert: error; ...``) and its code when every recruited
    expert failed to generate, else (None, None).

    The code is ``context_length_exceeded`` when every failure was a prompt over the expert's context
    (the service answers 400 then), else ``generation_failed``.
    """
    if not results or any(r.error is None for _, r in results):
        return None, None
    message = "; ".join(f"{e}: {r.error}" for e, r in results)
    too_long = all(is_context_length_error(r.error) for _, r in results)
    return message, CONTEXT_LENGTH_EXCEEDED if too_long else "generation_failed"


def parse(result: GenResult, inst: Instance) -> str | None:
    """An expert's answer in its generated text (None when it has none)."""
    return extract_answer(result.text, inst.answer_format) if result.text else None


def n_options(inst: Instance) -> int:
    """The question's option count (0 for free-form answers)."""
    return vote_options(inst.answer_format)


def texts_of(instances: Sequence[Instance]) -> list[str]:
    return [i.question for i in instances]
