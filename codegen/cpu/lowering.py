"""Scalar emitters: one table from opcode to the LLVM IR of one element.

An emitter gets the builder, the instruction (for its attributes and types) and
its operands as register values (see ``scalars``) and returns the result as a
register value.  Loop nests (``kernels``) call these inside their bodies, so the
code here is branch-free and the loop vectorizer can widen it.

The implementation-defined choices follow the op table's header: integer
division by zero gives -1, float -> int conversion saturates with NaN -> 0,
shifts by >= the bit width give 0 or the sign fill, maximum/minimum propagate
NaN, and f16/bf16 arithmetic runs in f32 with one rounding per op.
"""

from __future__ import annotations

from typing import Callable

from llvmlite import ir

from ...ir import DType, Instruction
from ..errors import UnsupportedOpError
from . import math as vmath
from .scalars import (F32, F64, HALF, I1, I16, compute_dtype, f32_to_bf16, f64_to_f32_round_to_odd,
                      fabs, float_type, float_unary, fptoint_sat, int_unary, intrinsic, narrow,
                      register_type, widen)

Emitter = Callable[[ir.IRBuilder, Instruction, list], ir.Value]
ELEMENTWISE: dict[str, Emitter] = {}


def emit_elementwise(b: ir.IRBuilder, inst: Instruction, args: list) -> ir.Value:
    """The value of elementwise ``inst`` applied to register values ``args``."""
    try:
        emitter = ELEMENTWISE[inst.opcode]
    except KeyError:
        raise UnsupportedOpError(f"the cpu backend has no scalar lowering of {inst.opcode}") from None
    return emitter(b, inst, args)


def _register(*opcodes: str) -> Callable[[Emitter], Emitter]:
    def decorate(fn: Emitter) -> Emitter:
        for opcode in opcodes:
            ELEMENTWISE[opcode] = fn
        return fn

    return decorate


def _operand_dtype(inst: Instruction, index: int = 0) -> DType:
    return inst.operands[index].type.dtype


def _in_compute_type(fn: Callable[[ir.IRBuilder, list, DType], ir.Value]) -> Emitter:
    """Run a float emitter in the compute type: halves widen to f32 and round back once."""

    def emit(b: ir.IRBuilder, inst: Instruction, args: list) -> ir.Value:
        dtype = _operand_dtype(inst)
        wide = [widen(b, a, dtype) for a in args]
        return narrow(b, fn(b, wide, compute_dtype(dtype)), dtype)

    return emit


def libm(module: ir.Module, name: str, t: ir.Type, arity: int) -> ir.Function:
    """A libm function by its C name (sin / sinf): resolved by the JIT, checked before use."""
    return intrinsic(module, name if t == F64 else name + "f", t, [t] * arity)


# -- unary float math -----------------------------------------------------------

def _intrinsic_unary(name: str) -> Emitter:
    return _in_compute_type(lambda b, a, d: b.call(float_unary(b.module, name, a[0].type), a))


def _vector_math(fn: Callable[..., ir.Value]) -> Emitter:
    """An IR math function of ``vmath`` (unary or binary) on floats of any width."""
    def emit(b: ir.IRBuilder, inst: Instruction, args: list) -> ir.Value:
        with vmath.narrowing_to_half(_operand_dtype(inst) is DType.F16):
            return _in_compute_type(lambda b, a, d: fn(b, *a))(b, inst, args)

    return emit


for _opcode, _name in [("floor", "floor"), ("ceil", "ceil"), ("round-nearest-even", "rint"),
                       ("round-nearest-afz", "round"), ("sqrt", "sqrt")]:
    ELEMENTWISE[_opcode] = _intrinsic_unary(_name)
for _opcode, _fn in vmath.VECTOR_MATH.items():
    ELEMENTWISE[_opcode] = _vector_math(_fn)


@_register("rsqrt")
def _rsqrt(b, inst, args):
    def body(b, a, d):
        root = b.call(float_unary(b.module, "sqrt", a[0].type), a)
        return b.fdiv(ir.Constant(a[0].type, 1.0), root)

    return _in_compute_type(body)(b, inst, args)


