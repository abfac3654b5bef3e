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

sine, cosine and tan of float32 run in float64 with an exact table-driven
argument reduction (a branch-free Payne-Hanek: x = M * 2**E, and x * 2/pi mod 4
equals M * T[E] mod 4 with T[E] = 2**E * 2/pi mod 4 stored as two doubles), so
they are vectorized and accurate over the whole float32 range (the table read
becomes a gather).  power of float32 runs as exp(y * log(x)) in float64.

Functions still calling libm from ``lowering.py`` (correct to libm's bounds but not
vectorized): sin, cos, tan, pow and atan2 of float64, and fmod.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from dataclasses import dataclass

from llvmlite import ir

from .scalars import F32, F64, I1, I32, I64, f64_to_f32_round_to_odd, fabs, float_unary, fma, intrinsic


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

_TWO_OVER_PI_BITS = 640
_TWO_OVER_PI = int(  # floor(2/pi * 2**640)
    "a2f9836e4e441529fc2757d1f534ddc0db6295993c439041fe5163abdebbc561b7246e3a424dd2e0"
    "06492eea09d1921cfe1deb1cb129a73ee88235f52ebb4484e99c7026b45f7e413991d639835339f4", 16)


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


_TABLE_HI, _TABLE_LO = _reduction_table()


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
    for name, values in (("jitflow.trig.t_hi", _TABLE_HI), ("jitflow.trig.t_lo", _TABLE_LO)):
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
    """sin(x) for float32 (float64 goes to libm).  Max error vs NumPy: 1 ulp (f32), 1 ulp (f64).

    Exact argument reduction over the whole float32 range (see ``_reduce_f32``), so
    sin(1e38) is as accurate as sin(1); sin(+-inf) and sin(NaN) are NaN; -0.0 stays -0.0.
    The f64 bound is libm's (glibc's sin is correctly rounded in practice).
    """
    if x.type != F32:
        return _libm_call(b, "sin", [x])
    return _trig_f32(b, x, "sin")


def cosine(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """cos(x) for float32 (float64 goes to libm).  Max error vs NumPy: 1 ulp (f32), 1 ulp (f64).

    Same reduction as ``sine``; cos(+-inf) and cos(NaN) are NaN.
    """
    if x.type != F32:
        return _libm_call(b, "cos", [x])
    return _trig_f32(b, x, "cos")


def tan(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """tan(x) = sin/cos (f64) for float32 (float64 goes to libm).  Max error vs NumPy: 1 ulp
    (f32), 1 ulp (f64).

    Same reduction as ``sine``; odd quadrants use -cos/sin.  tan(-0.0) = -0.0.
    """
    if x.type != F32:
        return _libm_call(b, "tan", [x])
    return _trig_f32(b, x, "tan")


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


def atan2(b: ir.IRBuilder, y: ir.Value, x: ir.Value) -> ir.Value:
    """atan2(y, x); float32 in float64 (float64 goes to libm).
    Max error vs NumPy: 1 ulp (f32), 1 ulp (f64).

    t = min(|x|, |y|) / max(|x|, |y|) in [0, 1]; above tan(pi/8) atan(t) = pi/4 +
    atan((t - 1) / (t + 1)), leaving |t| <= 0.4143 for an odd Taylor series to t**33
    (relative error < 2**-42).  Octant by |y| > |x| (pi/2 - a) and the sign bit of x
    (pi - a), sign from y: C99's zeros (atan2(+-0, -0) = +-pi) and infinities
    (atan2(+-inf, -inf) = +-3pi/4) fall out with t = 0 for 0/0 and t = 1 for inf/inf.
    The f64 bound is libm's.
    """
    if x.type != F32:
        return _libm_call(b, "atan2", [y, x])
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


def _libm_call(b: ir.IRBuilder, name: str, args: list) -> ir.Value:
    t = args[0].type
    fn = intrinsic(b.module, name if t == F64 else name + "f", t, [t] * len(args))
    return b.call(fn, args)


# -- power ------------------------------------------------------------------------

def power(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    """x**y; float32 as exp(y * log|x|) in float64 (float64 goes to libm).
    Max error vs NumPy: 1 ulp (f32), 1 ulp (f64).

    The f64 log and exp are within 1 ulp and |y log x| < 2**8 wherever the float32 result
    is finite and nonzero, so the f64 result's relative error is below 2**-43 before its
    one rounding to float32.  C99/NumPy special cases: x**0 = 1 and 1**y = 1 (NaN too),
    (-1)**(+-inf) = 1, negative x with a non-integer finite y is NaN, odd integer y keeps
    the sign of x (-0.0 and -inf included), and zeros/infinities follow from log(0) = -inf
    and exp(+-inf).  The f64 bound is libm's.
    """
    if x.type != F32:
        return _libm_call(b, "pow", [x, y])
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


VECTOR_MATH = {"exponential": exp, "exponential-minus-one": expm1, "log": log,
               "log-plus-one": log1p, "tanh": tanh, "logistic": logistic,
               "sine": sine, "cosine": cosine, "tan": tan, "cbrt": cbrt}
"""Opcode -> IR implementation of unary ops, used by ``lowering.py``."""

VECTOR_MATH_BINARY = {"power": power, "atan2": atan2}
"""Opcode -> IR implementation of binary ops (float operands), used by ``lowering.py``."""
