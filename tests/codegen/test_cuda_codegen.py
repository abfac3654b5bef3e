"""The CUDA backend without a GPU: generated CUDA C compiles for sm_90, kernels have the
shapes the design promises, and asking for the device without one is a clear error.

The corpus test lowers every program of ``tests/op_cases.py`` and compiles the kernels
as a few large translation units (nvcc when present, else NVRTC); optimization is off
for that check (it tests that the source is valid CUDA, not how fast it runs), and
one realistic translation unit is compiled fully optimized.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import jitflow
from cuda_util import (chunks, compiler_or_skip, corpus_source, filecheck, has_custom_call,
                       lowered_corpus)
import op_cases
from jitflow import cli
from jitflow.codegen.cuda import CudaCompileError, compile_cubin, lower_module
from jitflow.codegen.errors import UnsupportedOpError
from jitflow.errors import BackendError, DeviceError

CHUNKS = 4
_UNIQUE = None


def unique_corpus():
    global _UNIQUE
    if _UNIQUE is None:
        _UNIQUE = chunks(lowered_corpus(unique=True), CHUNKS)
    return _UNIQUE


@pytest.mark.parametrize("part", range(CHUNKS))
def test_corpus_compiles_for_sm90(part):
    compiler = compiler_or_skip()
    lowered = unique_corpus()[part]
    source, starts = corpus_source(lowered, f"corpus part {part}")
    try:
        compile_cubin(source, "sm_90", optimize=False, compiler=compiler)
    except CudaCompileError as error:
        lines = [int(m) for m in re.findall(r"source line (\d+):", str(error))]
        cases = sorted({next((case for start, case in reversed(starts) if start <= line), "?")
                        for line in lines})
        pytest.fail(f"cases {cases} generate CUDA that does not compile:\n{error}")


def test_every_corpus_program_lowers_and_custom_calls_are_refused():
    lowered = 0
    for case in op_cases.CASES:
        module = case.build()
        if has_custom_call(module):
            with pytest.raises(UnsupportedOpError, match="custom-call target .* cuda backend"):
                lower_module(module)
        else:
            lower_module(module)
            lowered += 1
    assert lowered > 1800


SOFTMAX = """
import numpy as np

def softmax(x):
    m = np.max(x, axis=1, keepdims=True)
    e = np.exp(x - m)
    return e / np.sum(e, axis=1, keepdims=True)

def layernorm(x):
    mu = np.mean(x, axis=-1, keepdims=True)
    d = x - mu
    return d / np.sqrt(np.mean(d * d, axis=-1, keepdims=True) + 1e-5)

def gelu(x):
    return 0.5 * x * (1.0 + np.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))

def column_sum(x):
    return np.sum(x, axis=0)

def total(x):
    return np.sum(x)

def mixed(x, w):
    return np.tanh(x @ w.T) * 2.0
"""


@pytest.fixture
def functions(tmp_path):
    path = tmp_path / "functions.py"
    path.write_text(SOFTMAX)
    return path


def dump(functions, name: str, *types: str, capsys) -> str:
    args = ["dump", f"{functions}:{name}", "--stage", "cuda"]
    for t in types:
        args += ["--arg", t]
    assert cli.main(args) == 0
    return capsys.readouterr().out


def test_softmax_is_one_row_kernel_that_compiles_optimized(functions, capsys):
    source = dump(functions, "softmax", "f32[16384,4096]", capsys=capsys)
    filecheck(source, """
