"""Answer extraction and scoring: choice letters, boxed math answers, and reasoning-trace trimming."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from fractions import Fraction
from functools import lru_cache

from common.errors import ConfigError
from common.records import LETTERS, AnswerFormat
from orchestrator.math_values import surely_unequal

logger = logging.getLogger(__name__)

__all__ = [
    "extract_answer",
    "extract_boxed",
    "extract_choice",
    "extract_code",
    "extract_statement",
    "answer_equivalence",
    "is_correct",
    "math_equal",
    "math_equivalent",
    "math_verdicts",
    "remember_math_verdicts",
    "trivial_verdict",
    "trim_reasoning",
]

_THINK_END = "</think>"
_THINK_START = "<think>"
_BOX_OPENERS = ("\\boxed{", "\\fbox{")
# "The answer is 42", "final answer is: $-3.5$", "answer is 1/2" -- the plain-text fallback of extract_boxed.
_MATH_ANSWER_IS = re.compile(r"answer is[:\s]*\$?\s*([-+]?\d[\d,]*(?:\.\d+)?(?:/\d+)?)", re.IGNORECASE)
# An answer that is a word of capital letters, bare or in \text{}: compared as a string, not a product.
_UPPER_WORD = re.compile(r"(?:\\text\{)?\s*([A-Z]{2,})\s*\}?")
# math-verify's timeouts use signal.alarm, which only works in the main thread.
_MATH_VERIFY_TIMEOUT_S = 5


@lru_cache(maxsize=64)
def _choice_patterns(letters: str) -> tuple[re.Pattern[str], ...]:
    cls = "[" + re.escape(letters) + "]"
    return (
        # The MMLU-Pro harness (TIGER-AI-Lab/MMLU-Pro, compute_accuracy.py), step 1: first "answer is (X)".
        re.compile(rf"answer is \(?({cls})\)?"),
        # Reasoning models box their letter: \boxed{C} or \boxed{(C)} or \boxed{\text{C}}.
        re.compile(rf"\\boxed\{{\s*(?:\\text\{{)?\(?({cls})\)?\}}?\s*\}}"),
        # Harness step 2, r".*[aA]nswer:\s*\(?([A-J])\)?" -- see _answer_colon for how it is searched.
        re.compile(rf"[aA]nswer:\s*\(?({cls})"),
        # Harness step 3, r"\b[A-J]\b(?!.*\b[A-J]\b)" with DOTALL: the last standalone letter. Standalone
        # letters cannot overlap, so the last of all matches is the same letter in linear time.
        re.compile(rf"\b({cls})\b"),
    )


def _answer_colon(pattern: re.Pattern[str], text: str) -> str | None:
    r"""The harness's ``re.search(r".*[aA]nswer:\s*\(?([A-J])\)?", text)`` in linear time.

    The leading ``.*`` (no DOTALL) makes ``re.search`` quadratic on long single-line texts. What it
    selects: the first line holding a match, and in that line the last ``Answer:`` that matches
    (``\s*`` may run onto later lines). ``pattern`` drops the ``.*`` and the optional closing
    parenthesis, which never changes the group.
    """
    matches = list(pattern.finditer(text))
    if not matches:
        return None
    first_line_end = text.find("\n", matches[0].start())
    if first_line_end == -1:
        return matches[-1].group(1)
    same_line = [m for m in matches if m.start() < first_line_end]
    return same_line[-1].group(1)


def extract_choice(text: str | None, letters: str = LETTERS) -> str | None:
    """Extract a multiple-choice letter the way the MMLU-Pro harness does.

    The steps, first hit wins: the first ``answer is (X)``; the last ``\\boxed{X}``; ``Answer: X``
    (the last on the first line that has one); the last standalone capital letter in the text. Only
    letters in ``letters`` are accepted at every step.

    Args:
        text: the model's generated text.
        letters: the allowed answer letters, e.g. ``"ABCD"`` for a four-option question.

    Returns:
        The letter, or ``None`` when the text holds no allowed letter.

    Example:
        >>> extract_choice("Let's think step by step. ... The answer is (C).")
        'C'
    """
    if not text or not letters:
        return None
    answer_is, boxed, answer_colon, last_letter = _choice_patterns(letters)
    match = answer_is.search(text)
    if match:
        return match.group(1)
    boxes = boxed.findall(text)
    if boxes:
        return str(boxes[-1])
    letter = _answer_colon(answer_colon, text)
    if letter:
        return letter
    letters_found = last_letter.findall(text)
    return str(letters_found[-1]) if letters_found else None


def _boxed_contents(text: str) -> list[str]:
    """Every ``\\boxed{...}`` / ``\\fbox{...}`` body, brace-balanced, in text order."""
    found: list[tuple[int, str]] = []
    for opener in _BOX_OPENERS:
        start = text.find(opener)
        while start != -1:
            depth = 1
            i = start + len(opener)
            while i < len(text) and depth:
                if text[i] == "{":
                    depth += 1
                elif text[i] == "}":
                    depth -= 1
                i += 1
            if depth == 0:  # an unclosed box (truncated generation) is not an answer
                found.append((start, text[start + len(opener) : i - 1]))
            start = text.find(opener, start + len(opener))
    return [body for _, body in sorted(found)]


def extract_boxed(text: str | None) -> str | None:
    """Extract a math answer: the body of the last ``\\boxed{...}``, braces balanced.

    Falls back to the last number in an ``answer is N`` phrase when nothing is boxed.

    Args:
        text: the model's generated text.

    Returns:
        The stripped answer string, or ``None`` when none is found.

    Example:
        >>> extract_boxed(r"so $m+n = \\boxed{\\frac{33}{1}}$.")
        '\\\\frac{33}{1}'
    """
    if not text:
        return None
    boxes = [b.strip() for b in _boxed_contents(text)]
    boxes = [b for b in boxes if b]
    if boxes:
        return boxes[-1]
    numbers = _MATH_ANSWER_IS.findall(text)
    if numbers:
        return str(numbers[-1]).rstrip(".")
    return None


def _normalise_math_string(s: str) -> str:
    s = s.strip().strip("$").strip()
    for opener in _BOX_OPENERS:
        if s.startswith(opener) and s.endswith("}"):
            s = s[len(opener) : -1]
    s = "".join(s.split()).rstrip(".").replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    if re.fullmatch(r"[-+]?\d[\d,]*", s):
        s = str(int(s.replace(",", "")))
    return s.lower()


def _as_latex(s: str) -> str:
    """Wrap a bare answer so math-verify's LaTeX extractor sees it as one expression."""
    if "$" in s or any(opener in s for opener in _BOX_OPENERS):
        return s
    return f"${s}$"


