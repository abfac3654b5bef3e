"""The interpreter, op by op, against hand-computed values (the corpus is tests/op_cases.py)."""

from __future__ import annotations

import numpy as np
import pytest

from jitflow.errors import InterpreterError, IRError, SourceLocation
from jitflow.ir import (OPS, DType, Module, TensorType, Trait, TupleType, evaluate, register_custom_call,
                        scalar, verify)
from jitflow.ir.types import type_of_value

import op_cases
from op_cases import CASES, OpCase

BUILT = {case.id: case.build() for case in CASES}


# ---------------------------------------------------------------------------
# comparing results

def _is_float(dtype: np.dtype) -> bool:
    return dtype.kind == "f" or dtype == DType.BF16.numpy


def assert_result(actual, expected, *, rtol: float = 0.0, atol: float = 0.0, where: str = "result"):
    if isinstance(expected, tuple):
        assert isinstance(actual, tuple), f"{where}: expected a tuple, got {type(actual).__name__}"
        assert len(actual) == len(expected), f"{where}: tuple of {len(actual)}, expected {len(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_result(a, e, rtol=rtol, atol=atol, where=f"{where}[{i}]")
        return
    assert isinstance(actual, (np.ndarray, np.generic)), f"{where}: not a NumPy value: {actual!r}"
    expected = np.asarray(expected)
    assert actual.dtype == expected.dtype, f"{where}: dtype {actual.dtype}, expected {expected.dtype}"
    assert actual.shape == expected.shape, f"{where}: shape {actual.shape}, expected {expected.shape}"
    if not _is_float(expected.dtype):
        np.testing.assert_array_equal(actual, expected, err_msg=where, strict=True)
        return
    a, e = np.asarray(actual).astype(np.float64), expected.astype(np.float64)
    np.testing.assert_array_equal(np.isnan(a), np.isnan(e), err_msg=f"{where}: NaN positions")
    finite = np.isfinite(e)
    np.testing.assert_array_equal(a[~finite & ~np.isnan(e)], e[~finite & ~np.isnan(e)],
                                  err_msg=f"{where}: infinities")
    if rtol == 0 and atol == 0:
        np.testing.assert_array_equal(a[finite], e[finite], err_msg=where)
    else:
        np.testing.assert_allclose(a[finite], e[finite], rtol=rtol, atol=atol, err_msg=where)
    zeros = e == 0
    np.testing.assert_array_equal(np.signbit(a[zeros]), np.signbit(e[zeros]),
                                  err_msg=f"{where}: sign of zero")


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_op_case(case: OpCase, custom_call_registry):
    module = BUILT[case.id]
    verify(module)
    if case.setup is not None:
        case.setup()
    if case.raises is not None:
        with pytest.raises(InterpreterError, match=case.raises):
            evaluate(module, *case.inputs)
        return
    result = evaluate(module, *case.inputs)
    assert type_of_value(_as_arrays(result)) == module.entry.result_type.without_layout()
    assert_result(result, case.expected, rtol=case.rtol, atol=case.atol)


def _as_arrays(value):
    return tuple(_as_arrays(v) for v in value) if isinstance(value, tuple) else np.asarray(value)


# ---------------------------------------------------------------------------
# the corpus covers what it must

def _array_types(t):
    if isinstance(t, TupleType):
        for e in t.elements:
            yield from _array_types(e)
    else:
        yield t


def _uses():
    """Every instruction of the corpus, its module, and the array types of its result and
    main (first) operand -- not of index or padding-value operands, which are scalars anyway."""
    for case in CASES:
        module = BUILT[case.id]
        for inst in module.instructions():
            types = [t for v in (inst, *inst.operands[:1]) for t in _array_types(v.type)]
            yield inst, module, types


def _has_non_default_layout(module: Module) -> bool:
    return any(t.layout is not None and t.layout != TensorType.default_layout(t.rank)
               for inst in module.instructions() for t in _array_types(inst.type))


def test_every_opcode_is_covered():
    used = {inst.opcode for inst, _, _ in _uses()}
    assert set(OPS) - used == set()


# Ops whose main operand and result cannot be rank 0: they need a dimension to act on.
NO_RANK_0 = {"concatenate", "dynamic-slice", "dynamic-update-slice", "iota"}


