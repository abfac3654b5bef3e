"""Elementwise NumPy ufuncs built from IR ops.

``apply_ufunc`` does what NumPy does around a ufunc's inner loop: it asks NumPy
which loop runs (``promotion.ufunc_loop``), converts every operand to that
loop's input dtype, broadcasts them, and calls the ufunc's *rule*.  A rule gets
operands of one shape already in the loop dtypes plus the output dtype, and
builds IR.  Where NumPy's semantics differ from the IR op of the same flavour
(floor division and modulo of negative numbers, division by zero, ``sign(-0.0)``,
bool arithmetic) the rule says so and builds NumPy's result.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from ..trace.emitters import (broadcast_to, compare, context_of, convert, elementwise, full,
                              full_like, lift, select)
from ..trace.promotion import all_weak, broadcast_shapes, ufunc_loop
from ..trace.tracer import Tracer

Rule = Callable[..., Tracer]  # rule(*operands, out=np.dtype) -> Tracer


def shape_of(value: Any) -> tuple[int, ...]:
    return value.shape if isinstance(value, Tracer) else np.shape(value)


def apply_ufunc(ufunc: np.ufunc, rule: Rule, operands: Sequence[Any], *, keep_weak: bool,
                dtype: Any = None, exact_int_scalars: bool = False) -> Tracer:
    """``ufunc(*operands)`` with NumPy's loop selection, broadcasting and NEP 50 scalars.

    ``keep_weak``: an operator on Python-scalar-like operands (``n + 1`` for a
    scalar argument ``n``) stays weak, as the Python expression would; a NumPy
    function call returns a NumPy (strong) value.  ``exact_int_scalars``: the
    ufunc accepts Python ints outside the array's range (NumPy 2 comparisons).
    """
    ctx = context_of(operands)
    in_dtypes, out_dtypes = ufunc_loop(ufunc, operands, dtype)
    if exact_int_scalars:
        in_dtypes = _widened_for_python_ints(operands, in_dtypes)
    shape = broadcast_shapes(*(shape_of(v) for v in operands))
    lifted = [broadcast_to(lift(ctx, v, dt), shape) for v, dt in zip(operands, in_dtypes)]
    if ufunc is np.power and len(operands) == 2:
        rule = _literal_power_rule(operands[1], lifted[0].dtype) or rule
    result = convert(rule(*lifted, out=out_dtypes[0]), out_dtypes[0])
    return Tracer(ctx, result.inst, keep_weak and all_weak(operands))


def _literal_exponent(value: Any) -> float | None:
    """A scalar exponent known while tracing (Python or NumPy int/float), else None."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    exponent = float(value)
    return exponent if np.isfinite(exponent) else None


def _literal_power_rule(exponent: Any, dtype: np.dtype) -> Rule | None:
    """``x ** n`` for a literal n without the per-element ``power`` op, where that is exact enough.

    Like NumPy's own fast paths (x**2 -> square, x**0.5 -> sqrt for float32/float64, whose
    power loops do the same, so -inf**0.5 is NaN there; x**-1 -> reciprocal,
    x**0, x**1), plus integer |n| <= 8 by squaring in the array's own precision, as
    jax's integer_pow does: at most 4 multiplies and a divide, so within ~4 ulp of the
    correctly rounded power (< 5e-7 relative for float32; NumPy's powf is within 1 ulp).
    Computing in float64 and rounding once would be nearly exact but cost a widened
    intermediate per multiply while the ops are not fused.  Integers (n >= 0 only: NumPy
    rejects negative integer powers) multiply with the same wraparound as NumPy's integer
    power.  float16 multiplies in float32 and rounds once, as NumPy's float16 loops do.
    Anything else keeps ``power``.
    """
    n = _literal_exponent(exponent)
    if n is None or dtype.kind not in "fiu":
        return None
    if n == 0.5 and dtype.kind == "f" and dtype.itemsize >= 4:  # NumPy's float16 power calls pow
        return lambda x, y, out: elementwise("sqrt", x)
    if n != int(n) or abs(n) > 8 or (n < 0 and dtype.kind != "f"):
        return None
    n = int(n)

    def rule(x: Tracer, y: Tracer, out: np.dtype) -> Tracer:
        if n == 0:
            return full_like(x, 1)
        if n == 1:
            return x
        wide = dtype.itemsize < 4 and dtype.kind == "f"  # float16: one rounding, from float32
        base, result = (convert(x, np.float32) if wide else x), None
        remaining = abs(n)
        while remaining:
            if remaining & 1:
                result = base if result is None else elementwise("multiply", result, base)
            remaining >>= 1
            if remaining:
                base = elementwise("multiply", base, base)
        if n < 0:
            result = elementwise("divide", full_like(result, 1), result)
        return convert(result, dtype) if wide else result

    return rule


