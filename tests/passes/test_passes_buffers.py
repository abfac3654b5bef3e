"""The ``buffers`` pass (liveness-based buffer plan) and the CPU backend using it.

* Soundness on the whole op corpus, checked independently of the pass: two values
  whose byte ranges overlap are never live at once (except an in-place update and
  the operand it overwrites, which meet at one instruction); every value lives at
  least until its last direct reader; offsets are aligned and inside the peak.
* The training-step-sized MLP forward (784-512-512-10, batch 256, relu) needs at
  most 60% of one buffer per value, and the compiled workspace is the plan's.
* Compiled programs (MLP, softmax, layernorm, loops, in-place chains, a corpus
  sample) agree with NumPy and the interpreter when codegen follows the plan.
* A plan made before the module changed is ignored, never used.
"""

from __future__ import annotations

import numpy as np
import pytest

import op_cases
from codegen_util import check_against_interpreter
from jitflow import jit
from jitflow.codegen.cpu import compile_module
from jitflow.ir import Builder, TupleType
from jitflow.passes import PassManager
from jitflow.passes.buffers import ALIGNMENT, BufferPlan, plan_buffers

from passes_util import run_passes

RNG = np.random.default_rng(11)
PIPELINE = "simplify,cse,dce,fuse,layout,buffers"


def f32(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def _time_prefix(computation, plan: BufferPlan) -> tuple:
    """Where ``computation`` runs: the positions of the loops/conditionals around it."""
    if computation is plan.computation:
        return ()
    caller = next(i for c in plan.computations for i in c.instructions if computation in i.called)
    return _time_prefix(caller.parent, plan) + (caller.parent.instructions.index(caller),
                                                caller.called.index(computation))


def check_plan(plan: BufferPlan) -> None:
    """The plan's promises, checked from its offsets and the IR alone."""
    forever = float("inf")
    ranges = []
    for inst, offsets in plan.offsets.items():
        computation = inst.parent
        assert computation in plan.computations
        order = computation.instructions
        start, end = plan.live[inst]
        assert start == order.index(inst)
        readers = [order.index(u) for u in inst.users]
        assert end >= max(readers, default=start), f"%{inst.name} dies before a reader"
        prefix = _time_prefix(computation, plan)
        first, last = prefix + (start, -forever), prefix + (end, forever)
        for offset, size in zip(offsets, plan.sizes[inst]):
            if offset is None:
                continue
            assert offset % ALIGNMENT == 0 and offset + size <= plan.workspace_bytes
            ranges.append((inst, offset, offset + size, first, last))
    for i, (a, a_low, a_high, a_first, a_last) in enumerate(ranges):
        for b, b_low, b_high, b_first, b_last in ranges[i + 1:]:
            if a_low >= b_high or b_low >= a_high or a_last < b_first or b_last < a_first:
                continue
            chained = a.parent is b.parent and (
                (plan.in_place.get(b) is a and plan.live[a][1] == plan.live[b][0])
                or (plan.in_place.get(a) is b and plan.live[b][1] == plan.live[a][0]))
            assert chained, f"%{a.name} and %{b.name} share memory while both are live"


def test_plans_of_the_corpus_are_sound():
    for case in op_cases.CASES:
        module = case.build()
        PassManager("fuse,layout,buffers", verify=True).run(module)
        plan = module.buffer_plan
        assert plan.is_current(module), case.id
        check_plan(plan)
        assert plan.workspace_bytes <= max(plan.unshared_bytes, 0) + ALIGNMENT, case.id


def mlp(x, w1, b1, w2, b2, w3, b3):
    h = np.maximum(x @ w1 + b1, 0)
    h = np.maximum(h @ w2 + b2, 0)
    return h @ w3 + b3


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def layernorm(x, gamma, beta):
    mean = x.mean(axis=-1, keepdims=True)
    centered = x - mean
    var = (centered * centered).mean(axis=-1, keepdims=True)
    return centered / np.sqrt(var + 1e-5) * gamma + beta


MLP_ARGS = (f32(256, 784), f32(784, 512) * 0.05, f32(512), f32(512, 512) * 0.05, f32(512),
            f32(512, 10) * 0.05, f32(10))


@pytest.mark.parametrize("pipeline", [PIPELINE, "simplify,cse,dce,layout,buffers"])
def test_mlp_peak_is_at_most_60_percent_of_one_buffer_per_value(pipeline):
    jitted = jit(mlp, passes=pipeline)
    plan = jitted.lower(*MLP_ARGS).buffer_plan
    check_plan(plan)
    assert plan.workspace_bytes <= 0.6 * plan.unshared_bytes, plan.summary()
    executable = jitted.compile(*MLP_ARGS)
    assert executable.stats["workspace_bytes"] == plan.workspace_bytes  # nothing placed outside
    # Straight to codegen: the runtime's cache would hand back the planned executable,
    # whose module prints the same.
    unplanned = jit(mlp, passes=pipeline.replace(",buffers", "")).lower(*MLP_ARGS)
    _, _, unplanned_stats = compile_module(unplanned, None)
    assert executable.stats["workspace_bytes"] < unplanned_stats["workspace_bytes"]
    np.testing.assert_allclose(jitted(*MLP_ARGS), mlp(*MLP_ARGS), rtol=1e-4, atol=1e-4)


def dense_relu(x, w, b):
    return np.maximum(x @ w + b, 0.0)


def dense_relu_and_preactivation_sum(x, w, b):
    z = x @ w
    return np.maximum(z + b, 0.0), z.sum(axis=0)


def sgd_update(w, x, g):
    return w - 0.1 * (x.T @ g)


def masked_int8(a, b):
    # Unfused, the predicate (1 byte per element, as int8) is computed in the output buffer.
    return np.where(a > b, a, b)


@pytest.mark.parametrize("fn, args, into_output", [
    (dense_relu, (f32(33, 17), f32(17, 65), f32(65)), ["dot"]),
    (sgd_update, (f32(17, 65), f32(33, 17), f32(33, 65)), ["dot"]),
    # z is read again after the epilogue (its column sum): it keeps a workspace buffer.
    (dense_relu_and_preactivation_sum, (f32(33, 17), f32(17, 65), f32(65)), []),
    (masked_int8, (np.arange(-50, 50, dtype=np.int8) % 7, np.arange(100, dtype=np.int8)), ["compare"]),
], ids=["dense_relu", "sgd_update", "still_live", "other_element_type"])
def test_outputs_overwrite_an_operand_that_dies_there(fn, args, into_output):
    jitted = jit(fn, passes=PIPELINE.replace("fuse,", "") if fn is masked_int8 else PIPELINE)
    plan = jitted.lower(*args).buffer_plan
    check_plan(plan)
    assert sorted(v.opcode for v in plan.into_outputs) == into_output, plan.report()
    assert not set(plan.into_outputs) & set(plan.offsets)  # no workspace of their own
    expected = fn(*args)
    for got, want in zip(*(r if isinstance(r, tuple) else (r,) for r in (jitted(*args), expected))):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fn, args", [(softmax, (f32(64, 300),)),
                                      (layernorm, (f32(64, 300), f32(300), f32(300)))],
                         ids=["softmax", "layernorm"])
