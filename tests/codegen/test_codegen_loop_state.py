"""Loop-carried arrays updated in place: ``out[t] = row`` inside a traced loop writes the
window into the loop state instead of rebuilding the whole array every iteration, and
only where nothing reads the old value afterwards."""

from __future__ import annotations

import numpy as np
import pytest

import jitflow
from jitflow import runtime
from jitflow.ir import Interpreter, parse_module

from filecheck_util import filecheck


def rnn(x, h, n):
    out = np.zeros((x.shape[0], h.shape[0]), np.float32)
    for t in range(n):
        h = np.tanh(h * 0.5 + x[t])
        out[t] = h
    return out


def reads_old_value_after_update(x, n):
    out = np.zeros_like(x)
    total = np.zeros((), x.dtype)
    for t in range(n):
        out[t] = x[t] * 2.0
        total = total + out.sum()  # reads the array after the update: still right
    return out, total


@pytest.mark.parametrize("rows,width", [(1, 1), (3, 5), (17, 64), (2, 0)])
def test_rnn_rows_match_numpy(rows, width):
    rng = np.random.default_rng(rows)
    x = rng.standard_normal((rows, width)).astype(np.float32)
    h = rng.standard_normal(width).astype(np.float32)
    got = jitflow.jit(rnn)(x, h, np.int64(rows))
    np.testing.assert_allclose(got, rnn(x, h, rows), rtol=1e-6, atol=1e-6)


# The loop body copies the 8 new values into row t of the 40x8 loop state with a loop of
# its own; no kernel in the body runs over all 320 elements.
WINDOW_WRITE = """
CHECK-LABEL: define internal void @"jf_entry"
CHECK:       while.body:
CHECK-NOT:     i64 0, i64 320)
CHECK:         br label %"window.header"
CHECK:       window.header:
CHECK:         icmp slt i64 %"window", 8
CHECK:       window.body:
CHECK:         %[[VALUE:.+]] = load float, ptr
CHECK:         store float %[[VALUE]], ptr
CHECK:       window.done:
CHECK-NOT:     i64 0, i64 320)
CHECK:         br label %"while.condition"
"""


def test_rnn_update_writes_only_the_window():
    x = np.ones((40, 8), np.float32)
    h = np.zeros(8, np.float32)
    filecheck(jitflow.jit(rnn).compile(x, h, np.int64(40)).llvm_ir, WINDOW_WRITE)


LOOP = """
HloModule in_place
%cond (s: (s64[], f32[4,3])) -> pred[] {
  %s = (s64[], f32[4,3]) parameter(0)
  %i = s64[] get-tuple-element(%s), index=0
  %four = s64[] constant(4)
  ROOT %lt = pred[] compare(%i, %four), direction=LT
}
%body (s_b: (s64[], f32[4,3])) -> (s64[], f32[4,3]) {
  %s_b = (s64[], f32[4,3]) parameter(0)
  %i_b = s64[] get-tuple-element(%s_b), index=0
  %a_b = f32[4,3] get-tuple-element(%s_b), index=1
  %zero_b = s64[] constant(0)
  %row_b = f32[1,3] dynamic-slice(%a_b, %i_b, %zero_b), dynamic_slice_sizes={1,3}
  %two_b = f32[] constant(2)
  %twos_b = f32[1,3] broadcast(%two_b), dimensions={}
  %doubled_b = f32[1,3] multiply(%row_b, %twos_b)
  %moved_b = s64[] add(%i_b, %i_b)
  %next_b = f32[4,3] dynamic-update-slice(%a_b, %doubled_b, %moved_b, %zero_b)
  %one_b = s64[] constant(1)
  %j_b = s64[] add(%i_b, %one_b)
  ROOT %t_b = (s64[], f32[4,3]) tuple(%j_b, %next_b)
}
ENTRY %main (arg: f32[4,3]) -> f32[4,3] {
  %arg = f32[4,3] parameter(0)
  %start = s64[] constant(0)
  %init = (s64[], f32[4,3]) tuple(%start, %arg)
  %w = (s64[], f32[4,3]) while(%init), condition=%cond, body=%body
  ROOT %r = f32[4,3] get-tuple-element(%w), index=1
}
"""


def test_window_start_is_clamped_like_xla_and_the_input_is_untouched():
    """Starts past the end are clamped (rows 0, 2, then 3 twice); the caller's array is
    copied into the loop state, never written."""
    module = parse_module(LOOP)
    a = np.arange(12, dtype=np.float32).reshape(4, 3)
    before = a.copy()
    got = runtime.compile(module)(a)
    np.testing.assert_array_equal(got, Interpreter(module).run(a))
    np.testing.assert_array_equal(a, before)


# The same loop, but the body also reads the old array after the update.
LOOP_READ_AFTER = LOOP.replace(
    "  ROOT %t_b = (s64[], f32[4,3]) tuple(%j_b, %next_b)",
    "  %late_b = f32[1,3] dynamic-slice(%a_b, %moved_b, %zero_b), dynamic_slice_sizes={1,3}\n"
    "  %late_wide_b = f32[4,3] broadcast(%late_b), dimensions={0,1}\n"
    "  %sum_b = f32[4,3] add(%next_b, %late_wide_b)\n"
    "  ROOT %t_b = (s64[], f32[4,3]) tuple(%j_b, %sum_b)")


# The old array is read after the update, so the update cannot be written in place: the
# body computes the updated 4x3 array and the sum with kernels over all 12 elements, and
# copies the sum (48 bytes) into the loop state.  No window loop anywhere.
WHOLE_ARRAY_UPDATE = """
CHECK-NOT:   window
CHECK-LABEL: define internal void @"jf_entry"
CHECK-NOT:   window
CHECK:       while.body:
CHECK-NOT:   window
CHECK:         call void @"jf_kernel{{[0-9]+}}"(ptr %{{.+}}, i64 0, i64 12)
CHECK-NOT:   window
CHECK:         call void @"jf_kernel{{[0-9]+}}"(ptr %{{.+}}, i64 0, i64 12)
CHECK-NOT:   window
CHECK:         call void @"llvm.memcpy.p0.p0.i64"(ptr %{{.+}}, ptr %{{.+}}, i64 48, i1 0)
CHECK-NEXT:    br label %"while.condition"
CHECK-NOT:   window
"""


def test_an_old_value_read_after_the_update_is_not_overwritten():
    module = parse_module(LOOP_READ_AFTER)
    a = np.arange(12, dtype=np.float32).reshape(4, 3)
    executable = runtime.compile(module)
    filecheck(executable.llvm_ir, WHOLE_ARRAY_UPDATE)
    np.testing.assert_array_equal(executable(a), Interpreter(module).run(a))
