"""C-style scalar rendering: element types, literals and every elementwise op as a C expression.

One renderer base holds what any C dialect shares (integer types, operators, the
libm spelling of float math, the XLA corner cases of integer division, shifts and
saturating conversions); a target extends it by overriding table entries and a few
hooks, as tinygrad's C-style renderers do.  ``CudaRenderer`` adds ``__half`` and
``__nv_bfloat16`` through ``cuda_fp16.h``/``cuda_bf16.h`` and the bit-cast intrinsics.

Values live in *registers* of a register type: f16 and bf16 are computed in
``float`` and rounded back after every op (what the interpreter does: XLA CPU
semantics), everything else in its own type.  Expression arguments are always
variable names or literals, so a template may repeat them without re-evaluating.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ...ir import DType, Instruction
from ..errors import UnsupportedOpError

Template = Callable[["CStyleRenderer", DType, Sequence[str]], str]

HALVES = frozenset({DType.F16, DType.BF16})

# libm names of the float unary ops: f32 adds the 'f' suffix.
_FLOAT_MATH = {
    "floor": "floor", "ceil": "ceil", "round-nearest-even": "rint", "round-nearest-afz": "round",
    "exponential": "exp", "exponential-minus-one": "expm1", "log": "log", "log-plus-one": "log1p",
    "sqrt": "sqrt", "cbrt": "cbrt", "tanh": "tanh", "sine": "sin", "cosine": "cos", "tan": "tan",
    "abs": "fabs",
}
_FLOAT_MATH2 = {"remainder": "fmod", "power": "pow", "atan2": "atan2"}
_C_OPERATORS = {"add": "+", "subtract": "-", "multiply": "*", "divide": "/"}
_COMPARISONS = {"EQ": "==", "NE": "!=", "LT": "<", "LE": "<=", "GT": ">", "GE": ">="}

# Helpers every translation unit defines once (plain C++ templates, no headers needed,
# so NVRTC compiles them as nvcc does).  Names start with jf_ to stay out of user space.
HELPERS = r"""
template <typename T> __device__ __forceinline__ T jf_fmax(T a, T b) { return (a != a || a > b) ? a : b; }
template <typename T> __device__ __forceinline__ T jf_fmin(T a, T b) { return (a != a || a < b) ? a : b; }
template <typename T> __device__ __forceinline__ T jf_imax(T a, T b) { return a > b ? a : b; }
template <typename T> __device__ __forceinline__ T jf_imin(T a, T b) { return a < b ? a : b; }
template <typename T> __device__ __forceinline__ T jf_fsign(T x) { return (x == T(0) || x != x) ? x : (x > T(0) ? T(1) : T(-1)); }
template <typename T> __device__ __forceinline__ T jf_logistic(T x) {
  // exp(-|x|) never overflows; e / (1 + e) keeps tiny results for x << 0.
  T e = exp(-fabs(x));
  return x >= T(0) ? T(1) / (T(1) + e) : e / (T(1) + e);
}
__device__ __forceinline__ float jf_logistic(float x) {
  float e = expf(-fabsf(x));
  return x >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
}
template <typename T, typename W> __device__ __forceinline__ T jf_saturate(double x, double lo, double hi, T tlo, T thi) {
  // XLA: float -> int saturates and maps NaN to 0; compared in double like the interpreter.
  if (x != x) return T(0);
  if (x >= hi) return thi;
  if (x <= lo) return tlo;
  return T((W)x);
}
template <typename T, typename U> __device__ __forceinline__ T jf_ipow(T base, T exponent, bool negative) {
  // Repeated squaring with wrapping (unsigned) arithmetic; x ** negative is (x == 1).
  if (negative) return T(base == T(1) ? 1 : 0);
  U result = 1, b = (U)base, e = (U)exponent;
  while (e) { if (e & 1) result = result * b; b = b * b; e >>= 1; }
  return (T)result;
}
__device__ __forceinline__ long long jf_total_key(float x) {
  int bits = __float_as_int(x);
  return bits < 0 ? (long long)(bits ^ 0x7fffffff) : (long long)bits;
}
__device__ __forceinline__ long long jf_total_key(double x) {
  long long bits = __double_as_longlong(x);
  return bits < 0 ? (bits ^ 0x7fffffffffffffffLL) : bits;
}
"""


class CStyleRenderer:
    """Scalar C for one dialect.  Subclasses override the type table and the hooks."""

    # storage type of each element type: what a buffer holds
    TYPES: dict[DType, str] = {
        DType.PRED: "bool", DType.S8: "signed char", DType.S16: "short", DType.S32: "int",
        DType.S64: "long long", DType.U8: "unsigned char", DType.U16: "unsigned short",
        DType.U32: "unsigned int", DType.U64: "unsigned long long", DType.F32: "float",
        DType.F64: "double",
    }
    INCLUDES: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.unary: dict[str, Template] = dict(_UNARY)
        self.binary: dict[str, Template] = dict(_BINARY)

    # -- types ----------------------------------------------------------------------

    def storage(self, dtype: DType) -> str:
        try:
            return self.TYPES[dtype]
        except KeyError:
            raise UnsupportedOpError(f"{type(self).__name__} has no C type for {dtype}") from None

    def register(self, dtype: DType) -> str:
        """The type values of ``dtype`` are computed in."""
        return "float" if dtype in HALVES else self.storage(dtype)

    def wide_unsigned(self, dtype: DType) -> str:
        """Unsigned type at least 32 bits wide: wrapping arithmetic without int promotion's UB."""
        return "unsigned long long" if dtype.bits == 64 else "unsigned int"

    def unsigned(self, bits: int) -> str:
        return {8: "unsigned char", 16: "unsigned short", 32: "unsigned int",
                64: "unsigned long long"}[bits]

    def signed(self, bits: int) -> str:
        return {8: "signed char", 16: "short", 32: "int", 64: "long long"}[bits]

    # -- loads, stores and rounding ---------------------------------------------------

    def load(self, dtype: DType, storage_expr: str) -> str:
        return storage_expr

    def store_value(self, dtype: DType, register_expr: str) -> str:
        return register_expr

    def round_to(self, dtype: DType, expr: str) -> str:
        """Round a float register value to ``dtype`` (identity except for halves)."""
        return expr

    def to_bits(self, dtype: DType, expr: str) -> str:
        raise UnsupportedOpError(f"{type(self).__name__} cannot reinterpret the bits of {dtype}")

    def from_bits(self, dtype: DType, expr: str) -> str:
        raise UnsupportedOpError(f"{type(self).__name__} cannot reinterpret bits as {dtype}")

    def math_suffix(self, dtype: DType) -> str:
        return "" if dtype is DType.F64 else "f"

    # -- literals ----------------------------------------------------------------------

    def literal(self, dtype: DType, value: object) -> str:
        """An exact C expression for one element (floats through their bits: NaN, inf, -0)."""
        if dtype is DType.PRED:
            return "true" if bool(value) else "false"
        if dtype.is_float:
            bits = int(np.asarray(value, dtype=dtype.numpy).view(f"u{dtype.bits // 8}"))
            return self.from_bits(dtype, f"{bits:#x}u" + ("ll" if dtype.bits == 64 else ""))
        raw = int(value) & ((1 << dtype.bits) - 1)
        return f"(({self.storage(dtype)}){raw:#x}ull)"

    def float_literal(self, dtype: DType, value: float) -> str:
        """A plain decimal float constant in the register type (for bounds and math)."""
        text = repr(float(value))
        return text if self.register(dtype) == "double" else text + "f"

    # -- ops ------------------------------------------------------------------------------

    def elementwise(self, inst: Instruction, args: Sequence[str]) -> str:
        """The C expression of elementwise ``inst`` on register values ``args``."""
        opcode = inst.opcode
        dtype = inst.operands[0].type.dtype if inst.operands else inst.type.dtype
        if opcode == "convert":
            return self.convert(args[0], dtype, inst.type.dtype)
        if opcode == "compare":
            return self.compare(inst, args)
        if opcode == "select":
            return f"({args[0]} ? {args[1]} : {args[2]})"
        if opcode == "clamp":
            low, x, high = args
            pick = ("jf_fmax", "jf_fmin") if inst.type.dtype.is_float else ("jf_imax", "jf_imin")
            t = self.register(inst.type.dtype)
            return f"{pick[1]}<{t}>({pick[0]}<{t}>({x}, {low}), {high})"
        table = self.unary if len(args) == 1 else self.binary
        template = table.get(opcode)
        if template is None:
            raise UnsupportedOpError(f"{type(self).__name__} cannot render {opcode} "
                                     f"({inst.describe()})")
        expr = template(self, dtype, args)
        result = inst.type.dtype
        return self.round_to(result, expr) if result in HALVES else expr

    def compare(self, inst: Instruction, args: Sequence[str]) -> str:
        x, y = args
        if inst.attrs.get("comparison_type") == "TOTALORDER":
            x, y = f"jf_total_key({x})", f"jf_total_key({y})"
        return f"({x} {_COMPARISONS[inst.attrs['direction']]} {y})"

    def convert(self, x: str, source: DType, target: DType) -> str:
        if target is DType.PRED:
            return f"({x} != 0)"
        if source is DType.PRED:
            one, zero = ("1", "0") if not target.is_float else (
                self.float_literal(target, 1.0), self.float_literal(target, 0.0))
            return f"({x} ? {one} : {zero})"
        if target.is_integer and source.is_float:
            info = np.iinfo(target.numpy)
            t = self.storage(target)
            wide = "long long" if target.is_signed_int else "unsigned long long"
            return (f"jf_saturate<{t}, {wide}>((double){x}, {float(info.min)!r}, {float(info.max)!r}, "
                    f"{self.literal(target, info.min)}, {self.literal(target, info.max)})")
        if target in HALVES:
            return self.round_from_double(target, f"(double){x}")
        return f"(({self.register(target)}){x})"

    def round_from_double(self, target: DType, expr: str) -> str:
        raise UnsupportedOpError(f"{type(self).__name__} has no {target}")


