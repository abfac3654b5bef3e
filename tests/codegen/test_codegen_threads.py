"""The CPU thread pool (codegen/cpu/threads.py): every chunk runs exactly once, under
concurrent callers, after the workers went to sleep, and in a forked child."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import subprocess
import sys
import textwrap
import threading

import llvmlite.binding as llvm
import numpy as np
import pytest

import jitflow
from jitflow import runtime
from jitflow.codegen.cpu import host_threads, jit as cpu_jit, threads
from jitflow.ir import DType, Module, TensorType

DISPATCH = ctypes.CFUNCTYPE(None, ctypes.c_int32, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64)
POOL_RUN = ctypes.CFUNCTYPE(None, DISPATCH, ctypes.c_int32, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int32)
BIG = (1 << 18) + 37  # above kernels.PARALLEL_WORK, and no multiple of any thread count


def pool_run():
    cpu_jit.install_thread_pool()
    return POOL_RUN(llvm.address_of_symbol(threads.RUN))


def scaled_sum(n: int) -> Module:
    """x * 3 + 1: one elementwise kernel, big enough to run on threads."""
    module = Module("scaled")
    b = module.builder("main", entry=True)
    x = b.parameter(TensorType(DType.F32, (n,)), name="x")
    three = b.broadcast(b.constant(np.asarray(3, np.float32)), shape=(n,), dimensions=())
    one = b.broadcast(b.constant(np.asarray(1, np.float32)), shape=(n,), dimensions=())
    b.set_root(b.add(b.multiply(x, three), one))
    return module


@pytest.mark.parametrize("size,chunks", [(0, 2), (1, 2), (2, 2), (7, 3), (1000, 2), (1001, 4), (5, 8), (64, 1)])
def test_every_chunk_runs_once(size, chunks):
    seen = []
    lock = threading.Lock()

    def record(number, buffers, begin, end):
        assert number == 7 and buffers == 1234
        with lock:
            seen.append((begin, end))

    callback = DISPATCH(record)
    pool_run()(callback, 7, 1234, size, chunks)
    covered = sorted(seen)
    assert all(begin < end for begin, end in covered)
    positions = [p for begin, end in covered for p in range(begin, end)]
    assert positions == list(range(size))
    assert len(covered) <= max(chunks, 1)


def test_many_calls_in_a_row_stay_exact():
    """Tasks published back to back: a worker still holding an old task's claim word must
    never take a chunk of the next one."""
    small, big = runtime.compile(scaled_sum(BIG)), runtime.compile(scaled_sum(BIG + 1000))
    assert small.stats["threads"] == host_threads()
    x, y = np.arange(BIG, dtype=np.float32), np.arange(BIG + 1000, dtype=np.float32)
    for k in range(300):
        np.testing.assert_array_equal(small(x + k), (x + k) * 3 + 1)
        np.testing.assert_array_equal(big(y), y * 3 + 1)


def test_concurrent_callers_share_the_pool():
    """Python threads call parallel executables at once (the native call releases the GIL):
    one owns the pool, the others run their chunks themselves."""
    from concurrent.futures import ThreadPoolExecutor

    executable = runtime.compile(scaled_sum(BIG))
    inputs = [np.full(BIG, k, np.float32) for k in range(32)]
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(executable, inputs))
    for k, result in enumerate(results):
        assert (result == 3 * k + 1).all()


def test_sleeping_workers_and_caller():
    """With no spinning at all, every hand-over goes through the condition variables."""
    script = textwrap.dedent(f"""
        import time
        import numpy as np
        import jitflow
        from jitflow.codegen.cpu import threads
        threads.WORKER_SPIN = threads.CALLER_SPIN = 1
        executable = jitflow.jit(lambda x: x * 3 + 1)
        x = np.arange({BIG}, dtype=np.float32)
        for k in range(200):
            assert (executable(x + k) == (x + k) * 3 + 1).all(), k
            if k % 20 == 0:
                time.sleep(0.002)
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def _child(executable, queue) -> None:
    x = np.arange(BIG, dtype=np.float32)
    queue.put(bool((executable(x) == x * 3 + 1).all()))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_starts_its_own_workers():
    executable = runtime.compile(scaled_sum(BIG))
    x = np.arange(BIG, dtype=np.float32)
    np.testing.assert_array_equal(executable(x), x * 3 + 1)  # the parent's workers exist
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child, args=(executable, queue))
    child.start()
    child.join(60)
    assert child.exitcode == 0 and queue.get(timeout=5)


def _compile_in_child(queue) -> None:
    # A program no one compiled before: the child goes through the whole compiler.
    x = np.arange(7, dtype=np.float32)
    queue.put(bool((jitflow.jit(lambda v: v * 5 - 2)(x) == x * 5 - 2).all()))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.parametrize("held", ["compile", "executable cache"])
def test_a_fork_during_a_compile_leaves_the_child_able_to_compile(held):
    # Another thread is inside a compile (or the executable cache) when this one forks:
    # the fork waits for it, and the child's own first compile does not hang.
    lock = cpu_jit._llvm_options() if held == "compile" else runtime._lock
    inside, leave = threading.Event(), threading.Event()

    def holder() -> None:
        with lock:
            inside.set()
            leave.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    inside.wait(10)
    threading.Timer(0.3, leave.set).start()
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_compile_in_child, args=(queue,))
    child.start()
    child.join(60)
    thread.join(10)
    if child.exitcode is None:
        child.kill()
    assert child.exitcode == 0 and queue.get(timeout=5)
