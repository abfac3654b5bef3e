"""The CPU backend: IR module -> LLVM IR (llvmlite IRBuilder) -> O3 for the host -> MCJIT."""

from __future__ import annotations

import os
import time

from ...ir import Module
from .jit import Compiled, can_compile_in_parallel, compile_ir, install_thread_pool, load_blas
from .pyarray import ArrayObjectLayout
from .module import ENTRY, OBJECTS_ENTRY, EntryBuilder, Plan
from .shards import split_module


def host_threads() -> int:
    """Cores this process may run on (kernels fan out to this many native threads)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def compile_module(module: Module, array_layout: ArrayObjectLayout | None) -> tuple[Compiled, Plan, dict]:
    """Machine code for ``module``'s entry computation, its calling plan, and statistics.

    ``array_layout`` says where a NumPy array object keeps its fields; when given, the
    code's way in is an entry taking the array objects themselves (``pyarray.py``).
    """
    start = time.perf_counter()
    blas = load_blas() is not None
    threads = host_threads()
    builder = EntryBuilder(module, threads, blas, array_layout)
    llvm_module, plan = builder.build()
    # Two threads compile two halves at once: a first call's LLVM time nearly halves.
    split = (split_module(llvm_module, builder.kernels.kernels)
             if threads > 1 and can_compile_in_parallel() else None)
    text = str(llvm_module) if split is None else split.text
    build_s = time.perf_counter() - start
    if plan.uses_threads:
        install_thread_pool()
    compiled = compile_ir(text, ENTRY, OBJECTS_ENTRY if array_layout is not None else None,
                          plan.largest_kernel_work, split)
    stats = {"build_llvm_ir_s": build_s, **compiled.times,
             "kernel_count": plan.kernel_count, "kernels_compiled_apart": len(split.far_kernels) if split else 0,
             "threads": threads if plan.uses_threads else 1,
             "uses_blas": plan.uses_blas, "dot_epilogues": plan.dot_epilogues,
             "workspace_bytes": plan.workspace_bytes,
             "input_bytes": sum(t.nbytes for t in plan.inputs),
             "output_bytes": sum(t.nbytes for t in plan.outputs)}
    return compiled, plan, stats


__all__ = ["ArrayObjectLayout", "Compiled", "Plan", "compile_module", "host_threads"]