# -- op templates: (renderer, operand dtype, args) -> C expression ------------------------

def _float_or_int(float_rule: Template, int_rule: Template) -> Template:
    return lambda r, d, a: float_rule(r, d, a) if d.is_float else int_rule(r, d, a)


def _libm(name: str) -> Template:
    return lambda r, d, a: f"{name}{r.math_suffix(d)}({', '.join(a)})"


def _wrapping(op: str) -> Template:
    def render(r: CStyleRenderer, d: DType, a: Sequence[str]) -> str:
        w = r.wide_unsigned(d)
        return f"(({r.storage(d)})(({w}){a[0]} {op} ({w}){a[1]}))"
    return render


def _operator(op: str) -> Template:
    return lambda r, d, a: f"({a[0]} {op} {a[1]})"


def _int_divide(r: CStyleRenderer, d: DType, a: Sequence[str]) -> str:
    x, y = a
    t = r.storage(d)
    if d.is_unsigned_int:
        return f"({y} == 0 ? ({t})~({t})0 : ({t})({x} / {y}))"
    # x / -1 is -x, wrapping (INT_MIN / -1 = INT_MIN), without the trap of the division.
    neg = f"({t})(0 - ({r.wide_unsigned(d)}){x})"
    return f"({y} == 0 ? ({t})-1 : ({y} == ({t})-1 ? {neg} : ({t})({x} / {y})))"


