"""``cse`` and ``dce`` beyond the FileCheck tests: keys, effects through callees, computations."""

from __future__ import annotations

import numpy as np

from jitflow.ir import DType, Module, TensorType, parse_module
from jitflow.passes.cse import CSE, value_key
from jitflow.passes.dce import DCE
from jitflow.passes.effects import has_side_effects

from passes_util import opcodes, run_passes

NOISY_LOOP = """
HloModule m
%body (s: s32[]) -> s32[] {
  %s = s32[] parameter(0)
  %note = s32[] custom-call(%s), custom_call_target="log", custom_call_has_side_effect=true
  ROOT %r = s32[] add(%s, %note)
}
%inner (i: s32[]) -> s32[] {
  %i = s32[] parameter(0)
  ROOT %called = s32[] call(%i), to_apply=%body
}
%cond (c: s32[]) -> pred[] {
  %c = s32[] parameter(0)
  ROOT %f = pred[] constant(false)
}
ENTRY %main (x: s32[]) -> s32[] {
  %x = s32[] parameter(0)
  %w1 = s32[] while(%x), condition=%cond, body=%inner
  %w2 = s32[] while(%x), condition=%cond, body=%inner
  ROOT %y = s32[] add(%w1, %w2)
}"""


def test_side_effects_reach_through_called_computations():
    module = parse_module(NOISY_LOOP)
    w1 = module.entry.get("w1")
    assert has_side_effects(w1) and not has_side_effects(module.entry.root)
    assert opcodes(run_passes(NOISY_LOOP, "cse")).count("while") == 2


def test_unused_loops_with_side_effects_stay():
    text = NOISY_LOOP.replace("ROOT %y = s32[] add(%w1, %w2)", "ROOT %y = s32[] negate(%x)")
    module = run_passes(text, "dce")
    assert opcodes(module) == ["parameter", "while", "while", "negate"]
    assert set(module.computations) == {"body", "inner", "cond", "main"}


def test_constants_are_keyed_by_their_value_in_the_result_type():
    module = Module("m")
    b = module.builder("main", entry=True)
    wide = b.emit("constant", type=TensorType(DType.F32, (2,)),
                  literal=np.array([0.5, 1.0], np.float64))
    narrow = b.constant(np.array([0.5, 1.0], np.float32))
    other = b.constant(np.array([0.5, 1.5], np.float32))
    b.set_root(b.tuple(wide, narrow, other))
    assert value_key(wide) == value_key(narrow) != value_key(other)
    assert CSE().run(module) is True
    assert module.entry.root.operands == (wide, wide, other)


def test_parameters_and_tuples():
    module = run_passes("""
HloModule m
ENTRY %main (a: f32[], b: f32[]) -> ((f32[], f32[]), (f32[], f32[])) {
  %a = f32[] parameter(0)
  %b = f32[] parameter(1)
  %t1 = (f32[], f32[]) tuple(%a, %b)
  %t2 = (f32[], f32[]) tuple(%a, %b)
  ROOT %r = ((f32[], f32[]), (f32[], f32[])) tuple(%t1, %t2)
}""", "cse")
    assert opcodes(module) == ["parameter", "parameter", "tuple", "tuple"]


def test_cse_reports_no_change():
    module = parse_module(NOISY_LOOP)
    assert CSE().run(module) is False


def test_dce_removes_chains_of_uncalled_computations():
    module = parse_module("""
HloModule m
%leaf (l: f32[]) -> f32[] {
  ROOT %l = f32[] parameter(0)
}
%middle (m: f32[]) -> f32[] {
  %m = f32[] parameter(0)
  ROOT %c = f32[] call(%m), to_apply=%leaf
}
%top (t: f32[]) -> f32[] {
  %t = f32[] parameter(0)
  ROOT %c2 = f32[] call(%t), to_apply=%middle
}
ENTRY %main (x: f32[]) -> f32[] {
  %x = f32[] parameter(0)
  %unused = f32[] call(%x), to_apply=%top
  ROOT %n = f32[] negate(%x)
}""")
    assert DCE().run(module) is True
    assert list(module.computations) == ["main"]
    assert DCE().run(module) is False
