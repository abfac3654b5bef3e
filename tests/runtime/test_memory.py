"""Compiling many programs in one process must not keep their memory (IR or LLVM's)."""

from __future__ import annotations

import gc
import os
import weakref

import numpy as np
import pytest

import jitflow
from jitflow.codegen.cpu import jit as cpu_jit
from jitflow.ir import vjp


def test_a_differentiated_module_is_freed_with_its_function():
    rng = np.random.default_rng(0)
    w, b, x = rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal((5, 3))
    f = jitflow.jit(lambda w, b: jitflow.grad(lambda b: np.sum((x @ w + b) ** 2))(b))
    module = f.lower(w, b)
    assert module in vjp._REDUCERS  # the broadcast's gradient built a reducer in it
    ref = weakref.ref(module)
    del f, module
    gc.collect()
    assert ref() is None


LOOP = """define void @scale{i}(ptr %p, i64 %n) {{
entry:
  br label %loop
loop:
  %i = phi i64 [0, %entry], [%next, %loop]
  %at = getelementptr inbounds float, ptr %p, i64 %i
  %v = load float, ptr %at
  %w = fmul float %v, 2.0
  store float %w, ptr %at
  %next = add i64 %i, 1
  %done = icmp eq i64 %next, %n
  br i1 %done, label %exit, label %loop
exit:
  ret void
}}
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads the resident size from /proc")
def test_optimizing_many_modules_does_not_grow_the_process():
    text = "".join(LOOP.format(i=i) for i in range(8))

    def resident_mib() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    for _ in range(10):  # allocator and LLVM warm-up
        cpu_jit._optimize(cpu_jit.llvm.parse_assembly(text), small=True)
    before = resident_mib()
    for _ in range(150):
        cpu_jit._optimize(cpu_jit.llvm.parse_assembly(text), small=True)
    # llvmlite never freed the O3 pipeline it built: ~70 KB a time for this module (10 MB
    # here), ~0.35 MB for an MLP training step's.
    assert resident_mib() - before < 4