def _int_remainder(r: CStyleRenderer, d: DType, a: Sequence[str]) -> str:
    x, y = a
    t = r.storage(d)
    if d.is_unsigned_int:
        return f"({y} == 0 ? {x} : ({t})({x} % {y}))"
    return f"({y} == 0 ? {x} : ({y} == ({t})-1 ? ({t})0 : ({t})({x} % {y})))"


def _int_power(r: CStyleRenderer, d: DType, a: Sequence[str]) -> str:
    negative = f"({a[1]} < 0)" if d.is_signed_int else "false"
    return f"jf_ipow<{r.storage(d)}, {r.wide_unsigned(d)}>({a[0]}, {a[1]}, {negative})"


def _shift(kind: str) -> Template:
    def render(r: CStyleRenderer, d: DType, a: Sequence[str]) -> str:
        x, y = a
        t, bits = r.storage(d), d.bits
        same, wide = r.unsigned(bits), r.wide_unsigned(d)
        amount = f"(({wide})({same}){y})"  # a negative amount reads as a huge unsigned one
        if kind == "left":
            shifted = f"({t})(({wide})({same}){x} << {amount})"
            far = f"({t})0"
        elif kind == "logical":
            shifted = f"({t})(({wide})({same}){x} >> {amount})"
            far = f"({t})0"
        else:
            signed = r.signed(bits)
            shifted = f"({t})(({signed}){x} >> {amount})"
            far = f"(({signed}){x} < 0 ? ({t})~({t})0 : ({t})0)"
        return f"({amount} >= {bits}u ? {far} : {shifted})"
    return render


