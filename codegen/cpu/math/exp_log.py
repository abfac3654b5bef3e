"""e**x, e**x - 1, log and log(1 + x), float32 and float64.

Cody-Waite reduction x = k*ln2 + r with a two-part ln2, Taylor polynomials on the
reduced interval, and reconstruction by building 2**k from bits; log reads the
exponent from the bits and sums an atanh series of the rescaled mantissa.
"""

from __future__ import annotations

import math

from llvmlite import ir

from .emitter import FloatEmitter


def taylor_exp(degree: int) -> list[float]:
    return [1.0 / math.factorial(n) for n in range(degree + 1)]


def _exp_reduced(e: FloatEmitter, r):
    return e.horner(r, taylor_exp(e.p.exp_degree))


def _expm1_reduced(e: FloatEmitter, r):
    """e**r - 1 for |r| <= ln2/2 with small relative error: r + r*r*(1/2 + r/6 + ...)."""
    tail = e.horner(r, taylor_exp(e.p.exp_degree)[2:])
    return e.add(r, e.mul(e.mul(r, r), tail))


def exp(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """e**x.  Max error vs NumPy: 1 ulp (f32, vs the rounded f64 result), 1 ulp (f64).

    Overflow gives inf, underflow gives 0 through correctly scaled denormals; NaN
    propagates.
    """
    e = FloatEmitter(b, x.type)
    xs = e.sanitize(x, e.p.exp_low, e.p.exp_high)
    r, k = e.reduce_ln2(xs)
    result = e.scale(_exp_reduced(e, r), k)
    return e.select(e.isnan(x), x, result)


def expm1(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """e**x - 1, accurate near 0.  Max error vs NumPy: 2 ulp (f32), 2 ulp (f64).

    With x = k*ln2 + r: expm1(x) = 2**k * expm1(r) + (2**k - 1), where 2**k - 1 is
    exact for the k used; above ``expm1_big`` it equals exp(x).  -0.0 stays -0.0.
    """
    e = FloatEmitter(b, x.type)
    result = e.select(e.gt(x, e.c(e.p.expm1_big)), exp(b, x), expm1_moderate(e, x))
    # NaN propagates; +-0 keeps its sign (r + r*r*... would turn -0 into +0).
    keep = b.or_(e.isnan(x), e.eq(x, e.c(0.0)))
    return e.select(keep, x, result)


def expm1_moderate(e: FloatEmitter, x):
    """expm1(x) for x <= expm1_big (NaN becomes garbage: callers select it away)."""
    low = -float(e.p.mantissa_bits + 3) * math.log(2)  # expm1 rounds to -1 below this
    xs = e.sanitize(x, low, e.p.expm1_big)
    r, k = e.reduce_ln2(xs)
    t = e.pow2(k)
    return e.add(e.mul(t, _expm1_reduced(e, r)), e.sub(t, e.c(1.0)))


def _log_parts(e: FloatEmitter, x):
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


def _log1p_reduced(e: FloatEmitter, f, correction):
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


def _log_special(e: FloatEmitter, x, result, pole: float):
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
    e = FloatEmitter(b, x.type)
    k, f = _log_parts(e, x)
    low = e.add(e.mul(k, e.c(e.p.ln2_lo)), e.c(0.0))
    result = e.add(e.mul(k, e.c(e.p.ln2_hi)), _log1p_reduced(e, f, low))
    return _log_special(e, x, result, 0.0)


def log1p(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """log(1 + x), accurate near 0.  Max error vs NumPy: 2 ulp (f32), 2 ulp (f64).

    u = 1 + x is rounded; the rounding error is recovered exactly (Sterbenz) and
    added back as (x - (u - 1)) / u, the first-order correction of log(u).
    """
    e = FloatEmitter(b, x.type)
    u = e.add(e.c(1.0), x)
    lost = e.select(e.lt(u, e.c(2.0)), e.sub(x, e.sub(u, e.c(1.0))),
                    e.sub(e.c(1.0), e.sub(u, x)))
    correction = e.div(lost, u)
    k, f = _log_parts(e, u)
    low = e.add(e.mul(k, e.c(e.p.ln2_lo)), correction)
    result = e.add(e.mul(k, e.c(e.p.ln2_hi)), _log1p_reduced(e, f, low))
    result = e.select(e.eq(x, e.c(0.0)), x, result)  # keeps -0.0
    return _log_special(e, x, result, -1.0)
