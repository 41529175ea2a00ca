"""The ``retrieval`` section of a run report: rho, ExpertRAG's cost terms, the saving, accuracy per branch.

ExpertRAG's expected cost per question is ``E[C] = C_gate + rho * C_retrieve + C_experts``. A run
measures it in tokens (expert prompt + generated tokens) and seconds:

- ``C_gate``: per question in mode ``gated``, the gate's models and the coverage probe of the store
  (the store's one-off opening is reported apart), 0 otherwise;
- ``C_experts``: what answering one question closed-book costs (the mean over the questions answered
  closed-book; first passes count);
- ``C_retrieve``: what a retrieved question costs on top of that: its passages in every recruited
  expert's prompt (open-book recruits may differ), the store search, and for a second pass the whole
  second pass;
- ``rho``: the share of questions retrieved for.

Seconds per branch are the expert stage's seconds split by the branches' token shares (one batch mixes
both). Always-retrieve's cost is measured on the audited questions when the run audits (each answered
both ways), and otherwise estimated as ``C_experts + C_retrieve`` (the retrieved questions' extra cost,
extrapolated to every question); ``always_cost_source`` says which.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from common.records import FinalAnswer


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BranchFigures(_Model):
    """Questions answered one way (closed-book or open-book) and what their expert calls cost."""

    questions: int = 0
    accuracy: float | None = Field(default=None, description="0-100, over graded questions.")
    expert_calls: int = 0
    prompt_tokens: int = 0
    generated_tokens: int = 0
    seconds: float = 0.0


class CostTerms(_Model):
    """Per-question terms of ``E[C] = C_gate + rho * C_retrieve + C_experts`` (tokens and seconds)."""

    rho: float
    c_gate_s: float = 0.0
    c_retrieve_tokens: float | None = None
    c_retrieve_s: float | None = None
    c_experts_tokens: float | None = None
    c_experts_s: float | None = None
    expected_tokens: float
    expected_s: float


class AuditFigures(_Model):
    """The audited questions, answered both ways: the gate's choice against each branch and the best."""

    questions: int
    graded: int
    accuracy_gated: float | None = None
    accuracy_closed: float | None = None
    accuracy_open: float | None = None
    accuracy_best: float | None = Field(default=None, description="Right either way (a perfect gate).")
    regret: float | None = Field(default=None, description="accuracy_best - accuracy_gated, in points.")
    missed: int = Field(default=0, description="Not retrieved, but only the open-book answer was right.")
    harmed: int = Field(default=0, description="Retrieved, but only the closed-book answer was right.")
    wasted: int = Field(default=0, description="Retrieved, and the closed-book answer was right too.")
    tokens_gated: float = Field(default=0.0, description="Expert tokens per audited question, as answered.")
    tokens_always: float = Field(default=0.0, description="... had every audited question been retrieved.")
    tokens_never: float = Field(default=0.0, description="... had none been.")


class RetrievalReport(_Model):
    """What a run's retrieval did and cost."""

    mode: str
    n: int
    retrieved: int
    retrieval_rate: float = Field(description="rho: share of questions answered with passages.")
    retrieved_pre: int = 0
    retrieved_post: int = 0
    reasons: dict[str, int] = Field(default_factory=dict)
    store_queries: int = 0
    store_seconds: float = 0.0
    gate_seconds: float = 0.0
    store_open_seconds: float = Field(
        default=0.0, description="Opening the store (and ingesting new documents): once per session."
    )
    branches: dict[str, BranchFigures] = Field(default_factory=dict)
    cost: CostTerms
    always_cost_tokens: float | None = None
    always_cost_s: float | None = None
    always_cost_source: str = ""
    saving_tokens: float | None = Field(default=None, description="1 - E[C] / always-retrieve's, tokens.")
    saving_s: float | None = Field(default=None, description="The same in seconds.")
    audit: AuditFigures | None = None


def _accuracy(flags: Sequence[bool | None]) -> float | None:
    graded = [f for f in flags if f is not None]
    return 100.0 * sum(graded) / len(graded) if graded else None


