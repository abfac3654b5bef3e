"""The CPU executable's contract: input validation, fresh results, introspection, caching."""

from __future__ import annotations

import numpy as np
import pytest

from jitflow import runtime
from jitflow.codegen.errors import UnsupportedOpError
from jitflow.errors import BackendError, JitflowError
from jitflow.ir import DType, Module, TensorType, TupleType
from jitflow.runtime import InputError

from filecheck_util import filecheck


def add_one(shape=(4,), dtype=DType.F32) -> Module:
    module = Module("add_one")
    b = module.builder("main", entry=True)
    x = b.parameter(TensorType(dtype, shape), name="x")
    one = b.broadcast(b.constant(np.asarray(1, dtype.numpy)), shape=shape, dimensions=())
    b.set_root(b.add(x, one))
    return module


def identity_pair() -> Module:
    module = Module("pair")
    b = module.builder("main", entry=True)
    x = b.parameter(TensorType(DType.F32, (3,)), name="x")
    b.set_root(b.tuple(x, x, b.negate(x)))
    return module


def test_runs_and_returns_fresh_arrays():
    executable = runtime.compile(add_one())
    x = np.arange(4, dtype=np.float32)
    first, second = executable(x), executable(x)
    np.testing.assert_array_equal(first, x + 1)
    assert first is not second and not np.shares_memory(first, second)
    assert first.flags.owndata and first.flags.writeable


def test_tuple_root_with_parameters_returns_copies():
    x = np.arange(3, dtype=np.float32)
    a, b, c = runtime.compile(identity_pair())(x)
    np.testing.assert_array_equal(a, x)
    assert not np.shares_memory(a, x) and not np.shares_memory(a, b)
    np.testing.assert_array_equal(c, -x)


def test_tuple_parameters_are_flattened():
    module = Module("tuple_param")
    b = module.builder("main", entry=True)
    t = TupleType((TensorType(DType.S32, (2,)), TensorType(DType.F64, ())))
    p = b.parameter(t)
    b.set_root(b.get_tuple_element(p, index=1))
    assert runtime.compile(module)(np.array([1, 2], np.int32), np.float64(2.5)) == 2.5


@pytest.mark.parametrize("bad, message", [
    ((), "takes 1 input"),
    ((np.zeros(4, np.float64),), r"must be f32\[4\], got f64\[4\]"),
    ((np.zeros(5, np.float32),), r"must be f32\[4\], got f32\[5\]"),
    ((object(),), "not an array"),
    (("text",), "not an array of numbers"),
])
def test_wrong_inputs_are_clear_errors(bad, message):
    with pytest.raises(InputError, match=message) as info:
        runtime.compile(add_one())(*bad)
    assert isinstance(info.value, JitflowError)
    assert "%x" in str(info.value)  # names the parameter


def test_convertible_inputs_are_accepted():
    executable = runtime.compile(add_one())
    np.testing.assert_array_equal(executable([1.0, 2.0, 3.0, 4.0]), [2, 3, 4, 5])
    scalar = runtime.compile(add_one((), DType.S64))
    assert scalar(41) == 42
    with pytest.raises(InputError, match="does not fit"):
        runtime.compile(add_one((), DType.S8))(1000)


def test_custom_call_is_rejected_at_compile_time():
    module = Module("custom")
    b = module.builder("main", entry=True)
    x = b.parameter(TensorType(DType.F32, (2,)))
    b.set_root(b.custom_call(x, custom_call_target="my_kernel", type=TensorType(DType.F32, (2,))))
    with pytest.raises(UnsupportedOpError, match="my_kernel.*not supported by the cpu backend"):
        runtime.compile(module)


def test_unknown_target():
    with pytest.raises(BackendError, match="unknown compilation target"):
        runtime.compile(add_one(), target="tpu")


