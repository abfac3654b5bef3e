"""Vectorizable math functions written as LLVM IR: no libm call inside hot loops.

Each function takes an ``IRBuilder`` and a scalar f32 or f64 value and returns
the result of the same type.  The code is branch-free (special values are
handled with selects) and uses only instructions and intrinsics that LLVM's loop
vectorizer widens, so a loop calling them becomes SIMD code.

Error bounds are measured against NumPy over the whole domain of each type
(every 997th float32 bit pattern, float64 bit patterns sampled at random and dense ranges, plus
special and boundary values) by ``tests/test_codegen_math.py``, which asserts
the bounds stated in each docstring.  For float32 the reference is NumPy's
float64 result rounded to float32 (the correctly rounded value, nearly always).

Approach: Cody-Waite range reduction with a two-part constant, a Taylor
polynomial on the reduced interval (its truncation error is far below half an
ulp there; Taylor coefficients are exact rationals, so nothing is fitted), and
reconstruction by building powers of two from bits.

sine, cosine and tan of float32 run in float64 with an exact table-driven
argument reduction (a branch-free Payne-Hanek: x = M * 2**E, and x * 2/pi mod 4
equals M * T[E] mod 4 with T[E] = 2**E * 2/pi mod 4 stored as two doubles), so
they are vectorized and accurate over the whole float32 range (the table read
becomes a gather).  float64 uses the same idea with four table words on fixed grids
and error-free (fma / two_sum) arithmetic.  power of float32 runs as exp(y * log(x))
in float64; power of float64 and atan2 of float64 use double-double intermediates.

The float ``remainder`` is C's fmod: exact IR for float32 and float16 (``fmod``), libm's
fmod for float64 (see ``fmod`` for why).
"""

from __future__ import annotations

import contextlib
import contextvars
import decimal
import functools
import math
import struct
from dataclasses import dataclass

from llvmlite import ir

from .scalars import (F32, F64, I1, I32, I64, f64_to_f32_round_to_odd, fabs, float_unary, fma,
                      fmuladd, intrinsic)


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

    def fma(self, x, y, z):
        return self.b.call(fma(self.b.module, self.t), [x, y, z])

    def two_sum(self, x, y):
        """(s, err) with s = fl(x + y) and s + err == x + y exactly (Knuth: no ordering needed)."""
        s = self.add(x, y)
        virtual_y = self.sub(s, x)
        err = self.add(self.sub(x, self.sub(s, virtual_y)), self.sub(y, virtual_y))
        return s, err

    def fast_two_sum(self, x, y):
        """(s, err) with s + err == x + y exactly, for |x| >= |y| (or x == 0)."""
        s = self.add(x, y)
        return s, self.sub(y, self.sub(s, x))

    def bits(self, x):
        return self.b.bitcast(x, self.p.int_type)

    def from_bits(self, i):
        return self.b.bitcast(i, self.t)

    def horner(self, x, coefficients: list[float]):
        """c0 + x*(c1 + x*(c2 + ...)), highest degree last in ``coefficients``."""
        # fmuladd: one FMA per term where the host has FMA (half the instructions of
        # multiply-then-add, and one rounding instead of two).
        muladd = fmuladd(self.b.module, self.t)
        acc = self.c(coefficients[-1])
        for coefficient in reversed(coefficients[:-1]):
            acc = self.b.call(muladd, [x, acc, self.c(coefficient)])
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


# float32 tanh(a) = (a + a**3 P(a*a)) / Q(a*a) on [0, 9], Q(0) = 1: a rational minimax fit of
# tanh(a)/a (relative error 7e-9, a tenth of an f32 ulp; fitted by iteratively reweighted
# least squares against mpmath).  One division and ten FMAs instead of expm1's reduction:
# twice as fast, and gelu runs at memory speed.
_TANH_F32_P = (0.1308574080467224, 0.003105852520093322, 1.1173134225828107e-05,
               -2.029565138172984e-08, 5.308736089615351e-11, -8.560196280114896e-14)
_TANH_F32_Q = (0.46419069170951843, 0.0245028305798769, 0.0002548846823628992)
_TANH_F32_FIT_END = 9.0
_TANH_F32_ONE = 9.0109  # atanh(1 - 2**-25): tanh rounds to 1 from here on