def _int_abs(r: CStyleRenderer, d: DType, a: Sequence[str]) -> str:
    t = r.storage(d)
    return f"({a[0]} < 0 ? ({t})(0 - ({r.wide_unsigned(d)}){a[0]}) : {a[0]})"


def _negate(r: CStyleRenderer, d: DType, a: Sequence[str]) -> str:
    if d.is_float:
        return f"(-{a[0]})"
    return f"(({r.storage(d)})(0 - ({r.wide_unsigned(d)}){a[0]}))"


def _sign(r: CStyleRenderer, d: DType, a: Sequence[str]) -> str:
    if d.is_float:
        return f"jf_fsign<{r.register(d)}>({a[0]})"
    return f"(({r.storage(d)})(({a[0]} > 0) - ({a[0]} < 0)))"


def _not(r: CStyleRenderer, d: DType, a: Sequence[str]) -> str:
    return f"(!{a[0]})" if d is DType.PRED else f"(({r.storage(d)})~{a[0]})"


def _popcnt(r: CStyleRenderer, d: DType, a: Sequence[str]) -> str:
    unsigned = r.unsigned(d.bits)
    count = "__popcll" if d.bits == 64 else "__popc"
    width = "unsigned long long" if d.bits == 64 else "unsigned int"
    return f"(({r.storage(d)}){count}(({width})({unsigned}){a[0]}))"


def _logical(pred_op: str, int_op: str) -> Template:
    return lambda r, d, a: (f"({a[0]} {pred_op} {a[1]})" if d is DType.PRED
                            else f"(({r.storage(d)})({a[0]} {int_op} {a[1]}))")


def _extremum(which: str) -> Template:
    def render(r: CStyleRenderer, d: DType, a: Sequence[str]) -> str:
        family = "jf_f" if d.is_float else "jf_i"
        return f"{family}{which}<{r.register(d)}>({a[0]}, {a[1]})"
    return render


_UNARY: dict[str, Template] = {name: _libm(fn) for name, fn in _FLOAT_MATH.items()}
_UNARY.update({
    "abs": _float_or_int(_libm("fabs"), _int_abs),
    "negate": _negate,
    "sign": _sign,
    "rsqrt": lambda r, d, a: f"({r.float_literal(d, 1.0)} / sqrt{r.math_suffix(d)}({a[0]}))",
    "logistic": lambda r, d, a: f"jf_logistic({a[0]})",
    "is-finite": lambda r, d, a: f"isfinite({a[0]})",
    "not": _not,
    "popcnt": _popcnt,
})

