"""Retrieval in the benchmark: every expert answers every question closed- and open-book once, and each
method (``retrieval: never | always | gated``) reads what its decisions would have produced.

The expert stage searches the knowledge store once for all profiling and test questions (one batch),
then runs each expert on its closed-book prompts and, still loaded, on its open-book prompts (each expert
loads once); engine counters around each book give every call's tokens and seconds. A method then:

- ``never``: routes with the closed-book profiles and reads closed-book answers;
- ``always``: routes with the open-book profiles and reads open-book answers (one search per question);
- ``gated``: fits the retrieval gate on the profiling split (:class:`~orchestrator.rag.gate.
  RetrievalGate`), answers the questions it lets through open-book and the others closed-book, and
  answers open-book again the closed-book questions whose experts disagree (the post-generation gate)
  -- the decisions the live pipeline makes (:mod:`orchestrator.pipeline.retrieve`).

Each method's cost per question is summed from the calls it makes (tokens and measured seconds per call
of each expert and book), the searches it needs and the gate's own time.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from batching.engines.base import Engine
from batching.executor import run_plan
from batching.planner import plan_stage
from common.generation import GenRequest, SamplingParams
from common.records import FinalAnswer, Instance, RetrievalTrace, RoutingDecision
from orchestrator.aggregation.decide import Decided
from orchestrator.answers import is_correct
from orchestrator.bench.evaluate import MethodOutcome
from orchestrator.bench.stages import AnswerMatrix, ProgressHook, answer_matrix
from orchestrator.bench.table import BenchTable, n_options
from orchestrator.bench.tally import MethodTally
from orchestrator.method import MethodConfig
from orchestrator.policies import QueryBatch
from orchestrator.prompts import expert_prompt
from orchestrator.rag.branch import Book, Branch, QuestionContext, fit_branch
from orchestrator.rag.config import RetrievalConfig
from orchestrator.rag.gate import GateDecision, GateInputs, RetrievalGate, first_skills
from orchestrator.rag.knowledge import open_knowledge, retrieve_for
from orchestrator.rag.outcome import Signals, coverage_features, question_features
from orchestrator.retrieval.hits import Retrieval

logger = logging.getLogger(__name__)

OPEN_SUFFIX = "@open"


@dataclass(kw_only=True)
class BookCost:
    """One expert's calls on one book: requests, tokens and generation seconds."""

    requests: int = 0
    prompt_tokens: int = 0
    generated_tokens: int = 0
    seconds: float = 0.0

    @property
    def seconds_per_call(self) -> float:
        return self.seconds / self.requests if self.requests else 0.0


@dataclass(kw_only=True)
class TwoBooks:
    """Every expert's answers to every question closed- and open-book, what each call cost, the search.

    Attributes:
        closed: closed-book answers (all profiling and test questions).
        opened: open-book answers, keyed by the same instance ids.
        found: each question's search result.
        costs: (expert, book) -> its calls' cost.
        store_seconds_per_query: the batched search's time per question.
    """

    closed: AnswerMatrix
    opened: AnswerMatrix
    found: dict[str, Retrieval]
    costs: dict[tuple[str, str], BookCost] = field(default_factory=dict)
    store_seconds_per_query: float = 0.0


