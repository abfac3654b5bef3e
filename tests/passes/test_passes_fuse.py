"""The ``fuse`` pass and fused kernels on the CPU.

What fusion decides (which instructions share a fusion) is checked by FileCheck
tests (``filecheck/passes/fuse_*.hlo``); here: fused programs compute what the
interpreter computes on the unfused program (the op corpus, random programs,
NumPy functions on odd shapes), kernel counts, options, and the cost rules that
keep a reduction from being recomputed per element.
"""

from __future__ import annotations

import numpy as np
import pytest

import jitflow
from jitflow.errors import JitflowError
from jitflow.ir import (Builder, DType, Module, TensorType, build_scalar_computation, evaluate,
                        parse_module, print_module, verify)
from jitflow.passes import PassManager, PipelineError, build_pipeline
from jitflow.ir.analysis.rows import row_broadcasts, row_reused_values
from jitflow.passes.fuse import Fuse

import op_cases
from codegen_util import check_against_interpreter

F32 = DType.F32


def fused(module: Module, pipeline: str = "fuse") -> Module:
    PassManager(pipeline, verify=True).run(module)
    return module


def fusions(module: Module) -> list:
    return [inst for inst in module.instructions() if inst.opcode == "fusion"]


def fused_opcodes(fusion) -> list[str]:
    return [inst.opcode for inst in fusion.called[0].instructions if inst.opcode != "parameter"]


def counted_ops(fusion) -> int:
    """What ``max-ops`` bounds: fused instructions but copied constants, broadcasts, iotas."""
    copied = ("constant", "broadcast", "iota", "tuple")
    return sum(1 for op in fused_opcodes(fusion) if op not in copied)


# -- the op corpus, fused, on the CPU ------------------------------------------------------------

# Every op of the corpus inside a fusion (min-ops=1 fuses even a lone op with its constants):
# all programs the default options fuse, and every SAMPLE-th of the others, for time.
SAMPLE = 5


def _corpus_cases_with_fusions() -> tuple[list, int]:
    found, by_default = [], 0
    for number, case in enumerate(op_cases.CASES):
        if case.raises is not None or case.setup is not None or case.id.endswith("@colmajor"):
            continue
        module = case.build()
        if any(inst.opcode == "custom-call" for inst in module.instructions()):
            continue
        fused_by_default = Fuse().run(case.build())
        by_default += fused_by_default
        if Fuse(min_ops=1).run(module) and (fused_by_default or number % SAMPLE == 0):
            found.append(case)
    return found, by_default


FUSED_CASES, FUSED_BY_DEFAULT = _corpus_cases_with_fusions()


def test_the_corpus_has_programs_that_fuse():
    assert FUSED_BY_DEFAULT >= 1 and len(FUSED_CASES) >= 150


@pytest.mark.parametrize("case", FUSED_CASES, ids=lambda case: case.id)
def test_fused_corpus_programs_compile_to_the_interpreters_results(case):
    # The interpreter gives the fused program the unfused one's results (test_passes_corpus).
    check_against_interpreter(fused(case.build(), "fuse{min-ops=1}"), *case.inputs,
                              rtol=max(case.rtol, 1e-6 if case.rtol else 0.0))


# -- NumPy functions under jit ---------------------------------------------------------------------

def softmax(x):
    m = np.max(x, axis=-1, keepdims=True)
    e = np.exp(x - m)
    return e / np.sum(e, axis=-1, keepdims=True)


def layernorm(x, gamma, beta):
    mean = np.mean(x, axis=-1, keepdims=True)
    xc = x - mean
    var = np.mean(xc * xc, axis=-1, keepdims=True)
    return xc / np.sqrt(var + 1e-5) * gamma + beta


def gelu(x):
    return 0.5 * x * (1 + np.tanh(0.7978845608 * (x + 0.044715 * x * x * x)))


def mlp(x, w, b):
    return np.maximum(x @ w + b, 0)


def moments(x):
    return np.sum(x, axis=-1), np.max(x, axis=-1), np.sum(x * x, axis=-1)


