"""Typed records that cross boundaries: dataset instances, answers, routing decisions, run reports.

These are pydantic models because they are read from and written to disk (JSONL traces, JSON reports)
and cross the API; code inside a layer passes them around but does not subclass them.
"""

from __future__ import annotations

import string
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

LETTERS = string.ascii_uppercase[:10]  # A-J, MMLU-Pro's widest option set

Pair = tuple[str, str]
"""One expert on one question: ``(instance id, expert name)``, the key of every per-answer table."""


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AnswerFormat(_Record):
    """How a task's answers look and are compared.

    ``multiple_choice`` answers are letters among the first ``n_options`` of A-J; ``math`` answers are
    free-form (usually ``\\boxed{}``) and compared with math-verify; ``exact`` answers are free strings
    compared exactly (BIG-Bench-Hard's labels and free answers: ``True``, ``valid``, ``} ]``); ``code``
    answers are programs, never voted on (a method picks one expert's) and scored by the recording's
    verdict (HumanEval's test harness).
    """

    kind: Literal["multiple_choice", "math", "exact", "code"] = "multiple_choice"
    n_options: int = Field(default=10, ge=2, le=26)

    @property
    def letters(self) -> str:
        return string.ascii_uppercase[: self.n_options]


# Votes read a question's answer kind from its option count (``n_options`` of profiling data, query
# batches and decisions): > 0 letters, 0 math-verify classes, and these for answers compared as strings.
STRING_ANSWERS = -1
"""``n_options`` of an ``exact`` question: answers vote and agree by string equality."""
CODE_ANSWERS = -2
"""``n_options`` of a ``code`` question: answers are picked (the best-ranked expert's), never voted."""


def vote_options(fmt: AnswerFormat) -> int:
    """The ``n_options`` votes use for a question of format ``fmt`` (see :data:`STRING_ANSWERS`)."""
    if fmt.kind == "multiple_choice":
        return fmt.n_options
    return {"math": 0, "exact": STRING_ANSWERS, "code": CODE_ANSWERS}[fmt.kind]


class Instance(_Record):
    """One question of a task."""

    id: str
    question: str = Field(min_length=1)
    options: list[str] = Field(default_factory=list)
    gold: str | None = None
    task: str = "default"
    category: str | None = None
    answer_format: AnswerFormat = AnswerFormat()
    metadata: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_gold(self) -> Instance:
        if (
            self.answer_format.kind == "multiple_choice"
            and self.gold is not None
            and self.gold not in self.answer_format.letters
        ):
            raise ValueError(
                f"instance {self.id!r}: gold {self.gold!r} is not one of the letters "
                f"{self.answer_format.letters}"
            )
        return self

    def prompt_text(self) -> str:
        """The question with its options written inline, as experts see it."""
        if not self.options or "The options are:" in self.question:
            return self.question
        opts = " ".join(f"({LETTERS[i]}) {o}" for i, o in enumerate(self.options))
        return f"{self.question} The options are: {opts}"


class SkillProfileEntry(_Record):
    """One expert's record on one skill: the paper's +1/-1 score and the counts behind it."""

    score: float = 0.0
    correct: int = Field(default=0, ge=0)
    total: int = Field(default=0, ge=0)


class ExpertScore(_Record):
    """A policy's score for one expert on one instance."""

    expert: str
    score: float


class RoutingDecision(_Record):
    """Why an instance went to the experts it went to."""

    instance_id: str
    keywords: list[str] = Field(default_factory=list)
    skills: list[str] = Field(default_factory=list)
    scores: list[ExpertScore] = Field(default_factory=list)
    experts: list[str] = Field(default_factory=list)
    consulted: list[str] = Field(
        default_factory=list,
        description="Experts also called whose answers do not vote (a cascade's first stage when it "
        "disagreed and the second stage answered).",
    )
    aggregator: str | None = None
    policy: str = ""
    why: str = ""

    @property
    def n_calls(self) -> int:
        """Expert calls made for the instance: every recruited sample, plus the consulted experts."""
        return len(self.experts) + sum(1 for e in dict.fromkeys(self.consulted) if e not in self.experts)

    @property
    def called(self) -> list[str]:
        """Every expert called once (recruited and consulted), in order."""
        return list(dict.fromkeys([*self.experts, *self.consulted]))


class Passage(_Record):
    """A retrieved passage of the knowledge store, as experts see it and traces record it."""

    id: str = Field(description="Stable chunk id in the knowledge store.")
    source: str = Field(description="Where the chunk comes from (file path or dataset id).")
    text: str
    title: str | None = None
    score: float | None = Field(default=None, description="Retrieval score (higher is better).")


