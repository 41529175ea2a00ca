"""Stage 3, retrieve: the pre-generation gate of ExpertRAG, and the passages of the questions it lets through.

Retrieval and expert selection are one decision per question: a question the gate retrieves for is
answered *open-book*, by the experts the open-book profiles recruit (a reader, say), with its passages in
their prompts; the others keep their closed-book recruits and prompts.

- ``never``: nothing happens (no store is opened);
- ``always``: every question gets passages (one batched search);
- ``gated``: questions of a strong skill are settled without the store; the others are searched in one
  batch (with the embeddings recruitment computed), and the gate weighs the closed- and open-book
  estimates with the store's coverage signal (:class:`~orchestrator.rag.gate.RetrievalGate`).

Every question's :class:`~common.records.RetrievalTrace` (score, decision, reason, coverage, passages) is
kept on the job and ends up on its answer.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence

import numpy as np

from common.records import Instance, Passage, RetrievalTrace, RoutingDecision
from orchestrator.pipeline.job import Job, n_options
from orchestrator.rag.fitted import FittedRetrieval
from orchestrator.rag.gate import GateDecision, GateInputs, first_skills
from orchestrator.rag.knowledge import retrieve_for
from orchestrator.rag.outcome import Signals, coverage_features, question_features

logger = logging.getLogger(__name__)


class RetrieveStage:
    """Fill ``job.passages`` and ``job.rag`` (open book, traces); swap in open-book recruits."""

    name = "retrieve"

    def run(self, job: Job) -> None:
        cfg = job.session.pool.retrieval
        rag = job.fitted.retrieval
        if cfg.mode == "never" or rag is None:
            return
        job.ensure_embeddings()
        state = job.retrieval_state()
        state.closed_decisions = {d.instance_id: d for d in job.decisions}
        opened = rag.opened
        if opened is not None:
            routed = opened.route(job.queries(), seed=job.session.pool.seed)
            state.open_decisions = {
                d.instance_id: d.model_copy(update={"keywords": c.keywords})
                for d, c in zip(routed, job.decisions, strict=True)
            }
        if cfg.mode == "always":
            search(job, range(len(job.instances)))
            verdicts: list[GateDecision | None] = [None] * len(job.instances)
        else:
            verdicts = list(gate(job, rag))
        for row, (inst, v) in enumerate(zip(job.instances, verdicts, strict=True)):
            found = state.retrievals.get(inst.id)
            retrieve = v.retrieve if v is not None else True
            state.traces[inst.id] = RetrievalTrace(
                mode=cfg.mode,
                retrieved=retrieve,
                stage="pre" if retrieve else None,
                reason=v.reason if v is not None else "always",
                score=v.score if v is not None else None,
                p_closed=v.p_closed if v is not None else None,
                p_open=v.p_open if v is not None else None,
                coverage=dataclasses.asdict(found.coverage) if found is not None else {},
                passages=found.passages() if retrieve and found is not None else [],
            )
            if retrieve:
                open_book(job, row, found.passages() if found is not None else [])
        retrieved = len(state.open_book)
        job.count("retrieved_pre", retrieved)
        logger.info("retrieval (%s): %d of %d questions retrieved before generation",
                    cfg.mode, retrieved, len(job.instances))  # fmt: skip


def gate(job: Job, rag: FittedRetrieval) -> list[GateDecision]:
    """The gate's verdicts: strong skills settled without the store, the rest probed in one search."""
    assert rag.gate is not None and rag.closed is not None  # fit_retrieval builds both for mode gated
    state = job.retrieval_state()
    emb = job.ensure_embeddings()
    groups = first_skills(job.skills or [[] for _ in job.instances])
    strong = set(rag.gate.strong_skills)
    probe = [row for row, g in enumerate(groups) if g not in strong]
    search(job, probe)
    start = time.perf_counter()
    found = [state.retrievals.get(i.id) for i in job.instances]
    signals = Signals(
        embeddings=emb,
        groups=groups,
        questions=question_features(
            [i.question for i in job.instances], [n_options(i) for i in job.instances]
        ),
        coverage=coverage_features([f.coverage if f is not None else None for f in found]),
    )
    queries = job.queries()
    closed_acc = rag.closed.recruited_accuracy(job.decisions, rag.closed.accuracy(queries))
    open_acc = None
    if rag.opened is not None:
        decisions = [state.open_decisions[i.id] for i in job.instances]
        open_acc = rag.opened.recruited_accuracy(decisions, rag.opened.accuracy(queries))
    has_hits = np.array([f is None or bool(f.hits) for f in found])
    state.gate_inputs = GateInputs(
        signals=signals, closed_accuracy=closed_acc, open_accuracy=open_acc, has_hits=has_hits
    )
    verdicts = rag.gate.assess(state.gate_inputs)
    add_seconds(job, "gate", time.perf_counter() - start)
    return verdicts


def search(job: Job, rows: Sequence[int] | range) -> None:
    """Search the store for the questions at ``rows`` not searched yet (one batch); keep the results."""
    state = job.retrieval_state()
    todo = [row for row in rows if job.instances[row].id not in state.retrievals]
    if not todo:
        return
    cfg = job.session.pool.retrieval
    start = time.perf_counter()
    store = job.session.knowledge()  # opened (and its documents ingested) once per session
    add_seconds(job, "store_open", time.perf_counter() - start)
    emb = job.ensure_embeddings()
    start = time.perf_counter()
    with job.session.lock:  # the store shares the session's embedder
        found = retrieve_for(store, cfg, [job.instances[r] for r in todo], query_vectors=emb[todo])
    add_seconds(job, "store", time.perf_counter() - start)
    job.count("store_queries", len(todo))
    for row, result in zip(todo, found, strict=True):
        state.retrievals[job.instances[row].id] = result


def open_book(job: Job, row: int, passages: list[Passage]) -> None:
    """Answer the question at ``row`` open-book: its passages, and its open-book recruits when known."""
    inst: Instance = job.instances[row]
    state = job.retrieval_state()
    job.passages[inst.id] = passages
    state.open_book.add(inst.id)
    choice: RoutingDecision | None = state.open_decisions.get(inst.id)
    if choice is not None:
        job.decisions[row] = choice


def add_seconds(job: Job, key: str, seconds: float) -> None:
    job.retrieval_state().add_seconds(key, seconds)
