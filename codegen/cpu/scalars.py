"""Element types in LLVM: storage types, register types, and conversions between them.

Every element type has a *storage* type (how it sits in a buffer) and a *register*
type (how generated code holds one value).  They agree except for:

* ``pred``: stored as one byte (NumPy's bool), held as ``i1``;
* ``bf16``: stored and held as its ``i16`` bits (llvmlite has no ``bfloat`` type);
  arithmetic widens it to f32 first, as the op table prescribes for halves.

``f16`` is held as LLVM ``half``; its arithmetic also widens to f32 (``widen``)
and rounds back once per op (``narrow``), which reproduces the interpreter's
"compute in f32, round to the element type" rule op by op.
"""

from __future__ import annotations

from llvmlite import ir

from ...ir import DType

I1 = ir.IntType(1)
I8 = ir.IntType(8)
I16 = ir.IntType(16)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
HALF = ir.HalfType()
F32 = ir.FloatType()
F64 = ir.DoubleType()
PTR = ir.PointerType()  # opaque pointer

_STORAGE = {
    DType.PRED: I8, DType.S8: I8, DType.U8: I8, DType.S16: I16, DType.U16: I16,
    DType.S32: I32, DType.U32: I32, DType.S64: I64, DType.U64: I64,
    DType.F16: HALF, DType.BF16: I16, DType.F32: F32, DType.F64: F64,
}


def storage_type(dtype: DType) -> ir.Type:
    return _STORAGE[dtype]


def register_type(dtype: DType) -> ir.Type:
    return I1 if dtype is DType.PRED else _STORAGE[dtype]


def compute_dtype(dtype: DType) -> DType:
    """The type arithmetic on ``dtype`` runs in: halves widen to f32."""
    return DType.F32 if dtype in (DType.F16, DType.BF16) else dtype


def int_type(bits: int) -> ir.IntType:
    return ir.IntType(bits)


def float_type(dtype: DType) -> ir.Type:
    return {DType.F32: F32, DType.F64: F64}[dtype]


def load_element(b: ir.IRBuilder, ptr: ir.Value, dtype: DType) -> ir.Value:
    """Load one element (no alignment claim: user buffers are only 16-byte aligned)."""
    value = b.load(ptr, typ=storage_type(dtype))
    return b.trunc(value, I1) if dtype is DType.PRED else value


def store_element(b: ir.IRBuilder, value: ir.Value, ptr: ir.Value, dtype: DType) -> None:
    if dtype is DType.PRED:
        value = b.zext(value, I8)
    b.store(value, ptr)


def element_ptr(b: ir.IRBuilder, base: ir.Value, index: ir.Value, dtype: DType) -> ir.Value:
    return b.gep(base, [index], inbounds=True, source_etype=storage_type(dtype))


# -- halves -------------------------------------------------------------------

def widen(b: ir.IRBuilder, value: ir.Value, dtype: DType) -> ir.Value:
    """A register value of ``dtype`` in its compute type (f16/bf16 -> f32, exactly)."""
    if dtype is DType.F16:
        return b.fpext(value, F32)
    if dtype is DType.BF16:
        return b.bitcast(b.shl(b.zext(value, I32), ir.Constant(I32, 16)), F32)
    return value


def narrow(b: ir.IRBuilder, value: ir.Value, dtype: DType) -> ir.Value:
    """An f32 compute value rounded (to nearest even) to the register type of ``dtype``."""
    if dtype is DType.F16:
        return b.fptrunc(value, HALF)
    if dtype is DType.BF16:
        return f32_to_bf16(b, value)
    return value


def f32_to_bf16(b: ir.IRBuilder, value: ir.Value) -> ir.Value:
    """Round f32 to bf16 bits, ties to even; NaN stays a (quiet) NaN of the same sign."""
    bits = b.bitcast(value, I32)
    lsb = b.and_(b.lshr(bits, ir.Constant(I32, 16)), ir.Constant(I32, 1))
    rounded = b.lshr(b.add(bits, b.add(lsb, ir.Constant(I32, 0x7FFF))), ir.Constant(I32, 16))
    quiet = b.or_(b.lshr(bits, ir.Constant(I32, 16)), ir.Constant(I32, 0x40))
    is_nan = b.fcmp_unordered("uno", value, value)
    return b.trunc(b.select(is_nan, quiet, rounded), I16)


def f64_to_f32_round_to_odd(b: ir.IRBuilder, value: ir.Value) -> ir.Value:
    """f64 -> f32 rounding to odd, so that a second rounding to bf16 equals one direct rounding."""
    nearest = b.fptrunc(value, F32)
    exact = b.fcmp_ordered("==", b.fpext(nearest, F64), value)
    bits = b.bitcast(nearest, I32)
    # Round-to-nearest went away from zero iff |nearest| > |value|; step back toward zero.
    away = b.fcmp_ordered(">", b.call(fabs(b.module, F64), [b.fpext(nearest, F64)]),
                          b.call(fabs(b.module, F64), [value]))
    toward_zero = b.select(away, b.sub(bits, ir.Constant(I32, 1)), bits)
    odd = b.bitcast(b.or_(toward_zero, ir.Constant(I32, 1)), F32)
    keep = b.or_(exact, b.fcmp_unordered("uno", value, value))
    return b.select(keep, nearest, odd)


# -- intrinsics ---------------------------------------------------------------

def intrinsic(module: ir.Module, name: str, result: ir.Type, args: list[ir.Type]) -> ir.Function:
    """Declare (once) the LLVM intrinsic ``name`` with an explicit signature."""
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    return ir.Function(module, ir.FunctionType(result, args), name)


def _suffix(t: ir.Type) -> str:
    if isinstance(t, ir.IntType):
        return f"i{t.width}"
    return {F32: "f32", F64: "f64", HALF: "f16"}[t]


def float_unary(module: ir.Module, base: str, t: ir.Type) -> ir.Function:
    return intrinsic(module, f"llvm.{base}.{_suffix(t)}", t, [t])


def fabs(module: ir.Module, t: ir.Type) -> ir.Function:
    return float_unary(module, "fabs", t)


def fma(module: ir.Module, t: ir.Type) -> ir.Function:
    return intrinsic(module, f"llvm.fma.{_suffix(t)}", t, [t, t, t])


def fmuladd(module: ir.Module, t: ir.Type) -> ir.Function:
    """x*y + z, fused where the target has FMA (one rounding), else multiply then add."""
    return intrinsic(module, f"llvm.fmuladd.{_suffix(t)}", t, [t, t, t])


def fptoint_sat(module: ir.Module, signed: bool, result: ir.IntType, source: ir.Type) -> ir.Function:
    base = "fptosi" if signed else "fptoui"
    return intrinsic(module, f"llvm.{base}.sat.{_suffix(result)}.{_suffix(source)}", result, [source])


def int_unary(module: ir.Module, base: str, t: ir.IntType) -> ir.Function:
    return intrinsic(module, f"llvm.{base}.{_suffix(t)}", t, [t])


def stack_array_element(b: ir.IRBuilder, array: ir.Value, index: int) -> ir.Value:
    """Pointer to element ``index`` of an alloca'd array (llvmlite types allocas, so the GEP
    takes its element type from the alloca)."""
    return b.gep(array, [ir.Constant(I32, 0), ir.Constant(I32, index)], inbounds=True)