@_register("is-finite")
def _is_finite(b, inst, args):
    x = widen(b, args[0], _operand_dtype(inst))
    return b.fcmp_ordered("<", b.call(fabs(b.module, x.type), [x]), ir.Constant(x.type, float("inf")))


# -- unary, all kinds -----------------------------------------------------------

@_register("abs")
def _abs(b, inst, args):
    if _operand_dtype(inst).is_float:
        return _intrinsic_unary("fabs")(b, inst, args)
    x = args[0]
    return b.select(b.icmp_signed("<", x, ir.Constant(x.type, 0)), b.neg(x), x)


@_register("negate")
def _negate(b, inst, args):
    if _operand_dtype(inst).is_float:
        return _in_compute_type(lambda b, a, d: b.fneg(a[0]))(b, inst, args)
    return b.neg(args[0])


@_register("sign")
def _sign(b, inst, args):
    if _operand_dtype(inst).is_float:
        def body(b, a, d):
            x = a[0]
            one = ir.Constant(x.type, 1.0)
            signed_one = b.call(intrinsic(b.module, f"llvm.copysign.{'f32' if x.type == F32 else 'f64'}",
                                          x.type, [x.type, x.type]), [one, x])
            keep = b.fcmp_unordered("==", x, ir.Constant(x.type, 0.0))  # zero or NaN
            return b.select(keep, x, signed_one)

        return _in_compute_type(body)(b, inst, args)
    x = args[0]
    zero = ir.Constant(x.type, 0)
    positive = b.zext(b.icmp_signed(">", x, zero), x.type)
    negative = b.zext(b.icmp_signed("<", x, zero), x.type)
    return b.sub(positive, negative)


@_register("not")
def _not(b, inst, args):
    return b.not_(args[0])


@_register("popcnt")
def _popcnt(b, inst, args):
    return b.call(int_unary(b.module, "ctpop", args[0].type), args)


# -- binary arithmetic ----------------------------------------------------------

def _arith(float_op: str, int_op: str) -> Emitter:
    def emit(b, inst, args):
        if _operand_dtype(inst).is_float:
            return _in_compute_type(lambda b, a, d: getattr(b, float_op)(*a))(b, inst, args)
        return getattr(b, int_op)(*args)

    return emit


ELEMENTWISE["add"] = _arith("fadd", "add")
ELEMENTWISE["subtract"] = _arith("fsub", "sub")
ELEMENTWISE["multiply"] = _arith("fmul", "mul")
ELEMENTWISE["atan2"] = _vector_math(vmath.atan2)


def _safe_divisor(b, x, y, signed: bool):
    """y with the cases that are UB in LLVM (y == 0, INT_MIN / -1) replaced by 1."""
    zero = ir.Constant(y.type, 0)
    bad = b.icmp_unsigned("==", y, zero)
    if signed:
        int_min = ir.Constant(x.type, -(1 << (x.type.width - 1)))
        overflow = b.and_(b.icmp_signed("==", x, int_min), b.icmp_signed("==", y, ir.Constant(y.type, -1)))
        bad = b.or_(bad, overflow)
    return b.select(bad, ir.Constant(y.type, 1), y), b.icmp_unsigned("==", y, zero)


@_register("divide")
def _divide(b, inst, args):
    dtype = _operand_dtype(inst)
    if dtype.is_float:
        return _in_compute_type(lambda b, a, d: b.fdiv(*a))(b, inst, args)
    x, y = args
    signed = dtype.is_signed_int
    safe, by_zero = _safe_divisor(b, x, y, signed)
    quotient = b.sdiv(x, safe) if signed else b.udiv(x, safe)  # INT_MIN / 1 == INT_MIN
    return b.select(by_zero, ir.Constant(x.type, -1), quotient)


