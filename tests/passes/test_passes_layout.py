"""The ``layout`` pass and the CPU backend honoring layouts.

* Postconditions on the whole op corpus: every array value has a layout, entry
  parameters and root leaves are row-major, transposes made free are exactly the
  permuted layouts of their operands.
* Compiled programs with free transposes (elementwise readers, reductions, reshapes,
  fusions, BLAS operands read through transpose flags) agree with NumPy and the
  interpreter, and need fewer kernels than without the pass.
* Buffers in non-row-major layouts that the pass would never make (written by hand)
  still run right: kernels store and load through layout strides, and copies
  between layouts go through a kernel instead of memcpy.
"""

from __future__ import annotations

import numpy as np
import pytest

import op_cases
from codegen_util import check_against_interpreter
from jitflow import jit, runtime
from jitflow.codegen.cpu.kernels import blas_layout
from jitflow.codegen.cpu.layouts import element_strides, same_storage, transpose_is_bitcast
from jitflow.ir import DType, TensorType, TupleType, evaluate, parse_module
from jitflow.passes import PassManager
from jitflow.passes.layout import missing_layouts, transposed_layout

from passes_util import run_passes

RNG = np.random.default_rng(7)


def f32(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def _leaves(t):
    return [leaf for e in t.elements for leaf in _leaves(e)] if isinstance(t, TupleType) else [t]


def _is_row_major(t: TensorType) -> bool:
    return t.layout == TensorType.default_layout(t.rank)


def test_layout_postconditions_on_the_corpus():
    for case in op_cases.CASES:
        module = case.build()
        PassManager("fuse,layout", verify=True).run(module)
        assert missing_layouts(module) == [], case.id
        entry = module.entry
        for param in entry.parameters:
            assert all(_is_row_major(t) for t in _leaves(param.type)), f"{case.id}: %{param.name}"
        for computation in module.computations.values():
            assert all(_is_row_major(t) for t in _leaves(computation.root.type)), case.id
            for inst in computation.instructions:
                if inst.opcode == "transpose" and not _is_row_major(inst.type):
                    operand = inst.operands[0].type
                    assert inst.type.layout == transposed_layout(operand.layout, inst.attrs["dimensions"])


def test_transposed_layout_is_a_bitcast():
    operand = TensorType(DType.F32, (2, 3, 4), (2, 1, 0))
    for permutation in [(1, 0, 2), (2, 0, 1), (0, 2, 1), (2, 1, 0)]:
        shape = tuple(operand.shape[d] for d in permutation)
        result = TensorType(DType.F32, shape, transposed_layout(operand.layout, permutation))
        assert transpose_is_bitcast(operand, result, permutation)
        assert not transpose_is_bitcast(operand, TensorType(DType.F32, shape), permutation)
    assert element_strides(TensorType(DType.F32, (2, 3), (0, 1))) == [1, 2]
    assert same_storage(TensorType(DType.F32, (1, 3), (0, 1)), TensorType(DType.F32, (1, 3), (1, 0)))


def test_blas_reads_column_major_operands_with_transpose_flags():
    module = parse_module("""
HloModule m
ENTRY %e (a: f32[8,16], b: f32[16,4]) -> f32[8,4] {
  %a = f32[8,16] parameter(0)
  %b = f32[16,4] parameter(1)
  ROOT %d = f32[8,4] dot(%a, %b), lhs_contracting_dims={1}, rhs_contracting_dims={0}
}""")
    dot = module.entry.root
    row, col = (1, 0), (0, 1)
    a, b = dot.operands[0].type, dot.operands[1].type
    assert blas_layout(dot) == (False, False)
    assert blas_layout(dot, a.with_layout(col), b.with_layout(row)) == (True, False)
    assert blas_layout(dot, a.with_layout(row), b.with_layout(col)) == (False, True)
    assert blas_layout(dot, a.with_layout(col), b.with_layout(col)) == (True, True)


# -- compiled programs: NumPy, the interpreter and the CPU backend agree ------------------

def transposes_into_elementwise(x, y):
    return np.exp(x.T) * y + np.tanh(x).T


def reduce_and_reshape_of_transpose(x):
    t = np.transpose(x, (2, 0, 1))
    return t.sum(axis=1) + t.reshape(t.shape[0], -1)[:, :5].max()


def dot_with_transposed_operands(x, w, v):
    return (x.T @ w.T) @ v + 1.0


def batched_dot_of_transposes(a, b):
    return np.matmul(np.transpose(a, (0, 2, 1)), np.transpose(b, (0, 2, 1)))


def transpose_of_transpose(x):
    return np.negative(x.T.T) + np.transpose(np.transpose(x, (1, 0)), (1, 0)).sum()


PROGRAMS = [
    (transposes_into_elementwise, (f32(33, 17), f32(17, 33))),
    (reduce_and_reshape_of_transpose, (f32(4, 6, 5),)),
    (dot_with_transposed_operands, (f32(40, 24), f32(32, 40), f32(32, 8))),
    (batched_dot_of_transposes, (f32(3, 24, 20), f32(3, 28, 24))),
    (transpose_of_transpose, (f32(7, 9),)),
]


@pytest.mark.parametrize("fn, args", PROGRAMS, ids=[p[0].__name__ for p in PROGRAMS])
@pytest.mark.parametrize("pipeline", ["simplify,cse,dce,layout,buffers",
                                      "simplify,cse,dce,fuse,layout,buffers"])
def test_free_transposes_run_right(fn, args, pipeline):
    jitted = jit(fn, passes=pipeline)
    module = jitted.lower(*args)
    expected = fn(*args)
    np.testing.assert_allclose(np.asarray(evaluate(module, *args)), expected, rtol=2e-5, atol=1e-5)
    np.testing.assert_allclose(jitted(*args), expected, rtol=2e-5, atol=1e-5)


def test_free_transposes_save_kernels():
    x, w, v = f32(40, 24), f32(32, 40), f32(32, 8)
    with_layout = jit(dot_with_transposed_operands, passes="simplify,cse,dce,layout,buffers")
    without = jit(dot_with_transposed_operands, passes="simplify,cse,dce")
    module = with_layout.lower(x, w, v)
    free = [i for i in module.entry.instructions
            if i.opcode == "transpose" and not _is_row_major(i.type)]
    assert len(free) == 2  # both dot operands are read in place with transpose flags
    assert (with_layout.compile(x, w, v).stats["kernel_count"]
            < without.compile(x, w, v).stats["kernel_count"])


# -- layouts written by hand: the backend honors whatever the IR says ---------------------

HAND_LAYOUTS = """
HloModule hand

%body (s: (s32[], f32[3,4]{0,1})) -> (s32[], f32[3,4]{0,1}) {
  %s = (s32[], f32[3,4]{0,1}) parameter(0)
  %i = s32[] get-tuple-element(%s), index=0
  %one = s32[] constant(1)
  %next = s32[] add(%i, %one)
  %v = f32[3,4]{0,1} get-tuple-element(%s), index=1
  %twice = f32[3,4]{0,1} add(%v, %v)
  ROOT %t = (s32[], f32[3,4]{0,1}) tuple(%next, %twice)
}

%cond (c: (s32[], f32[3,4]{0,1})) -> pred[] {
  %c = (s32[], f32[3,4]{0,1}) parameter(0)
  %k = s32[] get-tuple-element(%c), index=0
  %three = s32[] constant(3)
  ROOT %lt = pred[] compare(%k, %three), direction=LT
}

ENTRY %main (x: f32[4,3], w: f32[4,5]) -> (f32[3,4], f32[3,5], f32[4,3]) {
  %x = f32[4,3] parameter(0)
  %w = f32[4,5] parameter(1)
  %col = f32[3,4]{0,1} transpose(%x), dimensions={1,0}
  %e = f32[3,4]{0,1} exponential(%col)
  %zero = s32[] constant(0)
  %init = (s32[], f32[3,4]{0,1}) tuple(%zero, %e)
  %loop = (s32[], f32[3,4]{0,1}) while(%init), condition=%cond, body=%body
  %r = f32[3,4]{0,1} get-tuple-element(%loop), index=1
  %d = f32[3,5]{0,1} dot(%e, %w), lhs_contracting_dims={1}, rhs_contracting_dims={0}
  %lit = f32[4,3]{0,1} constant({{1,2,3},{4,5,6},{7,8,9},{10,11,12}})
  %sum = f32[4,3]{1,0} add(%lit, %x)
  ROOT %out = (f32[3,4], f32[3,5], f32[4,3]) tuple(%r, %d, %sum)
}
"""


@pytest.mark.parametrize("pipeline", ["", "buffers", "layout,buffers"])
def test_hand_written_layouts_run_right(pipeline):
    module = run_passes(HAND_LAYOUTS, pipeline) if pipeline else parse_module(HAND_LAYOUTS)
    x = f32(4, 3)
    w = f32(4, 5)
    actual = check_against_interpreter(module, x, w)
    np.testing.assert_allclose(actual[0], np.exp(x.T) * 8, rtol=1e-5)
    np.testing.assert_allclose(actual[1], np.exp(x.T) @ w, rtol=1e-5)


def test_big_dot_with_column_major_result_and_operands():
    module = parse_module("""
HloModule m
ENTRY %e (a: f32[64,48], b: f32[64,32]) -> f32[48,32] {
  %a = f32[64,48] parameter(0)
  %b = f32[64,32] parameter(1)
  %at = f32[48,64]{0,1} transpose(%a), dimensions={1,0}
  %d = f32[48,32]{0,1} dot(%at, %b), lhs_contracting_dims={1}, rhs_contracting_dims={0}
  ROOT %n = f32[48,32] negate(%d)
}""")
    a, b = f32(64, 48), f32(64, 32)
    executable = runtime.compile(module)
    assert executable.stats["uses_blas"]
    np.testing.assert_allclose(executable(a, b), -(a.T @ b), rtol=1e-4, atol=1e-4)


BATCH_NOT_MAJOR = """
HloModule einsum
ENTRY %main (x: f32[16,4,32], y: f32[4,32,24]) -> f32[4,16,24] {
  %x = f32[16,4,32] parameter(0)
  %y = f32[4,32,24] parameter(1)
  %ex = f32[16,4,32] exponential(%x)
  %ty = f32[4,24,32] transpose(%y), dimensions={0,2,1}
  %ny = f32[4,24,32] negate(%ty)
  ROOT %d = f32[4,16,24] dot(%ex, %ny), lhs_batch_dims={1}, lhs_contracting_dims={2}, rhs_batch_dims={0}, rhs_contracting_dims={2}
}
"""


def test_dot_operands_stored_as_blas_matrices_need_no_copies():
    x, y = f32(16, 4, 32), f32(4, 32, 24)
    expected = np.einsum("mbk,bkn->bmn", np.exp(x), -y)
    laid_out = run_passes(BATCH_NOT_MAJOR, "layout,buffers")
    assert laid_out.entry.get("ex").type.layout == (2, 0, 1)
    executable = runtime.compile(laid_out)
    np.testing.assert_allclose(executable(x, y), expected, rtol=1e-4, atol=1e-4)
    check_against_interpreter(laid_out, x, y)
    # Without layouts the dot copies both operands into matrix order first.
    plain = runtime.compile(parse_module(BATCH_NOT_MAJOR))
    np.testing.assert_allclose(plain(x, y), expected, rtol=1e-4, atol=1e-4)
    assert executable.stats["kernel_count"] < plain.stats["kernel_count"]
