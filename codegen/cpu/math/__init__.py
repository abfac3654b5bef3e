"""Vectorizable math functions written as LLVM IR: no libm call inside hot loops.

Each function takes an ``IRBuilder`` and a scalar f32 or f64 value (two for the
binary ones) and returns the result of the same type.  The code is branch-free
(special values are handled with selects) and uses only instructions and intrinsics
that LLVM's loop vectorizer widens, so a loop calling them becomes SIMD code.

Error bounds are measured against NumPy over the whole domain of each type
(every 997th float32 bit pattern, float64 bit patterns sampled at random and dense ranges, plus
special and boundary values) by ``tests/test_codegen_math.py``, which asserts
the bounds stated in each function's docstring.  For float32 the reference is NumPy's
float64 result rounded to float32 (the correctly rounded value, nearly always).

Approach: Cody-Waite range reduction with a two-part constant, a Taylor
polynomial on the reduced interval (its truncation error is far below half an
ulp there; Taylor coefficients are exact rationals, so nothing is fitted), and
reconstruction by building powers of two from bits.  Where float32 needs more than
float32 arithmetic gives, it runs in float64 and rounds once (``emitter.to_f32``);
float64 uses double-double intermediates where it needs more than float64.

By family:

* ``exp_log``: exp, expm1, log, log1p;
* ``hyperbolic``: tanh, logistic;
* ``trig``: sine, cosine, tan (exact table-driven argument reduction);
* ``inverse_trig``: atan2;
* ``powers``: power, cbrt;
* ``remainder``: fmod (the float ``remainder``);
* ``emitter``: the arithmetic shorthand, float formats and tables they share.
"""

from __future__ import annotations

from .emitter import narrowing_to_half
from .exp_log import exp, expm1, log, log1p
from .hyperbolic import logistic, tanh
from .inverse_trig import atan2
from .powers import cbrt, power
from .remainder import fmod
from .trig import cosine, sine, tan

__all__ = ["VECTOR_MATH", "VECTOR_MATH_BINARY", "atan2", "cbrt", "cosine", "exp", "expm1", "fmod",
           "log", "log1p", "logistic", "narrowing_to_half", "power", "sine", "tan", "tanh"]

VECTOR_MATH = {"exponential": exp, "exponential-minus-one": expm1, "log": log,
               "log-plus-one": log1p, "tanh": tanh, "logistic": logistic,
               "sine": sine, "cosine": cosine, "tan": tan, "cbrt": cbrt}
"""Opcode -> IR implementation of unary ops, used by ``lowering.py``."""

VECTOR_MATH_BINARY = {"power": power, "atan2": atan2, "remainder": fmod}
"""Opcode -> IR implementation of binary ops (float operands), used by ``lowering.py``."""