@_register("remainder")
def _remainder(b, inst, args):
    dtype = _operand_dtype(inst)
    if dtype is DType.F64:  # libm: the exact IR fmod is ~50x slower at float64 (see vmath.fmod)
        return _in_compute_type(lambda b, a, d: b.call(libm(b.module, "fmod", a[0].type, 2), a))(
            b, inst, args)
    if dtype.is_float:  # C fmod, exact and branch-free (vectorizes); halves and bf16 via float32
        return _vector_math(vmath.fmod)(b, inst, args)
    x, y = args
    signed = dtype.is_signed_int
    safe, by_zero = _safe_divisor(b, x, y, signed)
    remainder = b.srem(x, safe) if signed else b.urem(x, safe)  # INT_MIN % 1 == 0
    return b.select(by_zero, x, remainder)


@_register("power")
def _power(b, inst, args):
    dtype = _operand_dtype(inst)
    if dtype.is_float:
        return _vector_math(vmath.power)(b, inst, args)
    x, y = args
    zero, one = ir.Constant(x.type, 0), ir.Constant(x.type, 1)
    negative = b.icmp_signed("<", y, zero) if dtype.is_signed_int else ir.Constant(I1, 0)
    exponent = b.select(negative, zero, y)
    result, base = one, x
    for bit in range(x.type.width):  # square-and-multiply over every exponent bit: no branches
        odd = b.trunc(b.lshr(exponent, ir.Constant(x.type, bit)), I1)
        result = b.select(odd, b.mul(result, base), result)
        base = b.mul(base, base)
    return b.select(negative, b.zext(b.icmp_signed("==", x, one), x.type), result)


def _extremum(greater: bool) -> Emitter:
    """NumPy's maximum/minimum: x if x wins or is NaN, else y (so NaN propagates, ties give y)."""

    def emit(b, inst, args):
        dtype = _operand_dtype(inst)
        x, y = args
        if dtype.is_float:
            wx, wy = widen(b, x, dtype), widen(b, y, dtype)
            wins = b.fcmp_ordered(">" if greater else "<", wx, wy)
            return b.select(b.or_(wins, b.fcmp_unordered("uno", wx, wx)), x, y)
        compare = b.icmp_signed if dtype.is_signed_int else b.icmp_unsigned
        return b.select(compare(">" if greater else "<", x, y), x, y)

    return emit


ELEMENTWISE["maximum"] = _extremum(True)
ELEMENTWISE["minimum"] = _extremum(False)
ELEMENTWISE["and"] = lambda b, inst, args: b.and_(*args)
ELEMENTWISE["or"] = lambda b, inst, args: b.or_(*args)
ELEMENTWISE["xor"] = lambda b, inst, args: b.xor(*args)


def _shift(kind: str) -> Emitter:
    def emit(b, inst, args):
        x, y = args
        width = ir.Constant(x.type, x.type.width)
        too_far = b.icmp_unsigned(">=", y, width)  # negative amounts read as unsigned
        amount = b.select(too_far, ir.Constant(x.type, 0), y)
        if kind == "shl":
            return b.select(too_far, ir.Constant(x.type, 0), b.shl(x, amount))
        if kind == "lshr":
            return b.select(too_far, ir.Constant(x.type, 0), b.lshr(x, amount))
        fill = b.ashr(x, ir.Constant(x.type, x.type.width - 1))
        return b.select(too_far, fill, b.ashr(x, amount))

    return emit


ELEMENTWISE["shift-left"] = _shift("shl")
ELEMENTWISE["shift-right-logical"] = _shift("lshr")
ELEMENTWISE["shift-right-arithmetic"] = _shift("ashr")


# -- compare, select, clamp -----------------------------------------------------

_SIGNS = {"EQ": "==", "NE": "!=", "LT": "<", "LE": "<=", "GT": ">", "GE": ">="}


def _total_order_key(b: ir.IRBuilder, x: ir.Value, dtype: DType) -> ir.Value:
    """An integer ordering floats as -NaN < -inf < ... < -0 < +0 < ... < inf < NaN."""
    bits = b.bitcast(x, I16) if dtype is DType.F16 else (
        x if dtype is DType.BF16 else b.bitcast(x, ir.IntType(dtype.bits)))
    mask = ir.Constant(bits.type, (1 << (dtype.bits - 1)) - 1)
    negative = b.icmp_signed("<", bits, ir.Constant(bits.type, 0))
    return b.select(negative, b.xor(bits, mask), bits)


