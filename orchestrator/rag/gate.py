"""The pre-generation retrieval gate: retrieve for a question only when passages should buy accuracy.

Fitted on the profiling split alone (:meth:`RetrievalGate.fit`), from the method's cross-validated
outcomes on both books (:func:`~orchestrator.rag.outcome.cross_validate`):

- ``p_closed``: the chance the method's closed-book answer is right (recruited experts' closed-book kNN
  local accuracy, the method's track record near the question, its skill, the store's coverage signal);
- ``p_open``: the same open-book, with the experts the open-book profiles recruit (the reader, say);
- the score is the expected gain ``p_open - p_closed``; the gate retrieves when it exceeds ``min_gain``
  (the price of one retrieval in accuracy);
- a skill whose closed-book accuracy is at least ``strong_skill_accuracy`` on the profiling split (and
  where retrieval gained less than ``min_gain``) never retrieves, and a question the store has no hit
  for never does either;
- a skill is *deferred* when answering closed-book first and retrieving only for the questions whose
  experts then disagree (the post-generation gate) is worth more on the profiling split than gating
  before generation: accuracy minus ``min_gain`` per retrieval, both paths read from the
  cross-validated outcomes (a skill's values are shrunk toward all questions' by 10 pseudo-questions,
  so a skill with few profiling questions leans on the overall values, and one the profiles do not
  hold follows them). That is the case
  where a question's kind cannot say whether the experts know the answer but their agreement can (some
  entities learnt in training, some not): the gate then waits for the experts' answers instead of
  retrieving for the whole skill.

Without open-book profiles the gate falls back to ``p_closed < fallback_accuracy``.

Example::

    gate = RetrievalGate.fit(cfg, method, closed, gold, signals, open_book=opened)
    for d in gate.assess(inputs):
        d.retrieve, d.reason, d.score
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from common.records import Instance
from orchestrator.method import MethodConfig
from orchestrator.policies import ProfilingData
from orchestrator.rag.config import GateConfig
from orchestrator.rag.outcome import GROUP_PRIOR, OutcomeModel, Outcomes, Signals, cross_validate

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class GateDecision:
    """The gate's verdict on one question.

    Attributes:
        retrieve: fetch passages and answer open-book.
        reason: ``skill``, ``coverage``, ``gain``, ``no_gain``, ``deferred`` (closed-book first; the
            post-generation gate retrieves if the experts disagree) or ``fallback``.
        score: the expected accuracy gain of retrieving (``1 - p_closed`` in the fallback).
        p_closed: estimated chance the closed-book answer is right.
        p_open: estimated chance the open-book answer is right (None without open-book profiles).
    """

    retrieve: bool
    reason: str
    score: float
    p_closed: float
    p_open: float | None


@dataclass(frozen=True, kw_only=True)
class GateInputs:
    """What the gate reads about a batch of new questions, aligned by row.

    Attributes:
        signals: embeddings, groups, question features and (with a store) coverage features.
        closed_accuracy: (q, 3) the closed-book recruits' local accuracy features.
        open_accuracy: (q, 3) the open-book recruits' (None without open-book profiles).
        has_hits: (q,) the store returned at least one passage (None: not probed).
    """

    signals: Signals
    closed_accuracy: np.ndarray
    open_accuracy: np.ndarray | None = None
    has_hits: np.ndarray | None = None

    def take(self, rows: Iterable[int]) -> GateInputs:
        """The inputs of questions ``rows`` only."""
        idx = list(rows)
        return GateInputs(
            signals=self.signals.take(idx),
            closed_accuracy=self.closed_accuracy[idx],
            open_accuracy=self.open_accuracy[idx] if self.open_accuracy is not None else None,
            has_hits=self.has_hits[idx] if self.has_hits is not None else None,
        )


@dataclass(frozen=True, kw_only=True)
class SkillRecord:
    """A skill's cross-validated accuracy on the profiling split, closed- and open-book.

    ``defer``: its questions are answered closed-book first and retrieved for only when the experts
    disagree (``pre_value`` and ``defer_value``: accuracy minus ``min_gain`` per retrieval on the
    profiling split, gating before generation and deferring).
    """

    questions: int
    closed: float
    open: float | None
    strong: bool
    defer: bool = False
    pre_value: float | None = None
    defer_value: float | None = None


class RetrievalGate:
    """A fitted gate (build it with :meth:`fit`)."""

    def __init__(
        self,
        config: GateConfig,
        closed: OutcomeModel,
        opened: OutcomeModel | None,
        skills: dict[str, SkillRecord],
        *,
        uses_coverage: bool,
        closed_post: OutcomeModel | None = None,
        defer_unseen: bool = False,
    ) -> None:
        self.config = config
        self.closed = closed
        self.opened = opened
        self.skills = skills
        self.uses_coverage = uses_coverage
        self.closed_post = closed_post
        self.defer_unseen = defer_unseen
        """Defer the questions of a skill the profiles do not hold (or of none): the verdict over all
        profiling questions."""

    @property
    def strong_skills(self) -> list[str]:
        """Skills that never retrieve."""
        return sorted(s for s, r in self.skills.items() if r.strong)

    @property
    def deferred_skills(self) -> list[str]:
        """Skills answered closed-book first (retrieved for only when the experts disagree); ``*`` stands
        for skills the profiles do not hold, when those are deferred too."""
        return sorted(s for s, r in self.skills.items() if r.defer) + (["*"] if self.defer_unseen else [])

    @classmethod
    def fit(
        cls,
        config: GateConfig,
        method: MethodConfig,
        closed: ProfilingData,
        gold: Sequence[str],
        signals: Signals,
        *,
        open_book: ProfilingData | None = None,
        instances: Sequence[Instance] | None = None,
        seed: int = 0,
        agreement_threshold: float = 0.0,
    ) -> RetrievalGate:
        """Fit on the profiling split: cross-validated outcomes of both books, two outcome models, skills.

        Args:
            config: the gate's settings.
            method: the method whose answers the gate protects.
            closed: closed-book profiling data.
            gold: the profiling questions' gold answers.
            signals: the profiling questions' signals (groups = first skill; coverage when profiled with
                a store).
            open_book: open-book profiling data of the same questions (None: the fallback gate).
            instances: the profiling questions (answer formats), when known.
            seed: the folds' seed.
            agreement_threshold: the post-generation gate's threshold (the pool's
                ``agreement_threshold``; 0: no post-generation gate, so no skill is deferred).
        """
        kw = {"folds": config.folds, "seed": seed}
        out_c = cross_validate("closed", method, closed, gold, instances, **kw)
        out_o = cross_validate("open", method, open_book, gold, instances, **kw) if open_book else None
        model_c = OutcomeModel(neighbours=config.neighbours, l2=config.l2).fit(out_c, signals)
        model_o = (
            OutcomeModel(neighbours=config.neighbours, l2=config.l2).fit(out_o, signals) if out_o else None
        )
        post = OutcomeModel(neighbours=config.neighbours, l2=config.l2, post=True).fit(out_c, signals)
        skills = _skill_records(config, signals.groups, out_c, out_o)
        defer_unseen = False
        if out_o is not None and model_o is not None and agreement_threshold > 0:
            paths = _Paths.of(config, signals, (out_c, out_o), (model_c, model_o, post), agreement_threshold)
            skills, defer_unseen = paths.judge(config, skills, signals.groups)
        gate = cls(config, model_c, model_o, skills, uses_coverage=signals.coverage is not None,
                   closed_post=post, defer_unseen=defer_unseen)  # fmt: skip
        logger.info(
            "retrieval gate: fitted on %d profiling questions (closed-book CV accuracy %.3f%s); "
            "strong skills (never retrieve): %s; deferred skills (retrieve after disagreement): %s",
            len(gold),
            out_c.correct.mean(),
            f", open-book {out_o.correct.mean():.3f}" if out_o else "",
            ", ".join(gate.strong_skills) or "none",
            ", ".join(gate.deferred_skills) or "none",
        )
        return gate

    def assess(self, inputs: GateInputs) -> list[GateDecision]:
        """The pre-generation decision for each question of the batch."""
        sig = self._signals(inputs)
        return self._decide(
            inputs, self.closed.predict(inputs.closed_accuracy, sig), "gain", self.config.min_gain
        )

    def assess_post(self, inputs: GateInputs, vote: np.ndarray) -> list[GateDecision]:
        """The post-generation decision for closed-book questions whose experts disagreed.

        ``p_closed`` is now read after generation: the closed-book model with the vote's agreement,
        margin and spread (``vote``, (q, 3)); the question is answered again open-book when the open-book
        estimate beats it by more than ``post_min_gain`` (reason ``disagreement``).
        """
        assert self.closed_post is not None  # fit() builds it
        p_c = self.closed_post.predict(inputs.closed_accuracy, self._signals(inputs), vote)
        gain = self.config.post_min_gain
        return self._decide(inputs, p_c, "disagreement", self.config.min_gain if gain is None else gain)

    def _signals(self, inputs: GateInputs) -> Signals:
        sig = inputs.signals
        if not self.uses_coverage and sig.coverage is not None:
            sig = Signals(
                embeddings=sig.embeddings, groups=sig.groups, questions=sig.questions, coverage=None
            )
        return sig

    def _decide(
        self, inputs: GateInputs, p_c: np.ndarray, reason: str, min_gain: float
    ) -> list[GateDecision]:
        sig = self._signals(inputs)
        p_o = None
        if self.opened is not None and inputs.open_accuracy is not None:
            p_o = self.opened.predict(inputs.open_accuracy, sig)
        cfg = self.config
        out = []
        for i, group in enumerate(sig.groups):
            pc = float(p_c[i])
            po = float(p_o[i]) if p_o is not None else None
            score = po - pc if po is not None else 1.0 - pc
            record = self.skills.get(group)
            if record is not None and record.strong:
                out.append(GateDecision(retrieve=False, reason="skill", score=score, p_closed=pc, p_open=po))
            elif (record.defer if record is not None else self.defer_unseen) and reason == "gain":
                out.append(
                    GateDecision(retrieve=False, reason="deferred", score=score, p_closed=pc, p_open=po)
                )
            elif inputs.has_hits is not None and not inputs.has_hits[i]:
                out.append(
                    GateDecision(retrieve=False, reason="coverage", score=score, p_closed=pc, p_open=po)
                )
            elif po is not None:
                yes = score > min_gain
                out.append(
                    GateDecision(
                        retrieve=yes, reason=reason if yes else "no_gain", score=score, p_closed=pc, p_open=po
                    )
                )
            else:
                yes = pc < cfg.fallback_accuracy
                why = ("fallback" if reason == "gain" else reason) if yes else "no_gain"
                out.append(GateDecision(retrieve=yes, reason=why, score=score, p_closed=pc, p_open=po))
        return out


def _skill_records(
    config: GateConfig, groups: Sequence[str], closed: Outcomes, opened: Outcomes | None
) -> dict[str, SkillRecord]:
    out = {}
    for g in sorted(set(groups) - {""}):
        rows = np.array([x == g for x in groups])
        n = int(rows.sum())
        acc_c = float(closed.correct[rows].mean())
        acc_o = float(opened.correct[rows].mean()) if opened is not None else None
        gains = acc_o is not None and acc_o - acc_c >= config.min_gain
        strong = n >= config.min_skill_questions and acc_c >= config.strong_skill_accuracy and not gains
        out[g] = SkillRecord(questions=n, closed=acc_c, open=acc_o, strong=strong)
    return out


@dataclass(frozen=True, kw_only=True)
class _Paths:
    """Each profiling question's outcome and retrieval under the two ways a skill can be gated.

    ``pre``: the pre-generation gate's verdicts (retrieved questions take the open-book outcome; the
    others go through the post-generation gate); ``post`` (deferred): every question answered closed-book
    first, then the post-generation gate (experts that disagree, and an open-book estimate that beats
    the vote-aware closed-book one by ``post_min_gain``). Estimates are the fitted models' on their own
    profiling questions, whose outcomes are cross-validated.
    """

    pre_correct: np.ndarray
    pre_retrieved: np.ndarray
    post_correct: np.ndarray
    post_retrieved: np.ndarray

    @classmethod
    def of(
        cls,
        config: GateConfig,
        signals: Signals,
        outcomes: tuple[Outcomes, Outcomes],
        models: tuple[OutcomeModel, OutcomeModel, OutcomeModel],
        agreement_threshold: float,
    ) -> _Paths:
        (out_c, out_o), (model_c, model_o, post) = outcomes, models
        p_c = model_c.predict(out_c.accuracy, signals)
        p_o = model_o.predict(out_o.accuracy, signals)
        p_post = post.predict(out_c.accuracy, signals, out_c.vote)
        post_gain = config.min_gain if config.post_min_gain is None else config.post_min_gain
        checked = (out_c.vote[:, 0] < agreement_threshold) & (p_o - p_post > post_gain)
        pre = p_o - p_c > config.min_gain
        return cls(
            pre_correct=np.where(pre | checked, out_o.correct, out_c.correct),
            pre_retrieved=pre | checked,
            post_correct=np.where(checked, out_o.correct, out_c.correct),
            post_retrieved=checked,
        )

    def judge(
        self, config: GateConfig, skills: dict[str, SkillRecord], groups: Sequence[str]
    ) -> tuple[dict[str, SkillRecord], bool]:
        """Each skill's record with both paths' values, deferred where waiting is worth more, and the
        decision for questions of a skill the profiles do not hold (all questions' values).

        A path's value is its accuracy minus ``min_gain`` per retrieval. A skill's values are shrunk toward
        all questions' by ``GROUP_PRIOR`` pseudo-questions, so a skill with few profiling questions
        follows the overall verdict.
        """
        price = config.min_gain
        pre = self.pre_correct - price * self.pre_retrieved
        wait = self.post_correct - price * self.post_retrieved
        overall = (float(pre.mean()), float(wait.mean()))
        out = {}
        for group, record in skills.items():
            rows = np.array([x == group for x in groups])
            n = int(rows.sum())
            v_pre, v_wait = ((float(v[rows].sum()) + GROUP_PRIOR * o) / (n + GROUP_PRIOR)
                             for v, o in ((pre, overall[0]), (wait, overall[1])))  # fmt: skip
            out[group] = SkillRecord(
                questions=record.questions, closed=record.closed, open=record.open, strong=record.strong,
                defer=not record.strong and v_wait > v_pre, pre_value=v_pre, defer_value=v_wait,
            )  # fmt: skip
        return out, overall[1] > overall[0]


def first_skills(skills: Sequence[Sequence[str]]) -> list[str]:
    """Each question's group for the gate: its first (nearest) skill, "" when it has none."""
    return [s[0] if s else "" for s in skills]
