"""An LLM in a role (planner, reviewer, critic): JSON out, validated, repaired and retried.

The role runs on any engine of a pool (batch-in, batch-out). Each request carries the output's JSON schema
(``GenRequest.json_schema``): engines that can constrain decoding to it do (vLLM structured outputs,
``response_format`` on OpenAI-compatible servers), the others ignore it. Whatever the engine, the text is
parsed (code fences, prose around the object, single quotes, trailing commas are repaired), validated
against the pydantic schema, and a request whose output does not validate is asked again with the
validation error, up to ``max_attempts``. A request that never validates yields ``value=None`` and the
caller falls back (the audio team to its rule-based planner).

Example::

    role = LLMRole("critic", engine, CriticVerdict, system_prompt="You review sound clips...")
    [out] = role.run(["Event door-1: a door creaks, 1.6 s, ..."])
    out.value      # a CriticVerdict, or None
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from common.generation import Generator, GenRequest, SamplingParams

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


@dataclass(frozen=True, slots=True, kw_only=True)
class RoleResult(Generic[M]):
    """One input's outcome: the validated value (or None), how many tries, and the errors on the way."""

    value: M | None
    attempts: int
    errors: tuple[str, ...]
    raw: str | None


def extract_json(text: str) -> Any:
    """The first JSON object in ``text``, repairing common slips; raises ``ValueError`` when there is none."""
    fenced = _FENCE.search(text)
    body = fenced.group(1) if fenced else text
    start = body.find("{")
    if start < 0:
        raise ValueError("no JSON object in the output")
    depth, end, in_str, esc = 0, None, False, False
    for i, ch in enumerate(body[start:], start):
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"':
            in_str = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                end = i + 1
                break
    candidate = body[start:end] if end else body[start:] + "}" * max(depth, 0)
    for attempt in (candidate, _TRAILING_COMMA.sub(r"\1", candidate)):
        try:
            return json.loads(attempt)
        except json.JSONDecodeError:
            pass
    repaired = _TRAILING_COMMA.sub(r"\1", candidate.replace("'", '"'))
    try:
        return json.loads(repaired)
    except json.JSONDecodeError as exc:
        raise ValueError(f"output is not valid JSON ({exc.msg} at {exc.pos})") from exc


class LLMRole(Generic[M]):
    """A role played by one engine, with schema-validated JSON output.

    Args:
        name: the role (``planner``, ``critic``), used in request ids and logs.
        engine: any engine (loaded on first ``generate``).
        schema: the pydantic model the output must validate as.
        system_prompt: the role's instructions.
        max_attempts: tries per input, the first included.
        max_tokens: per answer.
        schema_hint: what the prompt shows of the schema instead of its full JSON schema (a compact
            description and an example keep a small model's prompt short); with ``examples`` and no
            hint, the examples alone show the form. The request always carries the full schema, for
            engines that constrain decoding to it.
        examples: worked examples, (input, JSON answer) pairs, given as earlier turns of the chat (a
            small model copies a shown answer's form far better than it follows a description).
        check: ``check(input, value)`` -> what is wrong with a schema-valid value for that input, or
            None; a problem is sent back to the model like a schema error.
    """

    def __init__(
        self,
        name: str,
        engine: Generator,
        schema: type[M],
        *,
        system_prompt: str,
        max_attempts: int = 3,
        max_tokens: int = 512,
        schema_hint: str | None = None,
        examples: Sequence[tuple[str, str]] = (),
        check: Callable[[str, M], str | None] | None = None,
    ) -> None:
        self.name = name
        self.engine = engine
        self.schema = schema
        self.system_prompt = system_prompt
        self.max_attempts = max_attempts
        self.sampling = SamplingParams(temperature=0.0, max_tokens=max_tokens)
        self.schema_json = json.dumps(schema.model_json_schema())  # field order kept: a grammar follows it
        self.schema_hint = schema_hint
        self.examples = tuple(t for q, a in examples for t in (("user", q), ("assistant", a)))
        self.check = check

    def _request(self, i: int, attempt: int, turns: tuple[tuple[str, str], ...]) -> GenRequest:
        return GenRequest(
            request_id=f"{self.name}:{i}:{attempt}",
            messages=turns,
            sampling=self.sampling,
            json_schema=self.schema_json,
        )

    def parse(self, text: str | None) -> M:
        """Validate one output; raises ``ValueError`` with a message fit to send back to the model."""
        if not text:
            raise ValueError("empty output")
        try:
            return self.schema.model_validate(extract_json(text))
        except ValidationError as exc:
            raise ValueError(f"JSON does not match the schema: {exc.errors(include_url=False)}") from exc

    def _reply_format(self) -> str:
        if self.schema_hint:
            return f"\nReply with one JSON object, and nothing else:\n{self.schema_hint}"
        if self.examples:
            return "\nReply with one JSON object, as in the examples, and nothing else."
        schema = self.schema_json
        return f"\nReply with one JSON object matching this JSON schema, and nothing else:\n{schema}"

    def run(self, inputs: Sequence[str]) -> list[RoleResult[M]]:
        """One result per input, in order; invalid outputs are retried in batches with the error shown."""
        turns: dict[int, tuple[tuple[str, str], ...]] = {
            i: (
                (
                    "system",
                    self.system_prompt + self._reply_format(),
                ),
                *self.examples,
                ("user", text),
            )
            for i, text in enumerate(inputs)
        }
        errors: dict[int, list[str]] = {i: [] for i in turns}
        done: dict[int, RoleResult[M]] = {}
        for attempt in range(1, self.max_attempts + 1):
            todo = [i for i in turns if i not in done]
            if not todo:
                break
            results = self.engine.generate([self._request(i, attempt, turns[i]) for i in todo])
            for i, res in zip(todo, results, strict=True):
                try:
                    value = self.parse(res.text if res.error is None else None)
                    problem = self.check(inputs[i], value) if self.check is not None else None
                    if problem is not None:
                        raise ValueError(problem)
                except ValueError as exc:
                    msg = res.error or str(exc)
                    errors[i].append(msg[:300])
                    turns[i] = (
                        *turns[i],
                        ("assistant", (res.text or "")[:2000]),
                        (
                            "user",
                            f"That reply was not usable: {msg[:500]}. Reply again with only the JSON object.",
                        ),
                    )
                    if attempt == self.max_attempts:
                        done[i] = RoleResult(
                            value=None, attempts=attempt, errors=tuple(errors[i]), raw=res.text
                        )
                    continue
                done[i] = RoleResult(value=value, attempts=attempt, errors=tuple(errors[i]), raw=res.text)
        failed = sum(r.value is None for r in done.values())
        if failed:
            logger.warning(
                "role %s: %d of %d outputs never validated after %d attempts",
                self.name,
                failed,
                len(done),
                self.max_attempts,
            )
        return [done[i] for i in range(len(inputs))]
