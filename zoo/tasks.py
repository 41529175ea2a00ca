"""Skill task generators of the zoo: seeded plain-sentence questions with exactly computed answers.

Seven skills a tiny transformer can learn on a CPU in minutes: two small arithmetic tables (``add``,
``mul``), a fixed-table unit conversion (``convert``), ``roman`` numerals, and three letter skills
(``reverse`` or ``sort`` a string, step through the ``alphabet``). Every skill has several question
templates, so a model has to read the question rather than match one fixed sentence. The ranges are
small on purpose: a 0.4M-parameter model learns each in one to four CPU minutes, while a few hundred
stray examples (what a specialist sees of the other skills) teach it almost nothing.

Every answer is free-form and scored as math (``AnswerFormat(kind="math")``): numbers are written plainly
(``14``) and letter strings as LaTeX text (``\\text{FKMQZ}``), the MATH dataset's convention for word
answers. The ``\\text{}`` matters: math-verify reads a bare ``FKMQZ`` as the product ``F*K*M*Q*Z``, so
any anagram (the unreversed input, say) would compare equal; a ``\\text{}`` answer compares as a string.
Models are trained to reply ``The answer is \\boxed{14}.``

Rows are in the ``load_questions`` format (``{id, question, answer, category, kind}``), with
``category`` the skill name::

    rows = generate_split(seed=7, n_per_skill=3, skills=("add", "reverse"))
    rows[0]  # {'id': 's7-add-0000', 'question': 'What do you get when you add 6 to 8?', 'answer': '14', ...}
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.resources import package_path

__all__ = [
    "SKILLS",
    "ZOO_DATA_DIR",
    "SPLIT_SEEDS",
    "ZooQuestion",
    "answer_text",
    "generate_question",
    "generate_split",
    "read_rows",
    "write_rows",
    "zoo_splits",
]

ZOO_DATA_DIR = package_path("zoo", "data")
"""Where the seeded zoo benchmark files live (``zoo_validation.jsonl``, ``zoo_test.jsonl``)."""

_UPPER = string.ascii_uppercase


@dataclass(frozen=True, slots=True)
class ZooQuestion:
    """One generated question and its gold answer (as it appears inside ``\\boxed{}``)."""

    skill: str
    question: str
    answer: str


def _text(s: str) -> str:
    return f"\\text{{{s}}}"


def _letters(rng: random.Random, lo: int, hi: int) -> str:
    return "".join(rng.choice(_UPPER) for _ in range(rng.randint(lo, hi)))


def _add(rng: random.Random) -> tuple[str, str]:
    a, b = rng.randint(1, 20), rng.randint(1, 9)
    if rng.random() < 0.5:
        a, b = b, a
    template = rng.choice(
        (
            "What is {a} plus {b}?",
            "Add {a} and {b}.",
            "Compute the sum of {a} and {b}.",
            "What do you get when you add {b} to {a}?",
            "Calculate {a} + {b}.",
        )
    )
    return template.format(a=a, b=b), str(a + b)


_ROMAN = ((90, "XC"), (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"))


def _to_roman(n: int) -> str:
    out = []
    for value, numeral in _ROMAN:
        count, n = divmod(n, value)
        out.append(numeral * count)
    return "".join(out)


def _roman(rng: random.Random) -> tuple[str, str]:
    n = rng.randint(1, 99)
    template = rng.choice(
        (
            "Write {n} in Roman numerals.",
            "What is {n} as a Roman numeral?",
            "How do you write the number {n} in Roman numerals?",
            "Express {n} using Roman numerals.",
            "Give the Roman numeral for {n}.",
            "Which Roman numeral stands for {n}?",
        )
    )
    return template.format(n=n), _text(_to_roman(n))


def _mul(rng: random.Random) -> tuple[str, str]:
    a, b = rng.randint(2, 15), rng.randint(2, 9)
    template = rng.choice(
        (
            "What is {a} times {b}?",
            "Multiply {a} by {b}.",
            "What is the product of {a} and {b}?",
            "Calculate {a} * {b}.",
            "What is {b} multiplied by {a}?",
        )
    )
    return template.format(a=a, b=b), str(a * b)


def _reverse(rng: random.Random) -> tuple[str, str]:
    s = _letters(rng, 3, 6)
    template = rng.choice(
        (
            "Reverse the string '{s}'.",
            "Write '{s}' backwards.",
            "What is '{s}' spelled in reverse order?",
            "Reverse the letters of '{s}'.",
            "Spell '{s}' from right to left.",
        )
    )
    return template.format(s=s), _text(s[::-1])


def _sort(rng: random.Random) -> tuple[str, str]:
    s = _letters(rng, 4, 7)
    template = rng.choice(
        (
            "Sort the letters of '{s}' in alphabetical order.",
            "Arrange the letters '{s}' alphabetically.",
            "Put the letters of '{s}' in order from A to Z.",
            "What do you get when you sort the letters in '{s}'?",
        )
    )
    return template.format(s=s), _text("".join(sorted(s)))


def _alphabet(rng: random.Random) -> tuple[str, str]:
    n = rng.randint(1, 6)
    start = rng.randint(0, 25 - n)
    template = rng.choice(
        (
            "What letter comes {n} {places} after '{c}' in the alphabet?",
            "Which letter is {n} {positions} after '{c}' in the alphabet?",
            "Move {n} {letters} forward from '{c}' in the alphabet. Which letter do you reach?",
            "Starting at '{c}', count {n} {letters} ahead in the alphabet. Where do you land?",
            "In the alphabet, what is {n} {letters} past '{c}'?",
            "Skip ahead {n} {letters} from '{c}' in the alphabet. Which letter is it?",
        )
    )
    plural = "" if n == 1 else "s"
    question = template.format(
        n=n,
        c=_UPPER[start],
        places=f"place{plural}",
        positions=f"position{plural}",
        letters=f"letter{plural}",
    )
    return question, _text(_UPPER[start + n])


_CONVERSIONS: tuple[tuple[str, str, int], ...] = (
    ("meters", "centimeters", 100),
    ("kilometers", "meters", 1000),
    ("kilograms", "grams", 1000),
    ("hours", "minutes", 60),
    ("minutes", "seconds", 60),
    ("days", "hours", 24),
    ("weeks", "days", 7),
    ("feet", "inches", 12),
    ("years", "months", 12),
)
"""The fixed conversion table: (from unit, to unit, factor)."""


def _convert(rng: random.Random) -> tuple[str, str]:
    src, dst, factor = rng.choice(_CONVERSIONS)
    n = rng.randint(2, 20)
    template = rng.choice(
        (
            "How many {dst} are in {n} {src}?",
            "Convert {n} {src} to {dst}.",
            "{n} {src} is how many {dst}?",
            "Express {n} {src} in {dst}.",
        )
    )
    return template.format(n=n, src=src, dst=dst), str(n * factor)


_GENERATORS: dict[str, Callable[[random.Random], tuple[str, str]]] = {
    "add": _add,
    "roman": _roman,
    "mul": _mul,
    "reverse": _reverse,
    "sort": _sort,
    "alphabet": _alphabet,
    "convert": _convert,
}

SKILLS: tuple[str, ...] = tuple(_GENERATORS)
"""Every zoo skill, in a fixed order (also the ``category`` values of the benchmark files)."""


def generate_question(skill: str, rng: random.Random) -> ZooQuestion:
    """Draw one question of ``skill`` from ``rng``.

    Args:
        skill: one of :data:`SKILLS`.
        rng: the random source (advanced by the draw).

    Returns:
        The question and its exact answer.

    Raises:
        KeyError: ``skill`` is not a zoo skill (the message lists them).
    """
    try:
        gen = _GENERATORS[skill]
    except KeyError:
        raise KeyError(f"unknown zoo skill {skill!r}; available: {', '.join(SKILLS)}") from None
    question, answer = gen(rng)
    return ZooQuestion(skill, question, answer)


def answer_text(answer: str) -> str:
    """The reply a zoo expert is trained to give for a gold answer: ``The answer is \\boxed{14}.``"""
    return f"The answer is \\boxed{{{answer}}}."


def generate_split(
    seed: int, n_per_skill: int, skills: Sequence[str] = SKILLS, *, exclude: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """A seeded question set: ``n_per_skill`` distinct questions per skill, skills in the given order.

    Each skill draws from its own generator seeded with ``f"{seed}-{skill}"``, so a skill's questions do
    not change when other skills are added or removed.

    Args:
        seed: the split's seed.
        n_per_skill: questions per skill.
        skills: the skills to include.
        exclude: question texts never to emit (e.g. another split's, to keep sets disjoint).

    Returns:
        Rows in the ``load_questions`` format: ``id`` (``s{seed}-{skill}-{i:04d}``), ``question``,
        ``answer``, ``category`` (the skill) and ``kind`` (``math``).
    """
    excluded = set(exclude)
    rows: list[dict[str, Any]] = []
    for skill in skills:
        rng = random.Random(f"{seed}-{skill}")
        seen: set[str] = set()
        while len(seen) < n_per_skill:
            q = generate_question(skill, rng)
            if q.question in seen or q.question in excluded:
                continue
            rows.append(
                {
                    "id": f"s{seed}-{skill}-{len(seen):04d}",
                    "question": q.question,
                    "answer": q.answer,
                    "category": skill,
                    "kind": "math",
                }
            )
            seen.add(q.question)
    return rows


SPLIT_SEEDS: dict[str, tuple[int, int]] = {
    "validation": (1001, 40),
    "test": (2002, 100),
    "eval": (3003, 50),
}
"""Seed and questions per skill of each held-out split: ``validation`` (profiling), ``test`` (the zoo
benchmark) and ``eval`` (what ``training_record.json`` reports). They are disjoint, and no training
example repeats one of their questions."""


def zoo_splits() -> dict[str, list[dict[str, Any]]]:
    """The held-out splits of :data:`SPLIT_SEEDS`, each disjoint from the ones before it."""
    splits: dict[str, list[dict[str, Any]]] = {}
    taken: set[str] = set()
    for name, (seed, n) in SPLIT_SEEDS.items():
        splits[name] = generate_split(seed, n, SKILLS, exclude=taken)
        taken.update(r["question"] for r in splits[name])
    return splits


def write_rows(rows: Iterable[dict[str, Any]], path: str | Path) -> Path:
    """Write rows as JSONL (one object per line, keys in a fixed order); returns the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return p


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """Read rows written by :func:`write_rows`."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]