def run_two_books(
    instances: Sequence[Instance],
    engines: Mapping[str, Engine],
    sampling: Mapping[str, SamplingParams],
    retrieval: RetrievalConfig,
    embedder: object,
    *,
    answer_source: str = "extracted",
    on_progress: ProgressHook | None = None,
) -> TwoBooks:
    """Search once for all questions, then run each expert closed-book and open-book (loaded once).

    Args:
        instances: every profiling and test question.
        engines: one engine per expert.
        sampling: each expert's sampling settings.
        retrieval: the store, k and search mode.
        embedder: the embedder shared with the store (all-MiniLM-L6-v2).
        answer_source: as for :func:`~orchestrator.bench.stages.run_expert_stage`.
        on_progress: progress callback (expert, done, total) over both books.
    """
    store = open_knowledge(retrieval, embedder)
    start = time.perf_counter()
    found = dict(zip([i.id for i in instances], retrieve_for(store, retrieval, instances), strict=True))
    per_query = (time.perf_counter() - start) / max(len(instances), 1)
    by_id = {i.id: i for i in instances}
    experts = list(engines)
    closed_results: dict[tuple[str, str], object] = {}
    open_results: dict[tuple[str, str], object] = {}
    costs: dict[tuple[str, str], BookCost] = {}
    total = 2 * len(instances)

    def request(book: Book) -> Callable[[str, str], GenRequest]:
        def make(iid: str, expert: str) -> GenRequest:
            inst = by_id[iid]
            passages = found[iid].passages() if book == "open" else ()
            rid = f"{iid}:{expert}" + (OPEN_SUFFIX if book == "open" else "")
            return GenRequest.chat(rid, expert_prompt(inst, passages), sampling[expert], iid)

        return make

    for expert in experts:
        engine = engines[expert]
        for n, (book, out) in enumerate((("closed", closed_results), ("open", open_results))):
            before = dataclasses.replace(engine.counters)
            plan = plan_stage(f"experts_{book}_book", [(i.id, [expert]) for i in instances])

            def progress(e: str, done: int, _total: int, offset: int = n * len(instances)) -> None:
                if on_progress is not None:
                    on_progress(e, offset + done, total)

            done = run_plan(plan, engines, request(book), on_progress=progress,  # type: ignore[arg-type]
                            keep_loaded=frozenset({expert}) if book == "closed" else frozenset())  # fmt: skip
            out.update(done.results)
            after = engine.counters
            costs[(expert, book)] = BookCost(
                requests=after.requests - before.requests,
                prompt_tokens=after.prompt_tokens - before.prompt_tokens,
                generated_tokens=after.generated_tokens - before.generated_tokens,
                seconds=after.generation_seconds - before.generation_seconds,
            )
    closed = answer_matrix(closed_results, instances, experts, answer_source)  # type: ignore[arg-type]
    opened = answer_matrix(open_results, instances, experts, answer_source)  # type: ignore[arg-type]
    return TwoBooks(closed=closed, opened=opened, found=found, costs=costs, store_seconds_per_query=per_query)


@dataclass(frozen=True, kw_only=True)
class RagOutcome(MethodOutcome):
    """A method's outcome with retrieval: per question, whether and when it retrieved, and what it cost."""

    traces: list[RetrievalTrace] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    cost: list[float] = field(default_factory=list)
    """Each question's cost in the pool's unit (``call_cost`` of every call it made, both passes)."""
    store_queries: int = 0
    both_ways: dict[str, list[str | None]] = field(default_factory=dict)
    """gated only: every question's answer closed-book and open-book (the gate's regret)."""


@dataclass(frozen=True, kw_only=True)
class RagInputs:
    """What a method with retrieval is evaluated on: the bench's question tables of both books, the
    profiling and test rows, and the two-book stage's searches and costs."""

    retrieval: RetrievalConfig
    closed: BenchTable
    opened: BenchTable
    profile_rows: np.ndarray
    test_rows: np.ndarray
    books: TwoBooks

    @property
    def test_instances(self) -> list[Instance]:
        return [self.closed.instances[i] for i in self.test_rows]

    @property
    def profile_instances(self) -> list[Instance]:
        return [self.closed.instances[i] for i in self.profile_rows]