# x + 1 on 1023 floats: the entry calls one kernel over all of them; its loop adds the
# constant to each element and stores the sum.  The objects entry (the fast path of a
# call) validates the arrays and calls the entry.
ADD_ONE_LLVM = """
CHECK:       define internal void @"jf_entry"(ptr %[[BUFFERS:.+]])
CHECK-NEXT:  {
CHECK-NEXT:  entry:
CHECK-NEXT:    call void @"jf_kernel0"(ptr %[[BUFFERS]], i64 0, i64 1023)
CHECK-NEXT:    ret void
CHECK-NEXT:  }
CHECK-LABEL: define internal void @"jf_kernel0"
CHECK:         %[[X:.+]] = load float, ptr
CHECK:         %[[SUM:.+]] = fadd float %[[X]], %{{.+}}
CHECK-NEXT:    %[[OUT:.+]] = getelementptr inbounds float, ptr
CHECK-NEXT:    store float %[[SUM]], ptr %[[OUT]]
CHECK-LABEL: define i32 @"jf_entry_objects"
CHECK:         call void @"jf_entry"(
"""
# After O3 the kernel is vectorized (8 or 16 floats a step, by the host's vector width).
ADD_ONE_OPTIMIZED = """
CHECK-LABEL: @jf_entry_objects(
CHECK:       vector.body:
CHECK:         %[[X:.+]] = load <[[WIDTH:8|16]] x float>, ptr
CHECK:         %[[SUM:.+]] = fadd <[[WIDTH]] x float> %[[X]], {{.*}}1.000000e+00
CHECK:         store <[[WIDTH]] x float> %[[SUM]], ptr
CHECK:         br i1 %{{.+}}, label %{{.+}}, label %vector.body
"""
# x86-64 assembly of the same loop: packed adds of ymm/zmm registers, stored, looped, returned.
ADD_ONE_ASM = """
CHECK-LABEL: jf_entry_objects:
CHECK:         vaddps {{.+}}, %[[SUM:[yz]mm[0-9]+]]
CHECK:         vmovups %[[SUM]], (
CHECK:         jne
CHECK:         retq
CHECK:       .size jf_entry_objects,
"""


def test_introspection_and_stats():
    executable = runtime.compile(add_one((1023,)))
    filecheck(executable.llvm_ir, ADD_ONE_LLVM)
    filecheck(executable.llvm_ir_optimized, ADD_ONE_OPTIMIZED)
    filecheck(executable.asm, ADD_ONE_ASM)
    stats = executable.stats
    for key in ("build_llvm_ir_s", "llvm_optimize_s", "llvm_codegen_s", "compile_total_s"):
        assert stats[key] >= 0
    assert stats["kernel_count"] >= 1 and stats["output_bytes"] == 1023 * 4


def test_an_executable_keeps_machine_code_not_the_compiler():
    """Once finalized, an executable holds no LLVM module and no IR listing in plain text
    (a jitted function may keep thousands of them); asked for, the listings are made
    again, as they were."""
    import llvmlite.binding as llvm

    executable = runtime.compile(add_one((1021,)))
    compiled = executable._compiled
    kept = list(vars(compiled).values())
    kept += [getattr(engine, "module", None) for engine in compiled.engines]
    assert not any(isinstance(value, llvm.ModuleRef) for value in kept)
    assert not any(isinstance(value, str) and "define" in value for value in kept)
    assert not any(isinstance(value, str) and "define" in value for value in vars(executable).values())
    filecheck(executable.llvm_ir, ADD_ONE_LLVM.replace("1023", "1021"))
    filecheck(executable.llvm_ir_optimized, ADD_ONE_OPTIMIZED)
    filecheck(executable.asm, ADD_ONE_ASM)
    assert (executable(np.zeros(1021, np.float32)) == 1).all()


def test_cache_ignores_module_names():
    first = runtime.compile(add_one((2, 3)))
    module = add_one((2, 3))
    module.name = "renamed"
    assert runtime.compile(module) is first


def test_concurrent_calls_from_threads():
    from concurrent.futures import ThreadPoolExecutor

    executable = runtime.compile(add_one((1 << 16,)))
    inputs = [np.full(1 << 16, k, np.float32) for k in range(8)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(executable, inputs))
    for k, result in enumerate(results):
        assert (result == k + 1).all()


def test_array_object_layout_is_measured():
    from jitflow.runtime.executable import ARRAY_LAYOUT

    assert ARRAY_LAYOUT is not None, "the native argument check is off in this process"
    assert ARRAY_LAYOUT.ndarray_type == id(np.ndarray)


def identity(dtype: DType, shape=(6,)) -> Module:
    module = Module("identity")
    b = module.builder("main", entry=True)
    b.set_root(b.parameter(TensorType(dtype, shape), name="x"))
    return module


def _same_dtype_other_object(dtype: np.dtype) -> np.dtype:
    import pickle

    return pickle.loads(pickle.dumps(dtype))  # an equal descriptor, not the canonical one