def math_equal(pred: str | None, gold: str | None) -> bool:
    """Whether a predicted math answer equals the gold one, using math-verify.

    Both sides are wrapped in ``$...$`` unless they already hold ``$`` or ``\\boxed``, then parsed and
    compared symbolically (``"1/2"`` equals ``"0.5"`` and ``"\\frac{1}{2}"``). Words of two or more
    capital letters (bare or in ``\\text{}``) compare as strings, since math-verify reads ``ABC`` as the
    product ``A*B*C`` and so any anagram would match. When math-verify cannot
    parse one side, the two are compared as normalised strings (whitespace, ``$``, a trailing
    period and integer leading zeros ignored).

    Args:
        pred: the extracted prediction (e.g. from :func:`extract_boxed`), or ``None``.
        gold: the gold answer.

    Returns:
        ``True`` when they are equal; ``False`` when either is missing or they differ.
    """
    if pred is None or gold is None or not pred.strip() or not gold.strip():
        return False
    return _math_equal(pred, gold)


def math_equivalent(a: str, b: str) -> bool:
    """Whether two free-form answers are the same answer: equal strings, or :func:`math_equal` either way.

    math-verify is not always symmetric (it reads the second argument as the reference), so votes that
    group answers into classes check both directions.
    """
    return a == b or math_equal(a, b) or math_equal(b, a)