@pytest.mark.parametrize("pipeline", [PIPELINE, "simplify,cse,dce,layout,buffers"])
def test_row_programs_follow_the_plan(fn, args, pipeline):
    jitted = jit(fn, passes=pipeline)
    plan = jitted.lower(*args).buffer_plan
    check_plan(plan)
    assert plan.workspace_bytes <= plan.unshared_bytes
    assert jitted.compile(*args).stats["workspace_bytes"] == plan.workspace_bytes
    np.testing.assert_allclose(jitted(*args), fn(*args), rtol=1e-5, atol=1e-6)


def test_unfused_elementwise_chain_updates_in_place():
    def chain(x, y):
        a = np.exp(x)
        b = -a
        c = b + y
        return np.sum(c * c) + x

    x, y = f32(64, 33), f32(64, 33)
    jitted = jit(chain, passes="simplify,cse,dce,layout,buffers")
    plan = jitted.lower(x, y).buffer_plan
    check_plan(plan)
    assert len(plan.in_place) >= 3
    # Parameters are never overwritten: a value taking an operand's buffer takes a temporary's.
    assert all(donor.opcode != "parameter" for donor in plan.in_place.values())
    np.testing.assert_allclose(jitted(x, y), chain(x, y), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(x, x.copy())


LOOP = """
HloModule loop

%body (s: (s32[], f32[32,8])) -> (s32[], f32[32,8]) {
  %s = (s32[], f32[32,8]) parameter(0)
  %i = s32[] get-tuple-element(%s), index=0
  %one = s32[] constant(1)
  %next = s32[] add(%i, %one)
  %v = f32[32,8] get-tuple-element(%s), index=1
  %e = f32[32,8] sine(%v)
  %t = f32[32,8] add(%e, %v)
  ROOT %out = (s32[], f32[32,8]) tuple(%next, %t)
}

%cond (c: (s32[], f32[32,8])) -> pred[] {
  %c = (s32[], f32[32,8]) parameter(0)
  %k = s32[] get-tuple-element(%c), index=0
  %four = s32[] constant(4)
  ROOT %lt = pred[] compare(%k, %four), direction=LT
}

ENTRY %main (x: f32[32,8], y: f32[32,8]) -> (f32[32,8], f32[32,8]) {
  %x = f32[32,8] parameter(0)
  %y = f32[32,8] parameter(1)
  %live_across = f32[32,8] exponential(%y)
  %a = f32[32,8] negate(%x)
  %b = f32[32,8] multiply(%a, %a)
  %zero = s32[] constant(0)
  %init = (s32[], f32[32,8]) tuple(%zero, %b)
  %loop = (s32[], f32[32,8]) while(%init), condition=%cond, body=%body
  %r = f32[32,8] get-tuple-element(%loop), index=1
  %after = f32[32,8] subtract(%r, %live_across)
  %flip = f32[8,32]{0,1} transpose(%after), dimensions={1,0}
  %g = f32[8,32] exponential(%flip)
  %back = f32[32,8] transpose(%g), dimensions={1,0}
  ROOT %pair = (f32[32,8], f32[32,8]) tuple(%back, %live_across)
}
"""


@pytest.mark.parametrize("pipeline", ["buffers", "layout,buffers", "fuse,layout,buffers"])
def test_values_live_across_loops_keep_their_memory(pipeline):
    module = run_passes(LOOP, pipeline)
    plan = module.buffer_plan
    check_plan(plan)
    body = module.computations["body"]
    assert body in plan.computations  # the loop body's values are planned too
    assert any(inst.parent is body for inst in plan.offsets)
    check_against_interpreter(module, f32(32, 8), f32(32, 8))


def test_loop_bodies_and_conditions_are_planned_in_their_own_time():
    plan = run_passes(LOOP, "buffers").buffer_plan
    named = {i.name: i for i in plan.offsets}
    assert {name for name, i in named.items() if i.parent.name == "body"} == {"next", "e", "t"}
    assert plan.in_place[named["t"]] is named["e"]  # in place inside the body as well
    # The condition and the body never run at once: their values may share memory; values
    # live across the loop (its state, %live_across's operands) never meet either.
    loop_state = plan.offsets[named["loop"]]
    for name in ("next", "e", "t", "lt"):
        low = plan.offsets[named[name]][0]
        high = low + plan.sizes[named[name]][0]
        for offset, size in zip(loop_state, plan.sizes[named["loop"]]):
            assert high <= offset or offset + size <= low
    assert plan.workspace_bytes < plan.unshared_bytes


def test_stale_plan_is_ignored():
    module = run_passes(LOOP, "layout,buffers")
    plan = module.buffer_plan
    assert compile_module(module, None)[2]["workspace_bytes"] == plan.workspace_bytes
    # Any later change (here: a new user that keeps %a alive to the end) retires the plan.
    entry = module.entry
    a, pair = entry.get("a"), entry.root
    b = Builder(entry)
    b.set_insertion_point(before=pair)
    keep = b.emit("add", a, a)
    entry.set_root(b.emit("tuple", pair.operands[0], keep))
    assert not plan.is_current(module)
    stale = compile_module(module, None)[2]["workspace_bytes"]
    del module.buffer_plan
    assert stale == compile_module(module, None)[2]["workspace_bytes"]
    x, y = f32(32, 8), f32(32, 8)
    actual = check_against_interpreter(module, x, y)
    np.testing.assert_allclose(actual[1], 2 * -x, rtol=1e-6)


def test_plan_of_plain_module_has_no_layouts_requirement():
    module = run_passes(LOOP, "dce")
    plan = plan_buffers(module)
    check_plan(plan)
    assert isinstance(module.entry.root.type, TupleType)


CORPUS_SAMPLE = [case for case in op_cases.CASES if case.raises is None][::9]


@pytest.mark.parametrize("case", CORPUS_SAMPLE, ids=lambda case: case.id)
def test_corpus_sample_runs_with_plans(case, custom_call_registry):
    module = case.build()
    if any(inst.opcode == "custom-call" for inst in module.instructions()):
        pytest.skip("custom-call has no cpu lowering")
    if case.setup is not None:
        case.setup()
    PassManager(PIPELINE, verify=True).run(module)
    assert module.buffer_plan.is_current(module)
    check_against_interpreter(module, *case.inputs, rtol=max(case.rtol, 1e-6 if case.rtol else 0.0))