def _widened_for_python_ints(operands: Sequence[Any],
                             dtypes: tuple[np.dtype, ...]) -> tuple[np.dtype, ...]:
    """Loop dtypes that hold every Python int operand: int64, or uint64 beyond it.

    ``uint8_array > -5`` compares exactly in NumPy 2; comparing in int64 (and
    the uint64-vs-int64 mixed compare) does the same here.
    """
    def fits(value: Any, dtype: np.dtype) -> bool:
        info = np.iinfo(dtype)
        return info.min <= value <= info.max

    if not any(type(v) is int and dt.kind in "iu" and not fits(v, dt)
               for v, dt in zip(operands, dtypes)):
        return dtypes
    int64, uint64 = np.dtype(np.int64), np.dtype(np.uint64)
    return tuple((int64 if fits(v, int64) else uint64) if type(v) is int
                 else (dt if dt == uint64 else int64) for v, dt in zip(operands, dtypes))


# -- rule constructors ---------------------------------------------------------

def unary(opcode: str) -> Rule:
    return lambda x, out: elementwise(opcode, x)


def binary(opcode: str, on_bool: str | None = None) -> Rule:
    """``opcode`` on numbers; ``on_bool`` on bools (NumPy's bool add is or, multiply is and)."""
    def rule(x: Tracer, y: Tracer, out: np.dtype) -> Tracer:
        chosen = on_bool if on_bool is not None and x.dtype == np.bool_ else opcode
        return elementwise(chosen, x, y)
    return rule


def float_only(opcode: str, integer_result: Callable[[Tracer], Tracer]) -> Rule:
    """A float op whose NumPy integer loop is trivial (floor of an int is itself)."""
    def rule(x: Tracer, out: np.dtype) -> Tracer:
        return elementwise(opcode, x) if _is_float(x) else integer_result(x)
    return rule


def identity(x: Tracer, out: np.dtype) -> Tracer:
    return x


def comparison(direction: str) -> Rule:
    def rule(x: Tracer, y: Tracer, out: np.dtype) -> Tracer:
        if x.dtype != y.dtype:  # NumPy's exact uint64-vs-int64 loops
            return _mixed_sign_compare(x, y, direction)
        return compare(x, y, direction)
    return rule


def _mixed_sign_compare(x: Tracer, y: Tracer, direction: str) -> Tracer:
    """Compare an unsigned with a signed integer exactly: a negative value is the smaller."""
    if x.dtype.kind == "i":
        flipped = {"LT": "GT", "LE": "GE", "GT": "LT", "GE": "LE"}.get(direction, direction)
        return _mixed_sign_compare(y, x, flipped)
    negative = compare(y, full_like(y, 0), "LT")
    when_negative = full_like(negative, direction in ("GT", "GE", "NE"))
    return select(negative, when_negative, compare(x, convert(y, x.dtype), direction))


def _is_float(x: Tracer) -> bool:
    return x.type.dtype.is_float


# -- rules with NumPy-specific semantics ---------------------------------------

def absolute(x: Tracer, out: np.dtype) -> Tracer:
    return elementwise("abs", x) if x.dtype.kind in "fi" else x


def sign(x: Tracer, out: np.dtype) -> Tracer:
    if x.dtype.kind == "u":  # the IR's sign is for signed types: an unsigned sign is x != 0
        return convert(compare(x, full_like(x, 0), "NE"), x.dtype)
    signed = elementwise("sign", x)
    if not _is_float(x):
        return signed
    # The IR keeps the sign of zero; NumPy's sign(-0.0) is +0.0.
    zero = full_like(x, 0)
    return select(compare(x, zero, "EQ"), zero, signed)


def trunc(x: Tracer, out: np.dtype) -> Tracer:
    if not _is_float(x):
        return x
    negative = compare(x, full_like(x, 0), "LT")
    return select(negative, elementwise("ceil", x), elementwise("floor", x))


