"""``simplify``: folding and identities keep every result bit for bit, on the values that matter."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from jitflow.errors import IRError, SourceLocation
from jitflow.ir import (OPS, DType, Interpreter, Module, TensorType, parse_module, print_module,
                        verify)
from jitflow.passes import PassManager, PipelineError
from jitflow.passes.simplify import DEFAULT_FOLD_LIMIT, Simplify

from passes_util import assert_same, opcodes, outcome, run_passes

INF, NAN = math.inf, math.nan
SIGNED = (DType.S8, DType.S32, DType.S64)
UNSIGNED = (DType.U8, DType.U32, DType.U64)
FLOATS = (DType.F16, DType.BF16, DType.F32, DType.F64)
ALL = (DType.PRED, *SIGNED, *UNSIGNED, *FLOATS)


def special_values(dtype: DType) -> list:
    """The values identities get wrong when they are not identities: signed zeros, NaN, extremes."""
    if dtype is DType.PRED:
        return [False, True]
    if dtype.is_float:
        return [0.0, -0.0, 1.0, -1.0, 2.0, 0.5, INF, -INF, NAN]
    info = np.iinfo(dtype.numpy)
    return sorted({0, 1, 2, info.max, info.min, -1 if dtype.is_signed_int else 3})


def array_of(dtype: DType, values) -> np.ndarray:
    return np.array(values, dtype=dtype.numpy)


def binary_module(opcode: str, dtype: DType, constant, constant_first: bool) -> Module:
    """``op(x, c)`` or ``op(c, x)`` with c a broadcast scalar constant."""
    n = len(special_values(dtype))
    module = Module("m")
    b = module.builder("main", entry=True)
    x = b.parameter(TensorType(dtype, (n,)), name="x")
    c = b.broadcast(b.constant(array_of(dtype, constant)), shape=(n,), dimensions=())
    b.set_root(b.emit(opcode, *((c, x) if constant_first else (x, c))))
    return module


def takes(opcode: str, dtype: DType, arity: int) -> bool:
    module = Module("m")
    b = module.builder("main", entry=True)
    p = b.parameter(TensorType(dtype, ()))
    try:
        b.emit(opcode, *[p] * arity)
    except IRError:
        return False
    return True


BINARY = [(opcode, dtype) for opcode in ("add", "subtract", "multiply", "divide", "remainder",
                                         "power", "maximum", "minimum", "and", "or", "xor")
          for dtype in ALL if takes(opcode, dtype, 2)]


@pytest.mark.parametrize("opcode, dtype", BINARY, ids=lambda v: str(v))
def test_binary_identities_hold_for_special_values(opcode, dtype):
    x = array_of(dtype, special_values(dtype))
    for constant in special_values(dtype):
        for constant_first in (False, True):
            module = binary_module(opcode, dtype, constant, constant_first)
            expected = outcome(module, (x,))
            PassManager("simplify", verify=True).run(module)
            assert_same(outcome(module, (x,)), expected,
                        f"{opcode}({'c, x' if constant_first else 'x, c'}) with c={constant!r}")


@pytest.mark.parametrize("opcode, dtype", BINARY, ids=lambda v: str(v))
def test_op_of_x_and_x_holds_for_special_values(opcode, dtype):
    x = array_of(dtype, special_values(dtype))
    module = Module("m")
    b = module.builder("main", entry=True)
    p = b.parameter(TensorType(dtype, x.shape))
    b.set_root(b.emit(opcode, p, p))
    expected = outcome(module, (x,))
    PassManager("simplify", verify=True).run(module)
    assert_same(outcome(module, (x,)), expected)


INVOLUTIONS = [(opcode, dtype) for opcode in ("negate", "not") for dtype in ALL
               if takes(opcode, dtype, 1)]


@pytest.mark.parametrize("opcode, dtype", INVOLUTIONS, ids=lambda v: str(v))
def test_involutions_and_same_type_convert_are_exact(opcode, dtype):
    x = array_of(dtype, special_values(dtype))
    module = Module("m")
    b = module.builder("main", entry=True)
    p = b.parameter(TensorType(dtype, x.shape))
    b.set_root(b.convert(b.emit(opcode, b.emit(opcode, p)), dtype=dtype))
    expected = outcome(module, (x,))
    PassManager("simplify", verify=True).run(module)
    assert opcodes(module) == ["parameter"]
    assert_same(outcome(module, (x,)), expected)


# -- which identities apply ------------------------------------------------------------------

def simplified_root(opcode: str, dtype: DType, constant, constant_first: bool = False) -> str:
    module = binary_module(opcode, dtype, constant, constant_first)
    PassManager("simplify", verify=True).run(module)
    return module.entry.root.opcode


@pytest.mark.parametrize("opcode, dtype, constant, constant_first, root", [
    ("add", DType.S32, 0, True, "parameter"),
    ("add", DType.F32, -0.0, False, "parameter"),
    ("add", DType.F32, -0.0, True, "parameter"),
    ("add", DType.F32, 0.0, False, "add"),  # -0.0 + 0.0 is +0.0
    ("subtract", DType.F32, 0.0, False, "parameter"),
    ("subtract", DType.F32, -0.0, False, "subtract"),  # -0.0 - -0.0 is +0.0
    ("subtract", DType.S8, 0, True, "subtract"),  # 0 - x is not x
    ("multiply", DType.BF16, 1.0, True, "parameter"),
    ("multiply", DType.U8, 0, False, "broadcast"),  # the zero operand itself
    ("multiply", DType.F32, 0.0, False, "multiply"),  # NaN * 0 is NaN
    ("divide", DType.F64, 1.0, False, "parameter"),
    ("divide", DType.F64, 1.0, True, "divide"),  # 1 / x is not x
    ("and", DType.PRED, True, True, "parameter"),
    ("and", DType.S16, -1, False, "parameter"),
    ("and", DType.U32, 0xFFFFFFFF, False, "parameter"),
    ("or", DType.PRED, False, False, "parameter"),
    ("xor", DType.U8, 0, True, "parameter"),
    ("maximum", DType.F32, -INF, False, "maximum"),  # no identity claimed
])
def test_identity_applies_exactly_where_it_holds(opcode, dtype, constant, constant_first, root):
    assert simplified_root(opcode, dtype, constant, constant_first) == root


def test_zero_splat_must_be_zero_bit_for_bit():
    module = run_passes("""