@pytest.mark.parametrize("dtype", [DType.F32, DType.S64, DType.PRED, DType.U8, DType.F16])
def test_native_check_compares_dtypes_by_value(dtype):
    """A descriptor equal to the canonical one (from pickle, newbyteorder('='), or this
    machine's explicit byte order) passes the native check; one of another kind, size or
    byte order does not, whatever object it is."""
    from jitflow.runtime.executable import ARRAY_LAYOUT

    assert ARRAY_LAYOUT is not None and ARRAY_LAYOUT.descriptor_fields is not None
    executable = runtime.compile(identity(dtype))
    x = (np.arange(6) % 2).astype(dtype.numpy)
    native = "<" if np.little_endian else ">"
    for equal in (_same_dtype_other_object(x.dtype), x.dtype.newbyteorder("="),
                  x.dtype.newbyteorder(native)):
        assert equal == x.dtype and equal is not x.dtype
        np.testing.assert_array_equal(executable.probe(x.view(equal)), x)
        np.testing.assert_array_equal(executable(x.view(equal)), x)
    size = x.dtype.itemsize
    lookalikes = [np.dtype(f"{kind}{size}") for kind in "biuf" if f"{kind}{size}" != x.dtype.str[1:]
                  and (kind != "b" or size == 1) and (kind != "f" or size > 1)]
    lookalikes += [np.dtype(f"V{size}")] + ([x.dtype.newbyteorder("S")] if size > 1 else [])
    for other in lookalikes:
        for descriptor in (other, _same_dtype_other_object(other)):
            assert executable.probe(x.view(descriptor)) is None, descriptor


class _Subclass(np.ndarray):
    pass


@pytest.mark.parametrize("make", [
    lambda x: x[::-1].copy()[::-1],                       # negative stride view
    lambda x: np.tile(x, 2)[::2],                          # strided view
    lambda x: np.asfortranarray(x),                        # contiguous both ways: still fine
    lambda x: x.view(_Subclass),                           # not an exact ndarray
    lambda x: x.astype(x.dtype.newbyteorder()),            # other byte order: other descriptor
    lambda x: x.tolist(),                                  # not an array at all
], ids=["reversed", "strided", "fortran", "subclass", "byteswapped", "list"])
def test_native_check_sends_inexact_inputs_to_the_checked_path(make):
    """The objects entry rejects anything but an exact, C-contiguous ndarray of the
    canonical dtype; the Python path then converts it, and results stay right."""
    executable = runtime.compile(add_one((6,)))
    x = np.arange(6, dtype=np.float32)
    argument = make(x)
    np.testing.assert_array_equal(executable(argument), np.asarray(argument, np.float32) + 1)


def test_probe_runs_exact_inputs_and_rejects_others_without_running():
    executable = runtime.compile(add_one((2, 3)))
    x = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(executable.probe(x), x + 1)
    for other in (np.ones((3, 2), np.float32), np.ones((2, 3), np.float64), np.ones((6,), np.float32),
                  np.ones((2, 3, 1), np.float32), np.ones((2, 3), np.float32)[:, ::-1], 1.0):
        assert executable.probe(other) is None
    assert executable.probe() is None and executable.probe(x, x) is None


def test_probe_reading_takes_trailing_inputs_from_holders_at_each_call():
    """What the frontend's read-only variables use: the last inputs are not arguments but
    an attribute of given objects, read again at every call."""
    module = Module("sum")
    b = module.builder("main", entry=True)
    x, y = (b.parameter(TensorType(DType.F32, (3,)), name=n) for n in "xy")
    b.set_root(b.add(x, y))
    executable = runtime.compile(module)

    class Holder:
        pass

    holder = Holder()
    probe = executable.probe_reading([holder], "array")
    x = np.arange(3, dtype=np.float32)
    for value in (np.ones(3, np.float32), np.full(3, 7.0, np.float32)):
        holder.array = value
        np.testing.assert_array_equal(probe(x), x + value)
    holder.array = np.ones(3, np.float64)  # a held array of another type: nothing runs
    assert probe(x) is None and probe(x, x) is None
    assert executable.probe_reading([holder], "not an attribute") is None


def test_zero_d_and_empty_inputs_pass_the_native_check():
    scalar = runtime.compile(add_one((), DType.F64))
    assert scalar.probe(np.array(2.0)) == 3.0
    empty = runtime.compile(add_one((0, 4)))
    assert empty.probe(np.zeros((0, 4), np.float32)).shape == (0, 4)


def test_a_program_of_more_arrays_than_ctypes_can_pass_runs():
    """ctypes calls C with at most 1024 arguments: 1,100 inputs once failed with
    'ArgumentError: too many arguments' on the first call; they now go in one table."""
    count = runtime.MAX_NATIVE_ARGUMENTS + 100
    module = Module("many")
    b = module.builder("main", entry=True)
    params = [b.parameter(TensorType(DType.F32, (2,))) for _ in range(count)]
    total = params[0]
    for p in params[1:]:
        total = b.add(total, p)
    b.set_root(total)
    executable = runtime.compile(module)
    inputs = [np.full(2, k, np.float32) for k in range(count)]
    np.testing.assert_array_equal(executable(*inputs), np.full(2, sum(range(count)), np.float32))
    with pytest.raises(InputError, match="f32"):
        executable(*inputs[:-1], np.zeros(2, np.float64))