def square(x: Tracer, out: np.dtype) -> Tracer:
    return elementwise("multiply", x, x)


def reciprocal(x: Tracer, out: np.dtype) -> Tracer:
    return elementwise("divide", full_like(x, 1), x)


def is_nan(x: Tracer, out: np.dtype) -> Tracer:
    if not _is_float(x):
        return full(x.ctx, False, x.shape, np.bool_)
    return compare(x, x, "NE")


def is_inf(x: Tracer, out: np.dtype) -> Tracer:
    if not _is_float(x):
        return full(x.ctx, False, x.shape, np.bool_)
    return compare(elementwise("abs", x), full_like(x, np.inf), "EQ")


def is_finite(x: Tracer, out: np.dtype) -> Tracer:
    if not _is_float(x):
        return full(x.ctx, True, x.shape, np.bool_)
    return elementwise("is-finite", x)


def right_shift(x: Tracer, y: Tracer, out: np.dtype) -> Tracer:
    opcode = "shift-right-arithmetic" if x.dtype.kind == "i" else "shift-right-logical"
    return elementwise(opcode, x, y)


def fmax(x: Tracer, y: Tracer, out: np.dtype) -> Tracer:
    return _nan_ignoring(x, y, "maximum")


def fmin(x: Tracer, y: Tracer, out: np.dtype) -> Tracer:
    return _nan_ignoring(x, y, "minimum")


def _nan_ignoring(x: Tracer, y: Tracer, opcode: str) -> Tracer:
    both = elementwise(opcode, x, y)
    if not _is_float(x):
        return both
    return select(compare(x, x, "NE"), y, select(compare(y, y, "NE"), x, both))


def fmod(x: Tracer, y: Tracer, out: np.dtype) -> Tracer:
    remainder = elementwise("remainder", x, y)
    if _is_float(x):
        return remainder  # the IR's float remainder is C fmod
    return _zero_where_zero_divisor(y, remainder)  # NumPy: x fmod 0 is 0, the IR gives x


def _zero_where_zero_divisor(divisor: Tracer, value: Tracer) -> Tracer:
    zero = full_like(value, 0)
    return select(compare(divisor, full_like(divisor, 0), "EQ"), zero, value)


def floor_divide(x: Tracer, y: Tracer, out: np.dtype) -> Tracer:
    if _is_float(x):
        return _float_divmod(x, y)[0]
    quotient = elementwise("divide", x, y)  # truncates toward zero
    if x.dtype.kind == "i":
        quotient = select(_rounded_toward_zero(x, y), _add_scalar(quotient, -1), quotient)
    return _zero_where_zero_divisor(y, quotient)  # NumPy: x // 0 is 0 for integers


def remainder(x: Tracer, y: Tracer, out: np.dtype) -> Tracer:
    if _is_float(x):
        return _float_divmod(x, y)[1]
    value = elementwise("remainder", x, y)  # sign of the dividend
    if x.dtype.kind == "i":
        value = select(_rounded_toward_zero(x, y), elementwise("add", value, y), value)
    return _zero_where_zero_divisor(y, value)  # NumPy: x % 0 is 0 for integers


def _rounded_toward_zero(x: Tracer, y: Tracer) -> Tracer:
    """Where truncating division differs from floor division: inexact, signs differ."""
    rem = elementwise("remainder", x, y)
    zero = full_like(x, 0)
    signs_differ = compare(compare(rem, zero, "LT"), compare(y, zero, "LT"), "NE")
    return elementwise("and", compare(rem, zero, "NE"), signs_differ)


def _add_scalar(x: Tracer, value: Any) -> Tracer:
    return elementwise("add", x, full_like(x, value))