HloModule m
ENTRY %main (x: f32[2]) -> f32[2] {
  %x = f32[2] parameter(0)
  %z = f32[2] constant({-0.0, 0.0})
  ROOT %a = f32[2] add(%x, %z)
}""", "simplify")
    assert module.entry.root.opcode == "add"


# -- folding -----------------------------------------------------------------------------------

FOLDABLE = """
HloModule m
ENTRY %main () -> f32[3] {
  %a = f32[3] constant({1, 2, 3})
  %b = f32[3] exponential(%a)
  ROOT %c = f32[3] negate(%b)
}"""


def test_folding_matches_the_interpreter():
    module = parse_module(FOLDABLE)
    expected = outcome(module, ())
    PassManager("simplify", verify=True).run(module)
    assert opcodes(module) == ["constant"]
    assert_same(outcome(module, ()), expected)


def test_fold_limit_bounds_materialized_constants_but_not_splats():
    text = """
HloModule m
ENTRY %main () -> (f32[8], f32[8]) {
  %v = f32[8] iota(), iota_dimension=0
  %e = f32[8] exponential(%v)
  %one = f32[] constant(1)
  %ones = f32[8] broadcast(%one), dimensions={}
  %two = f32[8] add(%ones, %ones)
  ROOT %t = (f32[8], f32[8]) tuple(%e, %two)
}"""
    assert opcodes(run_passes(text, "simplify{fold-limit=8}")) == [
        "constant", "constant", "broadcast", "tuple"]
    limited = run_passes(text, "simplify{fold-limit=7}")
    assert "exponential" in opcodes(limited) and "add" not in opcodes(limited)


def test_generators_are_not_folded_on_their_own():
    module = run_passes("""
HloModule m
ENTRY %main () -> (s32[4], s32[4]) {
  %i = s32[4] iota(), iota_dimension=0
  %c = s32[] constant(7)
  %b = s32[4] broadcast(%c), dimensions={}
  ROOT %t = (s32[4], s32[4]) tuple(%i, %b)
}""", "simplify")
    assert opcodes(module) == ["iota", "constant", "broadcast", "tuple"]


def test_an_op_whose_evaluation_fails_is_left_for_run_time(monkeypatch):
    def fails(inst, args, call):
        raise ValueError("no")

    monkeypatch.setitem(OPS, "sine", dataclasses.replace(OPS["sine"], evaluate=fails))
    module = run_passes("""
