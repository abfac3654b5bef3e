"""sine, cosine and tan of float32 and float64, accurate over the whole range.

float32 runs in float64 with an exact table-driven argument reduction (a branch-free
Payne-Hanek: x = M * 2**E, and x * 2/pi mod 4 equals M * T[E] mod 4 with
T[E] = 2**E * 2/pi mod 4 stored as two doubles), so it is vectorized and accurate over
the whole float32 range (the table read becomes a gather).  float64 uses the same idea
with four table words on fixed grids and error-free (fma / two_sum) arithmetic.
"""

from __future__ import annotations

import functools
import math

from llvmlite import ir

from ..scalars import F32, F64, I1, I32, I64, fma
from .emitter import FloatEmitter, constant_table, to_f32


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


def _sin_poly(e: FloatEmitter, r, z):
    """sin(r) for |r| <= pi/4 (+ a little) in f64: Taylor to r**13 (relative error < 2**-44)."""
    coefficients = [(-1) ** n / math.factorial(2 * n + 1) for n in range(1, 7)]
    return e.add(r, e.mul(e.mul(r, z), e.horner(z, coefficients)))


def _cos_poly(e: FloatEmitter, z):
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
    e64 = FloatEmitter(b, F64)
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
        table = constant_table(b.module, name, values)
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
    e64 = FloatEmitter(b, F64)
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
    return b.select(finite, to_f32(b, result), ir.Constant(F32, math.nan))


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
    e = FloatEmitter(b, F64)
    bits = b.and_(b.bitcast(x, I64), ir.Constant(I64, 0x7FFF_FFFF_FFFF_FFFF))
    ax = b.bitcast(bits, F64)
    biased = b.lshr(bits, ir.Constant(I64, 52))
    finite = b.icmp_unsigned("!=", biased, ir.Constant(I64, 2047))
    m = e.b.uitofp(b.or_(b.and_(bits, ir.Constant(I64, (1 << 52) - 1)), ir.Constant(I64, 1 << 52)), F64)
    row = b.sub(biased, ir.Constant(I64, 1075 + _F64_TABLE_FIRST_EXPONENT))
    row = b.select(b.icmp_signed("<", row, ir.Constant(I64, 0)), ir.Constant(I64, 0), row)
    last = ir.Constant(I64, _F64_TABLE_ENTRIES - 1)
    row = b.select(b.icmp_signed(">", row, last), last, row)  # inf / NaN: any row, result is NaN
    table = constant_table(b.module, "jitflow.trig.f64_words", list(_f64_table_words()))
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


def _sin_cos_f64(e: FloatEmitter, r_hi, r_lo):
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
    e = FloatEmitter(b, F64)
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
