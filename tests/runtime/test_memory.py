"""Compiling many programs in one process must not keep their memory (IR or LLVM's)."""

from __future__ import annotations

import gc
import os
import warnings
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


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads the resident size from /proc")
def test_a_compiled_program_keeps_little_memory():
    """Executables of many signatures of one function, all kept alive: each holds its
    machine code, not the compiler's objects (an engine that generated its own code kept
    its target machine's subtarget tables, ~0.7 MB a program)."""
    f = jitflow.jit(lambda x: x * 2 + 1, cache_size=1000)

    def resident_kib() -> float:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jitflow.JitflowRetraceWarning)
        kept = [f.compile(np.ones(n, np.float32)) for n in range(2001, 2006)]  # warm-up
        gc.collect()
        before = resident_kib()
        kept += [f.compile(np.ones(n, np.float32)) for n in range(2006, 2066)]
        gc.collect()
    per_program = (resident_kib() - before) / 60
    assert per_program < 300, f"{per_program:.0f} KiB per program"  # ~80 measured, ~800 before
