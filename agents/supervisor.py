"""The supervisor loop: rounds of attempts batched per generator, checked, and sent back with instructions.

AudioGenie's trial-and-error refinement, with the rest of the product's machinery: every round groups the
pending tasks per generator (each loads once), a supervisor checks every output and returns a
:class:`~agents.messages.Verdict` with a concrete :class:`~agents.messages.Instruction`, and failed tasks
go into the next round (same generator with the instruction, or the next recruit) until they pass or the
retry budget is spent. Every attempt plan, output and verdict is a blackboard entry, so a killed job
resumes at the first attempt with no journaled output and never redoes a finished one.

Example::

    loop = SupervisorLoop(board=board, stage="generate", output_model=ClipRecord, max_attempts=3,
                          pick=recruiter_pick, generate=run_batch, check=supervise_clip)
    outcomes = loop.run(["e1", "e2"])      # {task_id: Outcome}
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from agents.blackboard import Blackboard
from agents.messages import Instruction, Verdict
from agents.recruit import batch_per_generator

logger = logging.getLogger(__name__)

OutT = TypeVar("OutT", bound=BaseModel)


class Attempt(BaseModel):
    """One planned try of a task: which generator, and the instruction it carries out."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task_id: str
    number: int = Field(ge=1)
    expert: str
    instruction: Instruction | None = None
    tried: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome(Generic[OutT]):
    """How a task ended: the chosen attempt, its output and verdict, and every verdict on the way."""

    attempt: Attempt
    output: OutT
    verdict: Verdict
    history: tuple[Verdict, ...]

    @property
    def attempts(self) -> int:
        return len(self.history)


class SupervisorLoop(Generic[OutT]):
    """Bounded generate-check-retry rounds.

    Args:
        board: the job's blackboard (journal).
        stage: step-key prefix (``generate``).
        output_model: the pydantic type of one output.
        max_attempts: retry budget per task (attempts, the first included).
        pick: ``(task_id, tried) -> generator`` (recruitment; None when every candidate was tried).
        generate: ``(generator, attempts) -> outputs``, one output per attempt, in order.
        check: ``(attempt, output) -> verdict``.
        on_progress: ``(stage, done, total)`` after each round's verdicts.
    """

    def __init__(
        self,
        *,
        board: Blackboard,
        stage: str,
        output_model: type[OutT],
        max_attempts: int,
        pick: Callable[[str, Sequence[str]], str | None],
        generate: Callable[[str, Sequence[Attempt]], list[OutT]],
        check: Callable[[Attempt, OutT], Verdict],
        on_progress: Callable[[str, int, int], None] | None = None,
    ) -> None:
        self.board = board
        self.stage = stage
        self.output_model = output_model
        self.max_attempts = max_attempts
        self.pick = pick
        self.generate = generate
        self.check = check
        self.on_progress = on_progress

    def _key(self, what: str, task_id: str, number: int) -> str:
        return f"{self.stage}/{task_id}/{number}/{what}"

    def _plan(self, attempt: Attempt) -> Attempt:
        return self.board.step(
            self._key("attempt", attempt.task_id, attempt.number), Attempt, lambda: attempt
        )

    def run(self, task_ids: Sequence[str]) -> dict[str, Outcome[OutT]]:
        """Run every task to a passing verdict or to the end of its budget."""
        pending: list[Attempt] = []
        for t in task_ids:
            first = self.pick(t, ())
            if first is None:  # pick raises when nothing serves the task; None means all were tried
                raise AssertionError(f"recruitment returned no first generator for {t}")
            pending.append(self._plan(Attempt(task_id=t, number=1, expert=first, tried=(first,))))
        history: dict[str, list[tuple[Attempt, OutT, Verdict]]] = {t: [] for t in task_ids}
        outcomes: dict[str, Outcome[OutT]] = {}
        while pending:
            outputs = self._round_outputs(pending)
            nxt: list[Attempt] = []
            for a in pending:
                out = outputs[a.task_id]
                verdict = self.board.step(self._key("verdict", a.task_id, a.number), Verdict,
                                          functools.partial(self.check, a, out))  # fmt: skip
                history[a.task_id].append((a, out, verdict))
                logger.info("%s %s attempt %d on %s: %s (%s)", self.stage, a.task_id, a.number, a.expert,
                            "pass" if verdict.passed else "fail", verdict.instruction.action)  # fmt: skip
                follow = self._follow_up(a, verdict)
                if follow is None:
                    outcomes[a.task_id] = _best(history[a.task_id])
                else:
                    nxt.append(self._plan(follow))
            pending = nxt
            if self.on_progress is not None:
                self.on_progress(self.stage, len(outcomes), len(task_ids))
        return outcomes

    def _round_outputs(self, pending: Sequence[Attempt]) -> dict[str, OutT]:
        """Outputs of one round: journaled ones read back, the rest generated in one batch per generator."""
        by_id = {a.task_id: a for a in pending}
        plan = batch_per_generator(f"{self.stage}", [(a.task_id, a.expert) for a in pending])
        outputs: dict[str, OutT] = {}
        for batch in plan.batches:
            todo = []
            for t in batch.instance_ids:
                a = by_id[t]
                key = self._key("output", t, a.number)
                found = self.board.get(key, self.output_model)
                if found is None:
                    todo.append(a)
                else:
                    outputs[t] = found
                    self.board.note_reused(key)
            if todo:
                results = self.generate(batch.expert, todo)
                self.board.put_many([(self._key("output", a.task_id, a.number), r)
                                     for a, r in zip(todo, results, strict=True)])  # fmt: skip
                outputs.update((a.task_id, r) for a, r in zip(todo, results, strict=True))
        return outputs

    def _follow_up(self, a: Attempt, verdict: Verdict) -> Attempt | None:
        """The next attempt a verdict asks for, or None when the task is finished."""
        action = verdict.instruction.action
        if verdict.passed or action in ("accept", "give_up") or a.number >= self.max_attempts:
            return None
        expert = a.expert
        if action == "next_generator":
            picked = self.pick(a.task_id, a.tried)
            if picked is None:  # every candidate tried: the same one again, as a plain regeneration
                logger.warning("%s %s: no untried generator left; regenerating on %s", self.stage,
                               a.task_id, expert)  # fmt: skip
            else:
                expert = picked
        tried = a.tried if expert in a.tried else (*a.tried, expert)
        return Attempt(task_id=a.task_id, number=a.number + 1, expert=expert,
                       instruction=verdict.instruction, tried=tried)  # fmt: skip


def _best(history: Sequence[tuple[Attempt, OutT, Verdict]]) -> Outcome[OutT]:
    """The passing attempt, else the one that passed the most checks (the latest among equals)."""
    ranked = sorted(enumerate(history), key=lambda iv: (iv[1][2].passed, iv[1][2].n_passed, iv[0]))
    attempt, output, verdict = ranked[-1][1]
    return Outcome(attempt=attempt, output=output, verdict=verdict, history=tuple(v for _, _, v in history))