def _float_divmod(a: Tracer, b: Tracer) -> tuple[Tracer, Tracer]:
    """NumPy's ``npy_divmod``: quotient snapped to an integer and Python-style modulus."""
    zero = full_like(a, 0)
    mod = elementwise("remainder", a, b)  # C fmod
    div = elementwise("divide", elementwise("subtract", a, mod), b)
    mod_nonzero = compare(mod, zero, "NE")
    signs_differ = compare(compare(b, zero, "LT"), compare(mod, zero, "LT"), "NE")
    flip = elementwise("and", mod_nonzero, signs_differ)
    div = select(flip, _add_scalar(div, -1), div)
    zero_with_sign_of_b = select(compare(b, zero, "LT"), full_like(a, -0.0), zero)
    mod = select(flip, elementwise("add", mod, b), select(mod_nonzero, mod, zero_with_sign_of_b))
    floored = elementwise("floor", div)
    more_than_half = compare(elementwise("subtract", div, floored), full_like(a, 0.5), "GT")
    floored = select(more_than_half, _add_scalar(floored, 1), floored)
    true_quotient = elementwise("divide", a, b)
    # A zero quotient takes the sign of a / b, which 0.0 * (a / b) has (|a / b| < 1 here).
    floored = select(compare(div, zero, "NE"), floored,
                     elementwise("multiply", zero, true_quotient))
    b_zero = compare(b, zero, "EQ")
    return select(b_zero, true_quotient, floored), mod


def sinh(x: Tracer, out: np.dtype) -> Tracer:
    # (e^x - e^-x) / 2 through expm1 keeps precision near 0.
    difference = elementwise("subtract", elementwise("exponential-minus-one", x),
                             elementwise("exponential-minus-one", elementwise("negate", x)))
    small = elementwise("multiply", difference, full_like(x, 0.5))
    return _beyond_exp_overflow(x, small, odd=True)


def cosh(x: Tracer, out: np.dtype) -> Tracer:
    total = elementwise("add", elementwise("exponential", x),
                        elementwise("exponential", elementwise("negate", x)))
    small = elementwise("multiply", total, full_like(x, 0.5))
    return _beyond_exp_overflow(x, small, odd=False)


# Just below where e^|x| overflows (f16 computes in f32 but rounds e^x to f16): above this
# sinh and cosh are e^|x| / 2, still finite for a while (cosh(89) = 2.2e38 in float32).
_EXP_OVERFLOW_START = {np.dtype(np.float16): 11.0, np.dtype(np.float32): 88.0,
                       np.dtype(np.float64): 709.0}


def _beyond_exp_overflow(x: Tracer, small: Tracer, odd: bool) -> Tracer:
    """``small`` where e^|x| is finite, else e^|x| / 2 as (e^(|x|/2) / 2) * e^(|x|/2), which
    overflows only where the result does (with the sign of x for the odd sinh)."""
    start = _EXP_OVERFLOW_START.get(np.dtype(x.dtype), 88.0)  # bfloat16 has float32's range
    magnitude = elementwise("abs", x)
    half = elementwise("exponential", elementwise("multiply", magnitude, full_like(x, 0.5)))
    large = elementwise("multiply", elementwise("multiply", half, full_like(x, 0.5)), half)
    if odd:
        large = select(compare(x, full_like(x, 0), "LT"), elementwise("negate", large), large)
    return select(compare(magnitude, full_like(x, start), "GT"), large, small)


def arctan(x: Tracer, out: np.dtype) -> Tracer:
    return elementwise("atan2", x, full_like(x, 1))


def arcsin(x: Tracer, out: np.dtype) -> Tracer:
    return elementwise("atan2", x, _sqrt_one_minus_square(x))


def arccos(x: Tracer, out: np.dtype) -> Tracer:
    return elementwise("atan2", _sqrt_one_minus_square(x), x)


def _sqrt_one_minus_square(x: Tracer) -> Tracer:
    one = full_like(x, 1)
    # (1 - x)(1 + x) loses less precision near |x| = 1 than 1 - x*x.
    return elementwise("sqrt", elementwise("multiply", elementwise("subtract", one, x),
                                           elementwise("add", one, x)))


def log_base(base: float) -> Rule:
    def rule(x: Tracer, out: np.dtype) -> Tracer:
        return elementwise("divide", elementwise("log", x), full_like(x, np.log(base)))
    return rule


def exp2(x: Tracer, out: np.dtype) -> Tracer:
    return elementwise("power", full_like(x, 2), x)


def logical(opcode: str) -> Rule:
    """NumPy's logical_* loops exist for numbers too: any nonzero (or NaN) is true."""
    def rule(*xs: Tracer, out: np.dtype) -> Tracer:
        return elementwise(opcode, *(convert(x, np.bool_) for x in xs))
    return rule