def evaluate_rag_methods(
    methods: Sequence[MethodConfig],
    retrieval: RetrievalConfig,
    data: Any,
    closed: BenchTable,
    opened: BenchTable,
    books: TwoBooks,
    *,
    seed: int = 0,
) -> dict[str, tuple[MethodTally, dict[str, Any], list[FinalAnswer]]]:
    """Each method with retrieval on the bench's fixed split: its tally, result fields and traces."""
    inputs = RagInputs(
        retrieval=retrieval,
        closed=closed,
        opened=opened,
        profile_rows=closed.rows(data.profile),
        test_rows=closed.rows(data.test),
        books=books,
    )
    tests = inputs.test_instances
    out = {}
    for method in methods:
        outcome = evaluate_with_retrieval(method, inputs, seed=seed)
        right = [is_correct(a, t.gold, t.answer_format) for a, t in zip(outcome.final, tests, strict=True)]
        calls = [c + len(t.first_pass_experts) for c, t in zip(outcome.calls, outcome.traces, strict=True)]
        tally = MethodTally(1, len(tests))
        tally.record(0, np.arange(len(tests)), right, calls, outcome.cost, outcome.final)
        extra = {
            "retrieval_rate": float(np.mean([t.retrieved for t in outcome.traces])) if tests else 0.0,
            "retrieval_stats": retrieval_stats(outcome, tests),
        }
        out[method.name] = (tally, extra, outcome.final_answers(method.name, tests, right, outcome.traces))
    return out


def evaluate_with_retrieval(method: MethodConfig, inputs: RagInputs, *, seed: int = 0) -> RagOutcome:
    """Fit on the profiling rows, route and decide the test rows as ``method.retrieval`` says.

    Raises:
        ValueError: the method's policy recruits in rounds, or aggregates with an LLM.
    """
    if method.policy_class.interactive or method.aggregator_class.needs_model:
        raise ValueError(
            f"method {method.name!r}: retrieval in the bench needs a one-round policy and a vote"
        )
    mode = method.retrieval or "never"
    tests = inputs.test_instances
    queries = inputs.closed.queries(inputs.test_rows)
    gold = inputs.closed.gold(inputs.profile_rows)
    closed = fit_branch("closed", method, inputs.closed.profiling(inputs.profile_rows), gold)
    opened = fit_branch("open", method, inputs.opened.profiling(inputs.profile_rows), gold)
    closed_dec, open_dec = closed.route(queries, seed=seed), opened.route(queries, seed=seed)
    verdicts: list[GateDecision | None] = [None] * len(tests)
    probed = [mode == "always"] * len(tests)
    gate, gate_in, gate_s = None, None, 0.0
    if mode == "gated":
        gate = _fit_gate(method, inputs, closed, opened, seed)
        start = time.perf_counter()  # the gate's cost per question: its inputs and decisions, not its fit
        gate_in, probed = _gate_inputs(inputs, gate, (closed, opened), (closed_dec, open_dec), queries)
        verdicts = list(gate.assess(gate_in))
        gate_s = (time.perf_counter() - start) / max(len(tests), 1)
    retrieve = [v.retrieve if v is not None else mode == "always" for v in verdicts]
    found = inputs.books.found
    traces = [_trace(mode, v, found[t.id], r) for t, v, r in zip(tests, verdicts, retrieve, strict=True)]
    plan = _Plan(inputs, (closed, opened), (closed_dec, open_dec), retrieve, queries)
    decided = plan.first_pass()
    threshold = inputs.retrieval.agreement_threshold
    if mode == "gated" and threshold > 0:
        decided = plan.second_pass(decided, traces, threshold, gate, gate_in)
    searched = [p or t.stage == "post" for p, t in zip(probed, traces, strict=True)]
    per_query = inputs.books.store_seconds_per_query
    tokens, seconds, cost = [], [], []
    for i in range(len(tests)):
        tok, sec, paid = plan.cost(i)
        tokens.append(tok)
        seconds.append(sec + gate_s + per_query * searched[i])
        cost.append(paid)
    decisions = [plan.decision(i) for i in range(len(tests))]
    answers = [plan.answers_of(i) for i in range(len(tests))]
    both: dict[str, list[str | None]] = {}
    if mode == "gated":  # every question is answered both ways in the bench: the gate's regret is exact
        for book in ("closed", "open"):
            flags = [book == "open"] * len(tests)
            alt = _Plan(inputs, (closed, opened), (closed_dec, open_dec), flags, queries)
            both[book] = [d.answer for d in alt.first_pass()]
    return RagOutcome(
        decisions=decisions,
        expert_answers=answers,
        decided=decided,
        traces=traces,
        tokens=tokens,
        seconds=seconds,
        cost=cost,
        store_queries=sum(searched),
        both_ways=both,
    )