@_register("compare")
def _compare(b, inst, args):
    dtype = _operand_dtype(inst)
    sign = _SIGNS[inst.attrs["direction"]]
    x, y = args
    if dtype.is_float and inst.attrs.get("comparison_type") == "TOTALORDER":
        return b.icmp_signed(sign, _total_order_key(b, x, dtype), _total_order_key(b, y, dtype))
    if dtype.is_float:
        wx, wy = widen(b, x, dtype), widen(b, y, dtype)
        # NE is true for NaN operands (unordered); the others are false (ordered).
        return (b.fcmp_unordered if sign == "!=" else b.fcmp_ordered)(sign, wx, wy)
    if dtype.is_signed_int:
        return b.icmp_signed(sign, x, y)
    return b.icmp_unsigned(sign, x, y)


@_register("select")
def _select(b, inst, args):
    return b.select(*args)


@_register("clamp")
def _clamp(b, inst, args):
    low, x, high = args
    at_least = ELEMENTWISE["maximum"](b, inst, [x, low])
    return ELEMENTWISE["minimum"](b, inst, [at_least, high])


# -- convert and bitcast-convert ------------------------------------------------

@_register("convert")
def _convert(b, inst, args):
    return convert(b, args[0], _operand_dtype(inst), inst.type.dtype)


def convert(b: ir.IRBuilder, x: ir.Value, source: DType, target: DType) -> ir.Value:
    """Convert a register value between element types with the op table's semantics."""
    if source is target:
        return x
    if target is DType.PRED:
        if source.is_float:
            wide = widen(b, x, source)
            return b.fcmp_unordered("!=", wide, ir.Constant(wide.type, 0.0))  # NaN -> true
        return b.icmp_unsigned("!=", x, ir.Constant(x.type, 0))
    if source.is_float:
        return _from_float(b, x, source, target)
    return _from_int(b, x, source, target)


def _from_float(b: ir.IRBuilder, x: ir.Value, source: DType, target: DType) -> ir.Value:
    if source in (DType.F16, DType.BF16):
        x, source = widen(b, x, source), DType.F32
    if target.is_integer:
        result = register_type(target)
        return b.call(fptoint_sat(b.module, target.is_signed_int, result, x.type), [x])
    if target is DType.F64:
        return b.fpext(x, F64)
    if target is DType.F32:
        return b.fptrunc(x, F32) if source is DType.F64 else x
    if source is DType.F64:
        # Rounding to odd first makes f64 -> f32 -> half equal to one direct rounding.
        x = f64_to_f32_round_to_odd(b, x)
    return b.fptrunc(x, HALF) if target is DType.F16 else f32_to_bf16(b, x)


def _from_int(b: ir.IRBuilder, x: ir.Value, source: DType, target: DType) -> ir.Value:
    signed = source.is_signed_int
    if target.is_integer:
        result = register_type(target)
        if result.width < x.type.width:
            return b.trunc(x, result)
        if result.width == x.type.width:
            return x
        return b.sext(x, result) if signed else b.zext(x, result)
    if target in (DType.F16, DType.BF16):
        # Via f32 as NumPy / ml_dtypes do (exact for every integer a half can hold finitely).
        wide = b.sitofp(x, F32) if signed else b.uitofp(x, F32)
        return narrow(b, wide, target)
    t = float_type(target)
    return b.sitofp(x, t) if signed else b.uitofp(x, t)


@_register("bitcast-convert")
def _bitcast_convert(b, inst, args):
    """Same-width reinterpretation (width changes are handled by the elemental emitter)."""
    return bitcast(b, args[0], _operand_dtype(inst), inst.type.dtype)


def bitcast(b: ir.IRBuilder, x: ir.Value, source: DType, target: DType) -> ir.Value:
    bits = b.bitcast(x, ir.IntType(source.bits)) if source is not DType.BF16 else x
    return b.bitcast(bits, register_type(target)) if target is not DType.BF16 else bits
