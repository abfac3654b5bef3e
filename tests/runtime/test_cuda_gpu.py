"""The CUDA backend on a GPU, against the interpreter and NumPy (marker ``gpu``).

Skipped where cupy or a GPU is missing.  The differential corpus compiles as a few
translation units in parallel (one cubin each) and every program then runs on the
device; further tests cover reductions whose lengths are not multiples of the
block size, empty arrays, f16 accumulation, placement rules and the caches.
"""

from __future__ import annotations

import concurrent.futures
import os
import tempfile

import numpy as np
import pytest

import jitflow
import op_cases
from codegen_util import assert_same, flatten
from cuda_util import as_expected_dtype, chunks, corpus_source, lowered_corpus, to_host
from jitflow.codegen.cuda import available_compilers, compile_cubin
from jitflow.errors import DeviceError, InterpreterError
from jitflow.ir import evaluate

pytestmark = pytest.mark.gpu


def _gpu():
    try:
        from jitflow.runtime.cuda import require_cupy

        return require_cupy()
    except DeviceError as error:
        pytest.skip(str(error))


cupy = None


@pytest.fixture(scope="module", autouse=True)
def device():
    global cupy
    cupy = _gpu()
    yield cupy


@pytest.fixture(scope="module")
def corpus_executables(device):
    """Executables of every corpus program, built from a few parallel-compiled cubins."""
    from jitflow.runtime.cuda import CudaExecutable, DeviceProperties

    arch = DeviceProperties(device).arch
    lowered = lowered_corpus(unique=False)
    parts = chunks(lowered, max(1, min(16, os.cpu_count() or 1)))
    compiler = "nvcc" if "nvcc" in available_compilers() else None
    folder = tempfile.mkdtemp(prefix="jitflow-corpus-")

    def build(number_part):
        number, part = number_part
        source, _ = corpus_source(part, f"corpus part {number}")
        path = os.path.join(folder, f"part{number}.cubin")
        with open(path, "wb") as stream:
            stream.write(compile_cubin(source, arch, optimize=True, compiler=compiler))
        return part, path

    with concurrent.futures.ThreadPoolExecutor(len(parts)) as pool:
        built = list(pool.map(build, enumerate(parts)))
    executables = {}
    for part, path in built:
        module = device.RawModule(path=path)
        for item in part:
            executables[item.case_id] = CudaExecutable(item.program, {}, module=module)
    return executables


CASES = [case for case in op_cases.CASES if case.raises is None]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_op_case_on_gpu(case, corpus_executables, custom_call_registry):
    executable = corpus_executables.get(case.id)
    if executable is None:
        pytest.skip("custom-call has no cuda lowering")
    module = case.build()
    try:
        expected = evaluate(module, *case.inputs)
    except InterpreterError:  # the interpreter's own limits with this NumPy: the corpus oracle
        expected = case.expected
    actual = as_expected_dtype(to_host(executable(*flatten(case.inputs))), expected)
    # As on the cpu: exact where the corpus expects exact results (no FMA contraction).
    assert_same(actual, expected, max(case.rtol, 1e-6 if case.rtol else 0.0))


# -- reductions, sizes, dtypes ----------------------------------------------------------------

@pytest.mark.parametrize("length", [1, 31, 32, 33, 255, 1000, 4097])
@pytest.mark.parametrize("rows", [1, 3, 257])
def test_row_reductions_of_awkward_lengths(rows, length):
    rng = np.random.default_rng(length * 1000 + rows)
    x = rng.standard_normal((rows, length)).astype(np.float32)
    ints = rng.integers(-2 ** 31, 2 ** 31, (rows, length), dtype=np.int32)  # sums promote to int64
    f = jitflow.jit(lambda x, i: (np.sum(x, axis=1), np.max(x, axis=1), np.sum(i, axis=1),
                                  np.min(i, axis=1)), device="cuda")
    total, largest, int_total, smallest = f(cupy.asarray(x), cupy.asarray(ints))
    np.testing.assert_allclose(total.get(), x.astype(np.float64).sum(axis=1), rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(largest.get(), x.max(axis=1))
    np.testing.assert_array_equal(int_total.get(), ints.sum(axis=1))
    np.testing.assert_array_equal(smallest.get(), ints.min(axis=1))


@pytest.mark.parametrize("size", [1, 1023, 1025, 100_003])
def test_full_and_column_reductions(size):
    rng = np.random.default_rng(size)
    x = rng.standard_normal(size).astype(np.float32)
    full = jitflow.jit(lambda x: np.sum(x), device="cuda")(x)
    np.testing.assert_allclose(full.get(), x.astype(np.float64).sum(), rtol=1e-5, atol=1e-3)
    m = rng.standard_normal((size % 97 + 3, 77)).astype(np.float32)
    columns = jitflow.jit(lambda m: np.max(m, axis=0), device="cuda")(m)
    np.testing.assert_array_equal(columns.get(), m.max(axis=0))


def test_empty_arrays():
    f = jitflow.jit(lambda x: (np.sum(x, axis=1), np.sum(x, axis=0), x * 2.0), device="cuda")
    rows, columns, doubled = f(np.zeros((0, 5), np.float32))
    assert rows.shape == (0,) and doubled.shape == (0, 5)
    np.testing.assert_array_equal(columns.get(), np.zeros(5, np.float32))
    empty_rows = jitflow.jit(lambda x: np.sum(x, axis=1), device="cuda")(np.zeros((3, 0), np.float32))
    assert empty_rows.get().tolist() == [0.0] * 3


def test_f16_sums_accumulate_in_f32():
    x = np.full((4, 4096), 0.1, np.float16)
    total = jitflow.jit(lambda x: np.sum(x, axis=1), device="cuda")(x).get()
    exact = x.astype(np.float64).sum(axis=1)
    # Accumulating in f16 would stall near 256; f32 accumulation is within one f16 ulp.
    assert total.dtype == np.float16
    np.testing.assert_allclose(total.astype(np.float64), exact, rtol=2 ** -10)


def test_softmax_layernorm_gelu_match_numpy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((257, 4096)).astype(np.float32)

    def softmax(x):
        e = np.exp(x - np.max(x, axis=1, keepdims=True))
        return e / np.sum(e, axis=1, keepdims=True)

    def layernorm(x):
        d = x - np.mean(x, axis=-1, keepdims=True)
        return d / np.sqrt(np.mean(d * d, axis=-1, keepdims=True) + 1e-5)

    def gelu(x):
        return 0.5 * x * (1.0 + np.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))

    for fn in (softmax, layernorm, gelu):
        got = jitflow.jit(fn, device="cuda")(cupy.asarray(x)).get()
        np.testing.assert_allclose(got, fn(x.astype(np.float64)), rtol=2e-5, atol=2e-6)