# Verdicts of math-verify by (pred, gold): a bench compares the same pairs often (every vote groups answers
# into classes, every fold scores them), and one symbolic comparison can take a tenth of a second.
_VERDICTS: dict[tuple[str, str], bool] = {}
_MAX_VERDICTS = 2**20


def math_verdicts() -> dict[tuple[str, str], bool]:
    """A copy of every :func:`math_equal` verdict computed in this process (for a persistent cache)."""
    return dict(_VERDICTS)


def remember_math_verdicts(verdicts: dict[tuple[str, str], bool]) -> None:
    """Seed :func:`math_equal`'s memo with verdicts computed earlier (read from a persistent cache)."""
    if len(_VERDICTS) + len(verdicts) <= _MAX_VERDICTS:
        _VERDICTS.update(verdicts)


def _math_equal(pred: str, gold: str) -> bool:
    """:func:`math_equal` on two non-empty answers; memoised, since a bench scores the same pairs often."""
    key = (pred, gold)
    hit = _VERDICTS.get(key)
    if hit is None:
        hit = _verify(pred, gold)
        if len(_VERDICTS) >= _MAX_VERDICTS:
            _VERDICTS.clear()
        _VERDICTS[key] = hit
    return hit


@lru_cache(maxsize=2**14)
def _parsed(answer: str, timeout_s: int | None) -> tuple[object, ...]:
    """math-verify's parse of one answer, memoised: an answer meets many others when votes form classes."""
    from math_verify import parse  # heavy (sympy); import on first use

    return tuple(parse(_as_latex(answer), parsing_timeout=timeout_s))


_INTEGER = re.compile(r"[-+]?\d+")
_FRACTION = re.compile(r"([-+]?)(?:\\frac\{(\d+)\}\{(\d+)\}|(\d+)/(\d+))")
_DECIMAL = re.compile(r"[-+]?\d*\.\d+")


def _rational(normalised: str) -> tuple[Fraction, bool] | None:
    """A normalised answer that is a plain number, as (value, exact?): integers and integer fractions
    are exact; decimals are not (math-verify may round them against a fraction). None otherwise."""
    if _INTEGER.fullmatch(normalised):
        return Fraction(int(normalised)), True
    m = _FRACTION.fullmatch(normalised)
    if m:
        num, den = (m.group(2), m.group(3)) if m.group(2) is not None else (m.group(4), m.group(5))
        if int(den) == 0:
            return None
        value = Fraction(int(num), int(den))
        return (-value if m.group(1) == "-" else value), True
    if _DECIMAL.fullmatch(normalised):
        return Fraction(normalised), False
    return None


def trivial_verdict(pred: str, gold: str) -> bool | None:
    """The verdict of two answers that need no parsing, or None when math-verify must decide.

    Equal after normalisation (whitespace, ``$``, ``\\boxed``, ``\\dfrac``, a trailing period, integer
    commas) is equal; two plain numbers (integers, integer fractions, decimals) with the same value are
    equal; two different exact numbers (integers or integer fractions) are unequal. A decimal against a
    different value is left to math-verify, which may accept a rounded decimal.
    """
    a, b = _normalise_math_string(pred), _normalise_math_string(gold)
    if a == b:
        return True
    ra, rb = _rational(a), _rational(b)
    if ra is None or rb is None:
        return None
    if ra[0] == rb[0]:
        return True
    return False if ra[1] and rb[1] else None


def _verify(pred: str, gold: str) -> bool:
    trivial = trivial_verdict(pred, gold)
    return trivial if trivial is not None else _verify_symbolic(pred, gold)