class ExpertAnswer(_Record):
    """One expert's answer to one instance."""

    instance_id: str
    expert: str
    text: str | None = None
    answer: str | None = None
    missing: bool = False
    error: str | None = Field(default=None, description="Why the expert has no answer (its engine's error).")
    prompt_tokens: int = 0
    generated_tokens: int = 0


class AuditTrace(_Record):
    """The other branch of an audited question: what answering it the other way would have given."""

    branch: Literal["closed", "open"] = Field(description="The branch the gate did not take.")
    answer: str | None = None
    correct: bool | None = None
    experts: list[str] = Field(default_factory=list)
    prompt_tokens: int = 0
    generated_tokens: int = 0


class RetrievalTrace(_Record):
    """What the retrieval gate saw and decided for one question, and the passages its experts read.

    ``reason`` says why: ``always`` / ``never`` (the mode), ``skill`` (a strong skill never retrieves),
    ``coverage`` (the store had nothing for the question), ``gain`` / ``no_gain`` (the expected accuracy
    gain of retrieving against ``min_gain``), ``deferred`` (the question's skill is answered closed-book
    first and retrieved for only if its experts then disagree), ``fallback`` (no open-book profiles: the
    closed-book estimate alone), ``disagreement`` (the post-generation gate: the first pass's experts
    disagreed).
    """

    mode: Literal["never", "always", "gated"]
    retrieved: bool
    stage: Literal["pre", "post"] | None = Field(
        default=None, description="When the passages were fetched: before generation, or for a second pass."
    )
    reason: str
    score: float | None = Field(
        default=None, description="The pre-generation gate's score: the expected accuracy gain of retrieving."
    )
    p_closed: float | None = Field(
        default=None, description="Estimated chance the closed-book routed answer is right."
    )
    p_open: float | None = Field(default=None, description="Estimated chance the open-book answer is right.")
    agreement: float | None = Field(
        default=None, description="Share of the first pass's recruited experts that backed its answer."
    )
    score_post: float | None = Field(
        default=None,
        description="The post-generation gate's score (disagreeing questions): expected gain after the vote.",
    )
    coverage: dict[str, float | None] = Field(
        default_factory=dict, description="The store's coverage signal: top and margin of dense and BM25."
    )
    passages: list[Passage] = Field(default_factory=list)
    first_pass_experts: list[str] = Field(
        default_factory=list, description="Second pass only: the closed-book experts it replaced."
    )
    first_pass_answer: str | None = None
    audit: AuditTrace | None = None


class FinalAnswer(_Record):
    """The system's answer to one instance, with the trace that produced it."""

    instance_id: str
    answer: str | None
    correct: bool | None = None
    method: str = ""
    aggregation: str = ""
    aggregator_called: bool = False
    routing: RoutingDecision | None = None
    expert_answers: list[ExpertAnswer] = Field(default_factory=list)
    text: str | None = None
    error: str | None = Field(
        default=None,
        description="Why there is no answer: every recruited expert failed (``expert: error; ...``).",
    )
    error_code: str | None = Field(
        default=None,
        description="``context_length_exceeded`` when the question does not fit the experts' context, "
        "else ``generation_failed``; None when answered.",
    )
    retrieval: RetrievalTrace | None = None


class PairedComparison(_Record):
    """A method against the bench's reference (its best baseline) on the same questions."""

    reference: str
    delta: float = Field(description="Accuracy difference in points (method - reference).")
    p_bootstrap: float = Field(ge=0, le=1, description="Two-sided paired bootstrap over questions.")
    p_sign: float = Field(ge=0, le=1, description="Two-sided exact sign test on discordant questions.")


class MethodResult(_Record):
    """One method's outcome in a benchmark run (under cross-validation: means over the seeds)."""

    accuracy: float = Field(ge=0, le=100)
    calls_per_question: float = Field(ge=0)
    n: int = Field(ge=0)
    correct: int = Field(ge=0)
    aggregator_calls_per_question: float = 0.0
    per_category: dict[str, float] = Field(default_factory=dict)
    description: str = ""
    cost_per_question: float = Field(default=0.0, ge=0, description="Mean cost of its calls (pool unit).")
    accuracy_std: float | None = Field(default=None, description="Std of the accuracy over CV seeds.")
    seed_accuracies: list[float] = Field(default_factory=list, description="Accuracy of each CV seed.")
    comparison: PairedComparison | None = None
    judge_agreement: float | None = Field(
        default=None,
        description="Free-form answers: share of final answers where our math-verify verdict equals the "
        "recording's LLM-judge verdict on the same answer string.",
    )
    retrieval_rate: float | None = Field(
        default=None, description="Share of questions answered with retrieved passages (0-1)."
    )
    retrieval_stats: dict[str, float] = Field(
        default_factory=dict,
        description="Methods with retrieval: when it retrieved, accuracy per branch, tokens, seconds and "
        "store queries per question.",
    )
