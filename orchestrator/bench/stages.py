"""The expert stages of a benchmark: every expert answers its planned questions, loaded once per stage."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from batching.engines.base import Engine
from batching.executor import run_plan
from batching.planner import plan_stage
from common.generation import GenRequest, GenResult
from common.records import Instance
from orchestrator.answers import extract_answer, extract_choice, is_correct

ProgressHook = Callable[[str, int, int], None]
_V = TypeVar("_V")


@dataclass(kw_only=True)
class AnswerMatrix:
    """Parsed answers and correctness for (instance, expert) pairs of one stage."""

    experts: tuple[str, ...]
    instances: list[Instance]
    answers: dict[tuple[str, str], str | None] = field(default_factory=dict)
    texts: dict[tuple[str, str], str | None] = field(default_factory=dict)
    recorded: dict[tuple[str, str], str | None] = field(default_factory=dict)
    tokens: dict[tuple[str, str], int] = field(default_factory=dict)
    missing: int = 0
    prompt_tokens: dict[tuple[str, str], int] = field(default_factory=dict)
    """Prompt tokens of each pair's generation (``tokens`` counts the generated ones)."""
    verdicts: dict[tuple[str, str], bool | None] = field(default_factory=dict)
    """The recording harness's verdict of each pair (what scores ``code`` answers)."""

    def subset(self, instances: Sequence[Instance]) -> AnswerMatrix:
        """The rows of ``instances`` only (e.g. the test split of a stage that also ran the profiling one)."""
        ids = {i.id for i in instances}

        def pick(d: Mapping[tuple[str, str], _V]) -> dict[tuple[str, str], _V]:
            return {k: v for k, v in d.items() if k[0] in ids}

        missing = sum(1 for k, t in self.texts.items() if k[0] in ids and t is None)
        return AnswerMatrix(
            experts=self.experts,
            instances=list(instances),
            answers=pick(self.answers),
            texts=pick(self.texts),
            recorded=pick(self.recorded),
            tokens=pick(self.tokens),
            missing=missing,
            prompt_tokens=pick(self.prompt_tokens),
            verdicts=pick(self.verdicts),
        )

    def answer_rows(self) -> list[list[str | None]]:
        return [[self.answers.get((i.id, e)) for e in self.experts] for i in self.instances]

    def correct_rows(self) -> list[list[bool]]:
        """Each pair's answer is right: by the gold answer, or for code by the recording's verdict."""
        return [[self._correct(i, e) for e in self.experts] for i in self.instances]

    def _correct(self, inst: Instance, expert: str) -> bool:
        answer = self.answers.get((inst.id, expert))
        if inst.answer_format.kind == "code":
            return answer is not None and bool(self.verdicts.get((inst.id, expert)))
        return is_correct(answer, inst.gold, inst.answer_format)

    def answered_rows(self) -> list[list[bool]]:
        """Each pair has a row (a question the model was never run on is not answered, not wrong)."""
        return [[self.texts.get((i.id, e)) is not None for e in self.experts] for i in self.instances]

    def extractor_agreement(self) -> tuple[int, int]:
        """How often our extractor's letter equals the recorded ``pred`` (agreeing pairs, pairs with text)."""
        by_id = {i.id: i for i in self.instances}
        agree = total = 0
        for key, text in self.texts.items():
            if text is None:
                continue
            total += 1
            inst = by_id[key[0]]
            agree += extract_choice(text, inst.answer_format.letters) == self.recorded.get(key)
        return agree, total


def run_expert_stage(
    stage: str,
    instances: Sequence[Instance],
    experts: Sequence[str],
    engines: Mapping[str, Engine],
    make_request: Callable[[Instance, str], GenRequest],
    *,
    answer_source: str = "extracted",
    on_progress: ProgressHook | None = None,
) -> AnswerMatrix:
    """Plan (instance, expert) pairs per expert, execute them, and parse every answer.

    Args:
        stage: the stage's name.
        instances: the questions; every listed expert answers every one.
        experts: the experts of the pool, in load order.
        engines: one engine per expert.
        make_request: builds the request for a question and an expert.
        answer_source: ``recorded`` uses an answer the engine already parsed (replay's ``pred``);
            ``extracted`` parses the generated text.
        on_progress: progress callback (expert, done, total).
    """
    by_id = {i.id: i for i in instances}
    plan = plan_stage(stage, [(i.id, experts) for i in instances], load_order=experts)
    done = run_plan(plan, engines, lambda iid, e: make_request(by_id[iid], e), on_progress=on_progress)
    return answer_matrix(done.results, instances, experts, answer_source)


def answer_matrix(
    results: Mapping[tuple[str, str], GenResult],
    instances: Sequence[Instance],
    experts: Sequence[str],
    answer_source: str = "extracted",
) -> AnswerMatrix:
    """Parse a stage's results into an :class:`AnswerMatrix` (see :func:`run_expert_stage`)."""
    by_id = {i.id: i for i in instances}
    matrix = AnswerMatrix(experts=tuple(experts), instances=list(instances))
    for (iid, expert), res in results.items():
        matrix.texts[(iid, expert)] = res.text
        matrix.recorded[(iid, expert)] = res.extracted
        matrix.tokens[(iid, expert)] = res.generated_tokens
        matrix.prompt_tokens[(iid, expert)] = res.prompt_tokens
        matrix.verdicts[(iid, expert)] = res.verdict
        matrix.answers[(iid, expert)] = _parse(res, by_id[iid], answer_source)
        matrix.missing += int(res.missing)
    return matrix


def _parse(res: GenResult, inst: Instance, answer_source: str) -> str | None:
    if res.missing or res.error is not None:
        return None
    if answer_source == "recorded":
        return (
            _recorded_letter(res.extracted) if inst.answer_format.kind == "multiple_choice" else res.extracted
        )
    return extract_answer(res.text, inst.answer_format)


def _recorded_letter(pred: str | None) -> str | None:
    """A recorded letter as votes read it: BIG-Bench-Hard's harness stores ``(D)``, MMLU-Pro's ``D``."""
    if pred is not None and len(pred) == 3 and pred[0] + pred[2] == "()":
        return pred[1]
    return pred