def test_every_opcode_meets_0d_size0_and_layouts():
    rank0, size0, laid_out = set(), set(), set()
    for inst, module, types in _uses():
        if any(t.rank == 0 for t in types):
            rank0.add(inst.opcode)
        if any(t.size == 0 for t in types):
            size0.add(inst.opcode)
        if _has_non_default_layout(module):
            laid_out.add(inst.opcode)
    assert set(OPS) - NO_RANK_0 - rank0 == set(), "ops without a 0-d case"
    assert set(OPS) - size0 == set(), "ops without a size-0 case"
    assert set(OPS) - laid_out == set(), "ops without a non-default layout case"


def _accepts(opcode: str, dtype: DType) -> bool:
    """Whether the op table builds ``opcode`` on operands of ``dtype``.

    A rejected type is an ``IRError``; any other exception is a broken shape rule and
    fails the test instead of dropping the pair out of the coverage check."""
    module = Module("probe")
    b = module.builder("main", entry=True)
    x = b.parameter(TensorType(dtype, (2,)))
    try:
        if opcode == "select":
            b.select(b.parameter(TensorType(DType.PRED, (2,))), x, x)
        elif opcode == "compare":
            b.compare(x, x, direction="EQ")
        elif opcode == "convert":
            b.convert(x, dtype=DType.F32)
        else:
            b.emit(opcode, *[x] * OPS[opcode].arity[0])
    except IRError:
        return False
    return True


ELEMENTWISE = sorted(op for op, d in OPS.items() if d.has(Trait.ELEMENTWISE))
# Structural ops and the element types they must be tested with.
NON_PRED = [d for d in DType if d is not DType.PRED]
STRUCTURAL_DTYPES = {
    **{op: list(DType) for op in ["parameter", "constant", "broadcast", "reshape", "transpose", "slice",
                                  "dynamic-slice", "dynamic-update-slice", "concatenate", "pad",
                                  "reverse", "tuple", "get-tuple-element", "reduce"]},
    "iota": NON_PRED, "dot": NON_PRED, "bitcast-convert": NON_PRED,
}


def test_every_accepted_dtype_is_covered():
    covered = set()
    for inst, _, _ in _uses():
        operands = [t for o in inst.operands for t in _array_types(o.type)]
        first = operands[-1] if inst.opcode == "select" else operands[0] if operands else None
        for t in ([first] if first is not None else []) + list(_array_types(inst.type)):
            covered.add((inst.opcode, t.dtype))
    missing = [(op, str(d)) for op in ELEMENTWISE for d in DType
               if _accepts(op, d) and (op, d) not in covered]
    missing += [(op, str(d)) for op, dtypes in STRUCTURAL_DTYPES.items() for d in dtypes
                if (op, d) not in covered]
    assert missing == []


def test_convert_covers_every_pair():
    pairs = {(inst.operands[0].type.dtype, inst.type.dtype)
             for inst, _, _ in _uses() if inst.opcode == "convert"}
    assert pairs == {(a, b) for a in DType for b in DType}


def test_all_case_modules_are_fresh_and_named():
    first, second = op_cases.all_case_modules(), op_cases.all_case_modules()
    assert [name for name, _ in first] == [case.id for case in CASES]
    assert all(a is not b for (_, a), (_, b) in zip(first, second))
    assert len({module.name for _, module in first}) == len(first)


# ---------------------------------------------------------------------------
# interpreter errors name what went wrong

def _two_parameter_module() -> Module:
    module = Module("errors")
    b = module.builder("main", entry=True)
    x = b.parameter(TensorType(DType.F32, (2, 3)), name="x")
    y = b.parameter(scalar(DType.S32), name="y")
    b.set_root(b.add(x, b.broadcast(b.convert(y, dtype=DType.F32), shape=(2, 3), dimensions=())))
    verify(module)
    return module


def test_wrong_argument_count():
    module = _two_parameter_module()
    with pytest.raises(InterpreterError, match=r"computation 'main' takes 2 argument\(s\), got 1"):
        evaluate(module, np.zeros((2, 3), np.float32))
    with pytest.raises(InterpreterError, match=r"takes 2 argument\(s\), got 3"):
        evaluate(module, np.zeros((2, 3), np.float32), np.int32(1), np.int32(2))


def test_wrong_argument_dtype_names_the_parameter():
    module = _two_parameter_module()
    with pytest.raises(InterpreterError) as raised:
        evaluate(module, np.zeros((2, 3), np.float64), np.int32(1))
    message = str(raised.value)
    assert "argument 0 (%x)" in message and "f32[2,3]" in message and "f64[2,3]" in message