def retrieval_report(
    finals: Sequence[FinalAnswer],
    *,
    mode: str,
    first_pass: Mapping[str, tuple[int, int, int]],
    stage_seconds: Mapping[str, float],
    rag_seconds: Mapping[str, float],
    store_queries: int,
) -> RetrievalReport:
    """Build the section from a run's answers (with their retrieval traces) and timings.

    Args:
        finals: the answers.
        mode: the retrieval mode.
        first_pass: for second-pass questions, the replaced first pass's (prompt tokens, generated
            tokens, calls).
        stage_seconds: the run's stage times (``retrieve``, ``experts``, ``second_pass``).
        rag_seconds: ``gate`` and ``store`` seconds.
        store_queries: searches made.
    """
    n = len(finals)
    traces = [f.retrieval for f in finals]
    retrieved = [f for f, t in zip(finals, traces, strict=True) if t is not None and t.retrieved]
    closed = [f for f, t in zip(finals, traces, strict=True) if t is None or not t.retrieved]
    reasons: dict[str, int] = {}
    for t in traces:
        if t is not None:
            reasons[t.reason] = reasons.get(t.reason, 0) + 1
    branches = {"closed": _branch(closed, first_pass), "open": _branch(retrieved, {})}
    closed_tokens = branches["closed"].prompt_tokens + branches["closed"].generated_tokens
    open_tokens = branches["open"].prompt_tokens + branches["open"].generated_tokens
    pre = [f for f in retrieved if f.retrieval is not None and f.retrieval.stage == "pre"]
    _split_seconds(branches, stage_seconds, closed_tokens, _tokens(pre))
    store_s = rag_seconds.get("store", 0.0)
    # the gate: its models and the coverage probe (the store's one-off opening is not per question)
    gate_s = rag_seconds.get("gate", 0.0) + store_s if mode == "gated" else 0.0
    total_tokens = closed_tokens + open_tokens
    total_s = (
        gate_s + branches["closed"].seconds + branches["open"].seconds + (store_s if mode != "gated" else 0)
    )
    closed_q = len(closed) + len(first_pass)
    rho = len(retrieved) / n if n else 0.0
    per_q = 1.0 / n if n else 0.0
    cost = CostTerms(rho=rho, c_gate_s=gate_s * per_q, expected_tokens=total_tokens * per_q,
                     expected_s=total_s * per_q)  # fmt: skip
    if closed_q and n:
        per_tokens, per_s = closed_tokens / closed_q, branches["closed"].seconds / closed_q
        cost.c_experts_tokens, cost.c_experts_s = per_tokens, per_s
        if retrieved:
            cost.c_retrieve_tokens = (total_tokens - per_tokens * n) / len(retrieved)
            cost.c_retrieve_s = (total_s - gate_s - per_s * n) / len(retrieved)
    report = RetrievalReport(
        mode=mode,
        n=n,
        retrieved=len(retrieved),
        retrieval_rate=rho,
        retrieved_pre=sum(1 for t in traces if t is not None and t.retrieved and t.stage == "pre"),
        retrieved_post=sum(1 for t in traces if t is not None and t.retrieved and t.stage == "post"),
        reasons=reasons,
        store_queries=store_queries,
        store_seconds=round(store_s, 4),
        gate_seconds=round(rag_seconds.get("gate", 0.0), 4),
        store_open_seconds=round(rag_seconds.get("store_open", 0.0), 4),
        branches=branches,
        cost=cost,
        audit=_audit(finals),
    )
    _always(report)
    return report


def _tokens(finals: Sequence[FinalAnswer]) -> int:
    return sum(a.prompt_tokens + a.generated_tokens for f in finals for a in f.expert_answers)


def _branch(finals: Sequence[FinalAnswer], first_pass: Mapping[str, tuple[int, int, int]]) -> BranchFigures:
    calls = sum(len(f.expert_answers) for f in finals)
    prompt = sum(a.prompt_tokens for f in finals for a in f.expert_answers)
    generated = sum(a.generated_tokens for f in finals for a in f.expert_answers)
    for p, g, c in first_pass.values():
        prompt, generated, calls = prompt + p, generated + g, calls + c
    return BranchFigures(
        questions=len(finals) + len(first_pass),
        accuracy=_accuracy([f.correct for f in finals]),
        expert_calls=calls,
        prompt_tokens=prompt,
        generated_tokens=generated,
    )