CHECK: #include <cuda_fp16.h>
CHECK: #include <cuda_bf16.h>
CHECK: __global__ void __launch_bounds__(256) [[NAME:jf_k0_[a-z_0-9]+]](
CHECK: for (int row = blockIdx.x; row < 16384; row += gridDim.x)
CHECK: float [[ROW:rc0]][16];
CHECK: reinterpret_cast<const float4*>(in0 + row * 4096)
CHECK: jf_block_reduce<float>({{.*}}JfMax(), jf_smem)
CHECK-NOT: in0[
CHECK: = ([[ROW]][it] - [[MAX:v[0-9]+]]);
CHECK: expf
CHECK: jf_block_reduce<float>({{.*}}JfAdd(), jf_smem)
CHECK-NOT: __global__
CHECK: reinterpret_cast<float4*>(out0 + row * 4096)
""")
    compiler_or_skip()
    assert compile_cubin(source, "sm_90", optimize=True)


def test_layernorm_and_gelu_translation_units(functions, capsys):
    layernorm = dump(functions, "layernorm", "f32[64,1000]", capsys=capsys)
    filecheck(layernorm, """
CHECK: __launch_bounds__(64)
CHECK: row < 64
CHECK: JfAdd()
CHECK: JfAdd()
CHECK: sqrtf
""")
    gelu = dump(functions, "gelu", "f16[1000,3]", capsys=capsys)
    filecheck(gelu, """
CHECK: __global__ void __launch_bounds__(256) {{.*}}(const __half* __restrict__ in0, __half* __restrict__ out0)
CHECK: #pragma unroll
CHECK: __half2float(in0[i])
CHECK: tanhf
CHECK: out0[i] = __float2half_rn(
""")
    compiler_or_skip()  # the softmax test compiles a row kernel optimized; these only check
    compile_cubin(layernorm, "sm_90", optimize=False)
    compile_cubin(gelu, "sm_90", optimize=False)


def _kinds(fn, *args) -> list[str]:
    module = jitflow.jit(fn).lower(*args)
    return [k.kind for k in lower_module(module).kernels]


def test_kernel_shapes_follow_the_reduction():
    x = np.ones((300, 70), np.float32)
    assert _kinds(lambda x: np.sum(x, axis=1), x) == ["rows"]
    assert _kinds(lambda x: np.sum(x, axis=0), x) == ["elementwise"]  # column: a loop per output
    assert _kinds(lambda x: np.sum(x), x) == ["rows"]  # full: one row
    assert _kinds(lambda x: np.sum(x, axis=1), np.ones((300, 5), np.float32)) == ["elementwise"]
    assert _kinds(lambda x: x * 2.0 + 1.0, x) == ["elementwise"]


def test_dot_goes_to_cublas_and_its_epilogue_is_the_following_kernel():
    from jitflow.codegen.cuda.module import Dot, Launch

    x, w = np.ones((8, 16), np.float32), np.ones((4, 16), np.float32)
    program = lower_module(jitflow.jit(lambda x, w: np.tanh(x @ w.T) * 2.0).lower(x, w))
    steps = [type(s).__name__ for s in program.entry.steps if isinstance(s, (Dot, Launch))]
    assert steps[-2:] == ["Dot", "Launch"]
    assert len(program.kernels) == 1


def test_compile_error_names_the_source_line():
    compiler_or_skip()
    source = "extern \"C\" __global__ void broken(float* out) {\n  out[0] = undefined_thing;\n}\n"
    with pytest.raises(CudaCompileError) as info:
        compile_cubin(source, "sm_90", optimize=False)
    assert "source line 2: out[0] = undefined_thing;" in str(info.value)


def _gpu_present() -> bool:
    try:
        from jitflow.runtime.cuda import require_cupy

        require_cupy()
        return True
    except DeviceError:
        return False


@pytest.mark.skipif(_gpu_present(), reason="this machine has a GPU")
def test_device_cuda_without_a_gpu_is_a_clear_error():
    f = jitflow.jit(lambda x: x + 1, device="cuda")
    with pytest.raises(DeviceError, match="device='cuda' needs"):
        f(np.ones(3, np.float32))
    # Nothing else changes: the cpu path still runs.
    np.testing.assert_array_equal(jitflow.jit(lambda x: x + 1)(np.ones(3, np.float32)), 2.0)
    with pytest.raises(DeviceError):
        jitflow.runtime.compile(jitflow.jit(lambda x: x + 1).lower(np.ones(3)), "cuda")


def test_unknown_device_is_rejected():
    with pytest.raises(BackendError, match="unknown device 'tpu'"):
        jitflow.jit(lambda x: x, device="tpu")


# -- the kernel cache on disk, without a GPU: cupy and the compiler are stand-ins ----------------

class _StandInModule:
    """A loaded cubin as far as the cache can tell: it has the kernels named in its bytes."""

    def __init__(self, path: str | None = None) -> None:
        self.cubin = None if path is None else Path(path).read_bytes()

    def load(self, cubin: bytes) -> None:  # cupy.cuda.function.Module: from memory
        self.cubin = cubin

    def get_function(self, name: str) -> str:
        if name.encode() not in self.cubin:
            raise RuntimeError(f"no kernel {name}")
        return name


class _StandInCupy:
    RawModule = _StandInModule
    cuda = SimpleNamespace(function=SimpleNamespace(Module=_StandInModule))


@pytest.fixture
def kernel_cache(tmp_path, monkeypatch):
    """runtime.cuda with a stand-in cupy and compiler (a cubin is its source's bytes), its
    disk cache under tmp_path, and the once-per-process warning not given yet."""
    from jitflow.runtime import cuda as cuda_runtime

    monkeypatch.setattr(cuda_runtime, "require_cupy", lambda: _StandInCupy)
    monkeypatch.setattr(cuda_runtime, "compile_cubin", lambda source, arch: f"cubin of {source}".encode())
    monkeypatch.setattr(cuda_runtime, "_unwritable_warned", False, raising=False)
    monkeypatch.setenv("JITFLOW_CACHE_DIR", str(tmp_path))
    return cuda_runtime


# Two programs whose first kernels share a name, as generated programs' jf_k0_... do.
SOURCE_A = "__global__ void jf_k0(float* x) { x[0] = 1; }"
SOURCE_B = "__global__ void jf_k0(float* x) { x[0] = 2; }"


def test_disk_cache_rejects_an_entry_moved_to_another_key(kernel_cache, tmp_path):
    first = kernel_cache.KernelCache()
    first.load(SOURCE_A, "sm_90", "jf_k0")
    first.load(SOURCE_B, "sm_90", "jf_k0")
    assert first.compiles == 2
    entries = {suffix: sorted((tmp_path / "cuda").glob(f"*{suffix}")) for suffix in (".cubin", ".sha256")}
    assert all(len(files) == 2 for files in entries.values())
    second = kernel_cache.KernelCache()  # another process: finds both on disk
    assert second.load(SOURCE_A, "sm_90", "jf_k0").cubin == f"cubin of {SOURCE_A}".encode()
    assert (second.disk_hits, second.compiles) == (1, 0)
    # A's entry (cubin and checksum) copied over B's: the probe kernel is in it, but it is not B.
    a_cubin = next(p for p in entries[".cubin"] if b"x[0] = 1" in p.read_bytes())
    b_cubin = next(p for p in entries[".cubin"] if p != a_cubin)
    for suffix in (".cubin", ".sha256"):
        b_cubin.with_suffix(suffix).write_bytes(a_cubin.with_suffix(suffix).read_bytes())
    third = kernel_cache.KernelCache()
    assert third.load(SOURCE_B, "sm_90", "jf_k0").cubin == f"cubin of {SOURCE_B}".encode()
    assert (third.disk_hits, third.compiles) == (0, 1)  # rebuilt, and written back
    fourth = kernel_cache.KernelCache()
    fourth.load(SOURCE_B, "sm_90", "jf_k0")
    assert (fourth.disk_hits, fourth.compiles) == (1, 0)


def test_cubin_checksum_covers_key_and_bytes(tmp_path):
    from jitflow.runtime.cuda import read_cubin, write_cubin

    path = tmp_path / "entry.cubin"
    assert write_cubin(path, "key-1", b"\x7fELF code")
    assert read_cubin(path, "key-1") == b"\x7fELF code"
    assert read_cubin(path, "key-2") is None  # the same bytes under another key
    path.write_bytes(b"\x7fELF codf")
    assert read_cubin(path, "key-1") is None  # corrupt
    path.with_suffix(".sha256").unlink()
    assert read_cubin(path, "key-1") is None  # no checksum: never trusted
    assert read_cubin(tmp_path / "missing.cubin", "key-1") is None


def test_unwritable_cache_folder_keeps_kernels_in_memory_and_warns_once(kernel_cache, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would go")  # even root cannot write under it
    monkeypatch.setenv("JITFLOW_CACHE_DIR", str(blocker))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cache = kernel_cache.KernelCache()
        module = cache.load(SOURCE_A, "sm_90", "jf_k0")
        assert module.cubin == f"cubin of {SOURCE_A}".encode() and module.get_function("jf_k0")
        assert cache.load(SOURCE_A, "sm_90", "jf_k0") is module  # cached in memory
        kernel_cache.KernelCache().load(SOURCE_B, "sm_90", "jf_k0")
    unwritable = [w for w in caught if "cannot write its CUDA kernel cache" in str(w.message)]
    assert len(unwritable) == 1 and issubclass(unwritable[0].category, RuntimeWarning)
    assert "JITFLOW_CACHE_DIR" in str(unwritable[0].message)
    assert blocker.read_text().startswith("a file")  # untouched, no stray temporaries
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-folder"]


def test_runtime_cache_is_bounded_for_cuda_too(monkeypatch):
    import collections

    from jitflow.runtime import cuda as cuda_runtime

    monkeypatch.setattr(jitflow.runtime, "_cache", collections.OrderedDict())
    monkeypatch.setattr(jitflow.runtime, "_CACHE_SIZE", 2)
    monkeypatch.setattr(cuda_runtime, "compile_cuda", lambda module: object())
    for n in range(1, 5):
        jitflow.runtime.compile(jitflow.jit(lambda x: x + 1).lower(np.ones(n, np.float32)), "cuda")
    assert len(jitflow.runtime._cache) == 2