def _verify_symbolic(pred: str, gold: str) -> bool:
    """math-verify's verdict (letter words compare as strings); :func:`trivial_verdict` is not consulted."""
    words = [_UPPER_WORD.fullmatch(x.strip().strip("$").strip()) for x in (pred, gold)]
    if words[0] and words[1]:  # letter strings: math-verify reads "ABC" as A*B*C, so "CBA" would match
        return words[0].group(1) == words[1].group(1)
    from math_verify import verify

    in_main_thread = threading.current_thread() is threading.main_thread()
    timeout_s = _MATH_VERIFY_TIMEOUT_S if in_main_thread else None
    gold_parsed = _parsed(gold, timeout_s)
    pred_parsed = _parsed(pred, timeout_s)
    if gold_parsed and pred_parsed:
        if surely_unequal(pred_parsed, gold_parsed):  # far-apart values: no need for sympy's proof
            return False
        if verify(list(gold_parsed), list(pred_parsed), timeout_seconds=timeout_s):
            return True
        logger.debug("math-verify: %r != %r", pred[:100], gold[:100])
    return False


def extract_answer(text: str | None, answer_format: AnswerFormat) -> str | None:
    """Extract the answer from a generated text as the task's format asks.

    Args:
        text: the model's generated text.
        answer_format: the task's answer format; ``multiple_choice`` extracts a letter among
            ``answer_format.letters``, ``math`` the last boxed expression.

    Returns:
        The extracted answer, or ``None``.
    """
    if answer_format.kind == "math":
        return extract_boxed(text)
    if answer_format.kind == "exact":
        return extract_statement(text)
    if answer_format.kind == "code":
        return extract_code(text)
    return extract_choice(text, answer_format.letters)


_STATED = re.compile(r"answer is[:\s]*(.+?)\.?\s*$", re.IGNORECASE | re.MULTILINE)
_FENCE = re.compile(r"```[a-zA-Z0-9_+-]*\n(.*?)```", re.DOTALL)


def extract_statement(text: str | None) -> str | None:
    """A free string answer: what follows the last "the answer is", else the last non-empty line."""
    if not text or not text.strip():
        return None
    stated = _STATED.findall(text)
    if stated:
        return str(stated[-1]).strip().strip("*").strip()
    return text.strip().splitlines()[-1].strip()


def extract_code(text: str | None) -> str | None:
    """A program: the first fenced code block, else the whole response (the HumanEval harness's rule)."""
    if not text or not text.strip():
        return None
    block = _FENCE.search(text)
    return block.group(1) if block else text


def is_correct(pred: str | None, gold: str | None, answer_format: AnswerFormat) -> bool:
    """Whether an extracted answer is correct.

    Args:
        pred: the extracted answer (from :func:`extract_answer`).
        gold: the gold answer.
        answer_format: the task's answer format: letters compare exactly (case and surrounding
            whitespace ignored); math answers through :func:`math_equal`.

    Returns:
        ``True`` when correct; ``False`` when wrong or either side is missing.
    """
    if pred is None or gold is None:
        return False
    if answer_format.kind == "math":
        return math_equal(pred, gold)
    if answer_format.kind == "exact":
        return pred.strip() == gold.strip()
    if answer_format.kind == "code":
        return False  # only running the tests can tell: the recording's verdict scores code
    return pred.strip().upper() == gold.strip().upper()


def answer_equivalence(n_options: int) -> Callable[[str, str], bool] | None:
    """How votes compare two answers of a question with ``n_options`` (:func:`common.records.vote_options`):
    math-verify classes for math (0), string equality (None) for letters, exact strings and code."""
    return math_equivalent if n_options == 0 else None


def trim_reasoning(text: str, max_chars: int) -> str:
    """Shorten an expert's output before it is shown to an aggregator.

    Reasoning models write ``<think>...</think>`` and then their answer, so the text after the first
    ``</think>`` is kept (the paper's aggregator does the same); when nothing follows it, the
    reasoning before it is kept instead. The result is then cut to its last ``max_chars``
    characters, because answers come at the end.

    Args:
        text: the expert's generated text.
        max_chars: the most characters to keep.

    Returns:
        The trimmed text.

    Raises:
        ConfigError: when ``max_chars`` is below 1.
    """
    if max_chars < 1:
        raise ConfigError(f"trim_reasoning: max_chars={max_chars} must be >= 1")
    before, sep, after = text.partition(_THINK_END)
    if sep:
        text = after.strip() or before.replace(_THINK_START, "", 1).strip()
    return text[-max_chars:] if len(text) > max_chars else text
