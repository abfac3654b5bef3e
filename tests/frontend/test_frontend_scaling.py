"""AutoGraph and tracing take time linear in the function (issue 16: AutoGraph's liveness
copied the live set at every statement, 0.31 s for 2k statements and 10.5 s for 10k; the
tracer listed every parameter to number a new one)."""

from __future__ import annotations

import itertools
import linecache
import time

import jitflow
from jitflow.frontend.autograph import conversion
from jitflow.ir import DType, TensorType

_serial = itertools.count()


def _generated(n: int):
    """A function of about n statements whose variables all stay live to the end, with a
    branch every 100 statements and a loop every 250: every statement sees a live set of
    size O(n), the case a per-statement copy of the set made quadratic."""
    # A new name each time: conversions are cached per code object, and code objects of
    # the same text compare equal whatever their file name.
    name = f"generated_{next(_serial)}"
    lines = [f"def {name}(x):", "    v0 = x * 0", "    v1 = x * 1"]
    for i in range(2, n):
        if i % 100 == 0:
            lines += [f"    if x > {i}:", f"        v{i} = v{i - 1} + 1", "    else:", f"        v{i} = v{i - 2}"]
        elif i % 250 == 1:
            lines += [f"    v{i} = v{i - 1}", "    for k in range(3):", f"        v{i} = v{i} + k"]
        else:
            lines.append(f"    v{i} = v{i - 1} + v{i - 2}" if i % 3 else f"    v{i} = x * {i}")
    # A list, not a sum: a sum of n names nests n deep in the AST.
    lines.append("    return [" + ", ".join(f"v{i}" for i in range(n)) + "]")
    source = "\n".join(lines) + "\n"
    filename = f"<{name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict = {}
    exec(compile(source, filename, "exec"), namespace)
    return namespace[name]


def _conversion_s(n: int) -> float:
    fn = _generated(n)
    start = time.perf_counter()
    conversion.to_code(fn)
    return time.perf_counter() - start


def test_conversion_time_is_linear_in_the_number_of_statements():
    small = min(_conversion_s(1_000) for _ in range(3))
    large = _conversion_s(10_000)
    # 10x the statements: ~10x when linear, ~100x when quadratic (the copy per statement
    # gave 34 s against 0.35 s).  The bound leaves room for a loaded machine.
    assert large / small < 25, f"1k statements {small:.3f} s, 10k {large:.3f} s: ratio {large / small:.1f}"


def _sum_of_all(arrays):
    total = arrays[0]
    for array in arrays[1:]:
        total = total + array
    return total


def _trace_s(n: int) -> float:
    types = [TensorType(DType.F32, (4,))] * n  # traced from types: nothing is allocated
    start = time.perf_counter()
    jitflow.jit(_sum_of_all, autograph=False).trace(types)
    return time.perf_counter() - start


def test_trace_time_is_linear_in_the_number_of_arguments():
    small = min(_trace_s(1_000) for _ in range(3))
    large = _trace_s(10_000)
    # Numbering each new parameter by listing the existing ones: 10k arguments took 20 s.
    assert large / small < 25, f"1k arguments {small:.3f} s, 10k {large:.3f} s: ratio {large / small:.1f}"