def _fit_gate(
    method: MethodConfig, inputs: RagInputs, closed: Branch, opened: Branch, seed: int
) -> RetrievalGate:
    """The gate, fitted on the profiling rows (both books, and each question's coverage signal)."""
    prof = inputs.profile_instances
    found = inputs.books.found
    signals = Signals(
        embeddings=closed.profiling.embeddings,
        groups=first_skills(closed.profiling.skills),
        questions=question_features([i.question for i in prof], [n_options(i) for i in prof]),
        coverage=coverage_features([found[i.id].coverage for i in prof]),
    )
    gold = inputs.closed.gold(inputs.profile_rows)
    return RetrievalGate.fit(inputs.retrieval.gate, method, closed.profiling, gold, signals,
                             open_book=opened.profiling, instances=prof, seed=seed,
                             agreement_threshold=inputs.retrieval.agreement_threshold)  # fmt: skip


def _gate_inputs(
    inputs: RagInputs,
    gate: RetrievalGate,
    branches: tuple[Branch, Branch],
    decisions: tuple[list[RoutingDecision], list[RoutingDecision]],
    queries: QueryBatch,
) -> tuple[GateInputs, list[bool]]:
    """What the gate reads of the test questions, and which it searches (a strong skill's are not)."""
    found = inputs.books.found
    tests = inputs.test_instances
    groups = first_skills(queries.skills)
    strong = set(gate.strong_skills)
    probed = [g not in strong for g in groups]
    cov = [found[t.id].coverage if p else None for t, p in zip(tests, probed, strict=True)]
    questions = question_features([t.question for t in tests], [n_options(t) for t in tests])
    has_hits = np.array([not p or bool(found[t.id].hits) for t, p in zip(tests, probed, strict=True)])
    (closed, opened), (closed_dec, open_dec) = branches, decisions
    gate_in = GateInputs(
        signals=Signals(
            embeddings=queries.embeddings, groups=groups, questions=questions, coverage=coverage_features(cov)
        ),
        closed_accuracy=closed.recruited_accuracy(closed_dec, closed.accuracy(queries)),
        open_accuracy=opened.recruited_accuracy(open_dec, opened.accuracy(queries)),
        has_hits=has_hits,
    )
    return gate_in, probed


def _trace(mode: str, v: GateDecision | None, found: Retrieval, retrieved: bool) -> RetrievalTrace:
    return RetrievalTrace(
        mode=mode,  # type: ignore[arg-type]
        retrieved=retrieved,
        stage="pre" if retrieved else None,
        reason=v.reason if v is not None else mode,
        score=v.score if v is not None else None,
        p_closed=v.p_closed if v is not None else None,
        p_open=v.p_open if v is not None else None,
        coverage=dataclasses.asdict(found.coverage),
        passages=found.passages() if retrieved else [],
    )


