"""Vectorizable math functions written as LLVM IR: no libm call inside hot loops.

Each function takes an ``IRBuilder`` and a scalar f32 or f64 value and returns
the result of the same type.  The code is branch-free (special values are
handled with selects) and uses only instructions and intrinsics that LLVM's loop
vectorizer widens, so a loop calling them becomes SIMD code.

Error bounds are measured against NumPy over the whole domain of each type
(every 97th float32 bit pattern, float64 patterns sampled with a stride, plus
special and boundary values) by ``tests/test_codegen_math.py``, which asserts
the bounds stated in each docstring.  For float32 the reference is NumPy's
float64 result rounded to float32 (the correctly rounded value, nearly always).

Approach: Cody-Waite range reduction with a two-part constant, a Taylor
polynomial on the reduced interval (its truncation error is far below half an
ulp there; Taylor coefficients are exact rationals, so nothing is fitted), and
reconstruction by building powers of two from bits.

Functions without an implementation here (sin, cos, tan, atan2, cbrt, pow) call
libm from ``lowering.py``: correct to libm's bounds but not vectorized.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from llvmlite import ir

from .scalars import F32, F64, fabs, float_unary, intrinsic


@dataclass(frozen=True)
class _Precision:
    """Constants of one floating-point format."""

    int_type: ir.IntType
    mantissa_bits: int
    bias: int
    exp_degree: int       # Taylor degree for e**r, |r| <= ln2/2
    log_terms: int        # atanh series terms for log, |s| <= 0.1716
    exp_low: float        # exp(x) is 0 below this
    exp_high: float       # exp(x) is inf above this
    ln2_hi: float         # ln2 = ln2_hi + ln2_lo; k * ln2_hi is exact for the k that occur
    ln2_lo: float
    tanh_one: float       # tanh(|x|) rounds to 1 above this
    expm1_big: float      # expm1(x) == exp(x) in this format above this


_PRECISION = {
    F64: _Precision(ir.IntType(64), 52, 1023, 13, 10, -746.0, 710.0,
                    6.93147180369123816490e-01, 1.90821492927058770002e-10, 20.0, 40.0),
    F32: _Precision(ir.IntType(32), 23, 127, 7, 4, -104.0, 89.0,
                    0.693145751953125, 1.428606765330187045e-06, 10.0, 20.0),
}


class _Emitter:
    """Arithmetic shorthand on one float type."""

    def __init__(self, b: ir.IRBuilder, t: ir.Type) -> None:
        self.b = b
        self.t = t
        self.p = _PRECISION[t]

    def c(self, value: float) -> ir.Constant:
        return ir.Constant(self.t, value)

    def ci(self, value: int) -> ir.Constant:
        return ir.Constant(self.p.int_type, value)

    def add(self, x, y):
        return self.b.fadd(x, y)

    def sub(self, x, y):
        return self.b.fsub(x, y)

    def mul(self, x, y):
        return self.b.fmul(x, y)

    def div(self, x, y):
        return self.b.fdiv(x, y)

    def select(self, cond, x, y):
        return self.b.select(cond, x, y)

    def lt(self, x, y):
        return self.b.fcmp_ordered("<", x, y)

    def gt(self, x, y):
        return self.b.fcmp_ordered(">", x, y)

    def eq(self, x, y):
        return self.b.fcmp_ordered("==", x, y)

    def isnan(self, x):
        return self.b.fcmp_unordered("uno", x, x)

    def abs(self, x):
        return self.b.call(fabs(self.b.module, self.t), [x])

    def rint(self, x):
        return self.b.call(float_unary(self.b.module, "rint", self.t), [x])

    def copysign(self, magnitude, sign):
        fn = intrinsic(self.b.module, f"llvm.copysign.{'f32' if self.t == F32 else 'f64'}",
                       self.t, [self.t, self.t])
        return self.b.call(fn, [magnitude, sign])

    def bits(self, x):
        return self.b.bitcast(x, self.p.int_type)

    def from_bits(self, i):
        return self.b.bitcast(i, self.t)

    def horner(self, x, coefficients: list[float]):
        """c0 + x*(c1 + x*(c2 + ...)), highest degree last in ``coefficients``."""
        acc = self.c(coefficients[-1])
        for coefficient in reversed(coefficients[:-1]):
            acc = self.add(self.c(coefficient), self.mul(x, acc))
        return acc

    def pow2(self, k):
        """2**k as a float, for integer k in the normal exponent range."""
        shifted = self.b.shl(self.b.add(k, self.ci(self.p.bias)), self.ci(self.p.mantissa_bits))
        return self.from_bits(shifted)

    def scale(self, x, k):
        """x * 2**k for |k| up to twice the exponent range, rounding once (denormals too)."""
        half = self.b.ashr(k, self.ci(1))
        return self.mul(self.mul(x, self.pow2(half)), self.pow2(self.b.sub(k, half)))

    def reduce_ln2(self, x):
        """(r, k) with x = k*ln2 + r, |r| <= ln2/2; x must be finite and in the exp range."""
        kf = self.rint(self.mul(x, self.c(1 / math.log(2))))
        r = self.sub(self.sub(x, self.mul(kf, self.c(self.p.ln2_hi))), self.mul(kf, self.c(self.p.ln2_lo)))
        return r, self.b.fptosi(kf, self.p.int_type)

    def sanitize(self, x, low: float, high: float):
        """x clamped to [low, high] with NaN replaced by 0 (fptosi of NaN is poison)."""
        clamped = self.select(self.lt(x, self.c(low)), self.c(low),
                              self.select(self.gt(x, self.c(high)), self.c(high), x))
        return self.select(self.isnan(x), self.c(0.0), clamped)


def _taylor_exp(degree: int) -> list[float]:
    return [1.0 / math.factorial(n) for n in range(degree + 1)]


def _exp_reduced(e: _Emitter, r):
    return e.horner(r, _taylor_exp(e.p.exp_degree))


def _expm1_reduced(e: _Emitter, r):
    """e**r - 1 for |r| <= ln2/2 with small relative error: r + r*r*(1/2 + r/6 + ...)."""
    tail = e.horner(r, _taylor_exp(e.p.exp_degree)[2:])
    return e.add(r, e.mul(e.mul(r, r), tail))


def exp(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """e**x.  Max error vs NumPy: 1 ulp (f32, vs the rounded f64 result), 1 ulp (f64).

    Overflow gives inf, underflow gives 0 through correctly scaled denormals; NaN
    propagates.
    """
    e = _Emitter(b, x.type)
    xs = e.sanitize(x, e.p.exp_low, e.p.exp_high)
    r, k = e.reduce_ln2(xs)
    result = e.scale(_exp_reduced(e, r), k)
    return e.select(e.isnan(x), x, result)


def expm1(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """e**x - 1, accurate near 0.  Max error vs NumPy: 2 ulp (f32), 2 ulp (f64).

    With x = k*ln2 + r: expm1(x) = 2**k * expm1(r) + (2**k - 1), where 2**k - 1 is
    exact for the k used; above ``expm1_big`` it equals exp(x).  -0.0 stays -0.0.
    """
    e = _Emitter(b, x.type)
    result = e.select(e.gt(x, e.c(e.p.expm1_big)), exp(b, x), _expm1_moderate(e, x))
    # NaN propagates; +-0 keeps its sign (r + r*r*... would turn -0 into +0).
    keep = b.or_(e.isnan(x), e.eq(x, e.c(0.0)))
    return e.select(keep, x, result)


def _expm1_moderate(e: _Emitter, x):
    """expm1(x) for x <= expm1_big (NaN becomes garbage: callers select it away)."""
    low = -float(e.p.mantissa_bits + 3) * math.log(2)  # expm1 rounds to -1 below this
    xs = e.sanitize(x, low, e.p.expm1_big)
    r, k = e.reduce_ln2(xs)
    t = e.pow2(k)
    return e.add(e.mul(t, _expm1_reduced(e, r)), e.sub(t, e.c(1.0)))


def _log_parts(e: _Emitter, x):
    """(k, f) with x = 2**k * (1 + f), sqrt(1/2) <= 1 + f < sqrt(2), for finite x > 0."""
    b, p = e.b, e.p
    smallest_normal = 2.0 ** (1 - p.bias)
    subnormal = e.lt(x, e.c(smallest_normal))
    boost = p.mantissa_bits + 2
    xs = e.select(subnormal, e.mul(x, e.c(2.0 ** boost)), x)
    bits = e.bits(xs)
    mantissa_mask = (1 << p.mantissa_bits) - 1
    exponent = b.sub(b.lshr(bits, e.ci(p.mantissa_bits)), e.ci(p.bias))
    exponent = b.sub(exponent, b.select(subnormal, e.ci(boost), e.ci(0)))
    m = e.from_bits(b.or_(b.and_(bits, e.ci(mantissa_mask)), e.ci(p.bias << p.mantissa_bits)))
    big = e.gt(m, e.c(math.sqrt(2.0)))
    m = e.select(big, e.mul(m, e.c(0.5)), m)
    exponent = b.add(exponent, b.zext(big, p.int_type))
    return b.sitofp(exponent, e.t), e.sub(m, e.c(1.0))


def _log1p_reduced(e: _Emitter, f, correction):
    """log(1 + f) + correction for |f| < 0.42 (FreeBSD's arrangement: f is exact, the rest small).

    With s = f / (2 + f): log(1 + f) = 2 atanh(s) = f - (f*f/2 - s*(f*f/2 + R)),
    R = sum 2 s**(2n) / (2n + 1).
    """
    s = e.div(f, e.add(e.c(2.0), f))
    z = e.mul(s, s)
    coefficients = [2.0 / (2 * n + 1) for n in range(1, e.p.log_terms + 1)]
    r = e.mul(z, e.horner(z, coefficients))
    hfsq = e.mul(e.c(0.5), e.mul(f, f))
    return e.sub(f, e.sub(hfsq, e.add(e.mul(s, e.add(hfsq, r)), correction)))


def _log_special(e: _Emitter, x, result, pole: float):
    """Apply log's special values: +inf -> +inf, pole -> -inf, below the pole or NaN -> NaN."""
    inf = e.c(math.inf)
    result = e.select(e.eq(x, inf), inf, result)
    result = e.select(e.eq(x, e.c(pole)), e.c(-math.inf), result)
    invalid = e.b.or_(e.lt(x, e.c(pole)), e.isnan(x))
    return e.select(invalid, e.c(math.nan), result)


def log(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """Natural logarithm.  Max error vs NumPy: 1 ulp (f32), 1 ulp (f64).

    log(0) = log(-0) = -inf, log(x < 0) = NaN, log(inf) = inf; denormals are
    rescaled before the exponent is read.
    """
    e = _Emitter(b, x.type)
    k, f = _log_parts(e, x)
    low = e.add(e.mul(k, e.c(e.p.ln2_lo)), e.c(0.0))
    result = e.add(e.mul(k, e.c(e.p.ln2_hi)), _log1p_reduced(e, f, low))
    return _log_special(e, x, result, 0.0)


def log1p(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """log(1 + x), accurate near 0.  Max error vs NumPy: 2 ulp (f32), 2 ulp (f64).

    u = 1 + x is rounded; the rounding error is recovered exactly (Sterbenz) and
    added back as (x - (u - 1)) / u, the first-order correction of log(u).
    """
    e = _Emitter(b, x.type)
    u = e.add(e.c(1.0), x)
    lost = e.select(e.lt(u, e.c(2.0)), e.sub(x, e.sub(u, e.c(1.0))),
                    e.sub(e.c(1.0), e.sub(u, x)))
    correction = e.div(lost, u)
    k, f = _log_parts(e, u)
    low = e.add(e.mul(k, e.c(e.p.ln2_lo)), correction)
    result = e.add(e.mul(k, e.c(e.p.ln2_hi)), _log1p_reduced(e, f, low))
    result = e.select(e.eq(x, e.c(0.0)), x, result)  # keeps -0.0
    return _log_special(e, x, result, -1.0)


def tanh(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """Hyperbolic tangent as t / (t + 2) with t = expm1(2|x|).  Max error vs NumPy: 3 ulp
    (f32), 3 ulp (f64).

    Exactly +-1 beyond ``tanh_one``; the sign (of zero too) comes from x; NaN propagates.
    """
    e = _Emitter(b, x.type)
    a = e.abs(x)
    clamped = e.select(e.gt(a, e.c(e.p.tanh_one)), e.c(e.p.tanh_one), a)
    t = _expm1_moderate(e, e.add(clamped, clamped))  # 2 * tanh_one <= expm1_big
    result = e.div(t, e.add(t, e.c(2.0)))
    # NaN propagates; +-0 and denormals are their own tanh (t / (t + 2) would lose them).
    tiny = e.lt(a, e.c(2.0 ** -(e.p.mantissa_bits + 2)))
    return e.copysign(e.select(b.or_(tiny, e.isnan(x)), a, result), x)


def logistic(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """1 / (1 + e**-x) computed as the interpreter does, from e = exp(-|x|) (no overflow).

    Max error vs NumPy (on the interpreter's formula): 2 ulp (f32), 2 ulp (f64).
    """
    e = _Emitter(b, x.type)
    ex = exp(b, b.fneg(e.abs(x)))
    denominator = e.add(e.c(1.0), ex)
    positive = b.fcmp_ordered(">=", x, e.c(0.0))
    return e.select(positive, e.div(e.c(1.0), denominator), e.div(ex, denominator))


VECTOR_MATH = {"exponential": exp, "exponential-minus-one": expm1, "log": log,
               "log-plus-one": log1p, "tanh": tanh, "logistic": logistic}
"""Opcode -> IR implementation, used by ``lowering.py``."""