def test_wrong_argument_shape_names_the_parameter():
    module = _two_parameter_module()
    with pytest.raises(InterpreterError, match=r"argument 0 \(%x\) must be f32\[2,3\], got f32\[3,2\]"):
        evaluate(module, np.zeros((3, 2), np.float32), np.int32(1))
    with pytest.raises(InterpreterError, match=r"argument 1 \(%y\) must be s32\[\], got s32\[1\]"):
        evaluate(module, np.zeros((2, 3), np.float32), np.array([1], np.int32))


def test_python_scalars_are_not_silently_cast():
    module = _two_parameter_module()
    with pytest.raises(InterpreterError, match=r"argument 1 \(%y\) must be s32\[\], got (s64|f64)\[\]"):
        evaluate(module, np.zeros((2, 3), np.float32), 1.0)


def test_unsupported_argument_dtype():
    module = _two_parameter_module()
    with pytest.raises(InterpreterError, match=r"argument 0 \(%x\) has unsupported dtype complex64"):
        evaluate(module, np.zeros((2, 3), np.complex64), np.int32(1))


def test_tuple_parameter_mismatch():
    module = Module("errors")
    b = module.builder("main", entry=True)
    t = b.parameter(TupleType((scalar(DType.F32), TensorType(DType.S32, (2,)))), name="state")
    b.set_root(b.get_tuple_element(t, index=0))
    with pytest.raises(InterpreterError, match=r"argument 0 \(%state\) must be a tuple matching"):
        evaluate(module, np.float32(1))
    with pytest.raises(InterpreterError, match=r"argument 0 \(%state\)\[1\] must be s32\[2\], got s32\[3\]"):
        evaluate(module, (np.float32(1), np.zeros(3, np.int32)))


def _custom_call_module(target: str) -> Module:
    module = Module("errors")
    b = module.builder("main", entry=True)
    x = b.parameter(TensorType(DType.F32, (2,)), name="x")
    with b.at(SourceLocation("model.py", 12, "loss")):
        call = b.custom_call(x, type=TensorType(DType.F32, (2,)), custom_call_target=target,
                             name="library_call")
    b.set_root(b.negate(call))
    verify(module)
    return module


@pytest.mark.parametrize("exception", [ValueError, RuntimeError, KeyError])
def test_failing_custom_call_names_the_instruction(custom_call_registry, exception):
    def broken(x, *, result_type, backend_config):
        raise exception("the library refused")

    register_custom_call("jitflow_test.broken", broken)
    with pytest.raises(InterpreterError) as raised:
        evaluate(_custom_call_module("jitflow_test.broken"), np.zeros(2, np.float32))
    message = str(raised.value)
    assert "%library_call = f32[2] custom-call in computation 'main'" in message
    assert "model.py:12 (in loss)" in message
    assert f"custom-call target 'jitflow_test.broken' failed: {exception.__name__}:" in message
    assert "the library refused" in message
    cause = raised.value.__cause__
    assert isinstance(cause, IRError) and isinstance(cause.__cause__, exception)


def test_unknown_custom_call_target_names_the_instruction(custom_call_registry):
    register_custom_call("jitflow_test.known", lambda x, **kw: x)
    with pytest.raises(InterpreterError) as raised:
        evaluate(_custom_call_module("jitflow_test.missing"), np.zeros(2, np.float32))
    message = str(raised.value)
    assert "%library_call" in message and "model.py:12" in message
    assert "no implementation of custom-call target 'jitflow_test.missing'" in message
    assert "jitflow_test.known" in message  # the known targets are listed


def test_errors_inside_called_computations_name_that_computation(custom_call_registry):
    def broken(x, *, result_type, backend_config):
        raise ValueError("nope")

    register_custom_call("jitflow_test.broken", broken)
    module = Module("errors")
    inner = module.builder("inner")
    p = inner.parameter(scalar(DType.F32))
    inner.set_root(inner.custom_call(p, type=scalar(DType.F32), custom_call_target="jitflow_test.broken",
                                     name="deep"))
    b = module.builder("main", entry=True)
    b.set_root(b.call(b.parameter(scalar(DType.F32)), called=[inner.computation]))
    with pytest.raises(InterpreterError, match=r"%deep = f32\[\] custom-call in computation 'inner'"):
        evaluate(module, np.float32(1))