class _Plan:
    """Which book each test question is answered from, its recruits and answers, and what it cost."""

    def __init__(
        self,
        inputs: RagInputs,
        branches: tuple[Branch, Branch],
        decisions: tuple[list[RoutingDecision], list[RoutingDecision]],
        retrieve: list[bool],
        queries: QueryBatch,
    ) -> None:
        self.inputs = inputs
        self.closed, self.opened = branches
        self.closed_dec, self.open_dec = decisions
        self.open = list(retrieve)
        self.first: dict[int, RoutingDecision] = {}  # second pass: the replaced closed-book recruits
        self.queries = queries
        self.acc = {b.book: b.decider.local_accuracy(queries) for b in branches}

    def table(self, book_open: bool) -> BenchTable:
        return self.inputs.opened if book_open else self.inputs.closed

    def decision(self, i: int) -> RoutingDecision:
        return self.open_dec[i] if self.open[i] else self.closed_dec[i]

    def answers_of(self, i: int) -> dict[str, str | None]:
        pairs = self.table(self.open[i]).by_pair
        iid = self.queries.ids[i]
        return {e: pairs.get((iid, e)) for e in self.decision(i).experts}

    def decide(self, rows: Sequence[int]) -> list[Decided]:
        """Decide questions ``rows`` (all answered from one book) with that book's decider."""
        if not rows:
            return []
        branch = self.opened if self.open[rows[0]] else self.closed
        acc = self.acc[branch.book]
        n_opts = [int(self.queries.n_options[i]) for i in rows]  # type: ignore[index]
        return branch.decide_rows([self.decision(i) for i in rows], [self.answers_of(i) for i in rows],
                                  acc[list(rows)] if acc is not None else None, n_opts,
                                  self.context(rows, self.open[rows[0]]))  # fmt: skip

    def context(self, rows: Sequence[int], book_open: bool) -> QuestionContext:
        """The responses and options of questions ``rows`` in one book (stacked votes with features)."""
        texts = self.table(book_open).texts
        ids = [self.queries.ids[i] for i in rows]
        experts = self.inputs.closed.experts
        return QuestionContext(
            [{e: texts.get((iid, e)) for e in experts} for iid in ids],
            [self.queries.options[i] for i in rows] if self.queries.options else [],
        )

    def first_pass(self) -> list[Decided]:
        n = len(self.open)
        out: list[Decided | None] = [None] * n
        for book in (False, True):
            rows = [i for i in range(n) if self.open[i] == book]
            for i, d in zip(rows, self.decide(rows), strict=True):
                out[i] = d
        return [d for d in out if d is not None]

    def second_pass(
        self,
        decided: list[Decided],
        traces: list[RetrievalTrace],
        threshold: float,
        gate: RetrievalGate | None,
        gate_inputs: GateInputs | None,
    ) -> list[Decided]:
        """Closed-book questions whose recruits disagree, answered again open-book (if the store has hits)."""
        out = list(decided)
        rows: list[int] = []
        votes: list[np.ndarray] = []
        acc = self.acc["closed"]
        for i, d in enumerate(self.closed_dec):
            if self.open[i] or len(d.experts) < 2:
                continue
            row = acc[i : i + 1] if acc is not None else None
            n_opts = [int(self.queries.n_options[i])]  # type: ignore[index]
            (vote,) = self.closed.vote_signals(
                [d], [self.answers_of(i)], row, n_opts, [decided[i].answer], self.context([i], False)
            )
            traces[i] = traces[i].model_copy(update={"agreement": float(vote[0])})
            if vote[0] < threshold:
                rows.append(i)
                votes.append(vote)
        if not rows or gate is None or gate_inputs is None:
            return out
        verdicts = gate.assess_post(gate_inputs.take(rows), np.array(votes))
        for i, v in zip(rows, verdicts, strict=True):
            traces[i] = traces[i].model_copy(update={"score_post": v.score})
            found = self.inputs.books.found[self.queries.ids[i]]
            if not v.retrieve or not found.hits:
                continue
            first = self.first[i] = self.closed_dec[i]
            self.open[i] = True
            traces[i] = traces[i].model_copy(update={
                "retrieved": True, "stage": "post", "reason": "disagreement", "passages": found.passages(),
                "first_pass_experts": list(first.experts), "first_pass_answer": decided[i].answer,
            })  # fmt: skip
            (out[i],) = self.decide([i])
        return out

    def cost(self, i: int) -> tuple[int, float, float]:
        """Tokens, seconds and pool-unit cost of question ``i``'s expert calls (both passes)."""
        books, iid = self.inputs.books, self.queries.ids[i]
        calls = [(e, self.open[i]) for e in self.decision(i).experts]
        if i in self.first:
            calls += [(e, False) for e in self.first[i].experts]
        matrix = {True: books.opened, False: books.closed}
        tokens = sum(matrix[b].tokens.get((iid, e), 0) + matrix[b].prompt_tokens.get((iid, e), 0)
                     for e, b in calls)  # fmt: skip
        seconds = sum(books.costs[(e, "open" if b else "closed")].seconds_per_call for e, b in calls)
        col = {e: j for j, e in enumerate(self.inputs.closed.experts)}
        paid = sum(float(self.table(b).call_cost[self.table(b).row_of[iid], col[e]]) for e, b in calls)
        return tokens, seconds, paid


