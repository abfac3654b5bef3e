"""x**y and the cube root.

power of float32 runs as exp(y * log|x|) in float64; power of float64 uses a
double-double log and exp.  cbrt starts from a bit-level guess and refines it with
Halley steps in float64.
"""

from __future__ import annotations

import decimal
import functools
import math
import struct

from llvmlite import ir

from ..scalars import F32, F64, I32, I64, fma
from .emitter import FloatEmitter, constant_table, to_f32
from .exp_log import exp, log, taylor_exp


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


def _log_dd(e: FloatEmitter, x):
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
        for table in (constant_table(b.module, f"jitflow.log.{name}", list(values))
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


def _exp_dd(e: FloatEmitter, x_hi, x_lo):
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
    cubic = e.mul(e.mul(square, r), e.horner(r, taylor_exp(14)[3:]))
    # s ~ 1 + r + r**2/2 is exp(r) closely enough for the r_lo term (|r_lo| <= 2**-53 |r| + 2**-110)
    tail = e.add(e.add(e.add(s_err, s_err2), e.add(half_square_lo, cubic)), e.mul(r_lo, s))
    return e.scale(e.add(s, tail), b.fptosi(kf, I64))


def _power_f64(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    e = FloatEmitter(b, F64)
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
    e = FloatEmitter(b, F64)
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
    return to_f32(b, result)


# -- cube root ----------------------------------------------------------------------

def _cbrt_f64(e: FloatEmitter, a):
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
    e = FloatEmitter(b, F64)
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
    return to_f32(b, result) if x.type == F32 else result