def tanh(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """Hyperbolic tangent.  Max error vs NumPy: 4 ulp (f32), 3 ulp (f64).

    float32 (and the half types, computed in float32): the rational fit above.  float64:
    t / (t + 2) with t = expm1(2|x|).  Exactly +-1 where tanh rounds to 1; the sign (of
    zero too) comes from x; NaN propagates.
    """
    e = _Emitter(b, x.type)
    a = e.abs(x)
    if x.type == ir.FloatType():
        # Tiny a: a**3 underflows and the quotient is a / 1, exactly a.  NaN stays NaN.
        clamped = e.select(e.gt(a, e.c(_TANH_F32_FIT_END)), e.c(_TANH_F32_FIT_END), a)
        s = e.mul(clamped, clamped)
        numerator = e.fma(e.mul(clamped, s), e.horner(s, list(_TANH_F32_P)), clamped)
        result = e.div(numerator, e.horner(s, [1.0, *_TANH_F32_Q]))
        return e.copysign(e.select(e.gt(a, e.c(_TANH_F32_ONE)), e.c(1.0), result), x)
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


# -- float32 results computed in float64 -------------------------------------------

_NARROWING = contextvars.ContextVar("jitflow_math_narrowing_to_half", default=False)


@contextlib.contextmanager
def narrowing_to_half(active: bool):
    """Within: the f32 results computed in f64 will be rounded on to f16 by the caller."""
    token = _NARROWING.set(active)
    try:
        yield
    finally:
        _NARROWING.reset(token)


def _to_f32(b: ir.IRBuilder, value: ir.Value) -> ir.Value:
    """An f64 result rounded to f32.  When the caller narrows on to f16, LLVM folds the two
    roundings into one f64 -> f16 fptrunc (exact: 24 >= 2*11 + 2), which x86 lowers to a
    call of ``__truncdfhf2`` that the JIT does not resolve; rounding to odd first (bit
    operations the fold cannot see through) gives the same f16 result without it."""
    if _NARROWING.get():
        return f64_to_f32_round_to_odd(b, value)
    return b.fptrunc(value, F32)


# -- sine, cosine, tan (float32, computed in float64) ----------------------------

_TWO_OVER_PI_BITS = 1280
_TWO_OVER_PI = int(  # floor(2/pi * 2**1280): enough for 2**971 * 2/pi mod 4 to 2**-309
    "a2f9836e4e441529fc2757d1f534ddc0db6295993c439041fe5163abdebbc561b7246e3a424dd2e0"
    "06492eea09d1921cfe1deb1cb129a73ee88235f52ebb4484e99c7026b45f7e413991d639835339f4"
    "9c845f8bbdf9283b1ff897ffde05980fef2f118b5a0a6d1f6d367ecf27cb09b74f463f669e5fea2d"
    "7527bac7ebe5f17b3d0739f78a5292ea6bfb5fb11f8d5d0856033046fc7b6babf0cfbc209af4361d", 16)


@functools.cache
def _reduction_table() -> tuple[list[float], list[float]]:
    """T[E + 149] = 2**E * 2/pi mod 4 as hi + lo doubles, for E in [-149, 105] (+ padding)."""
    from fractions import Fraction

    his, los = [], []
    for e in range(-149, 107):
        t = Fraction(_TWO_OVER_PI << max(e, 0), 1 << (_TWO_OVER_PI_BITS + max(-e, 0)))
        t -= 4 * (t // 4)
        hi = float(t)
        his.append(hi)
        los.append(float(t - Fraction(hi)))
    return his, los


def _table(module: ir.Module, name: str, values: list[float]) -> ir.GlobalVariable:
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    array = ir.ArrayType(F64, len(values))
    table = ir.GlobalVariable(module, array, name=name)
    table.global_constant = True
    table.linkage = "private"
    table.initializer = ir.Constant(array, values)
    return table


def _sin_poly(e: _Emitter, r, z):
    """sin(r) for |r| <= pi/4 (+ a little) in f64: Taylor to r**13 (relative error < 2**-44)."""
    coefficients = [(-1) ** n / math.factorial(2 * n + 1) for n in range(1, 7)]
    return e.add(r, e.mul(e.mul(r, z), e.horner(z, coefficients)))


def _cos_poly(e: _Emitter, z):
    """cos(r) for |r| <= pi/4 (+ a little) in f64: Taylor to r**14 (error < 2**-50)."""
    coefficients = [(-1) ** n / math.factorial(2 * n) for n in range(0, 8)]
    return e.horner(z, coefficients)


def _reduce_f32(b: ir.IRBuilder, x: ir.Value):
    """(r, q, bits) for float32 x: |x| = (q + 4n) * pi/2 + r exactly up to f64 rounding of r.

    |x| = M * 2**E with integer M < 2**24; |x| * 2/pi = M * T[E] (mod 4).  M * T_hi is
    split exactly (fma) into p + perr; k = rint(p); f = (p - k) + perr + M * T_lo, where
    p - k is exact.  |f| <= 1/2 + 2**-26 and its absolute error is below 2**-77, so even the
    float32 inputs closest to a multiple of pi/2 keep a relative error far below 2**-40.
    """
    e64 = _Emitter(b, F64)
    bits = b.and_(b.bitcast(x, I32), ir.Constant(I32, 0x7FFFFFFF))
    biased = b.lshr(bits, ir.Constant(I32, 23))
    mantissa = b.and_(bits, ir.Constant(I32, 0x7FFFFF))
    normal = b.icmp_unsigned("!=", biased, ir.Constant(I32, 0))
    finite = b.icmp_unsigned("!=", biased, ir.Constant(I32, 255))
    m = b.select(normal, b.or_(mantissa, ir.Constant(I32, 0x800000)), mantissa)
    m = b.select(finite, m, ir.Constant(I32, 0))  # inf / NaN: reduce 0, the result is NaN anyway
    index = b.zext(b.select(normal, b.sub(biased, ir.Constant(I32, 1)), ir.Constant(I32, 0)), I64)
    mf = b.uitofp(m, F64)
    zero = ir.Constant(I32, 0)
    parts = []
    for name, values in zip(("jitflow.trig.t_hi", "jitflow.trig.t_lo"), _reduction_table()):
        table = _table(b.module, name, values)
        ptr = b.gep(table, [zero, index], inbounds=True, source_etype=table.value_type)
        parts.append(b.load(ptr, typ=F64))
    t_hi, t_lo = parts
    p = e64.mul(mf, t_hi)
    perr = b.call(fma(b.module, F64), [mf, t_hi, b.fneg(p)])
    k = e64.rint(p)
    f = e64.add(e64.add(e64.sub(p, k), perr), e64.mul(mf, t_lo))
    r = e64.mul(f, e64.c(math.pi / 2))
    q = b.and_(b.fptosi(k, I32), ir.Constant(I32, 3))
    return r, q, finite


def _trig_f32(b: ir.IRBuilder, x: ir.Value, which: str) -> ir.Value:
    e64 = _Emitter(b, F64)
    r, q, finite = _reduce_f32(b, x)
    z = e64.mul(r, r)
    s, c = _sin_poly(e64, r, z), _cos_poly(e64, z)
    odd = b.trunc(q, I1)
    upper = b.trunc(b.lshr(q, ir.Constant(I32, 1)), I1)  # q in {2, 3}
    if which == "tan":
        result = e64.select(odd, e64.div(b.fneg(c), s), e64.div(s, c))
    else:
        if which == "cos":  # cos(a + q pi/2) = cos, -sin, -cos, sin
            result = e64.select(odd, b.fneg(s), c)
            negate = upper
        else:  # sin(a + q pi/2) = sin, cos, -sin, -cos
            result = e64.select(odd, c, s)
            negate = upper
        result = e64.select(negate, b.fneg(result), result)
    if which != "cos":  # odd functions: f(-x) = -f(x), -0.0 included
        negative = b.icmp_signed("<", b.bitcast(x, I32), ir.Constant(I32, 0))
        result = e64.select(negative, b.fneg(result), result)
    return b.select(finite, _to_f32(b, result), ir.Constant(F32, math.nan))


def sine(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """sin(x).  Max error vs NumPy: 1 ulp (f32), 1 ulp (f64).

    Exact argument reduction over the whole range of both types (``_reduce_f32``,
    ``_reduce_f64``), so sin(1e300) is as accurate as sin(1); sin(+-inf) and sin(NaN) are
    NaN; -0.0 stays -0.0.  float64: sine and cosine of the reduced r_hi + r_lo are formed as
    unevaluated sums and rounded once; against mpmath the result is within 1 ulp of the
    correctly rounded value, also at the inputs nearest a multiple of pi/2.  There NumPy's
    own float64 cos and tan are 8 and 14 ulp off, so the tests check those inputs against
    mpmath instead of NumPy.
    """
    if x.type == F64:
        return _trig_f64(b, x, "sin")
    return _trig_f32(b, x, "sin")


def cosine(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """cos(x).  Max error vs NumPy: 1 ulp (f32), 1 ulp (f64).

    Same reduction and accuracy notes as ``sine``; cos(+-inf) and cos(NaN) are NaN.
    """
    if x.type == F64:
        return _trig_f64(b, x, "cos")
    return _trig_f32(b, x, "cos")


def tan(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """tan(x) = sin/cos.  Max error vs NumPy: 1 ulp (f32), 1 ulp (f64).

    Same reduction as ``sine``; odd quadrants use -cos/sin.  tan(-0.0) = -0.0.  float32
    divides in float64; float64 divides the double-double sine and cosine and corrects the
    quotient once with its fma residual.
    """
    if x.type == F64:
        return _trig_f64(b, x, "tan")
    return _trig_f32(b, x, "tan")


# -- sine, cosine, tan (float64) ----------------------------------------------------
#
# |x| = M * 2**E with a 53-bit integer M; |x| * 2/pi = M * T[E] (mod 4) where
# T[E] = 2**E * 2/pi mod 4 is stored as t0 + t1 + t2 + t3 on *fixed* grids (t0 a multiple
# of 2**-51, t1 of 2**-104, t2 of 2**-157, t3 the nearest double of the rest).  The fixed
# grids make every partial sum whose cancellation matters exact, so the fraction keeps
# ~100 correct bits even for the double closest to a multiple of pi/2
# (6381956970095103 * 2**797, 2**-61 away).

_F64_TABLE_FIRST_EXPONENT = -53   # |x| >= 1/2 (everything smaller needs no reduction)
_F64_TABLE_ENTRIES = 1025         # E up to 971, the exponent of the largest finite double
_F64_TABLE_GRIDS = (51, 104, 157)


@functools.cache
def _f64_table_words() -> tuple[float, ...]:
    """Flattened [t0, t1, t2, t3] per E = -53 .. 971, each row summing to 2**E * 2/pi mod 4."""
    scale = _TWO_OVER_PI_BITS - _F64_TABLE_FIRST_EXPONENT  # T as an integer multiple of 2**-scale
    modulus = 4 << scale
    words: list[float] = []
    for row in range(_F64_TABLE_ENTRIES):
        rest = (_TWO_OVER_PI << row) % modulus
        for grid in _F64_TABLE_GRIDS:
            shift = scale - grid
            rounded = (rest + (1 << (shift - 1))) >> shift  # nearest multiple of 2**-grid
            words.append(math.ldexp(rounded, -grid))
            rest -= rounded << shift
        words.append(rest / (1 << scale))  # int / int rounds correctly
    return tuple(words)


def _reduce_f64(b: ir.IRBuilder, x: ir.Value):
    """(r_hi, r_lo, q, finite) with |x| = (q + 4n) pi/2 + r_hi + r_lo, |r| <= pi/4 (+ 2**-50).

    Products M * t_i are split exactly with fma; integer parts are removed with rint
    (exact on doubles) and summed as integers for the quadrant; the fractions are added
    largest first with error-free two_sum, carrying the rounding errors separately.
    """
    e = _Emitter(b, F64)
    bits = b.and_(b.bitcast(x, I64), ir.Constant(I64, 0x7FFF_FFFF_FFFF_FFFF))
    ax = b.bitcast(bits, F64)
    biased = b.lshr(bits, ir.Constant(I64, 52))
    finite = b.icmp_unsigned("!=", biased, ir.Constant(I64, 2047))
    m = e.b.uitofp(b.or_(b.and_(bits, ir.Constant(I64, (1 << 52) - 1)), ir.Constant(I64, 1 << 52)), F64)
    row = b.sub(biased, ir.Constant(I64, 1075 + _F64_TABLE_FIRST_EXPONENT))
    row = b.select(b.icmp_signed("<", row, ir.Constant(I64, 0)), ir.Constant(I64, 0), row)
    last = ir.Constant(I64, _F64_TABLE_ENTRIES - 1)
    row = b.select(b.icmp_signed(">", row, last), last, row)  # inf / NaN: any row, result is NaN
    table = _table(b.module, "jitflow.trig.f64_words", list(_f64_table_words()))
    zero = ir.Constant(I64, 0)
    t = []
    for word in range(4):
        index = b.add(b.shl(row, ir.Constant(I64, 2)), ir.Constant(I64, word))
        ptr = b.gep(table, [zero, index], inbounds=True, source_etype=table.value_type)
        t.append(b.load(ptr, typ=F64))
    p0 = e.mul(m, t[0])
    e0 = e.fma(m, t[0], b.fneg(p0))
    p1 = e.mul(m, t[1])
    e1 = e.fma(m, t[1], b.fneg(p1))
    p2 = e.mul(m, t[2])
    e2 = e.fma(m, t[2], b.fneg(p2))
    p3 = e.mul(m, t[3])
    # Integer parts: p0 < 2**55, |e0| <= 4, |p1| < 2; what is left of each is in [-1/2, 1/2].
    quadrant = ir.Constant(I64, 0)
    fractions = []
    for big in (p0, e0, p1):
        k = e.rint(big)
        quadrant = b.add(quadrant, b.fptosi(k, I64))
        fractions.append(e.sub(big, k))
    # (p0 + e0) mod 1 lies on the 2**-51 grid with magnitude <= 1: this sum is exact.
    h = e.add(fractions[0], fractions[1])
    h, low = e.two_sum(h, fractions[2])
    k = e.rint(h)
    quadrant = b.add(quadrant, b.fptosi(k, I64))
    h = e.sub(h, k)
    for term in (e1, p2):
        h, err = e.two_sum(h, term)
        low = e.add(low, err)
    low = e.add(low, e.add(e2, p3))
    h, low = e.two_sum(h, low)
    # r = (h + low) * pi/2 as a double-double.
    half_pi_hi, half_pi_lo = 1.5707963267948966, 6.123233995736766e-17
    r_hi = e.mul(h, e.c(half_pi_hi))
    r_lo = e.add(e.fma(h, e.c(half_pi_hi), b.fneg(r_hi)),
                 e.add(e.mul(h, e.c(half_pi_lo)), e.mul(low, e.c(half_pi_hi))))
    small = e.lt(ax, e.c(math.pi / 4))
    r_hi = e.select(small, ax, r_hi)
    r_lo = e.select(small, e.c(0.0), r_lo)
    quadrant = b.select(small, ir.Constant(I64, 0), quadrant)
    return r_hi, r_lo, b.and_(quadrant, ir.Constant(I64, 3)), finite


def _sin_cos_f64(e: _Emitter, r_hi, r_lo):
    """((s_hi, s_lo), (c_hi, c_lo)): sin and cos of r_hi + r_lo, |r| <= pi/4 + 2**-50, each as an
    unevaluated sum good to ~2**-62 relative.  Taylor series to r**17 (sine) and r**18
    (cosine): the first omitted terms are below 2**-62 relative on this interval."""
    b = e.b
    z = e.mul(r_hi, r_hi)
    sine_terms = [(-1) ** n / math.factorial(2 * n + 1) for n in range(1, 9)]
    s_tail = e.add(e.mul(e.mul(r_hi, z), e.horner(z, sine_terms)),
                   e.mul(r_lo, e.sub(e.c(1.0), e.mul(e.c(0.5), z))))  # sin(a + d) ~ sin a + d cos a
    s_hi, s_lo = e.fast_two_sum(r_hi, s_tail)
    # cos r = 1 - r**2/2 + r**4 C(r**2); 1 - r**2/2 rounded once, its error and r**2's kept.
    z_err = e.fma(r_hi, r_hi, b.fneg(z))
    half_z = e.mul(e.c(0.5), z)
    w = e.sub(e.c(1.0), half_z)
    cosine_terms = [(-1) ** n / math.factorial(2 * n) for n in range(2, 10)]
    c_tail = e.add(e.sub(e.sub(e.c(1.0), w), half_z),
                   e.sub(e.mul(e.mul(z, z), e.horner(z, cosine_terms)),
                         e.add(e.mul(e.c(0.5), z_err), e.mul(r_hi, r_lo))))
    c_hi, c_lo = e.fast_two_sum(w, c_tail)
    return (s_hi, s_lo), (c_hi, c_lo)


def _trig_f64(b: ir.IRBuilder, x: ir.Value, which: str) -> ir.Value:
    e = _Emitter(b, F64)
    r_hi, r_lo, q, finite = _reduce_f64(b, x)
    (s_hi, s_lo), (c_hi, c_lo) = _sin_cos_f64(e, r_hi, r_lo)
    odd = b.trunc(q, I1)
    upper = b.trunc(b.lshr(q, ir.Constant(I64, 1)), I1)
    if which == "tan":  # tan = s/c (even q) or -c/s (odd q), the quotient corrected once
        num_hi, num_lo = e.select(odd, c_hi, s_hi), e.select(odd, c_lo, s_lo)
        den_hi, den_lo = e.select(odd, s_hi, c_hi), e.select(odd, s_lo, c_lo)
        quotient = e.div(num_hi, den_hi)
        residual = e.sub(e.add(e.fma(b.fneg(quotient), den_hi, num_hi), num_lo), e.mul(quotient, den_lo))
        result = e.add(quotient, e.div(residual, den_hi))
        result = e.select(odd, b.fneg(result), result)
    else:
        s, c = e.add(s_hi, s_lo), e.add(c_hi, c_lo)
        if which == "cos":  # cos(a + q pi/2) = cos, -sin, -cos, sin
            negate = b.xor(upper, odd)
            result = e.select(odd, s, c)
            result = e.select(negate, b.fneg(result), result)
        else:  # sin(a + q pi/2) = sin, cos, -sin, -cos
            result = e.select(odd, c, s)
            result = e.select(upper, b.fneg(result), result)
    if which != "cos":  # odd functions: f(-x) = -f(x), -0.0 included
        negative = b.icmp_signed("<", b.bitcast(x, I64), ir.Constant(I64, 0))
        result = e.select(negative, b.fneg(result), result)
    return e.select(finite, result, e.c(math.nan))


def _cbrt_f64(e: _Emitter, a):
    """cbrt(a) for finite a > 0 in f64 (normal or not): a bit-level guess (exponent / 3, error
    < 4%), then Halley steps y <- y (y**3 + 2a) / (2 y**3 + a) (cubic convergence)."""
    b = e.b
    tiny = e.lt(a, e.c(2.0 ** -900))
    huge = e.gt(a, e.c(2.0 ** 900))
    scaled = e.select(tiny, e.mul(a, e.c(2.0 ** 600)), e.select(huge, e.mul(a, e.c(2.0 ** -600)), a))
    bits = e.bits(scaled)
    guess = e.from_bits(b.add(b.udiv(bits, e.ci(3)), e.ci(0x2A9F7893782DA1CE)))
    y = guess
    for _ in range(3):
        y3 = e.mul(e.mul(y, y), y)
        y = e.mul(y, e.div(e.add(y3, e.add(scaled, scaled)), e.add(e.add(y3, y3), scaled)))
    return e.select(tiny, e.mul(y, e.c(2.0 ** -200)), e.select(huge, e.mul(y, e.c(2.0 ** 200)), y))


def cbrt(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """Cube root.  Max error vs NumPy: 1 ulp (f32), 3 ulp (f64).

    The f64 bound is mostly NumPy's: against the exact cube root (mpmath) ours is within
    2 ulp (0.14% of samples off at all), NumPy's float64 cbrt here within 3 ulp.

    Computed on |x| and given x's sign: cbrt(-0.0) = -0.0, cbrt(+-inf) = +-inf, NaN
    propagates.  float32 runs in float64 and rounds once; float64 ends with one more
    Newton correction y - (y**3 - a) / (3 y**2) with y**3 - a evaluated exactly enough
    through fma error terms.
    """
    e = _Emitter(b, F64)
    xd = b.fpext(x, F64) if x.type == F32 else x
    a = e.abs(xd)
    special = b.or_(b.fcmp_unordered("uno", a, a), b.or_(e.eq(a, e.c(0.0)), e.eq(a, e.c(math.inf))))
    safe = e.select(special, e.c(1.0), a)
    y = _cbrt_f64(e, safe)
    if x.type == F64:
        # y**3 - a nearly exactly: y*y = y2 + y2_err, y2*y = hi + hi_err (fma), hi - a exact.
        fused = fma(b.module, F64)
        y2 = e.mul(y, y)
        y2_err = b.call(fused, [y, y, b.fneg(y2)])
        hi = e.mul(y2, y)
        hi_err = b.call(fused, [y2, y, b.fneg(hi)])
        residual = e.add(e.sub(hi, safe), e.add(hi_err, e.mul(y2_err, y)))
        y = e.sub(y, e.div(residual, e.mul(e.c(3.0), y2)))
    y = e.select(special, a, y)
    result = e.copysign(y, xd)
    return _to_f32(b, result) if x.type == F32 else result


_ATAN_EIGHTHS = [  # atan(j/8) as hi + lo doubles (tests check them against mpmath)
    (0.0, 0.0),
    (0.12435499454676144, -3.1253241424539383e-18),
    (0.24497866312686414, 1.0698755618734451e-17),
    (0.35877067027057225, -2.4623815582638635e-17),
    (0.4636476090008061, 2.2698777452961687e-17),
    (0.5585993153435624, -5.4556305485916264e-18),
    (0.6435011087932844, 1.5834785051444286e-17),
    (0.7188299996216245, -2.1478388444456983e-17),
    (0.7853981633974483, 3.061616997868383e-17),
]
_PI = (3.141592653589793, 1.2246467991473532e-16)
_HALF_PI = (1.5707963267948966, 6.123233995736766e-17)


def _atan2_f64(b: ir.IRBuilder, y: ir.Value, x: ir.Value) -> ir.Value:
    """atan2 of float64 in double-double steps (see ``atan2``)."""
    e = _Emitter(b, F64)
    ay, ax = e.abs(y), e.abs(x)
    steep = e.gt(ay, ax)
    low, high = e.select(steep, ax, ay), e.select(steep, ay, ax)
    t = e.div(low, high)
    # t + t_lo = low / high to ~2**-106; meaningless (and selected away) for zeros/infinities.
    t_lo = e.div(e.fma(b.fneg(t), high, low), high)
    ordinary = b.and_(e.gt(high, e.c(0.0)), e.lt(high, e.c(math.inf)))
    t_lo = e.select(ordinary, t_lo, e.c(0.0))
    t = e.select(e.eq(high, e.c(0.0)), e.c(0.0), t)
    t = e.select(e.eq(low, e.c(math.inf)), e.c(1.0), t)
    t_lo = e.select(b.or_(e.isnan(t_lo), e.eq(low, e.c(math.inf))), e.c(0.0), t_lo)
    # atan t = atan c + atan u, c = j/8 nearest t, u = (t - c) / (1 + t c), |u| <= 1/16.
    j = b.fptosi(e.rint(e.mul(e.select(e.isnan(t), e.c(0.0), t), e.c(8.0))), I64)
    c = e.mul(b.sitofp(j, F64), e.c(0.125))
    tc = e.mul(t, c)
    den, den_lo = e.fast_two_sum(e.c(1.0), tc)
    den_lo = e.add(den_lo, e.fma(t, c, b.fneg(tc)))
    numerator = e.sub(t, c)  # exact: c/2 <= t <= 2c or c == 0
    u = e.div(numerator, den)
    u_lo = e.div(e.sub(e.add(e.fma(b.fneg(u), den, numerator), t_lo), e.mul(u, den_lo)), den)
    z = e.mul(u, u)
    series = e.mul(e.mul(u, z), e.horner(z, [(-1) ** n / (2 * n + 1) for n in range(1, 8)]))
    zero = ir.Constant(I32, 0)
    bases = []
    for name, values in (("jitflow.atan.eighths_hi", [hi for hi, _ in _ATAN_EIGHTHS]),
                         ("jitflow.atan.eighths_lo", [lo for _, lo in _ATAN_EIGHTHS])):
        table = _table(b.module, name, values)
        ptr = b.gep(table, [zero, j], inbounds=True, source_etype=table.value_type)
        bases.append(b.load(ptr, typ=F64))
    a_hi, a_err = e.two_sum(bases[0], u)
    a_lo = e.add(a_err, e.add(bases[1], e.add(u_lo, series)))
    # Octants: K + sign * a with K in {0, pi/2, pi}.
    x_negative = b.icmp_signed("<", b.bitcast(x, I64), ir.Constant(I64, 0))
    subtract = b.xor(steep, x_negative)
    k_hi = e.select(steep, e.c(_HALF_PI[0]), e.select(x_negative, e.c(_PI[0]), e.c(0.0)))
    k_lo = e.select(steep, e.c(_HALF_PI[1]), e.select(x_negative, e.c(_PI[1]), e.c(0.0)))
    a_hi = e.select(subtract, b.fneg(a_hi), a_hi)
    a_lo = e.select(subtract, b.fneg(a_lo), a_lo)
    s, s_err = e.two_sum(k_hi, a_hi)
    result = e.add(s, e.add(s_err, e.add(k_lo, a_lo)))
    result = e.copysign(result, y)
    return e.select(b.or_(e.isnan(x), e.isnan(y)), e.c(math.nan), result)


def atan2(b: ir.IRBuilder, y: ir.Value, x: ir.Value) -> ir.Value:
    """atan2(y, x); float32 in float64, float64 in double-double steps.
    Max error vs NumPy: 1 ulp (f32), 1 ulp (f64).

    float32: t = min(|x|, |y|) / max(|x|, |y|) in [0, 1]; above tan(pi/8) atan(t) = pi/4 +
    atan((t - 1) / (t + 1)), leaving |t| <= 0.4143 for an odd Taylor series to t**33
    (relative error < 2**-42).  Octant by |y| > |x| (pi/2 - a) and the sign bit of x
    (pi - a), sign from y: C99's zeros (atan2(+-0, -0) = +-pi) and infinities
    (atan2(+-inf, -inf) = +-3pi/4) fall out with t = 0 for 0/0 and t = 1 for inf/inf.

    float64: the same octants, with t kept as t + t_lo (fma residual), atan t = atan(j/8)
    + atan u for the nearest eighth (|u| <= 1/16, Taylor to u**15) and u, atan(j/8), pi/2
    and pi all carried as double-doubles, so only the final addition rounds (against
    mpmath: under 1 ulp).
    """
    if x.type == F64:
        return _atan2_f64(b, y, x)
    e = _Emitter(b, F64)
    yd, xd = b.fpext(y, F64), b.fpext(x, F64)
    ay, ax = e.abs(yd), e.abs(xd)
    steep = e.gt(ay, ax)
    low, high = e.select(steep, ax, ay), e.select(steep, ay, ax)
    t = e.div(low, high)
    t = e.select(e.eq(high, e.c(0.0)), e.c(0.0), t)
    t = e.select(e.eq(low, e.c(math.inf)), e.c(1.0), t)
    shifted = e.gt(t, e.c(math.tan(math.pi / 8)))
    u = e.select(shifted, e.div(e.sub(t, e.c(1.0)), e.add(t, e.c(1.0))), t)
    z = e.mul(u, u)
    series = e.mul(u, e.horner(z, [(-1) ** n / (2 * n + 1) for n in range(17)]))
    a = e.select(shifted, e.add(e.c(math.pi / 4), series), series)
    a = e.select(steep, e.sub(e.c(math.pi / 2), a), a)
    x_negative = b.icmp_signed("<", b.bitcast(x, I32), ir.Constant(I32, 0))
    a = e.select(x_negative, e.sub(e.c(math.pi), a), a)
    a = e.copysign(a, yd)
    a = e.select(b.or_(e.isnan(xd), e.isnan(yd)), e.c(math.nan), a)
    return _to_f32(b, a)


# -- power ------------------------------------------------------------------------

# float64 power: |x|**y = exp(y * log|x|) with log|x| and the product as double-doubles.
# x = 2**k * z with z in [0.7057, 1.4115) (the offset makes k = 0 around 1, where log is
# small and needs its relative accuracy); z's 7 leading mantissa bits after the offset pick
# c_i with 1/c_i and log(c_i) tabulated; r = z/c_i - 1 is then |r| < 2**-7.4.

_LOG_OFFSET = 0x3FE6955500000000  # bits of 0.70572900772...
_LOG_TABLE_BITS = 7


def _bits_to_f64(bits: int) -> float:
    return struct.unpack("<d", struct.pack("<Q", bits))[0]


@functools.cache
def _log_table() -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
    """(1/c_i, log(c_i) hi, log(c_i) lo) for the 2**7 subintervals of z; c = 1 where z = 1 lies,
    so that log(x) near x = 1 is computed from r = z - 1 alone.  log by ``decimal`` (40 digits)."""
    shift = 52 - _LOG_TABLE_BITS
    one = (0x3FF0000000000000 - _LOG_OFFSET) >> shift
    inverses, log_hi, log_lo = [], [], []
    with decimal.localcontext() as context:
        context.prec = 40
        for i in range(1 << _LOG_TABLE_BITS):
            start = _bits_to_f64(_LOG_OFFSET + (i << shift))
            end = _bits_to_f64(_LOG_OFFSET + ((i + 1) << shift))
            inverse = 1.0 if i == one else 2.0 / (start + end)
            log_c = -decimal.Decimal(inverse).ln()
            hi = float(log_c)
            inverses.append(inverse)
            log_hi.append(hi)
            log_lo.append(float(log_c - decimal.Decimal(hi)))
    return tuple(inverses), tuple(log_hi), tuple(log_lo)


def _log_dd(e: _Emitter, x):
    """log(x) as (hi, lo) with relative error ~2**-68, for finite x > 0 (denormals too)."""
    b = e.b
    tiny = e.lt(x, e.c(2.0 ** -1022))
    xs = e.select(tiny, e.mul(x, e.c(2.0 ** 54)), x)
    bits = e.bits(xs)
    offset = b.sub(bits, e.ci(_LOG_OFFSET))
    k = b.ashr(offset, e.ci(52))
    k = b.sub(k, b.select(tiny, e.ci(54), e.ci(0)))
    index = b.and_(b.lshr(offset, e.ci(52 - _LOG_TABLE_BITS)), e.ci((1 << _LOG_TABLE_BITS) - 1))
    z = e.from_bits(b.sub(bits, b.and_(offset, e.ci(-(1 << 52)))))
    zero = ir.Constant(I64, 0)
    inverse, log_c_hi, log_c_lo = [
        b.load(b.gep(table, [zero, index], inbounds=True, source_etype=table.value_type), typ=F64)
        for table in (_table(b.module, f"jitflow.log.{name}", list(values))
                      for name, values in zip(("inverse", "hi", "lo"), _log_table()))]
    # r = z/c - 1 exactly as r_hi + r_lo: z * (1/c) split by fma, then - 1 exact (Sterbenz).
    product = e.mul(z, inverse)
    r_lo = e.fma(z, inverse, b.fneg(product))
    r = e.sub(product, e.c(1.0))
    kf = b.sitofp(k, F64)
    hi, lo = e.two_sum(e.mul(kf, e.c(e.p.ln2_hi)), log_c_hi)  # k * ln2_hi is exact
    lo = e.add(lo, e.add(e.mul(kf, e.c(e.p.ln2_lo)), log_c_lo))
    hi, err = e.two_sum(hi, r)
    lo = e.add(lo, err)
    minus_half_r = e.mul(e.c(-0.5), r)
    square = e.mul(minus_half_r, r)
    hi, err = e.two_sum(hi, square)
    lo = e.add(lo, e.add(err, e.fma(minus_half_r, r, b.fneg(square))))
    # log1p(r + r_lo) = log1p(r) + r_lo / (1 + r); log1p(r) - r + r**2/2 by its Taylor series.
    series = e.horner(r, [(-1) ** (n + 1) / n for n in range(3, 12)])
    lo = e.add(lo, e.add(e.mul(r_lo, e.sub(e.c(1.0), r)), e.mul(e.mul(r, e.mul(r, r)), series)))
    return e.fast_two_sum(hi, lo)


def _exp_dd(e: _Emitter, x_hi, x_lo):
    """exp(x_hi + x_lo) rounded once (before scaling) for |x_lo| <= 2**-30; 0 / inf outside
    the range; x_hi must not be NaN."""
    b = e.b
    in_range = b.and_(e.gt(x_hi, e.c(e.p.exp_low)), e.lt(x_hi, e.c(e.p.exp_high)))
    xs = e.sanitize(x_hi, e.p.exp_low, e.p.exp_high)
    x_lo = e.select(in_range, x_lo, e.c(0.0))
    kf = e.rint(e.mul(xs, e.c(1 / math.log(2))))
    r = e.sub(xs, e.mul(kf, e.c(e.p.ln2_hi)))  # exact: Sterbenz, k * ln2_hi exact
    # k * ln2_lo reaches 2**-22: folded into r so that exp(r_lo) = 1 + r_lo to 2**-110.
    r, r_lo = e.two_sum(r, e.sub(x_lo, e.mul(kf, e.c(e.p.ln2_lo))))
    # exp r = 1 + r + r**2/2 + r**3 T(r): the first three summed exactly (r**2 split by fma),
    # so only r**3 T(r) < 0.0072 carries an evaluation error (~2**-59 of the result).
    s, s_err = e.fast_two_sum(e.c(1.0), r)
    square = e.mul(r, r)
    half_square = e.mul(e.c(0.5), square)
    half_square_lo = e.mul(e.c(0.5), e.fma(r, r, b.fneg(square)))
    s, s_err2 = e.two_sum(s, half_square)
    cubic = e.mul(e.mul(square, r), e.horner(r, _taylor_exp(14)[3:]))
    # s ~ 1 + r + r**2/2 is exp(r) closely enough for the r_lo term (|r_lo| <= 2**-53 |r| + 2**-110)
    tail = e.add(e.add(e.add(s_err, s_err2), e.add(half_square_lo, cubic)), e.mul(r_lo, s))
    return e.scale(e.add(s, tail), b.fptosi(kf, I64))


def _power_f64(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    e = _Emitter(b, F64)
    ax = e.abs(x)
    ordinary_x = b.and_(e.gt(ax, e.c(0.0)), e.lt(ax, e.c(math.inf)))
    ordinary_y = e.lt(e.abs(y), e.c(math.inf))
    log_hi, log_lo = _log_dd(e, e.select(ordinary_x, ax, e.c(1.0)))
    ys = e.select(ordinary_y, y, e.c(0.0))
    product = e.mul(ys, log_hi)
    product_lo = e.add(e.fma(ys, log_hi, b.fneg(product)), e.mul(ys, log_lo))
    result = _exp_dd(e, product, product_lo)
    inf, zero, one = e.c(math.inf), e.c(0.0), e.c(1.0)
    y_negative = e.lt(y, zero)
    # y = +-inf: 1 at |x| = 1, else 0 or inf by whether |x| < 1 and y > 0 agree.
    shrinks = b.icmp_unsigned("==", e.lt(ax, one), e.gt(y, zero))
    result = e.select(ordinary_y, result, e.select(e.eq(ax, one), one, e.select(shrinks, zero, inf)))
    result = e.select(e.eq(ax, zero), e.select(y_negative, inf, zero), result)
    result = e.select(e.eq(ax, inf), e.select(y_negative, zero, inf), result)
    integer = e.eq(e.rint(y), y)  # infinities count as even integers
    half = e.mul(y, e.c(0.5))
    odd = b.and_(integer, b.fcmp_unordered("!=", e.rint(half), half))
    negative = b.icmp_signed("<", b.bitcast(x, I64), ir.Constant(I64, 0))
    result = e.select(b.and_(negative, odd), b.fneg(result), result)
    invalid = b.and_(b.and_(e.lt(x, zero), e.gt(x, e.c(-math.inf))), b.and_(b.not_(integer), ordinary_y))
    result = e.select(b.or_(invalid, b.or_(e.isnan(x), e.isnan(y))), e.c(math.nan), result)
    return e.select(b.or_(e.eq(y, zero), e.eq(x, one)), one, result)


def power(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    """x**y; float32 as exp(y * log|x|) in float64, float64 in double-double.
    Max error vs NumPy: 1 ulp (f32), 1 ulp (f64).

    float32: the f64 log and exp are within 1 ulp and |y log x| < 2**8 wherever the
    float32 result is finite and nonzero, so the f64 result's relative error is below
    2**-43 before its one rounding to float32.  float64: log|x| as a double-double with
    relative error ~2**-68 (``_log_dd``), y * log|x| split exactly by fma, and exp of the
    pair rounded once before the power-of-two scaling (``_exp_dd``); against mpmath the
    result is within 1 ulp of the correctly rounded value.

    C99/NumPy special cases: x**0 = 1 and 1**y = 1 (NaN too), (-1)**(+-inf) = 1, negative
    x with a non-integer finite y is NaN, odd integer y keeps the sign of x (-0.0 and -inf
    included), zeros and infinities of x or y give 0 or inf by the C99 table.
    """
    if x.type == F64:
        return _power_f64(b, x, y)
    e = _Emitter(b, F64)
    xd, yd = b.fpext(x, F64), b.fpext(y, F64)
    ax = e.abs(xd)
    t = e.mul(yd, log(b, ax))
    result = exp(b, t)
    # y integer?  y odd?  (rint(inf) == inf: infinities count as even integers)
    integer = e.eq(e.rint(yd), yd)
    half = e.mul(yd, e.c(0.5))
    odd = b.and_(integer, b.fcmp_unordered("!=", e.rint(half), half))
    negative = b.icmp_signed("<", b.bitcast(x, I32), ir.Constant(I32, 0))
    result = e.select(b.and_(negative, odd), b.fneg(result), result)
    invalid = b.and_(b.and_(e.lt(xd, e.c(0.0)), e.gt(xd, e.c(-math.inf))),
                     b.and_(b.not_(integer), e.lt(e.abs(yd), e.c(math.inf))))
    result = e.select(invalid, e.c(math.nan), result)
    one = b.or_(b.or_(e.eq(yd, e.c(0.0)), e.eq(xd, e.c(1.0))),
                b.and_(e.eq(ax, e.c(1.0)), e.eq(e.abs(yd), e.c(math.inf))))
    result = e.select(one, e.c(1.0), result)
    return _to_f32(b, result)


# -- remainder (fmod) ----------------------------------------------------------------

_FMOD_STEP_BITS = 50  # quotient bits per step: q < 2**51 is exact and off by at most 1


def _floor_log2(e: _Emitter, a):
    """floor(log2 a) as i64 for finite a > 0, denormals included (read from a * 2**64)."""
    b = e.b
    subnormal = e.lt(a, e.c(2.0 ** -1022))
    scaled = e.select(subnormal, e.mul(a, e.c(2.0 ** 64)), a)
    biased = b.lshr(e.bits(scaled), e.ci(52))
    return b.sub(biased, b.select(subnormal, e.ci(1023 + 64), e.ci(1023)))


def _fmod_magnitude(e: _Emitter, ax, ay, steps: int):
    """|x| mod |y| exactly, for finite ax >= 0 and finite ay > 0 (float64 arithmetic).

    Each step takes s = max(log2(R / ay) - 50, 0), Y = ay * 2**s and q = trunc(R / Y)
    < 2**51 (exact; the rounded division is off by at most one, fixed by one add or
    subtract of Y); R - q*Y is a multiple of ulp(Y) below Y, so fma computes it exactly.
    A step removes 50 bits of exponent difference, so ``steps`` covers a difference of
    50 * (steps - 1) bits; finished lanes have q = 0 and stay put.
    """
    b = e.b
    exponent_y = _floor_log2(e, ay)
    r = ax
    for _ in range(steps):
        positive = e.gt(r, e.c(0.0))
        exponent_r = _floor_log2(e, e.select(positive, r, ay))
        shift = b.sub(b.sub(exponent_r, exponent_y), e.ci(_FMOD_STEP_BITS))
        shift = b.select(b.icmp_signed("<", shift, e.ci(0)), e.ci(0), shift)
        # ay * 2**shift in three exact multiplications (shift reaches 2098; 2**1000 each).
        chunk = e.ci(1000)
        first = b.select(b.icmp_signed(">", shift, chunk), chunk, shift)
        rest = b.sub(shift, first)
        second = b.select(b.icmp_signed(">", rest, chunk), chunk, rest)
        third = b.sub(rest, second)
        divisor = e.mul(e.mul(e.mul(ay, e.pow2(first)), e.pow2(second)), e.pow2(third))
        q = b.call(float_unary(b.module, "trunc", F64), [e.div(r, divisor)])
        r = e.fma(b.fneg(q), divisor, r)
        r = e.select(e.lt(r, e.c(0.0)), e.add(r, divisor), r)
        r = e.select(b.fcmp_ordered(">=", r, divisor), e.sub(r, divisor), r)
    return r


def fmod(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    """C fmod of float32: x - trunc(x / y) * y computed exactly (no rounding at all).
    Max error vs NumPy: 0 ulp (f32), 0 ulp (f64).

    Runs in float64 (exact, and the result is representable in float32): 6 steps of
    ``_fmod_magnitude`` cover float32's 276-bit exponent range.  The result has the sign of
    x (-0.0 kept); fmod(x, 0), fmod(+-inf, y) and NaNs give NaN; fmod(x, +-inf) = x.

    float64 stays with libm's fmod (also exact; the f64 bound above is its): the same
    algorithm needs 43 dependent steps for float64's 2098-bit range, and executing all of
    them branch-free measured ~50x slower than libm on typical operands.
    """
    if x.type != F32:
        raise TypeError(f"fmod: IR version is for float32 operands, got {x.type}")
    e = _Emitter(b, F64)
    xd, yd = b.fpext(x, F64), b.fpext(y, F64)
    ax, ay = e.abs(xd), e.abs(yd)
    x_finite = e.lt(ax, e.c(math.inf))
    y_ordinary = b.and_(e.gt(ay, e.c(0.0)), e.lt(ay, e.c(math.inf)))
    r = _fmod_magnitude(e, e.select(x_finite, ax, e.c(0.0)), e.select(y_ordinary, ay, e.c(1.0)), steps=6)
    result = e.copysign(r, xd)
    result = e.select(b.and_(x_finite, e.eq(ay, e.c(math.inf))), xd, result)
    invalid = b.or_(b.or_(b.not_(x_finite), e.eq(ay, e.c(0.0))), b.or_(e.isnan(xd), e.isnan(yd)))
    result = e.select(invalid, e.c(math.nan), result)
    return _to_f32(b, result)


VECTOR_MATH = {"exponential": exp, "exponential-minus-one": expm1, "log": log,
               "log-plus-one": log1p, "tanh": tanh, "logistic": logistic,
               "sine": sine, "cosine": cosine, "tan": tan, "cbrt": cbrt}
"""Opcode -> IR implementation of unary ops, used by ``lowering.py``."""

VECTOR_MATH_BINARY = {"power": power, "atan2": atan2, "remainder": fmod}
"""Opcode -> IR implementation of binary ops (float operands), used by ``lowering.py``."""