def retrieval_stats(outcome: RagOutcome, instances: Sequence[Instance]) -> dict[str, float]:
    """A method's retrieval figures: rate, when, accuracy per branch, cost per question."""
    n = max(len(instances), 1)
    ok = [is_correct(a, i.gold, i.answer_format) for a, i in zip(outcome.final, instances, strict=True)]
    got = [t.retrieved for t in outcome.traces]
    pre = sum(1 for t in outcome.traces if t.retrieved and t.stage == "pre")
    post = sum(1 for t in outcome.traces if t.retrieved and t.stage == "post")
    out = {
        "retrieved_pre": float(pre),
        "retrieved_post": float(post),
        "store_queries_per_question": outcome.store_queries / n,
        "tokens_per_question": float(np.mean(outcome.tokens)) if outcome.tokens else 0.0,
        "seconds_per_question": float(np.mean(outcome.seconds)) if outcome.seconds else 0.0,
    }
    for name, flag in (("accuracy_retrieved", True), ("accuracy_closed_book", False)):
        rows = [o for o, g in zip(ok, got, strict=True) if g == flag]
        if rows:
            out[name] = 100.0 * sum(rows) / len(rows)
    if outcome.both_ways:
        right = {
            book: [is_correct(a, i.gold, i.answer_format) for a, i in zip(answers, instances, strict=True)]
            for book, answers in outcome.both_ways.items()
        }
        best = [c or o for c, o in zip(right["closed"], right["open"], strict=True)]
        out["accuracy_all_closed_book"] = 100.0 * sum(right["closed"]) / n
        out["accuracy_all_open_book"] = 100.0 * sum(right["open"]) / n
        out["accuracy_best_of_both"] = 100.0 * sum(best) / n
        out["regret"] = out["accuracy_best_of_both"] - 100.0 * sum(ok) / n
    return out


def summary_lines(results: Mapping[str, object], modes: Mapping[str, str]) -> list[str]:
    """The retrieval comparison in words: the first method of each mode against the others.

    Args:
        results: method name -> :class:`~common.records.MethodResult`.
        modes: method name -> its retrieval mode (methods with retrieval only).
    """
    first: dict[str, Any] = {}
    for name, mode in modes.items():
        first.setdefault(mode, results[name])
    never, always, gated = first.get("never"), first.get("always"), first.get("gated")
    lines = []
    if gated is not None and always is not None:
        share = 100.0 * gated.accuracy / always.accuracy if always.accuracy else 0.0
        lines.append(
            f"gated reaches {share:.1f}% of always-retrieve's accuracy ({gated.accuracy:.2f} vs "
            f"{always.accuracy:.2f}) retrieving for {100 * (gated.retrieval_rate or 0):.1f}% of questions"
        )
        saving = _saving(gated, always)
        if saving:
            lines.append(f"gated against always-retrieve: {saving}")
    if never is not None and (always is not None or gated is not None):
        cats = sorted(never.per_category)
        for label, other in (("always", always), ("gated", gated)):
            if other is None:
                continue
            deltas = {c: other.per_category.get(c, 0.0) - never.per_category[c] for c in cats}
            best = max(deltas, key=lambda c: deltas[c]) if deltas else None
            if best is None:
                continue
            rest = [c for c in cats if c != best]
            worst = min(rest, key=lambda c: deltas[c]) if rest else None
            text = f"{label} vs never: {best} {deltas[best]:+.1f} points"
            if worst is not None:
                text += f"; other skills {', '.join(f'{c} {deltas[c]:+.1f}' for c in rest)}"
            lines.append(text)
    return lines


def _saving(gated: Any, always: Any) -> str:
    g, a = gated.retrieval_stats, always.retrieval_stats
    parts = []
    for key, unit in (("tokens_per_question", "expert tokens"), ("seconds_per_question", "seconds")):
        if a.get(key):
            parts.append(f"{100 * (1 - g.get(key, 0.0) / a[key]):.1f}% fewer {unit} per question "
                         f"({g.get(key, 0.0):.4g} vs {a[key]:.4g})")  # fmt: skip
    return "; ".join(parts)
