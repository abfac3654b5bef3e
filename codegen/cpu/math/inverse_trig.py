"""atan2 of float32 (in float64) and float64 (in double-double steps)."""

from __future__ import annotations

import math

from llvmlite import ir

from ..scalars import F64, I32, I64
from .emitter import FloatEmitter, constant_table, to_f32


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
    e = FloatEmitter(b, F64)
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
        table = constant_table(b.module, name, values)
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
    e = FloatEmitter(b, F64)
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
    return to_f32(b, a)