HloModule m
ENTRY %main () -> f32[2] {
  %a = f32[2] constant({1, 2})
  ROOT %s = f32[2] sine(%a)
}""", "simplify")
    assert opcodes(module) == ["constant", "sine"]


def test_folding_keeps_the_declared_layout_and_the_source_line():
    module = Module("m")
    b = module.builder("main", entry=True)
    where = SourceLocation("model.py", 12, "f")
    with b.at(where):
        c = b.constant(np.arange(6, dtype=np.float32).reshape(2, 3))
        t = b.transpose(c, dimensions=(1, 0), type=TensorType(DType.F32, (3, 2), (0, 1)))
    b.set_root(t)
    expected = outcome(module, ())
    PassManager("simplify", verify=True).run(module)
    (root,) = module.entry.instructions
    assert root.opcode == "constant" and root.type.layout == (0, 1) and root.source == where
    assert_same(outcome(module, ()), expected)


def test_called_computations_are_folded_too():
    module = run_passes("""
HloModule m
%body (s: f32[]) -> f32[] {
  %s = f32[] parameter(0)
  %one = f32[] constant(1)
  %two = f32[] add(%one, %one)
  ROOT %r = f32[] multiply(%s, %two)
}
%cond (c: f32[]) -> pred[] {
  %c = f32[] parameter(0)
  %ten = f32[] constant(10)
  ROOT %lt = pred[] compare(%c, %ten), direction=LT
}
ENTRY %main (x: f32[]) -> f32[] {
  %x = f32[] parameter(0)
  ROOT %w = f32[] while(%x), condition=%cond, body=%body
}""", "simplify")
    body = module.computations["body"]
    assert [i.opcode for i in body.instructions] == ["parameter", "constant", "multiply"]


def test_simplify_reaches_a_fixpoint():
    module = parse_module(FOLDABLE)
    assert Simplify().run(module) is True
    assert Simplify().run(module) is False


def test_options():
    assert Simplify().fold_limit == DEFAULT_FOLD_LIMIT
    assert str(Simplify(fold_limit=10)) == "simplify{fold-limit=10}"
    with pytest.raises(PipelineError, match="must be at least 0, got -1"):
        Simplify(fold_limit=-1)
    with pytest.raises(PipelineError, match="expects int, got 1.5"):
        Simplify(fold_limit=1.5)


def test_output_reparses_and_verifies():
    module = run_passes(FOLDABLE, "simplify")
    text = print_module(module)
    verify(parse_module(text))
    assert print_module(parse_module(text)) == text


def sample(type_: TensorType, rng: np.random.Generator) -> np.ndarray:
    """Special values of the type, repeated and shuffled to fill its shape."""
    values = special_values(type_.dtype)
    picks = rng.integers(0, len(values), size=type_.size)
    return array_of(type_.dtype, [values[i] for i in picks]).reshape(type_.shape)


@pytest.mark.parametrize("name", ["simplify_identities.hlo", "simplify_floats.hlo",
                                  "default_pipeline.hlo"])
def test_filecheck_programs_keep_every_computations_results(name):
    """The FileCheck inputs check the shape of the output; this checks its values."""
    text = (Path(__file__).parents[1] / "filecheck" / "passes" / name).read_text()
    original, simplified = parse_module(text), run_passes(text, "simplify,cse")
    rng = np.random.default_rng(0)
    for computation in original.computations.values():
        args = [sample(p.type, rng) for p in computation.parameters]
        expected = Interpreter(original).call(computation, args)
        actual = Interpreter(simplified).call(simplified.computations[computation.name], args)
        assert_same(actual, expected, computation.name)


def test_folding_to_a_splat_keeps_a_broadcast_of_one_scalar():
    """A folded result whose elements are all bit-identical stays a broadcast of one scalar;
    one that differs only in the sign of zero is a literal."""
    text = """
HloModule m
ENTRY %main () -> (f32[64,32], f32[2]) {
  %zero = f32[] constant(0.0)
  %zeros = f32[32,64] broadcast(%zero), dimensions={}
  %t = f32[64,32] transpose(%zeros), dimensions={1,0}
  %signed = f32[2] constant({0.0, -0.0})
  %r = f32[2] reverse(%signed), dimensions={0}
  ROOT %out = (f32[64,32], f32[2]) tuple(%t, %r)
}
"""
    module = run_passes(text, "simplify,dce")
    first, second = module.entry.root.operands
    assert first.opcode == "broadcast" and first.operands[0].type.shape == ()
    assert second.opcode == "constant"
    np.testing.assert_array_equal(np.signbit(Interpreter(module).run()[1]), [True, False])