SHAPES = [(1,), (1, 1), (3, 17), (4096, 5), (2, 3, 7), (5, 0), (0, 4)]


def _sample(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _kernels(fn, *args) -> int:
    return jitflow.jit(fn).compile(*args).stats["kernel_count"]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_row_softmax_and_layernorm_are_one_kernel_and_right(shape):
    x = _sample(shape)
    gamma, beta = _sample(shape[-1:], 1), _sample(shape[-1:], 2)
    with np.errstate(all="ignore"):
        if shape[-1]:
            np.testing.assert_allclose(jitflow.jit(softmax)(x), softmax(x), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(jitflow.jit(layernorm)(x, gamma, beta), layernorm(x, gamma, beta),
                                   rtol=1e-4, atol=1e-5)
    if x.size:
        assert _kernels(layernorm, x, gamma, beta) == 1
        assert _kernels(softmax, x) == 1


@pytest.mark.parametrize("shape", [(), (0,), (1,), (3, 17), (1 << 16,)], ids=str)
def test_gelu_is_one_kernel(shape):
    x = _sample(shape)
    np.testing.assert_allclose(jitflow.jit(gelu)(x), gelu(x), rtol=1e-5, atol=1e-6)
    assert _kernels(gelu, x) == (1 if x.size else 0)


@pytest.mark.parametrize("n", [1, 5, 64])
def test_dot_epilogue_is_one_kernel_after_the_dot(n):
    x, w, b = _sample((n, 33)), _sample((33, n), 1), _sample((n,), 2)
    np.testing.assert_allclose(jitflow.jit(mlp)(x, w, b), mlp(x, w, b), rtol=1e-5, atol=1e-5)
    lowered = jitflow.jit(mlp).lower(x, w, b)
    entry_ops = [inst.opcode for inst in lowered.entry.instructions]
    assert entry_ops.count("dot") == 1 and entry_ops.count("fusion") == 1
    (epilogue,) = fusions(lowered)
    assert "maximum" in fused_opcodes(epilogue) and "add" in fused_opcodes(epilogue)


@pytest.mark.parametrize("shape", [(1, 1), (3, 17), (64, 300)], ids=str)
def test_sibling_reductions_are_one_kernel(shape):
    x = _sample(shape)
    got = jitflow.jit(moments)(x)
    for a, e in zip(got, moments(x)):
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-5)
    assert _kernels(moments, x) == 1
    (fusion,) = fusions(jitflow.jit(moments).lower(x))
    assert fusion.called[0].root.opcode == "tuple"


def test_thirty_ops_compile_as_one_kernel():
    def chain(x, y):
        for k in range(6):
            x = np.tanh(x * 0.5 + y) - np.sum(y, axis=-1, keepdims=True) / (k + 1)
        return x

    x, y = _sample((64, 32)), _sample((64, 32), 1)
    expected = chain(x.astype(np.float64), y.astype(np.float64))
    np.testing.assert_allclose(jitflow.jit(chain)(x, y), expected, rtol=1e-4, atol=1e-4)
    assert len(jitflow.jit(chain).lower(x, y).entry.instructions) == 3  # x, y, one fusion
    assert _kernels(chain, x, y) == 1


def test_fusion_in_a_while_body_compiles():
    def loop(x):
        i = 0
        while i < 5:
            x = np.cos(x * 0.5) + x
            i += 1
        return x

    x = _sample((37,))
    body = [c for c in jitflow.jit(loop).lower(x).computations.values() if c.name.startswith("fused")]
    assert body, "the loop body was not fused"
    expected = x
    for _ in range(5):
        expected = np.cos(expected * np.float32(0.5)) + expected
    np.testing.assert_allclose(jitflow.jit(loop)(x), expected, rtol=1e-5, atol=1e-6)


# -- cost rules ------------------------------------------------------------------------------------

COLUMN_NORMALIZE = """
HloModule columns

%add (a: f32[], b: f32[]) -> f32[] {
  %a = f32[] parameter(0)
  %b = f32[] parameter(1)
  ROOT %s = f32[] add(%a, %b)
}

ENTRY %main (x: f32[64,48]) -> f32[64,48] {
  %x = f32[64,48] parameter(0)
  %zero = f32[] constant(0)
  %colsum = f32[48] reduce(%x, %zero), dimensions={0}, to_apply=%add
  %bc = f32[64,48] broadcast(%colsum), dimensions={1}
  %ratio = f32[64,48] divide(%x, %bc)
  ROOT %y = f32[64,48] multiply(%ratio, %ratio)
}
"""


def test_a_reduction_read_per_element_is_not_fused_into_its_consumer():
    # The column sums vary along the minor dimension: fused, each would be recomputed
    # for every element (64x the work); they stay a kernel of their own, and the
    # elementwise consumer (with the broadcast) is one loop fusion reading them.
    module = fused(parse_module(COLUMN_NORMALIZE))
    (consumer,) = fusions(module)
    assert consumer.attrs["kind"] == "kLoop"
    assert sorted(fused_opcodes(consumer)) == ["broadcast", "divide", "multiply"]
    column_sums = [inst for inst in module.entry.instructions if inst.opcode == "reduce"]
    assert len(column_sums) == 1 and column_sums[0] in consumer.operands
    x = _sample((64, 48))
    check_against_interpreter(module, x, rtol=1e-5)


def test_an_expensive_producer_under_a_broadcast_is_not_fused():
    def f(x, v):
        return x * np.exp(v)  # exp(v) broadcast along rows: computed once, not per row

    x, v = _sample((16, 8)), _sample((8,), 1)
    lowered = jitflow.jit(f).lower(x, v)
    assert "exponential" in [inst.opcode for inst in lowered.entry.instructions]
    np.testing.assert_allclose(jitflow.jit(f)(x, v), f(x, v), rtol=1e-5)


# -- options ---------------------------------------------------------------------------------------

def test_max_ops_bounds_every_fusion():
    x = _sample((8, 16))
    for limit in (2, 3, 5):
        module = jitflow.jit(layernorm, passes=f"simplify,cse,dce,fuse{{max-ops={limit}}}").lower(
            x, x[0], x[0])
        assert fusions(module) and all(counted_ops(f) <= limit for f in fusions(module))
        np.testing.assert_allclose(
            jitflow.jit(layernorm, passes=f"fuse{{max-ops={limit}}}")(x, x[0], x[0]),
            layernorm(x, x[0], x[0]), rtol=1e-4, atol=1e-5)


def test_multi_output_can_be_turned_off():
    x = _sample((8, 16))
    module = jitflow.jit(moments, passes="simplify,cse,dce,fuse{multi-output=false}").lower(x)
    assert all(f.called[0].root.opcode != "tuple" for f in fusions(module))
    text = "fuse{max-ops=8,multi-output=false}"
    assert str(build_pipeline(text)[0]) == text


def test_bad_options_are_pipeline_errors():
    with pytest.raises(PipelineError, match="option 'max-ops' of pass 'fuse' must be at least 2, got 1"):
        build_pipeline("fuse{max-ops=1}")
    with pytest.raises(PipelineError, match="option 'min-ops' of pass 'fuse' must be between 1 and max-ops"):
        build_pipeline("fuse{max-ops=4,min-ops=5}")
    with pytest.raises(PipelineError, match="pass 'fuse' has no option 'max-size'"):
        build_pipeline("fuse{max-size=3}")
    assert issubclass(PipelineError, JitflowError)


# -- random programs: no cycles, same results --------------------------------------------------------

UNARY = ("negate", "exponential", "tanh", "abs")
BINARY = ("add", "multiply", "subtract", "maximum")


def random_program(seed: int) -> tuple[Module, list]:
    """Rows of (8, 6) values mixing elementwise ops, row and column reductions broadcast back,
    and matrix products (never fused) in random dataflow shapes; several outputs."""
    rng = np.random.default_rng(seed)
    module = Module(f"random{seed}")
    b = Builder(module.add_computation("main", entry=True))
    add = build_scalar_computation(module, "add", "add", F32)
    t = TensorType(F32, (8, 6))
    values = [b.parameter(t), b.parameter(t)]
    square = b.parameter(TensorType(F32, (6, 6)))
    for _ in range(int(rng.integers(4, 14))):
        pick = lambda: values[int(rng.integers(len(values)))]  # noqa: E731
        kind = rng.integers(5)
        if kind == 0:
            values.append(b.emit(str(rng.choice(UNARY)), pick()))
        elif kind == 1:
            values.append(b.emit(str(rng.choice(BINARY)), pick(), pick()))
        elif kind == 2:
            axis = int(rng.integers(2))
            reduced = b.reduce(pick(), b.constant(np.float32(0)), dimensions=(axis,), called=[add])
            values.append(b.broadcast(reduced, shape=(8, 6), dimensions=(1 - axis,)))
        elif kind == 3:
            values.append(b.dot(pick(), square, lhs_contracting_dims=(1,), rhs_contracting_dims=(0,)))
        else:
            values.append(b.emit("tanh", b.emit("add", pick(), values[-1])))
    outputs = [values[-1]] + [values[int(k)] for k in rng.integers(2, len(values), size=2)]
    b.set_root(b.tuple(*outputs))
    inputs = [_sample((8, 6), seed) * 0.5, _sample((8, 6), seed + 1) * 0.5,
              _sample((6, 6), seed + 2) * 0.3]
    return module, inputs


@pytest.mark.parametrize("seed", range(40))
def test_random_programs_fuse_without_cycles_and_keep_results(seed):
    module, inputs = random_program(seed)
    expected = evaluate(module, *inputs)
    fused(module)  # the verifier checks define-before-use after the pass
    verify(module)
    actual = evaluate(module, *inputs)
    for a, e in zip(actual, expected):
        np.testing.assert_array_equal(a, e)
    text = print_module(module)
    assert print_module(parse_module(text)) == text  # fusions print and parse back
    if seed % 4 == 0:  # compiling costs more: a quarter of them on the CPU
        check_against_interpreter(module, *inputs, rtol=1e-5)


@pytest.mark.parametrize("n", [1, 7, 33])
def test_a_row_reduction_read_from_another_row_is_not_hoisted(n):
    # Through the transpose, output row i reads softmax row j for every j: the row max and
    # sum of the current row would be the wrong values there.
    def transposed_softmax(x):
        return softmax(x).T + 1

    x = _sample((n, n))
    np.testing.assert_allclose(jitflow.jit(transposed_softmax)(x), transposed_softmax(x),
                               rtol=1e-5, atol=1e-6)


def test_row_broadcasts_are_those_read_only_at_the_current_row():
    x = _sample((6, 10))
    (fusion,) = fusions(jitflow.jit(softmax).lower(x))
    body = fusion.called[0].instructions
    hoisted = row_broadcasts(body, (6, 10))
    assert [inst.opcode for inst in hoisted] == ["broadcast", "broadcast"]
    assert all(inst.operands[0].type.shape in ((6,), (6, 1)) for inst in hoisted)
    # The same body read through a transpose (another row per output row): none may be hoisted.
    module = Module("transposed")
    b = Builder(module.add_computation("main", entry=True))
    add = build_scalar_computation(module, "add", "add", F32)
    p = b.parameter(TensorType(F32, (6, 6)))
    total = b.reduce(p, b.constant(np.float32(0)), dimensions=(1,), called=[add])
    row = b.broadcast(total, shape=(6, 6), dimensions=(0,))
    scaled = b.divide(p, row)
    b.set_root(b.transpose(scaled, dimensions=(1, 0)))
    assert row_broadcasts(module.entry.instructions, (6, 6)) == []
    b2 = Builder(module.add_computation("direct"))
    q = b2.parameter(TensorType(F32, (6, 6)))
    total2 = b2.reduce(q, b2.constant(np.float32(0)), dimensions=(1,), called=[add])
    row2 = b2.broadcast(total2, shape=(6, 6), dimensions=(0,))
    b2.set_root(b2.divide(q, row2))
    assert row_broadcasts(b2.computation.instructions, (6, 6)) == [row2]


def test_vectorized_float_max_and_min_reductions_propagate_nan():
    def extremes(x):
        return np.max(x, axis=-1), np.min(x, axis=-1), np.max(x)

    x = _sample((6, 1000))
    x[1, 517] = np.nan
    x[4, 0] = np.nan
    x[5, :] = -np.inf
    got = jitflow.jit(extremes)(x)
    for a, e in zip(got, extremes(x)):
        np.testing.assert_array_equal(a, e)


def test_fusion_in_conditional_branches_compiles():
    def branchy(x):
        if np.sum(x) > 0:
            y = np.tanh(x) * 2 + 1
        else:
            y = np.exp(-x) - 1
        return y

    lowered = jitflow.jit(branchy).lower(_sample((9, 4)))
    conditional = [i for i in lowered.instructions() if i.opcode == "conditional"]
    assert conditional and all(any(inst.opcode == "fusion" for inst in branch.instructions)
                               for branch in conditional[0].called)
    for x in (_sample((9, 4)), -np.abs(_sample((9, 4))), np.abs(_sample((9, 4)))):
        np.testing.assert_allclose(jitflow.jit(branchy)(x), branchy(x), rtol=1e-5, atol=1e-6)


def test_softmax_keeps_its_exponentials_for_the_row():
    x = _sample((6, 10))
    (fusion,) = fusions(jitflow.jit(softmax).lower(x))
    body = fusion.called[0].instructions
    per_row = row_broadcasts(body, (6, 10))
    assert [inst.opcode for inst in row_reused_values(body, (6, 10), per_row)] == ["exponential"]
    # Rows longer than the stack row buffer recompute instead: both paths agree with NumPy.
    for shape in [(3, 1000), (2, 20000)]:
        x = _sample(shape) * 4
        np.testing.assert_allclose(jitflow.jit(softmax)(x), softmax(x), rtol=1e-5, atol=1e-7)


def test_fusions_are_bounded_in_depth_whatever_max_ops_allows():
    """An elementwise chain 250 deep in one fusion overflowed Python's recursion in the
    elemental emitter (RecursionError from internals) under fuse{max-ops=4096}."""
    from jitflow.passes.fuse import MAX_FUSION_DEPTH  # noqa: PLC0415

    def chain(x):
        for i in range(3 * MAX_FUSION_DEPTH):
            x = x + np.float32(0.001) if i % 2 else x * np.float32(1.0001)
        return x

    x = np.linspace(-1, 1, 48, dtype=np.float32).reshape(6, 8)
    jitted = jitflow.jit(chain, passes="simplify,cse,dce,fuse{max-ops=4096},layout,buffers")
    np.testing.assert_allclose(jitted(x), chain(x), rtol=1e-5)
    fusions = [i for i in jitted.lower(x).entry.instructions if i.opcode == "fusion"]
    assert len(fusions) >= 3
    for fusion in fusions:
        depth: dict = {}
        for inst in fusion.called[0].instructions:  # in order: operands first
            depth[inst] = 1 + max((depth[o] for o in inst.operands), default=-1)
        assert max(depth.values()) <= MAX_FUSION_DEPTH + 1


@pytest.mark.parametrize("leaves", [2, 7, 333])
def test_a_wide_tree_of_row_slices_is_a_few_kernels_and_right(leaves):
    """Row slices read by several leaves each, summed as a tree (bench/compile_scaling.py's
    wide tree): the small slices are read through, not stored, and the small subtrees left
    when the root's fusion is full merge as siblings.  1,000 ops were 193 kernels."""
    def tree(x):
        level = [x[i % 64] * np.float32(i + 1) for i in range(leaves)]
        while len(level) > 1:
            pairs = [level[i] + level[i + 1] for i in range(0, len(level) - 1, 2)]
            level = pairs + ([level[-1]] if len(level) % 2 else [])
        return level[0]

    x = _sample((64, 64))
    np.testing.assert_allclose(jitflow.jit(tree)(x), tree(x.astype(np.float64)), rtol=1e-4, atol=1e-3)
    ops = 2 * leaves - 1
    assert _kernels(tree, x) <= max(1, -(-ops // 128)) + 3
