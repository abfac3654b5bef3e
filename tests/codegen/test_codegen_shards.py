"""Split compiles (codegen/cpu/shards.py): a big module's kernels in two halves, compiled
at once on two threads, must run exactly like the module compiled whole."""

from __future__ import annotations

import collections
import numpy as np
import pytest
from llvmlite import ir

import jitflow
from jitflow import runtime
from jitflow.codegen import cpu
from jitflow.codegen.cpu import host_threads, jit as cpu_jit, shards
from jitflow.codegen.cpu.scalars import I64, PTR
from jitflow.codegen.errors import CodegenError

needs_two = pytest.mark.skipif(host_threads() < 2 or not cpu_jit.can_compile_in_parallel(),
                               reason="split compiles need two cores and llvmlite's raw calls")


def mlp_step(params, x, y):
    def loss(p):
        w1, b1, w2, b2 = p
        h = np.maximum(x @ w1 + b1, 0.0)
        logits = h @ w2 + b2
        m = np.max(logits, axis=-1, keepdims=True)
        lse = np.log(np.sum(np.exp(logits - m), axis=-1, keepdims=True)) + m
        return np.mean(np.sum(y * (lse - logits), axis=-1)) + 1e-3 * np.sum(w1 * w1)
    grads = jitflow.grad(loss)(params)
    return tuple(p - 0.1 * g for p, g in zip(params, grads))


def mlp_inputs(dtype):
    rng = np.random.default_rng(1)
    params = (rng.standard_normal((37, 64)).astype(dtype) * 0.2, rng.standard_normal(64).astype(dtype),
              rng.standard_normal((64, 7)).astype(dtype) * 0.2, rng.standard_normal(7).astype(dtype))
    x = rng.standard_normal((129, 37)).astype(dtype)
    y = np.eye(7, dtype=dtype)[rng.integers(0, 7, 129)]
    return params, x, y


@needs_two
@pytest.mark.parametrize("dtype", (np.float32, np.float64), ids=str)
def test_a_training_step_in_two_halves_matches_it_compiled_whole(dtype, monkeypatch):
    params, x, y = mlp_inputs(dtype)
    split_step = jitflow.jit(mlp_step)
    split = split_step(params, x, y)
    stats = split_step.compile(params, x, y).stats
    assert 0 < stats["kernels_compiled_apart"] < stats["kernel_count"]
    monkeypatch.setattr(cpu, "split_module", lambda *args: None)
    monkeypatch.setattr(runtime, "_cache", collections.OrderedDict())  # else the split one is reused
    whole_step = jitflow.jit(mlp_step)
    whole = whole_step(params, x, y)
    assert whole_step.compile(params, x, y).stats["kernels_compiled_apart"] == 0
    module = whole_step.lower(params, x, y)
    reference = jitflow.ir.evaluate(module, *params, x, y)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for got, want, interpreted in zip(split, whole, reference):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)
        np.testing.assert_allclose(got, interpreted, rtol=rtol * 10, atol=rtol * 10)
    for _ in range(3):  # the far kernels stay callable, call after call
        again = split_step(params, x, y)
        for got, first in zip(again, split):
            np.testing.assert_array_equal(got, first)


@needs_two
def test_dumps_of_a_split_program_show_both_halves():
    params, x, y = mlp_inputs(np.float32)
    executable = jitflow.jit(mlp_step).compile(params, x, y)
    optimized = executable.llvm_ir_optimized
    assert "; main part" in optimized and "; far part" in optimized and shards.FAR_TABLE in optimized
    assert "; far part" in executable.llvm_ir and "jf_entry" in executable.llvm_ir
    assert executable.asm.count("\t.file\t") == 2  # one assembly listing per half


def _module_with_kernels(sizes: list[int], calls: dict[int, int] | None = None) -> tuple[ir.Module, list]:
    """A module with an entry calling kernels of the given instruction counts (a loop-free
    chain of adds); ``calls[i] = j`` makes kernel i call kernel j."""
    module = ir.Module(name="test")
    kernel_type = ir.FunctionType(ir.VoidType(), [PTR, I64, I64])
    kernels = []
    for i, size in enumerate(sizes):
        fn = ir.Function(module, kernel_type, f"jf_kernel{i}")
        fn.linkage = "internal"
        kernels.append(fn)
    for i, (fn, size) in enumerate(zip(kernels, sizes)):
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        value = fn.args[1]
        for _ in range(size):
            value = b.add(value, fn.args[2])
        b.store(value, b.bitcast(fn.args[0], PTR))
        if calls and i in calls:
            b.call(kernels[calls[i]], fn.args)
        b.ret_void()
    entry = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR]), "jf_entry")
    b = ir.IRBuilder(entry.append_basic_block("entry"))
    for fn in kernels:
        b.call(fn, [entry.args[0], ir.Constant(I64, 1), ir.Constant(I64, 2)])
    b.ret_void()
    return module, kernels


def test_small_modules_are_not_split():
    module, kernels = _module_with_kernels([50, 50, 50])
    assert shards.split_module(module, kernels) is None


def test_a_moved_kernel_takes_its_callees_and_the_halves_balance():
    # Costs 404 (with its call), 303, 203, 103, 63 and the entry's 6: half is 541.  The
    # biggest kernel moves with the one it calls (467); nothing else fits beside them.
    module, kernels = _module_with_kernels([400, 300, 200, 100, 60], calls={0: 4})
    split = shards.split_module(module, kernels)
    assert split is not None and split.far_kernels == ["jf_kernel0", "jf_kernel4"]
    # Each half is a complete module: the main one calls the far kernels through the table.
    for text in (split.main, split.far):
        parsed = cpu_jit.llvm.parse_assembly(text)
        parsed.verify()
    assert f'@"{shards.FAR_TABLE}"' in split.main
    for name in split.far_kernels:
        assert f'define void @"{name}"' in split.far and f'define internal void @"{name}"' in split.main


@needs_two
def test_a_far_half_that_fails_is_reported_on_the_calling_thread():
    module, kernels = _module_with_kernels([400, 300, 200, 100])
    split = shards.split_module(module, kernels)
    broken = shards.Split(main=split.main, far=split.far.replace("ret void", "ret i64 0", 1),
                          far_kernels=split.far_kernels)
    with pytest.raises(CodegenError, match="does not verify"):
        cpu_jit.compile_ir(str(module), "jf_entry", None, 1 << 20, broken)


@needs_two
def test_split_programs_compiled_from_several_threads_at_once():
    """Each compile has its own contexts: concurrent split compiles must not interfere."""
    import threading

    params, x, y = mlp_inputs(np.float32)
    want = jitflow.jit(mlp_step)(params, x, y)
    results, errors = [], []

    def compile_and_run():
        try:
            results.append(jitflow.jit(mlp_step)(params, x, y))
        except BaseException as error:  # noqa: BLE001
            errors.append(error)
    workers = [threading.Thread(target=compile_and_run) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors and len(results) == 3
    for got in results:
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)


def test_a_small_program_compiles_whole():
    stats = runtime.compile(jitflow.jit(lambda a: a * 2.0 + 1.0).lower(np.ones(8, np.float32))).stats
    assert stats["kernels_compiled_apart"] == 0
