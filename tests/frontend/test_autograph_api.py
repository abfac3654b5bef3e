"""AutoGraph: its errors, ``to_code``, ``jit(autograph=False)``, source lines, the CLI stage."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

import jitflow
from jitflow import (BranchVariableError, ConcretizationError, JitflowError, LoopVariableError,
                     TracedListAppendError, jit)

HERE = __file__
ONES = np.ones(3)
N = np.int64(3)


def _line(fn, offset: int) -> int:
    return fn.__code__.co_firstlineno + offset


def _error(error_type, fn, *args, **options) -> str:
    with pytest.raises(error_type) as info:
        jit(fn, backend="interpreter", **options)(*args)
    assert isinstance(info.value, JitflowError)
    return str(info.value)


def _located(message: str, fn, offset: int) -> None:
    assert f"{HERE}:{_line(fn, offset)}" in message, message
    assert f"(in {fn.__name__})" in message, message


# -- errors -----------------------------------------------------------------------------------

def test_loop_variable_changing_dtype_names_it_both_dtypes_and_the_line():
    def f(x, n):
        v = np.int64(0)
        i = 0
        while i < n:
            v = v + 0.5
            i += 1
        return v
    message = _error(LoopVariableError, f, ONES, N)
    assert "'v'" in message and "int64[]" in message and "float64[]" in message
    _located(message, f, 3)


def test_loop_variable_changing_shape():
    def f(x, n):
        v = x
        for _ in range(n):
            v = np.concatenate([v, v])
        return v
    message = _error(LoopVariableError, f, ONES, N)
    assert "'v'" in message and "float64[3]" in message and "float64[6]" in message
    _located(message, f, 2)


def test_variable_defined_in_one_branch_and_used_after():
    def f(x):
        if x.sum() > 0:
            y = x * 2
        return y
    message = _error(BranchVariableError, f, ONES)
    assert "'y'" in message and "only one branch" in message and "float64[3]" in message
    _located(message, f, 1)


def test_variable_defined_in_one_branch_but_not_used_after_is_fine():
    def f(x):
        if x.sum() > 0:
            t = x * 2
            y = t + 1
        else:
            y = x
        return y
    np.testing.assert_allclose(jit(f)(ONES), ONES * 3)


def test_branches_giving_different_dtypes():
    def f(x):
        if x.sum() > 0:
            y = x
        else:
            y = x.astype(np.int32)
        return y
    message = _error(BranchVariableError, f, ONES)
    assert "'y'" in message and "float64[3]" in message and "int32[3]" in message
    _located(message, f, 1)


def test_list_append_in_traced_loop_gives_advice():
    def f(x, n):
        acc = []
        for i in range(n):
            acc.append(x[i])
        return acc
    message = _error(TracedListAppendError, f, ONES, N)
    assert "'acc'" in message and "preallocate" in message and "out[i] = value" in message
    _located(message, f, 3)


def test_list_local_to_the_loop_body_and_python_loops_may_append():
    def f(x, n):
        total = x[0] * 0
        for i in range(n):
            parts = []
            for k in range(2):
                parts.append(x[k] * i)
            total = total + parts[0] + parts[1]
        rows = []
        for k in range(3):
            rows.append(x[k])
        return total, np.stack(rows)
    total, rows = jit(f)(np.array([1.0, 2.0, 3.0]), N)
    assert float(total) == 9.0 and rows.tolist() == [1.0, 2.0, 3.0]


def test_variable_first_assigned_in_traced_loop_and_used_after():
    def f(x, n):
        for i in range(n):
            last = x[i]
        return last
    message = _error(LoopVariableError, f, ONES, N)
    assert "'last'" in message and "before the loop" in message
    _located(message, f, 1)


def test_array_condition_is_ambiguous():
    def f(x):
        if x > 0:
            return x
        return -x
    message = _error(ConcretizationError, f, ONES)
    assert "ambiguous" in message and "np.any" in message
    _located(message, f, 1)


def test_autograph_false_turns_conversion_off():
    def f(x):
        if x.sum() > 0:
            return x
        return -x
    message = _error(ConcretizationError, f, ONES, autograph=False)
    assert "Python bool" in message
    _located(message, f, 1)
    np.testing.assert_allclose(jit(f)(ONES), ONES)


def test_errors_inside_converted_code_keep_the_users_line():
    def f(x, n):
        y = x
        for _ in range(n):
            y = y @ np.ones((4, 4))
        return y
    message = _error(JitflowError, f, ONES, N)
    _located(message, f, 3)


# -- source lines and to_code ---------------------------------------------------------------

def _loop_and_branch(x, n):
    i = 0
    while i < n:
        if x[i] > 0:
            x = x * 2.0
        i += 1
    return x


def test_ir_metadata_names_the_users_lines_and_function():
    module = jit(_loop_and_branch).trace(np.ones(3), N)
    insts = {i.opcode: i for c in module.computations.values() for i in c.instructions}
    first = _loop_and_branch.__code__.co_firstlineno
    assert insts["while"].source.line == first + 2
    assert insts["conditional"].source.line == first + 3
    assert insts["multiply"].source.line == first + 4
    assert {i.source.function for c in module.computations.values()
            for i in c.instructions} == {"_loop_and_branch"}
    assert all(i.source.file == HERE for c in module.computations.values()
               for i in c.instructions)


def test_to_code_shows_the_converted_source():
    code = jitflow.autograph.to_code(_loop_and_branch)
    assert code.startswith("def _loop_and_branch(x, n):")
    assert "ag__.while_stmt(" in code and "ag__.if_stmt(" in code
    assert jitflow.autograph.to_code(jit(_loop_and_branch)) == code
    compile(code, "<converted>", "exec")


def test_conversion_is_cached_per_function():
    converted = jitflow.autograph.convert(_loop_and_branch)
    assert jitflow.autograph.convert(_loop_and_branch) is converted
    assert jitflow.autograph.convert(converted) is converted


def test_functions_without_source_run_unconverted():
    namespace: dict = {}
    exec("def f(x):\n    return x + 1\n", namespace)
    f = namespace["f"]
    assert jitflow.autograph.convert(f) is f
    np.testing.assert_allclose(jit(f)(ONES), ONES + 1)
    with pytest.raises(JitflowError, match="cannot be converted"):
        jitflow.autograph.to_code(f)


def test_cli_dump_stage_autograph(tmp_path):
    source = tmp_path / "prog.py"
    source.write_text("def f(x, n):\n    while n > 0:\n        x = x * 2\n        n -= 1\n"
                      "    return x\n")
    result = subprocess.run([sys.executable, "-m", "jitflow", "dump", f"{source}:f",
                             "--stage", "autograph"], capture_output=True, text=True,
                            cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("def f(x, n):") and "ag__.while_stmt(" in result.stdout


# -- speed of conversion, tracing and compilation ----------------------------------------------

def forty_lines(x, n, m):
    total = 0.0
    count = 0
    i = 0
    while i < n:
        j = 0
        while j < m:
            v = x[(i + j) % x.shape[0]]
            if v > 0.5:
                total += v
            elif v < -0.5:
                total -= v
            else:
                count += 1
            if count > 1000:
                break
            j += 1
        for k in range(m):
            if (i + k) % 3 == 0:
                continue
            total = total * 0.999
        i += 1
    best = x[0]
    for row in range(x.shape[0]):
        if x[row] > best:
            best = x[row]
    scale = 1.0
    if best > 1.0:
        scale = 1.0 / best
    else:
        scale = 2.0
    k = 0
    while k < 3:
        scale = scale * 0.5
        k += 1
    result = total * scale
    if count % 2 == 0:
        result = result + count
    return result, count


def test_forty_line_function_converts_traces_and_compiles_quickly():
    x = np.linspace(-1.0, 1.0, 7)
    args = (x, np.int64(5), np.int64(4))
    jit(forty_lines)(*args)  # warm the compiler and the imports
    import importlib

    start = time.perf_counter()
    fresh = importlib.import_module(__name__).forty_lines
    jitflow.autograph.conversion._function_cache.pop(fresh, None)
    jitflow.autograph.conversion._code_cache.pop(fresh.__code__, None)
    result = jit(fresh)(*args)
    elapsed = time.perf_counter() - start
    expected = forty_lines(*args)
    np.testing.assert_allclose(result[0], expected[0], rtol=1e-9)
    assert int(result[1]) == expected[1]
    # The target is 300 ms; this shared 2-core test machine gets slack.
    assert elapsed < 1.5, elapsed


# -- scalar loops compile to native loops ----------------------------------------------------

def collatz_total(n_max):
    total = 0
    n = 1
    while n < n_max:
        x = n
        steps = 0
        while x != 1:
            if x % 2 == 0:
                x = x // 2
            else:
                x = 3 * x + 1
            steps += 1
        total += steps
        n += 1
    return total


# From the first loop block to the block after the loops: values live in registers (phi),
# no memory traffic and no calls per iteration.
_SCALAR_LOOP_CHECKS = """
CHECK-LABEL: while.body
CHECK-NOT: {{ (call|load|store|alloca) }}
CHECK: phi i64
CHECK-NOT: {{ (call|load|store|alloca) }}
CHECK: exit:
"""


def test_nested_scalar_loops_compile_to_register_loops(tmp_path):
    f = jit(collatz_total)
    assert int(f(np.int64(1000))) == collatz_total(1000)
    llvm = f.compile(np.int64(1000)).llvm_ir_optimized
    checks = tmp_path / "checks.txt"
    checks.write_text(_SCALAR_LOOP_CHECKS)
    result = subprocess.run([sys.executable, "-m", "filecheck", str(checks)], input=llvm,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr + llvm


def test_returning_none_on_some_traced_paths_is_an_error():
    def f(x):
        if x.sum() > 0:
            return x
    message = _error(BranchVariableError, f, ONES)
    assert "<return value>" in message and "None" in message and "float64[3]" in message


def test_closure_over_array_becomes_a_constant_and_cells_stay_shared():
    w = np.array([1.0, 2.0, 3.0])

    def f(x, n):
        for _ in range(n):
            if x.sum() < 50:
                x = x + w
        return x
    np.testing.assert_allclose(jit(f)(np.zeros(3), N), 3 * w)
    module = jit(f).trace(np.zeros(3), N)
    constants = [i for c in module.computations.values() for i in c.instructions
                 if i.opcode == "constant" and i.type.shape == (3,)]
    assert any(np.array_equal(i.attrs["literal"], w) for i in constants)
    w = np.array([10.0, 10.0, 10.0])  # the converted function reads the same cell
    np.testing.assert_allclose(jit(f)(np.zeros(3), N), f(np.zeros(3), N))
    assert f(np.zeros(3), N).tolist() == [20.0, 20.0, 20.0]


# -- stores into global and enclosing containers ------------------------------------------------
# ``x[k] = v`` rebinds a local ``x`` (traced arrays are updated functionally), but must leave a
# global or enclosing ``x`` alone: mutated in place, as Python does, and never made a local.

_STATS: dict[str, object] = {}
_SEEN: list[int] = []
_TABLE = np.zeros(3)


class _Box:
    pass


_BOX = _Box()


def _reset() -> None:
    _STATS.clear()
    _STATS["n"] = 0
    _SEEN[:] = [0, 0]
    _BOX.count = 0


def _count_calls(x):
    _STATS["n"] += 1
    _STATS["last"] = 7
    _SEEN[0] = 5
    _SEEN[1] += 2
    return x * 2


@pytest.mark.parametrize("autograph", [True, False])
def test_item_stores_into_module_level_dict_and_list_mutate_them(autograph):
    _reset()
    np.testing.assert_allclose(jit(_count_calls, backend="interpreter",
                                   autograph=autograph)(ONES), 2 * ONES)
    assert _STATS == {"n": 1, "last": 7} and _SEEN == [5, 2]


def _bump_box(x):
    _BOX.count += 1
    _BOX.last = 3
    _STATS["n"] += _BOX.count
    return x + 1


def test_attribute_store_on_a_global_object():
    _reset()
    jit(_bump_box, backend="interpreter")(ONES)
    assert (_BOX.count, _BOX.last, _STATS["n"]) == (1, 3, 1)


def _python_control_flow(x, n):
    for i in range(3):
        _STATS["n"] += i
        if i % 2 == 0:
            _SEEN[0] += 1
    k = 0
    while k < n:
        _SEEN[1] += 10
        k += 1
    return x


def test_stores_into_globals_inside_python_loops_and_branches_run_as_python():
    _reset()
    jit(_python_control_flow, backend="interpreter", static_argnames="n")(ONES, 2)
    assert _STATS["n"] == 3 and _SEEN == [2, 20]
    _reset()
    _python_control_flow(ONES, 2)
    assert _STATS["n"] == 3 and _SEEN == [2, 20]


def test_stores_into_an_enclosing_functions_containers():
    def make():
        box = {"calls": 0}
        hits = [0]

        def g(x):
            box["calls"] += 1
            hits[0] = 4
            return x + 1
        return g, box, hits
    g, box, hits = make()
    jit(g, backend="interpreter")(ONES)
    assert box == {"calls": 1} and hits == [4]

    def f(x):
        counts = {"n": 0}

        def bump():  # converted on its own: counts is its enclosing variable
            counts["n"] += 1
        bump()
        bump()
        return x + counts["n"]
    np.testing.assert_allclose(jit(f, backend="interpreter")(ONES), ONES + 2)


def test_local_containers_and_arrays_keep_working():
    def f(x):
        d = {}
        d["k"] = 1
        d["k"] += 2
        y = x * 1
        y[0] = 10.0
        y[1] += 5.0
        return y + d["k"]
    np.testing.assert_allclose(jit(f, backend="interpreter")(ONES), [13.0, 9.0, 4.0])
    assert "y = ag__.set_item(y, 0, 10.0)" in jitflow.autograph.to_code(f)


def _traced_branch_store(x):
    if x.sum() > 0:
        _STATS["taken"] = 1
    i = 0
    while x.sum() > i:
        _STATS["n"] += 1
        i += 1
    return x


def test_python_values_stored_inside_traced_control_flow_are_stored_while_tracing():
    # As in TensorFlow's AutoGraph: a Python side effect in a traced branch or loop body
    # runs when that body is traced, not per iteration or only when the branch is taken.
    _reset()
    jit(_traced_branch_store, backend="interpreter")(-ONES)
    assert _STATS == {"n": 1, "taken": 1}


def _traced_value_escapes(x):
    if x.sum() > 0:
        _STATS["leak"] = x * 2
    return x


def test_traced_value_stored_into_a_global_inside_traced_control_flow_is_an_error():
    _reset()
    message = _error(jitflow.AutoGraphError, _traced_value_escapes, ONES)
    assert "'_STATS'" in message and "traced if/while/for" in message
    _located(message, _traced_value_escapes, 2)
    assert "leak" not in _STATS


def _into_numpy_global(x):
    _TABLE[0] = x[0]
    return x


def test_traced_value_stored_into_a_global_numpy_array_is_an_error():
    message = _error(jitflow.AutoGraphError, _into_numpy_global, ONES)
    assert "NumPy array '_TABLE'" in message and "_TABLE.copy()" in message
    _located(message, _into_numpy_global, 1)
    assert _TABLE.tolist() == [0.0, 0.0, 0.0]


def test_to_code_keeps_stores_into_globals_as_written():
    code = jitflow.autograph.to_code(_count_calls)
    assert "_STATS['n'] += 1" in code and "_SEEN[1] += 2" in code
    assert "_STATS = " not in code and "_SEEN = " not in code
    code = jitflow.autograph.to_code(_traced_value_escapes)
    assert "_STATS['leak'] = ag__.outer_store(_STATS, x * 2, '_STATS')" in code
    compile(code, "<converted>", "exec")