def test_dot_on_cublas_with_transposes():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((64, 48)).astype(np.float32)
    b = rng.standard_normal((32, 48)).astype(np.float32)
    f = jitflow.jit(lambda a, b: np.maximum(a @ b.T, 0.0), device="cuda")
    np.testing.assert_allclose(f(a, b).get(), np.maximum(a @ b.T, 0.0), rtol=1e-4, atol=1e-4)
    batched = jitflow.jit(lambda a, b: np.einsum("bij,bjk->bik", a, b), device="cuda")
    x, y = rng.standard_normal((3, 5, 7)), rng.standard_normal((3, 7, 2))
    np.testing.assert_allclose(batched(x, y).get(), np.einsum("bij,bjk->bik", x, y), rtol=1e-12)


# -- placement and caches ------------------------------------------------------------------------

def test_placement_rules():
    x = np.arange(6, dtype=np.float32)
    inferred = jitflow.jit(lambda x, y: x * y)
    result = inferred(cupy.asarray(x), cupy.asarray(x))
    assert isinstance(result, cupy.ndarray)
    np.testing.assert_array_equal(result.get(), x * x)
    with pytest.raises(DeviceError, match="different devices"):
        inferred(cupy.asarray(x), x)
    np.testing.assert_array_equal(inferred(cupy.asarray(x), 2.0).get(), x * 2)  # scalars are fine
    with pytest.raises(DeviceError, match="device='cpu'"):
        jitflow.jit(lambda x: x, device="cpu")(cupy.asarray(x))
    copied_in = jitflow.jit(lambda x: x + 1, device="cuda")(x)
    assert isinstance(copied_in, cupy.ndarray)
    shifted = cupy.arange(1001, dtype=cupy.float32)[1:]  # 4 bytes past a 16-byte boundary
    np.testing.assert_array_equal(jitflow.jit(lambda x: x * 2.0)(shifted).get(),
                                  np.arange(1, 1001, dtype=np.float32) * 2)
    passthrough = jitflow.jit(lambda x: x, device="cuda")
    arg = cupy.asarray(x)
    assert passthrough(arg) is not arg  # results are fresh arrays


def test_disk_cache_is_used_and_corrupt_entries_rebuilt(tmp_path, monkeypatch):
    from jitflow.codegen.cuda import lower_module
    from jitflow.runtime import cuda as cuda_runtime

    monkeypatch.setenv("JITFLOW_CACHE_DIR", str(tmp_path))
    module = jitflow.jit(lambda x: np.sin(x) * 3.0).lower(np.ones(10, np.float32))
    source = lower_module(module).source
    arch = cuda_runtime.DeviceProperties(cupy).arch
    first = cuda_runtime.KernelCache()
    name = lower_module(module).kernels[0].name
    first.load(source, arch, name)
    assert first.compiles == 1
    second = cuda_runtime.KernelCache()
    second.load(source, arch, name)
    assert (second.disk_hits, second.compiles) == (1, 0)
    for entry in (tmp_path / "cuda").glob("*.cubin"):
        entry.write_bytes(b"not a cubin")
    third = cuda_runtime.KernelCache()
    third.load(source, arch, name)
    assert third.compiles == 1
    np.testing.assert_allclose(jitflow.jit(lambda x: np.sin(x) * 3.0, device="cuda")(
        np.ones(10, np.float32)).get(), np.sin(np.ones(10)) * 3.0, rtol=1e-6)


def test_unwritable_disk_cache_runs_from_memory(tmp_path, monkeypatch):
    import warnings

    from jitflow.runtime import cuda as cuda_runtime

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("JITFLOW_CACHE_DIR", str(blocker))
    monkeypatch.setattr(cuda_runtime, "_unwritable_warned", False)
    monkeypatch.setattr(cuda_runtime, "KERNELS", cuda_runtime.KernelCache())
    monkeypatch.setattr(jitflow.runtime, "_cache", type(jitflow.runtime._cache)())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f = jitflow.jit(lambda x: np.cos(x) * 5.0, device="cuda")
        np.testing.assert_allclose(f(np.ones(10, np.float32)).get(), np.cos(np.ones(10)) * 5.0, rtol=1e-6)
    assert cuda_runtime.KERNELS.compiles == 1
    assert sum("cannot write its CUDA kernel cache" in str(w.message) for w in caught) == 1
