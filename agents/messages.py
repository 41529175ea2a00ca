"""Typed messages agents exchange on the blackboard: checks, instructions and supervisor verdicts."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Action = Literal["accept", "regenerate", "change_gain", "retime", "trim", "next_generator", "give_up"]
"""What a supervisor tells the generating side to do with a task after its checks."""


class CheckResult(BaseModel):
    """One model-free check: the measured value, the bound it is compared with, and the outcome.

    ``bound`` reads with ``op``: ``value <= bound``, ``value >= bound``, or ``|value| <= bound``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str
    value: float | None
    bound: float
    op: Literal["<=", ">=", "abs<="] = "<="
    passed: bool = Field(serialization_alias="pass", validation_alias="pass")
    unit: str = ""
    detail: str = ""

    @classmethod
    def compare(
        cls, name: str, value: float | None, bound: float, op: Literal["<=", ">=", "abs<="], unit: str = ""
    ) -> CheckResult:
        """Build a check; a missing value (``None``, e.g. loudness of silence) fails."""
        if value is None:
            ok = False
        elif op == "<=":
            ok = value <= bound
        elif op == ">=":
            ok = value >= bound
        else:
            ok = abs(value) <= bound
        return cls.model_validate(
            {
                "name": name,
                "value": None if value is None else round(float(value), 4),
                "bound": bound,
                "op": op,
                "pass": ok,
                "unit": unit,
            }  # fmt: skip
        )


class Instruction(BaseModel):
    """A supervisor's concrete instruction for the next attempt of a task."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Action
    reason: str = ""
    gain_db: float = 0.0
    rate: float = Field(default=1.0, gt=0, description="Speaking-rate factor for speech (>1 is faster).")
    trim_to_s: float | None = Field(default=None, gt=0)


class Verdict(BaseModel):
    """A supervisor's decision on one attempt: its checks, whether it passes, and what to do next."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task_id: str
    attempt: int = Field(ge=1)
    expert: str
    checks: tuple[CheckResult, ...]
    passed: bool
    instruction: Instruction

    @property
    def n_passed(self) -> int:
        return sum(c.passed for c in self.checks)

    def failed_checks(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed]