def _split_seconds(
    branches: dict[str, BranchFigures],
    stage_seconds: Mapping[str, float],
    closed_tokens: int,
    pre_tokens: int,
) -> None:
    """Expert seconds per branch: the expert stage split by token share, the second pass all open-book."""
    experts_s = stage_seconds.get("experts", 0.0)
    share = closed_tokens / max(closed_tokens + pre_tokens, 1)
    branches["closed"].seconds = round(experts_s * share, 4)
    branches["open"].seconds = round(experts_s * (1 - share) + stage_seconds.get("second_pass", 0.0), 4)


def _audit(finals: Sequence[FinalAnswer]) -> AuditFigures | None:
    rows = [(f, f.retrieval) for f in finals if f.retrieval is not None and f.retrieval.audit is not None]
    if not rows:
        return None
    gated, closed, opened, best = [], [], [], []
    missed = harmed = wasted = 0
    tok_gated = tok_always = tok_never = 0.0
    for f, t in rows:
        assert t is not None and t.audit is not None
        own = sum(a.prompt_tokens + a.generated_tokens for a in f.expert_answers)
        other = t.audit.prompt_tokens + t.audit.generated_tokens
        c_ok, o_ok = (f.correct, t.audit.correct) if not t.retrieved else (t.audit.correct, f.correct)
        tok_gated += own
        tok_always += own if t.retrieved else other
        tok_never += other if t.retrieved else own
        if c_ok is None or o_ok is None:
            continue
        gated.append(bool(f.correct))
        closed.append(c_ok)
        opened.append(o_ok)
        best.append(c_ok or o_ok)
        missed += int(not t.retrieved and o_ok and not c_ok)
        harmed += int(t.retrieved and c_ok and not o_ok)
        wasted += int(t.retrieved and c_ok)
    k = len(rows)
    acc_g, acc_b = _accuracy(gated), _accuracy(best)
    return AuditFigures(
        questions=k,
        graded=len(gated),
        accuracy_gated=acc_g,
        accuracy_closed=_accuracy(closed),
        accuracy_open=_accuracy(opened),
        accuracy_best=acc_b,
        regret=acc_b - acc_g if acc_b is not None and acc_g is not None else None,
        missed=missed,
        harmed=harmed,
        wasted=wasted,
        tokens_gated=tok_gated / k,
        tokens_always=tok_always / k,
        tokens_never=tok_never / k,
    )


def _always(report: RetrievalReport) -> None:
    """Always-retrieve's cost per question: measured on the audit, else estimated; and the saving."""
    cost = report.cost
    if report.mode == "always":
        report.always_cost_tokens, report.always_cost_s = cost.expected_tokens, cost.expected_s
        report.always_cost_source = "this run"
    elif report.audit is not None and report.audit.tokens_gated > 0:
        a = report.audit
        report.always_cost_tokens = cost.expected_tokens * a.tokens_always / a.tokens_gated
        report.always_cost_s = cost.expected_s * a.tokens_always / a.tokens_gated
        report.always_cost_source = "audit (tokens measured both ways; seconds scaled by tokens)"
    elif cost.c_experts_tokens is not None and cost.c_retrieve_tokens is not None:
        report.always_cost_tokens = cost.c_experts_tokens + cost.c_retrieve_tokens
        report.always_cost_s = (cost.c_experts_s or 0.0) + (cost.c_retrieve_s or 0.0)
        report.always_cost_source = "estimate (C_experts + C_retrieve of the retrieved questions)"
    if report.always_cost_tokens:
        report.saving_tokens = 1.0 - cost.expected_tokens / report.always_cost_tokens
    if report.always_cost_s:
        report.saving_s = 1.0 - cost.expected_s / report.always_cost_s