_BINARY: dict[str, Template] = {name: _libm(fn) for name, fn in _FLOAT_MATH2.items()}
_BINARY.update({name: _float_or_int(_operator(op), _wrapping(op))
                for name, op in _C_OPERATORS.items() if name != "divide"})
_BINARY.update({
    "divide": _float_or_int(_operator("/"), _int_divide),
    "remainder": _float_or_int(_libm("fmod"), _int_remainder),
    "power": _float_or_int(_libm("pow"), _int_power),
    "maximum": _extremum("max"),
    "minimum": _extremum("min"),
    "and": _logical("&&", "&"),
    "or": _logical("||", "|"),
    "xor": _logical("!=", "^"),
    "shift-left": _shift("left"),
    "shift-right-logical": _shift("logical"),
    "shift-right-arithmetic": _shift("arithmetic"),
})


class CudaRenderer(CStyleRenderer):
    """CUDA C++: halves through cuda_fp16.h / cuda_bf16.h, bit casts through intrinsics."""

    TYPES = {**CStyleRenderer.TYPES, DType.F16: "__half", DType.BF16: "__nv_bfloat16"}
    INCLUDES = ("cuda_fp16.h", "cuda_bf16.h")

    _FROM_HALF = {DType.F16: "__half2float", DType.BF16: "__bfloat162float"}
    _TO_HALF = {DType.F16: "__float2half_rn", DType.BF16: "__float2bfloat16_rn"}
    _FROM_DOUBLE = {DType.F16: "__double2half", DType.BF16: "__double2bfloat16"}
    _BITS_OUT = {DType.F16: "__half_as_ushort", DType.BF16: "__bfloat16_as_ushort"}
    _BITS_IN = {DType.F16: "__ushort_as_half", DType.BF16: "__ushort_as_bfloat16"}

    def load(self, dtype: DType, storage_expr: str) -> str:
        return f"{self._FROM_HALF[dtype]}({storage_expr})" if dtype in HALVES else storage_expr

    def store_value(self, dtype: DType, register_expr: str) -> str:
        return f"{self._TO_HALF[dtype]}({register_expr})" if dtype in HALVES else register_expr

    def round_to(self, dtype: DType, expr: str) -> str:
        if dtype not in HALVES:
            return expr
        return f"{self._FROM_HALF[dtype]}({self._TO_HALF[dtype]}({expr}))"

    def round_from_double(self, target: DType, expr: str) -> str:
        return f"{self._FROM_HALF[target]}({self._FROM_DOUBLE[target]}({expr}))"

    def to_bits(self, dtype: DType, expr: str) -> str:
        if dtype in HALVES:
            return f"{self._BITS_OUT[dtype]}({self._TO_HALF[dtype]}({expr}))"
        if dtype is DType.F32:
            return f"__float_as_uint({expr})"
        if dtype is DType.F64:
            return f"((unsigned long long)__double_as_longlong({expr}))"
        return f"(({self.unsigned(dtype.bits)}){expr})"

    def from_bits(self, dtype: DType, expr: str) -> str:
        if dtype in HALVES:
            return f"{self._FROM_HALF[dtype]}({self._BITS_IN[dtype]}((unsigned short)({expr})))"
        if dtype is DType.F32:
            return f"__uint_as_float((unsigned int)({expr}))"
        if dtype is DType.F64:
            return f"__longlong_as_double((long long)({expr}))"
        return f"(({self.storage(dtype)})({expr}))"


def c_identifier(text: str) -> str:
    """A C identifier made from an IR name."""
    cleaned = "".join(c if c.isalnum() else "_" for c in text)
    return cleaned if cleaned[:1].isalpha() else "v" + cleaned

