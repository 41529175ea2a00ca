"""A cheap proof that two parsed math answers differ: their values at one fixed point, far apart.

math-verify decides equality with sympy (numeric comparison, then ``simplify`` of the difference), about
10 ms a pair; a cold MATH-500 bench compares about 11,000 pairs that string normalisation cannot settle,
and most of them are plainly different (``12`` against ``\\frac{3}{5}``, ``5x+4y`` against ``\\sqrt{7}``).
Here each parsed answer gets a *value*, once per string: a plain sympy expression (not an equation, a
set, an interval, a matrix or a logical formula) is evaluated as a complex number, each free symbol
replaced by a fixed pseudo-random number derived from its name, so that the same symbol takes the same
value in both answers. Two answers whose values differ by more than 1% of their size, also after
reading either one as a percentage (math-verify accepts ``9\\%`` for ``9``), are unequal without
calling math-verify. Anything else (a value within 1%, an answer without a value) still goes to
math-verify, so this only ever answers "unequal", where an identity would have to hold at the point.

Two identical expressions always take the same value; an identity that math-verify would prove
(``\\sin^2 x + \\cos^2 x`` and ``1``) holds at the point too, so it is never declared unequal. The rule
was checked against math-verify's own verdicts on every pair of the shared MATH-500 recordings
(``tests/orchestrator/test_math_values.py`` repeats the check on a sample).
"""

from __future__ import annotations

import cmath
import zlib
from functools import lru_cache
from typing import Any

_REL_TOL = 1e-2  # far apart: more than 1% of the larger magnitude (and of 1)


def _symbol_value(name: str) -> float:
    """The fixed point's coordinate for one symbol: in [0.5, 1.5), from its name (stable across runs)."""
    return 0.5 + (zlib.crc32(name.encode("utf-8")) % 10007) / 10007.0


@lru_cache(maxsize=2**14)
def _value_of(expr: Any) -> complex | None:
    import sympy

    if not isinstance(expr, sympy.Expr) or isinstance(expr, sympy.logic.boolalg.Boolean):
        return None
    try:
        if expr.free_symbols:
            expr = expr.subs({s: sympy.Float(_symbol_value(s.name)) for s in expr.free_symbols})
        value = complex(expr.evalf(15))
    except Exception:  # noqa: BLE001 - sympy raises many kinds on odd input; no value, then
        return None
    return value if cmath.isfinite(value) else None


def answer_value(parsed: tuple[object, ...]) -> complex | None:
    """The value of a math-verify parse at the fixed point, or None.

    Only the usual parse, one sympy expression and its extracted string, has a value; a bare symbol has
    none (math-verify compares symbols by name: ``e`` against Euler's number, ``abc`` against ``a*b*c``).
    """
    import sympy

    if len(parsed) != 2 or not isinstance(parsed[1], str) or isinstance(parsed[0], sympy.Symbol):
        return None
    try:
        return _value_of(parsed[0])
    except TypeError:  # an unhashable parse (a mutable matrix): no value
        return None


def _far(a: complex, b: complex) -> bool:
    return abs(a - b) > _REL_TOL * max(1.0, abs(a), abs(b))


def surely_unequal(pred_parsed: tuple[object, ...], gold_parsed: tuple[object, ...]) -> bool:
    """True when two parsed answers take far-apart values (so math-verify would call them unequal).

    False means "not known": the pair goes to math-verify.
    """
    a, b = answer_value(pred_parsed), answer_value(gold_parsed)
    if a is None or b is None:
        return False
    if str(pred_parsed[1]).strip() == str(gold_parsed[1]).strip():  # math-verify compares these too
        return False
    return _far(a, b) and _far(100 * a, b) and _far(a, 100 * b)
