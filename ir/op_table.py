"""The op table: every opcode declared once, with its shape rule and NumPy semantics.

Semantics follow XLA's operation semantics (openxla.org/xla/operation_semantics).
Where XLA leaves a result implementation-defined, we pick what XLA's CPU and GPU
backends produce and say so in the op's doc:

* integer ``divide`` by zero gives -1 (all bits set), ``remainder`` by zero gives
  the dividend; ``INT_MIN / -1`` gives ``INT_MIN`` and ``INT_MIN % -1`` gives 0;
  integer division truncates toward zero.
* integer arithmetic wraps around (two's complement).
* ``maximum``/``minimum`` propagate NaN.
* ``convert`` from float to integer saturates to the integer range and maps NaN
  to 0; integer to narrower integer wraps; anything to ``pred`` is ``x != 0``.
* shifts by an amount >= the bit width (or negative, read as unsigned) give 0
  (``shift-left``, ``shift-right-logical``) or the sign fill (``shift-right-arithmetic``).
* f16 and bf16 elementwise math is computed in f32 and rounded back, as XLA's
  CPU backend does.

Operand values are NumPy arrays in logical (row-major) order; layouts describe
physical placement and never change a result here.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import IRError
from .analysis.dots import DotDimensions
from .analysis.reducers import single_op_reducer
from .ops import (BRANCHES, AttrKind, AttrSpec, Cost, OpDef, Trait, dtype_kinds, register_op)
from .types import DType, TensorType, TupleType, Type, same_ignoring_layout, scalar

ELEMENTWISE = frozenset({Trait.ELEMENTWISE})
# add, multiply, maximum, minimum, and, or, xor: a reducer of one of them may regroup freely.
COMMUTATIVE_ASSOCIATIVE = frozenset({Trait.ELEMENTWISE, Trait.COMMUTATIVE, Trait.ASSOCIATIVE})

DIRECTIONS = ("EQ", "NE", "LT", "LE", "GT", "GE")
COMPARISON_TYPES = ("FLOAT", "TOTALORDER", "SIGNED", "UNSIGNED")
FUSION_KINDS = ("kLoop", "kInput", "kOutput", "kCustom")


# ---------------------------------------------------------------------------
# shared helpers for shape rules

def _array(t: Type, what: str) -> TensorType:
    if not isinstance(t, TensorType):
        raise IRError(f"{what} must be an array, got the tuple {t}")
    return t


def _shape_text(t: Type) -> str:
    return str(t.without_layout())


def _check_kinds(t: TensorType, kinds: str, what: str) -> None:
    if dtype_kinds(t.dtype) not in kinds:
        names = {"p": "pred", "s": "signed integer", "u": "unsigned integer", "f": "floating-point"}
        allowed = " or ".join(names[k] for k in kinds)
        raise IRError(f"{what} must be {allowed}, got {t.dtype}")


def _same_arrays(types: Sequence[Type]) -> TensorType:
    arrays = [_array(t, f"operand {i}") for i, t in enumerate(types)]
    first = arrays[0].without_layout()
    for i, other in enumerate(arrays[1:], 1):
        if other.without_layout() != first:
            raise IRError(f"operands must have the same shape and type: operand 0 is "
                          f"{_shape_text(first)}, operand {i} is {_shape_text(other)}")
    return first


def _check_dims(dims: Sequence[int], rank: int, what: str) -> None:
    for d in dims:
        if not 0 <= d < rank:
            raise IRError(f"{what} {list(dims)} out of range for rank {rank}")
    if len(set(dims)) != len(dims):
        raise IRError(f"{what} {list(dims)} repeats a dimension")


def _declared_array(declared: Type | None) -> TensorType:
    if declared is None:
        raise IRError("the result type must be given")
    return _array(declared, "the result")


def _is_half(dtype: np.dtype) -> bool:
    """f16 and bf16: their math runs in f32 and rounds back (XLA CPU behaviour)."""
    return dtype == np.float16 or dtype.name == "bfloat16"


def _is_float(dtype: np.dtype) -> bool:
    return dtype.kind == "f" or dtype.name == "bfloat16"


# ---------------------------------------------------------------------------
# elementwise ops

def _declare_unary(opcode: str, kinds: str, fn: Callable[[np.ndarray], np.ndarray], doc: str,
                   cost: Cost, result: DType | None = None) -> None:
    def infer(types, attrs, called, declared):
        operand = _array(types[0], "the operand")
        _check_kinds(operand, kinds, f"{opcode}'s operand")
        return TensorType(result or operand.dtype, operand.shape)

    def evaluate(inst, args, call):
        x = args[0]
        out_dtype = inst.type.dtype.numpy
        with np.errstate(all="ignore"):
            if _is_half(x.dtype):
                return np.asarray(fn(x.astype(np.float32))).astype(out_dtype)
            return np.asarray(fn(x)).astype(out_dtype, copy=False)

    register_op(OpDef(opcode, (1, 1), infer, evaluate, traits=ELEMENTWISE, doc=doc, cost=cost))


def _declare_binary(opcode: str, kinds: str, fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
                    doc: str, cost: Cost, commutative_associative: bool = False) -> None:
    def infer(types, attrs, called, declared):
        operand = _same_arrays(types)
        _check_kinds(operand, kinds, f"{opcode}'s operands")
        return operand

    def evaluate(inst, args, call):
        x, y = args
        with np.errstate(all="ignore"):
            if _is_half(x.dtype):
                return np.asarray(fn(x.astype(np.float32), y.astype(np.float32))).astype(x.dtype)
            return np.asarray(fn(x, y)).astype(x.dtype, copy=False)

    register_op(OpDef(opcode, (2, 2), infer, evaluate,
                      traits=COMMUTATIVE_ASSOCIATIVE if commutative_associative else ELEMENTWISE,
                      doc=doc, cost=cost))


def _sign(x: np.ndarray) -> np.ndarray:
    # XLA: sign(+-0) is +-0 and sign(NaN) is NaN; np.sign loses the sign of zero.
    return np.where(x == 0, x, np.sign(x)) if x.dtype.kind == "f" else np.sign(x)


def _logistic(x: np.ndarray) -> np.ndarray:
    # e = exp(-|x|) never overflows; e / (1 + e) keeps tiny results for x << 0
    # (1 - 1 / (1 + e) would round them to 0).
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _round_half_away(x: np.ndarray) -> np.ndarray:
    whole = np.trunc(x)
    fraction = x - whole  # exact in floating point
    # Only add when rounding away: whole + 0 would turn -0.0 (and -0.4 -> -0.0) into +0.0.
    return np.where(np.abs(fraction) >= 0.5, whole + np.sign(x), whole).astype(x.dtype)


def _popcnt(x: np.ndarray) -> np.ndarray:
    # np.bitwise_count counts the bits of |x|; XLA counts the two's-complement bits.
    return np.bitwise_count(x.view(_unsigned(x.dtype)))


def _bitwise_not(x: np.ndarray) -> np.ndarray:
    return np.logical_not(x) if x.dtype == np.bool_ else np.invert(x)


def _int_divide(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if _is_float(x.dtype):
        return np.divide(x, y)
    safe = np.where(y == 0, 1, y).astype(x.dtype)
    quotient = np.floor_divide(x, safe)
    # floor -> truncate toward zero
    inexact = (quotient * safe) != x
    quotient = np.where(inexact & ((x < 0) != (safe < 0)), quotient + 1, quotient).astype(x.dtype)
    return np.where(y == 0, np.array(-1).astype(x.dtype), quotient)


def _int_remainder(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if _is_float(x.dtype):
        return np.fmod(x, y)
    quotient = _int_divide(x, y)
    remainder = (x - quotient * np.where(y == 0, 0, y).astype(x.dtype)).astype(x.dtype)
    return np.where(y == 0, x, remainder)


def _power(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if _is_float(x.dtype):
        return np.power(x, y)
    # Integer power by repeated squaring (wrapping); a negative exponent gives 1
    # for base 1 and 0 otherwise, as XLA's elemental emitter does (even for base -1).
    exponent = np.where(y < 0, 0, y).astype(np.uint64)
    base = x.copy()
    result = np.ones_like(x)
    while np.any(exponent):
        odd = (exponent & 1).astype(bool)
        result = np.where(odd, result * base, result).astype(x.dtype)
        base = (base * base).astype(x.dtype)
        exponent = exponent >> np.uint64(1)
    if x.dtype.kind == "i":
        result = np.where(y < 0, (x == 1).astype(x.dtype), result)
    return result.astype(x.dtype)


def _unsigned(dtype: np.dtype) -> np.dtype:
    return np.dtype(f"u{dtype.itemsize}")


def _shift_amount(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    amount = y.view(_unsigned(y.dtype)) if y.dtype.kind == "i" else y
    too_far = amount >= x.dtype.itemsize * 8
    return np.where(too_far, 0, amount).astype(_unsigned(x.dtype)), too_far


def _shift_left(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    amount, too_far = _shift_amount(x, y)
    shifted = np.left_shift(x.view(_unsigned(x.dtype)), amount).view(x.dtype)
    return np.where(too_far, np.zeros_like(x), shifted)


def _shift_right_logical(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    amount, too_far = _shift_amount(x, y)
    shifted = np.right_shift(x.view(_unsigned(x.dtype)), amount).view(x.dtype)
    return np.where(too_far, np.zeros_like(x), shifted)


def _shift_right_arithmetic(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    amount, too_far = _shift_amount(x, y)
    if x.dtype.kind == "u":  # arithmetic shift of an unsigned value: sign bit from the top bit
        signed = x.view(np.dtype(f"i{x.dtype.itemsize}"))
        return _shift_right_arithmetic(signed, y).view(x.dtype)
    shifted = np.right_shift(x, amount.astype(x.dtype))
    fill = np.where(x < 0, -1, 0).astype(x.dtype)
    return np.where(too_far, fill, shifted)


def _declare_elementwise_ops() -> None:
    F, I, N, PI = "f", "su", "suf", "psu"
    unary = [
        ("abs", "sf", np.abs, "Absolute value; abs(INT_MIN) wraps to INT_MIN.", Cost.CHEAP),
        ("negate", N, np.negative, "Negation; wraps for integers.", Cost.CHEAP),
        ("sign", "sf", _sign, "-1, 0 or 1 (keeps the sign of zero; NaN for NaN).", Cost.NORMAL),
        ("floor", F, np.floor, "Round toward -inf.", Cost.NORMAL),
        ("ceil", F, np.ceil, "Round toward +inf.", Cost.NORMAL),
        ("round-nearest-even", F, np.rint, "Round to nearest, ties to even.", Cost.NORMAL),
        ("round-nearest-afz", F, _round_half_away, "Round to nearest, ties away from zero.",
         Cost.NORMAL),
        ("exponential", F, np.exp, "e**x.", Cost.EXPENSIVE),
        ("exponential-minus-one", F, np.expm1, "e**x - 1, accurate near 0.", Cost.EXPENSIVE),
        ("log", F, np.log, "Natural logarithm; NaN below 0, -inf at 0.", Cost.EXPENSIVE),
        ("log-plus-one", F, np.log1p, "log(1 + x), accurate near 0.", Cost.EXPENSIVE),
        ("sqrt", F, np.sqrt, "Square root; NaN below 0.", Cost.EXPENSIVE),
        ("rsqrt", F, lambda x: 1.0 / np.sqrt(x), "1 / sqrt(x).", Cost.EXPENSIVE),
        ("cbrt", F, np.cbrt, "Cube root.", Cost.EXPENSIVE),
        ("tanh", F, np.tanh, "Hyperbolic tangent.", Cost.EXPENSIVE),
        ("logistic", F, _logistic, "1 / (1 + e**-x), computed without overflow.", Cost.EXPENSIVE),
        ("sine", F, np.sin, "Sine.", Cost.EXPENSIVE),
        ("cosine", F, np.cos, "Cosine.", Cost.EXPENSIVE),
        ("tan", F, np.tan, "Tangent.", Cost.EXPENSIVE),
        ("not", PI, _bitwise_not, "Logical not of pred, bitwise not of integers.", Cost.CHEAP),
        ("popcnt", I, _popcnt, "Number of set bits (of the two's-complement representation).",
         Cost.NORMAL),
    ]
    for opcode, kinds, fn, doc, cost in unary:
        _declare_unary(opcode, kinds, fn, doc, cost)
    _declare_unary("is-finite", F, np.isfinite, "True where x is neither inf nor NaN.", Cost.NORMAL,
                   DType.PRED)

    binary = [
        ("add", N, np.add, "x + y; wraps for integers.", Cost.CHEAP, True),
        ("subtract", N, np.subtract, "x - y; wraps for integers.", Cost.CHEAP, False),
        ("multiply", N, np.multiply, "x * y; wraps for integers.", Cost.CHEAP, True),
        ("divide", N, _int_divide,
         "x / y.  Integers truncate toward zero; x / 0 is -1 and INT_MIN / -1 is INT_MIN.",
         Cost.EXPENSIVE, False),
        ("remainder", N, _int_remainder,
         "Remainder with the sign of x (C fmod).  x % 0 is x; INT_MIN % -1 is 0.",
         Cost.EXPENSIVE, False),
        ("power", N, _power,
         "x ** y.  Integer x ** negative is 1 for x = 1, else 0 (XLA, even for x = -1).",
         Cost.EXPENSIVE, False),
        ("maximum", "p" + N, np.maximum, "Larger of x and y; NaN if either is NaN.", Cost.CHEAP, True),
        ("minimum", "p" + N, np.minimum, "Smaller of x and y; NaN if either is NaN.", Cost.CHEAP, True),
        ("atan2", F, np.arctan2, "Angle of (y=x0, x=x1), in (-pi, pi].", Cost.EXPENSIVE, False),
        ("and", PI, np.bitwise_and, "Logical/bitwise and.", Cost.CHEAP, True),
        ("or", PI, np.bitwise_or, "Logical/bitwise or.", Cost.CHEAP, True),
        ("xor", PI, np.bitwise_xor, "Logical/bitwise exclusive or.", Cost.CHEAP, True),
        ("shift-left", I, _shift_left, "x << y; 0 when y >= bit width.", Cost.NORMAL, False),
        ("shift-right-arithmetic", I, _shift_right_arithmetic,
         "x >> y filling with the sign bit; all sign bits when y >= bit width.", Cost.NORMAL, False),
        ("shift-right-logical", I, _shift_right_logical,
         "x >> y filling with zeros; 0 when y >= bit width.", Cost.NORMAL, False),
    ]
    for opcode, kinds, fn, doc, cost, commutative_associative in binary:
        _declare_binary(opcode, kinds, fn, doc, cost, commutative_associative)


# ---------------------------------------------------------------------------
# compare, select, clamp, convert, bitcast-convert

def _total_order_key(x: np.ndarray) -> np.ndarray:
    """Integers ordering floats as -NaN < -inf < ... < -0 < +0 < ... < inf < NaN."""
    signed = x.view(np.dtype(f"i{x.dtype.itemsize}"))
    mask = np.array(np.iinfo(signed.dtype).max, dtype=signed.dtype)
    return np.where(signed < 0, signed ^ mask, signed)


_COMPARATORS = {"EQ": np.equal, "NE": np.not_equal, "LT": np.less, "LE": np.less_equal,
                "GT": np.greater, "GE": np.greater_equal}


def _infer_compare(types, attrs, called, declared):
    operand = _same_arrays(types)
    kind = attrs.get("comparison_type")
    if kind is not None:
        expected = {"p": ("UNSIGNED",), "s": ("SIGNED",), "u": ("UNSIGNED",),
                    "f": ("FLOAT", "TOTALORDER")}[dtype_kinds(operand.dtype)]
        if kind not in expected:
            raise IRError(f"comparison type {kind} does not apply to {operand.dtype}")
    return TensorType(DType.PRED, operand.shape)


def _evaluate_compare(inst, args, call):
    x, y = args
    if inst.attrs.get("comparison_type") == "TOTALORDER":
        x, y = _total_order_key(x), _total_order_key(y)
    with np.errstate(invalid="ignore"):  # NaN operands (bf16 warns about them)
        return _COMPARATORS[inst.attrs["direction"]](x, y)


def _infer_select(types, attrs, called, declared):
    predicate = _array(types[0], "select's predicate")
    value = _same_arrays(types[1:])
    if predicate.dtype is not DType.PRED:
        raise IRError(f"select's predicate must be pred, got {predicate.dtype}")
    if predicate.shape not in ((), value.shape):
        raise IRError(f"select's predicate {_shape_text(predicate)} must be a scalar or match "
                      f"{_shape_text(value)}")
    return value


def _infer_clamp(types, attrs, called, declared):
    low, operand, high = (_array(t, name) for t, name in zip(types, ("min", "operand", "max")))
    for bound, name in ((low, "min"), (high, "max")):
        if bound.dtype is not operand.dtype or bound.shape not in ((), operand.shape):
            raise IRError(f"clamp's {name} {_shape_text(bound)} must be a scalar or match the "
                          f"operand {_shape_text(operand)} with the same element type")
    return operand.without_layout()


def _evaluate_clamp(inst, args, call):
    low, x, high = args
    return np.minimum(np.maximum(x, low), high).astype(x.dtype)


def _infer_convert(types, attrs, called, declared):
    operand = _array(types[0], "the operand")
    result = _declared_array(declared)
    if result.shape != operand.shape:
        raise IRError(f"convert keeps the shape: {_shape_text(operand)} cannot become {_shape_text(result)}")
    return result.without_layout()


def _convert(x: np.ndarray, target: DType) -> np.ndarray:
    out = target.numpy
    if target is DType.PRED:
        return x != 0
    if target.is_integer and _is_float(x.dtype):
        wide = x.astype(np.float64)
        info = np.iinfo(out)
        # Saturate; compare in float64 where INT64_MAX rounds up to 2**63.
        result = np.where(wide >= float(info.max), info.max, 0).astype(out)
        in_range = (wide < float(info.max)) & (wide > float(info.min))
        with np.errstate(invalid="ignore"):
            inner = np.where(in_range, wide, 0).astype(out)
        result = np.where(in_range, inner, result)
        result = np.where(wide <= float(info.min), np.array(info.min, dtype=out), result)
        return np.where(np.isnan(wide), np.zeros((), dtype=out), result).astype(out)
    with np.errstate(all="ignore"):
        return x.astype(out)


def _infer_bitcast_convert(types, attrs, called, declared):
    operand = _array(types[0], "the operand")
    result = _declared_array(declared)
    in_bits, out_bits = operand.dtype.bits, result.dtype.bits
    if DType.PRED in (operand.dtype, result.dtype):
        raise IRError("bitcast-convert does not apply to pred")
    if in_bits == out_bits:
        expected = operand.shape
    elif in_bits > out_bits:
        if in_bits % out_bits:
            raise IRError(f"cannot bitcast {operand.dtype} to {result.dtype}")
        expected = operand.shape + (in_bits // out_bits,)
    else:
        ratio = out_bits // in_bits
        if not operand.shape or operand.shape[-1] != ratio:
            raise IRError(f"bitcast-convert from {operand.dtype} to {result.dtype} needs a minor "
                          f"dimension of {ratio}, got {_shape_text(operand)}")
        expected = operand.shape[:-1]
    if result.shape != expected:
        raise IRError(f"bitcast-convert of {_shape_text(operand)} to {result.dtype} gives shape "
                      f"{list(expected)}, not {list(result.shape)}")
    return result.without_layout()


def _evaluate_bitcast_convert(inst, args, call):
    x = np.ascontiguousarray(args[0])
    return x.view(inst.type.dtype.numpy).reshape(inst.type.shape)


# ---------------------------------------------------------------------------
# data movement

def _infer_iota(types, attrs, called, declared):
    result = _declared_array(declared)
    dimension = attrs["iota_dimension"]
    if not 0 <= dimension < result.rank:
        raise IRError(f"iota_dimension={dimension} out of range for {_shape_text(result)}")
    if result.dtype is DType.PRED:
        raise IRError("iota cannot produce pred")
    return result.without_layout()


def _evaluate_iota(inst, args, call):
    shape, dimension = inst.type.shape, inst.attrs["iota_dimension"]
    line = np.arange(shape[dimension]).astype(inst.type.dtype.numpy)
    view = [1] * len(shape)
    view[dimension] = shape[dimension]
    return np.broadcast_to(line.reshape(view), shape).copy()


def _infer_broadcast(types, attrs, called, declared):
    operand = _array(types[0], "the operand")
    result = _declared_array(declared)
    dims = attrs["dimensions"]
    if result.dtype is not operand.dtype:
        raise IRError(f"broadcast keeps the element type: {operand.dtype} cannot become {result.dtype}")
    if len(dims) != operand.rank:
        raise IRError(f"dimensions={{{','.join(map(str, dims))}}} must name one result dimension "
                      f"for each of the operand's {operand.rank}")
    _check_dims(dims, result.rank, "dimensions")
    if list(dims) != sorted(dims):
        raise IRError(f"dimensions={{{','.join(map(str, dims))}}} must be increasing; "
                      "transpose explicitly")
    for i, d in enumerate(dims):
        if operand.shape[i] not in (1, result.shape[d]):
            raise IRError(f"operand dimension {i} (size {operand.shape[i]}) cannot broadcast to "
                          f"result dimension {d} (size {result.shape[d]})")
    return result.without_layout()


def _evaluate_broadcast(inst, args, call):
    shape = inst.type.shape
    view = [1] * len(shape)
    for i, d in enumerate(inst.attrs["dimensions"]):
        view[d] = args[0].shape[i]
    return np.broadcast_to(args[0].reshape(view), shape).copy()


def _infer_reshape(types, attrs, called, declared):
    operand = _array(types[0], "the operand")
    result = _declared_array(declared)
    if result.dtype is not operand.dtype or result.size != operand.size:
        raise IRError(f"reshape cannot turn {_shape_text(operand)} into {_shape_text(result)}")
    return result.without_layout()


def _infer_transpose(types, attrs, called, declared):
    operand = _array(types[0], "the operand")
    dims = attrs["dimensions"]
    if sorted(dims) != list(range(operand.rank)):
        raise IRError(f"dimensions={{{','.join(map(str, dims))}}} is not a permutation of the "
                      f"{operand.rank} dimensions of {_shape_text(operand)}")
    return TensorType(operand.dtype, tuple(operand.shape[d] for d in dims))


def _infer_slice(types, attrs, called, declared):
    operand = _array(types[0], "the operand")
    spec = attrs["slice"]
    if len(spec) != operand.rank:
        raise IRError(f"slice gives {len(spec)} ranges for the {operand.rank} dimensions of "
                      f"{_shape_text(operand)}")
    shape = []
    for d, (start, limit, stride) in enumerate(spec):
        if not (0 <= start <= limit <= operand.shape[d]) or stride < 1:
            raise IRError(f"slice [{start}:{limit}:{stride}] is invalid for dimension {d} of size "
                          f"{operand.shape[d]}")
        shape.append(-(-(limit - start) // stride))
    return TensorType(operand.dtype, tuple(shape))


def _evaluate_slice(inst, args, call):
    return args[0][tuple(slice(a, b, c) for a, b, c in inst.attrs["slice"])].copy()


def _check_indices(types: Sequence[Type], rank: int, op: str) -> None:
    if len(types) != rank:
        raise IRError(f"{op} needs {rank} start indices (one per dimension), got {len(types)}")
    kinds = set()
    for i, t in enumerate(types):
        index = _array(t, f"start index {i}")
        if index.shape != () or not index.dtype.is_integer:
            raise IRError(f"start index {i} must be an integer scalar, got {_shape_text(index)}")
        kinds.add(index.dtype)
    if len(kinds) > 1:
        raise IRError("start indices must all have the same element type")


def _clamped_starts(indices: Sequence[np.ndarray], limits: Sequence[int]) -> list[int]:
    """XLA clamps start indices so that the window stays in bounds."""
    return [int(min(max(int(i), 0), limit)) for i, limit in zip(indices, limits)]


def _infer_dynamic_slice(types, attrs, called, declared):
    operand = _array(types[0], "the operand")
    _check_indices(types[1:], operand.rank, "dynamic-slice")
    sizes = attrs["dynamic_slice_sizes"]
    if len(sizes) != operand.rank or any(not 0 <= s <= d for s, d in zip(sizes, operand.shape)):
        raise IRError(f"dynamic_slice_sizes={{{','.join(map(str, sizes))}}} does not fit "
                      f"{_shape_text(operand)}")
    return TensorType(operand.dtype, tuple(sizes))


def _evaluate_dynamic_slice(inst, args, call):
    operand, sizes = args[0], inst.attrs["dynamic_slice_sizes"]
    starts = _clamped_starts(args[1:], [d - s for d, s in zip(operand.shape, sizes)])
    return operand[tuple(slice(a, a + s) for a, s in zip(starts, sizes))].copy()


def _infer_dynamic_update_slice(types, attrs, called, declared):
    operand = _array(types[0], "the operand")
    update = _array(types[1], "the update")
    _check_indices(types[2:], operand.rank, "dynamic-update-slice")
    if update.dtype is not operand.dtype or update.rank != operand.rank or any(
            u > d for u, d in zip(update.shape, operand.shape)):
        raise IRError(f"update {_shape_text(update)} does not fit in {_shape_text(operand)}")
    return operand.without_layout()


def _evaluate_dynamic_update_slice(inst, args, call):
    operand, update = args[0], args[1]
    starts = _clamped_starts(args[2:], [d - u for d, u in zip(operand.shape, update.shape)])
    result = operand.copy()
    result[tuple(slice(a, a + u) for a, u in zip(starts, update.shape))] = update
    return result


def _infer_concatenate(types, attrs, called, declared):
    arrays = [_array(t, f"operand {i}") for i, t in enumerate(types)]
    (dimension,) = attrs["dimensions"] if len(attrs["dimensions"]) == 1 else (None,)
    first = arrays[0]
    if dimension is None or not 0 <= dimension < first.rank:
        raise IRError(f"concatenate needs one dimension in range for rank {first.rank}, "
                      f"got dimensions={{{','.join(map(str, attrs['dimensions']))}}}")
    total = 0
    for i, other in enumerate(arrays):
        same = other.rank == first.rank and all(
            a == b for d, (a, b) in enumerate(zip(other.shape, first.shape)) if d != dimension)
        if other.dtype is not first.dtype or not same:
            raise IRError(f"operand {i} {_shape_text(other)} cannot be concatenated with "
                          f"{_shape_text(first)} along dimension {dimension}")
        total += other.shape[dimension]
    shape = list(first.shape)
    shape[dimension] = total
    return TensorType(first.dtype, tuple(shape))


def _infer_pad(types, attrs, called, declared):
    operand = _array(types[0], "the operand")
    value = _array(types[1], "the padding value")
    if value.shape != () or value.dtype is not operand.dtype:
        raise IRError(f"padding value must be a {operand.dtype} scalar, got {_shape_text(value)}")
    config = attrs["padding"]
    if len(config) != operand.rank:
        raise IRError(f"padding has {len(config)} entries for the {operand.rank} dimensions of "
                      f"{_shape_text(operand)}")
    shape = []
    for d, (low, high, interior) in enumerate(config):
        if interior < 0:
            raise IRError(f"interior padding of dimension {d} is negative ({interior})")
        size = operand.shape[d]
        padded = low + high + size + max(size - 1, 0) * interior
        if padded < 0:
            raise IRError(f"padding {low}_{high}_{interior} leaves dimension {d} negative")
        shape.append(padded)
    return TensorType(operand.dtype, tuple(shape))


def _evaluate_pad(inst, args, call):
    operand, value = args
    config = inst.attrs["padding"]
    grown = [max(lo, 0) + max(hi, 0) + d + max(d - 1, 0) * it
             for (lo, hi, it), d in zip(config, operand.shape)]
    result = np.full(grown, value, dtype=operand.dtype)
    result[tuple(slice(max(lo, 0), max(lo, 0) + (d - 1) * (it + 1) + 1 if d else max(lo, 0), it + 1)
                 for (lo, hi, it), d in zip(config, operand.shape))] = operand
    # Negative low/high padding crops.
    crop = tuple(slice(max(-lo, 0), size - max(-hi, 0)) for (lo, hi, it), size in zip(config, grown))
    return result[crop].copy()


def _infer_reverse(types, attrs, called, declared):
    operand = _array(types[0], "the operand")
    _check_dims(attrs["dimensions"], operand.rank, "dimensions")
    return operand.without_layout()


# ---------------------------------------------------------------------------
# reduce and dot

def _check_computation(computation, arg_types: Sequence[Type], result: Type | None, role: str) -> Type:
    params = computation.parameter_types
    if len(params) != len(arg_types) or any(not same_ignoring_layout(p, a)
                                            for p, a in zip(params, arg_types)):
        raise IRError(f"{role} computation '{computation.name}' takes "
                      f"({', '.join(map(_shape_text, params))}) but is given "
                      f"({', '.join(map(_shape_text, arg_types))})")
    returned = computation.result_type
    if result is not None and not same_ignoring_layout(returned, result):
        raise IRError(f"{role} computation '{computation.name}' returns {_shape_text(returned)}, "
                      f"expected {_shape_text(result)}")
    return returned.without_layout()


def _infer_reduce(types, attrs, called, declared):
    if len(types) % 2:
        raise IRError(f"reduce takes as many init values as inputs, got {len(types)} operands")
    count = len(types) // 2
    inputs = [_array(t, f"input {i}") for i, t in enumerate(types[:count])]
    inits = [_array(t, f"init value {i}") for i, t in enumerate(types[count:])]
    dims = attrs["dimensions"]
    for i, x in enumerate(inputs):
        if x.shape != inputs[0].shape:
            raise IRError(f"reduce inputs must have one shape: input 0 is {_shape_text(inputs[0])}, "
                          f"input {i} is {_shape_text(x)}")
        if inits[i].shape != () or inits[i].dtype is not x.dtype:
            raise IRError(f"init value {i} must be a {x.dtype} scalar, got {_shape_text(inits[i])}")
    _check_dims(dims, inputs[0].rank, "dimensions")
    kept = tuple(d for i, d in enumerate(inputs[0].shape) if i not in dims)
    scalars = [scalar(x.dtype) for x in inputs]
    expected = scalars[0] if count == 1 else TupleType(tuple(scalars))
    _check_computation(called[0], scalars + scalars, expected, "reducer")
    results = [TensorType(x.dtype, kept) for x in inputs]
    return results[0] if count == 1 else TupleType(tuple(results))


_UFUNC_REDUCERS = {"add": np.add, "multiply": np.multiply, "maximum": np.maximum,
                   "minimum": np.minimum, "and": np.bitwise_and, "or": np.bitwise_or,
                   "xor": np.bitwise_xor}


def _simple_reducer(computation) -> np.ufunc | None:
    """The NumPy ufunc equivalent to a reducer that applies one op to its two parameters."""
    return _UFUNC_REDUCERS.get(single_op_reducer(computation))


def _evaluate_reduce(inst, args, call):
    count = len(args) // 2
    inputs, inits = args[:count], args[count:]
    dims = tuple(inst.attrs["dimensions"])
    reducer = inst.called[0]
    ufunc = _simple_reducer(reducer) if count == 1 else None
    x = inputs[0]
    if ufunc is not None:
        if any(x.shape[d] == 0 for d in dims):
            kept = tuple(s for i, s in enumerate(x.shape) if i not in dims)
            return np.full(kept, inits[0], dtype=x.dtype)
        work = np.dtype(np.float32) if _is_half(x.dtype) else x.dtype
        with np.errstate(all="ignore"):
            partial = ufunc.reduce(x.astype(work), axis=dims, dtype=work) if dims else x.astype(work)
            return np.asarray(ufunc(inits[0].astype(work), partial)).astype(x.dtype)
    # General reducer: fold over the reduced elements, vectorized over the kept ones.
    kept_axes = [i for i in range(x.ndim) if i not in dims]
    kept_shape = tuple(x.shape[i] for i in kept_axes)
    reduced = math.prod(x.shape[d] for d in dims)  # not -1: reshape cannot infer it when size is 0
    flat = [np.transpose(a, kept_axes + list(dims)).reshape(kept_shape + (reduced,)) for a in inputs]
    accumulators = [np.full(kept_shape, init, dtype=init.dtype) for init in inits]
    for position in range(flat[0].shape[-1] if flat[0].ndim else 1):
        elements = [f[..., position] for f in flat]
        out = _call_elementwise(reducer, accumulators + elements, call)
        accumulators = list(out) if count > 1 else [out]
    return tuple(accumulators) if count > 1 else accumulators[0]


def _call_elementwise(computation, args: list[np.ndarray], call) -> Any:
    """Apply a scalar computation to arrays of arguments, element by element when needed."""
    if all(i.opdef.has(Trait.ELEMENTWISE) or i.opcode in ("parameter", "tuple", "constant",
                                                           "get-tuple-element")
           for i in computation.instructions) and all(
            i.type.shape == () for i in computation.instructions if i.opcode == "constant"):
        return call(computation, args)
    shape = args[0].shape
    results = [call(computation, [a[index] for a in args]) for index in np.ndindex(*shape)]
    result_type = computation.result_type
    if isinstance(result_type, TupleType):  # from the type: there may be no results (size 0)
        return tuple(np.array([r[k] for r in results], dtype=t.dtype.numpy).reshape(shape)
                     for k, t in enumerate(result_type.elements))
    dtype = computation.result_type.dtype.numpy
    return np.array(results, dtype=dtype).reshape(shape)


def _infer_dot(types, attrs, called, declared):
    lhs = _array(types[0], "lhs")
    rhs = _array(types[1], "rhs")
    lb, rb = attrs["lhs_batch_dims"], attrs["rhs_batch_dims"]
    lc, rc = attrs["lhs_contracting_dims"], attrs["rhs_contracting_dims"]
    _check_dims(lb + lc, lhs.rank, "lhs batch and contracting dimensions")
    _check_dims(rb + rc, rhs.rank, "rhs batch and contracting dimensions")
    if len(lb) != len(rb) or len(lc) != len(rc):
        raise IRError("lhs and rhs must have as many batch and contracting dimensions as each other")
    for a, b, what in [(a, b, "batch") for a, b in zip(lb, rb)] + [(a, b, "contracting")
                                                                    for a, b in zip(lc, rc)]:
        if lhs.shape[a] != rhs.shape[b]:
            raise IRError(f"{what} dimension mismatch: lhs {_shape_text(lhs)} dimension {a} is "
                          f"{lhs.shape[a]}, rhs {_shape_text(rhs)} dimension {b} is {rhs.shape[b]}")
    if lhs.dtype is not rhs.dtype or lhs.dtype is DType.PRED:
        raise IRError(f"dot needs numeric operands of one element type, got {lhs.dtype} and {rhs.dtype}")
    dtype = lhs.dtype
    if declared is not None:
        wanted = _array(declared, "the result").dtype
        if dtype_kinds(wanted) != dtype_kinds(dtype) and not (
                dtype.is_integer and wanted.is_integer) or wanted.bits < dtype.bits:
            raise IRError(f"dot of {dtype} cannot produce {wanted}")
        dtype = wanted
    shape = ([lhs.shape[d] for d in lb]
             + [s for d, s in enumerate(lhs.shape) if d not in lb + lc]
             + [s for d, s in enumerate(rhs.shape) if d not in rb + rc])
    return TensorType(dtype, tuple(shape))


def _evaluate_dot(inst, args, call):
    lhs, rhs = args
    dims = DotDimensions.of(inst)
    lb, lc, lf = list(dims.lhs_batch), list(dims.lhs_contracting), list(dims.lhs_free)
    rb, rc, rf = list(dims.rhs_batch), list(dims.rhs_contracting), list(dims.rhs_free)
    out = inst.type.dtype.numpy
    work = np.dtype(np.float32) if _is_half(out) else out
    size = lambda a, ds: math.prod(a.shape[d] for d in ds)
    batch = size(lhs, lb)
    a = np.transpose(lhs, lb + lf + lc).astype(work).reshape(batch, size(lhs, lf), size(lhs, lc))
    b = np.transpose(rhs, rb + rc + rf).astype(work).reshape(batch, size(rhs, rc), size(rhs, rf))
    with np.errstate(all="ignore"):  # overflow to inf when rounding to f16 is the answer
        product = np.matmul(a, b)
        return product.reshape(inst.type.shape).astype(out)


# ---------------------------------------------------------------------------
# tuples, control flow, calls

def _infer_get_tuple_element(types, attrs, called, declared):
    operand = types[0]
    if not isinstance(operand, TupleType):
        raise IRError(f"get-tuple-element needs a tuple operand, got {_shape_text(operand)}")
    index = attrs["index"]
    if not 0 <= index < len(operand.elements):
        raise IRError(f"index={index} out of range for {_shape_text(operand)}")
    return operand.elements[index].without_layout()


def _infer_while(types, attrs, called, declared):
    state = types[0].without_layout()
    _check_computation(called[0], [state], scalar(DType.PRED), "while condition")
    _check_computation(called[1], [state], state, "while body")
    return state


def _evaluate_while(inst, args, call):
    condition, body = inst.called
    state = args[0]
    while bool(call(condition, [state])):
        state = call(body, [state])
    return state


def _infer_conditional(types, attrs, called, declared):
    selector = _array(types[0], "the branch selector")
    branch_operands = types[1:]
    if selector.shape != () or selector.dtype not in (DType.PRED, DType.S32):
        raise IRError(f"conditional's selector must be pred[] or s32[], got {_shape_text(selector)}")
    if selector.dtype is DType.PRED and len(called) != 2:
        raise IRError(f"a pred conditional has 2 branches, got {len(called)}")
    if len(called) < 1 or len(branch_operands) != len(called):
        raise IRError(f"conditional has {len(called)} branch computations and "
                      f"{len(branch_operands)} branch operands; they must match")
    result = None
    for branch, operand in zip(called, branch_operands):
        result = _check_computation(branch, [operand], result, "branch")
    return result


def _evaluate_conditional(inst, args, call):
    selector = args[0]
    branches = inst.called
    if selector.dtype == np.bool_:
        index = 0 if bool(selector) else 1  # pred form: true branch first
    else:
        index = int(selector)
        if not 0 <= index < len(branches):
            index = len(branches) - 1  # XLA: out-of-range selects the last branch
    return call(branches[index], [args[1 + index]])


def _infer_call(types, attrs, called, declared):
    return _check_computation(called[0], list(types), None, "called")


def _evaluate_call(inst, args, call):
    return call(inst.called[0], list(args))


# ---------------------------------------------------------------------------
# the rest of the table

def _declared_result(types, attrs, called, declared):
    if declared is None:
        raise IRError("the result type must be given")
    return declared.without_layout()


def _infer_constant(types, attrs, called, declared):
    literal = attrs["literal"]
    if declared is not None:
        result = _array(declared, "the result")
        if tuple(literal.shape) != result.shape:
            raise IRError(f"literal of shape {list(literal.shape)} does not match {_shape_text(result)}")
        return TensorType(result.dtype, result.shape)
    return TensorType(DType.from_numpy(literal.dtype), literal.shape)


def _evaluate_constant(inst, args, call):
    return np.asarray(inst.attrs["literal"]).astype(inst.type.dtype.numpy)


def _evaluate_parameter(inst, args, call):  # pragma: no cover - bound by the interpreter
    raise IRError("parameters are bound by the interpreter, not evaluated")


CUSTOM_CALL_TARGETS: dict[str, Callable[..., Any]] = {}


def register_custom_call(target: str, fn: Callable[..., Any]) -> None:
    """Give the interpreter an implementation of ``custom-call`` target ``target``.

    ``fn(*operands, result_type=..., backend_config=...)`` returns NumPy arrays.
    """
    CUSTOM_CALL_TARGETS[target] = fn


def _evaluate_custom_call(inst, args, call):
    target = inst.attrs["custom_call_target"]
    if target not in CUSTOM_CALL_TARGETS:
        known = ", ".join(sorted(CUSTOM_CALL_TARGETS)) or "none registered"
        raise IRError(f"no implementation of custom-call target '{target}' (known: {known})")
    try:
        return CUSTOM_CALL_TARGETS[target](*args, result_type=inst.type,
                                           backend_config=inst.attrs.get("backend_config", ""))
    except Exception as error:  # user code may raise anything; the interpreter names the call
        raise IRError(f"custom-call target '{target}' failed: {type(error).__name__}: {error}") from error


def _same_as_operand(types, attrs, called, declared):
    return _array(types[0], "the operand").without_layout()


def _traits(*traits: Trait) -> frozenset[Trait]:
    return frozenset(traits)


def _declare_structural_ops() -> None:
    INTS, INT = AttrKind.INTS, AttrKind.INT
    names = _traits(Trait.NAMES_BUFFERS, Trait.HOST_STEP, Trait.PASSES_BUFFERS_ON)
    runs_programs = _traits(Trait.CALLS_PROGRAMS, Trait.HOST_STEP, Trait.PASSES_BUFFERS_ON)
    control_flow = runs_programs | {Trait.CONTROL_FLOW}
    table = [
        OpDef("parameter", (0, 0), _declared_result, _evaluate_parameter,
              attrs=(AttrSpec("parameter_number", INT),), needs_declared_type=True,
              doc="Argument number `parameter_number` of the computation.",
              traits=_traits(Trait.SOURCE), cost=Cost.NORMAL),
        OpDef("constant", (0, 0), _infer_constant, _evaluate_constant,
              attrs=(AttrSpec("literal", AttrKind.LITERAL),), doc="A literal array.",
              traits=_traits(Trait.SOURCE), cost=Cost.FREE),
        OpDef("iota", (0, 0), _infer_iota, _evaluate_iota,
              attrs=(AttrSpec("iota_dimension", INT),), needs_declared_type=True,
              doc="0, 1, 2, ... along iota_dimension, broadcast over the others.",
              traits=_traits(Trait.GENERATED, Trait.INDEXING), cost=Cost.FREE),
        OpDef("broadcast", (1, 1), _infer_broadcast, _evaluate_broadcast,
              attrs=(AttrSpec("dimensions", INTS),), needs_declared_type=True,
              doc="Operand dimension i becomes result dimension dimensions[i]; others repeat.",
              traits=_traits(Trait.GENERATED, Trait.INDEXING), cost=Cost.FREE),
        OpDef("reshape", (1, 1), _infer_reshape,
              lambda inst, args, call: args[0].reshape(inst.type.shape).copy(),
              needs_declared_type=True, doc="Same elements in row-major order, new shape.",
              traits=_traits(Trait.INDEXING, Trait.MAY_ALIAS_OPERAND), cost=Cost.CHEAP),
        OpDef("transpose", (1, 1), _infer_transpose,
              lambda inst, args, call: np.transpose(args[0], inst.attrs["dimensions"]).copy(),
              attrs=(AttrSpec("dimensions", INTS),),
              doc="Result dimension i is operand dimension dimensions[i].",
              traits=_traits(Trait.INDEXING, Trait.MAY_ALIAS_OPERAND), cost=Cost.CHEAP),
        OpDef("slice", (1, 1), _infer_slice, _evaluate_slice,
              attrs=(AttrSpec("slice", AttrKind.SLICE),),
              doc="Static [start:limit:stride] window of every dimension.",
              traits=_traits(Trait.INDEXING), cost=Cost.CHEAP),
        OpDef("dynamic-slice", (2, None), _infer_dynamic_slice, _evaluate_dynamic_slice,
              attrs=(AttrSpec("dynamic_slice_sizes", INTS),),
              doc="Window at run-time start indices (clamped to stay in bounds).",
              traits=_traits(Trait.INDEXING), cost=Cost.NORMAL),
        OpDef("dynamic-update-slice", (3, None), _infer_dynamic_update_slice,
              _evaluate_dynamic_update_slice,
              doc="Operand with `update` written at run-time start indices (clamped).",
              cost=Cost.NORMAL),
        OpDef("concatenate", (1, None), _infer_concatenate,
              lambda inst, args, call: np.concatenate(args, axis=inst.attrs["dimensions"][0]),
              attrs=(AttrSpec("dimensions", INTS),), doc="Join operands along one dimension.",
              traits=_traits(Trait.INDEXING), cost=Cost.NORMAL),
        OpDef("pad", (2, 2), _infer_pad, _evaluate_pad,
              attrs=(AttrSpec("padding", AttrKind.PADDING),),
              doc="Edge (possibly negative) and interior padding with a scalar value.",
              traits=_traits(Trait.INDEXING), cost=Cost.NORMAL),
        OpDef("reverse", (1, 1), _infer_reverse,
              lambda inst, args, call: np.flip(args[0], inst.attrs["dimensions"]).copy(),
              attrs=(AttrSpec("dimensions", INTS),), doc="Reverse the order along dimensions.",
              traits=_traits(Trait.INDEXING), cost=Cost.CHEAP),
        OpDef("convert", (1, 1), _infer_convert,
              lambda inst, args, call: _convert(args[0], inst.type.dtype),
              needs_declared_type=True,
              doc="Element type conversion: float->int saturates (NaN -> 0), int->int wraps, "
                  "x->pred is x != 0.",
              traits=_traits(Trait.ELEMENTWISE), cost=Cost.CHEAP),
        OpDef("bitcast-convert", (1, 1), _infer_bitcast_convert, _evaluate_bitcast_convert,
              needs_declared_type=True,
              doc="Reinterpret the bits; a width change adds or removes a minor dimension.",
              traits=_traits(Trait.INDEXING), cost=Cost.CHEAP),
        OpDef("compare", (2, 2), _infer_compare, _evaluate_compare,
              attrs=(AttrSpec("direction", AttrKind.ENUM, choices=DIRECTIONS),
                     AttrSpec("comparison_type", AttrKind.ENUM, required=False,
                              choices=COMPARISON_TYPES, text_name="type")),
              doc="Elementwise comparison giving pred; type=TOTALORDER orders NaNs and -0 < +0.",
              traits=_traits(Trait.ELEMENTWISE), cost=Cost.CHEAP),
        OpDef("select", (3, 3), _infer_select,
              lambda inst, args, call: np.where(args[0], args[1], args[2]).astype(args[1].dtype),
              doc="on_true where the predicate holds, else on_false.",
              traits=_traits(Trait.ELEMENTWISE), cost=Cost.CHEAP),
        OpDef("clamp", (3, 3), _infer_clamp, _evaluate_clamp,
              doc="clamp(min, x, max) = minimum(maximum(x, min), max).",
              traits=_traits(Trait.ELEMENTWISE), cost=Cost.NORMAL),
        OpDef("reduce", (2, None), _infer_reduce, _evaluate_reduce,
              attrs=(AttrSpec("dimensions", INTS),), callees=("to_apply",),
              doc="Fold dimensions with the to_apply computation (variadic: N inputs, N inits).",
              traits=_traits(Trait.REDUCTION, Trait.LOOP_PER_ELEMENT), cost=Cost.EXPENSIVE),
        OpDef("dot", (2, 2), _infer_dot, _evaluate_dot,
              attrs=(AttrSpec("lhs_batch_dims", INTS, required=False, default=()),
                     AttrSpec("lhs_contracting_dims", INTS, required=False, default=()),
                     AttrSpec("rhs_batch_dims", INTS, required=False, default=()),
                     AttrSpec("rhs_contracting_dims", INTS, required=False, default=())),
              doc="General dot: result is batch dims, lhs free dims, rhs free dims.",
              traits=_traits(Trait.LIBRARY_CALL, Trait.LOOP_PER_ELEMENT), cost=Cost.NORMAL),
        OpDef("tuple", (0, None),
              lambda types, attrs, called, declared: TupleType(tuple(t.without_layout() for t in types)),
              lambda inst, args, call: tuple(args), doc="Group values into one.",
              traits=names, cost=Cost.NORMAL),
        OpDef("get-tuple-element", (1, 1), _infer_get_tuple_element,
              lambda inst, args, call: args[0][inst.attrs["index"]],
              attrs=(AttrSpec("index", INT),), doc="Element `index` of a tuple.",
              traits=names, cost=Cost.NORMAL),
        OpDef("while", (1, 1), _infer_while, _evaluate_while, callees=("condition", "body"),
              doc="Repeat body on the state while condition(state) holds.",
              traits=control_flow, cost=Cost.NORMAL),
        OpDef("conditional", (2, None), _infer_conditional, _evaluate_conditional,
              callees=(BRANCHES,),
              doc="Run one branch: pred form (true, false) or s32 index form "
                  "(out-of-range runs the last branch).",
              traits=control_flow, cost=Cost.NORMAL),
        OpDef("call", (0, None), _infer_call, _evaluate_call, callees=("to_apply",),
              doc="Evaluate a computation on the operands.",
              traits=runs_programs, cost=Cost.NORMAL),
        OpDef("fusion", (0, None), _infer_call, _evaluate_call, callees=("calls",),
              attrs=(AttrSpec("kind", AttrKind.ENUM, choices=FUSION_KINDS),),
              doc="A fused computation, produced by the fusion pass; evaluates like call.",
              traits=_traits(Trait.HOST_STEP), cost=Cost.NORMAL),
        OpDef("custom-call", (0, None), _declared_result, _evaluate_custom_call,
              attrs=(AttrSpec("custom_call_target", AttrKind.STRING),
                     AttrSpec("backend_config", AttrKind.STRING, required=False),
                     AttrSpec("custom_call_has_side_effect", AttrKind.BOOL, required=False)),
              needs_declared_type=True,
              doc="Call a runtime library function by target name; see register_custom_call.",
              traits=_traits(Trait.HOST_STEP, Trait.LIBRARY_CALL, Trait.PASSES_BUFFERS_ON),
              cost=Cost.NORMAL),
    ]
    for opdef in table:
        register_op(opdef)


_declare_elementwise_ops()
_declare_structural_ops()
