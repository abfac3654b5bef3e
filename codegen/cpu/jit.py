"""LLVM for the host: target machine, O3 pipeline, external symbols, MCJIT.

Facts this relies on (see /work/shared/TOOLCHAIN.md): llvmlite 0.50 only needs the
native target and asm printer initialized; the target machine must name the host
CPU and its features or loops vectorize to SSE width; MCJIT resolves externals
silently to null, so every external symbol is checked before code is finalized.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import importlib.util
import os
import time
from dataclasses import dataclass, field

import llvmlite.binding as llvm

from ..errors import CodegenError
from . import threads

# Externals generated code may call, and the libraries that provide them.  LLVM itself
# emits memcpy/memset calls (loop idioms, large copies) that are not visible as IR
# declarations, so these are always registered.
_LIBC = ("memcpy", "memmove", "memset") + threads.PTHREAD
_LIBM = tuple(name + suffix for name in ("sin", "cos", "tan", "cbrt", "atan2", "pow", "fmod")
              for suffix in ("", "f"))


@functools.lru_cache(maxsize=None)
def target_machine() -> llvm.TargetMachine:
    """The shared target machine for optimization and assembly output."""
    return new_target_machine()


def new_target_machine(opt: int = 3) -> llvm.TargetMachine:
    """A target machine for the host (an execution engine owns and frees its own)."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(cpu=llvm.get_host_cpu_name(),
                                        features=llvm.get_host_cpu_features().flatten(),
                                        opt=opt, codemodel="jitdefault")


@functools.lru_cache(maxsize=None)
def register_system_symbols() -> None:
    libc = ctypes.CDLL(None)
    libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
    for library, names in ((libc, _LIBC), (libm, _LIBM)):
        for name in names:
            if llvm.address_of_symbol(name) is None:
                address = ctypes.cast(getattr(library, name), ctypes.c_void_p).value
                llvm.add_symbol(name, address)


@functools.lru_cache(maxsize=None)
def load_blas() -> str | None:
    """Make OpenBLAS (the ``scipy-openblas32`` package) callable from JIT code; its path,
    or None when the package is missing (dots then use generated loops)."""
    # Located the way the package's own get_library() does, without importing it: its
    # import pulls in importlib.metadata, ~45 ms of every first compile with a dot.
    spec = importlib.util.find_spec("scipy_openblas32")
    if spec is None or not spec.submodule_search_locations:
        return None
    lib_dir = os.path.join(list(spec.submodule_search_locations)[0], "lib")
    names = sorted(name for name in (os.listdir(lib_dir) if os.path.isdir(lib_dir) else ())
                   if name.startswith("libscipy_openblas") and name.endswith((".so", ".dylib")))
    if not names:
        return None
    path = os.path.join(lib_dir, names[0])
    llvm.load_library_permanently(path)
    # Kernels split a dot's result across our own threads (kernels.gemm_kernel): each BLAS
    # call runs on the thread that makes it.  This copy of OpenBLAS is jitflow's alone
    # (NumPy links its own), so NumPy's threading is untouched.
    ctypes.CDLL(path).scipy_openblas_set_num_threads(1)
    return path


@functools.lru_cache(maxsize=None)
def install_thread_pool() -> None:
    """Compile the thread pool (``threads.py``) once per process and make ``jf_pool_run``
    callable from generated code; a forked child forgets the parent's workers."""
    register_system_symbols()
    llvm.initialize_native_asmparser()  # its spin loop's pause is inline assembly
    module = llvm.parse_assembly(str(threads.pool_module()))
    module.verify()
    # Spin loops and atomics gain nothing from optimization: the fast instruction selector
    # compiles it in ~9 ms instead of ~25.
    engine = llvm.create_mcjit_compiler(module, new_target_machine(opt=0))
    engine.finalize_object()
    llvm.add_symbol(threads.RUN, engine.get_function_address(threads.RUN))
    after_fork = ctypes.CFUNCTYPE(None)(engine.get_function_address(threads.AFTER_FORK))
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=after_fork)
    _POOL.extend([engine, module, after_fork])  # the code lives as long as the process


_POOL: list = []


@dataclass
class Compiled:
    """A finalized machine-code library and how it was made."""

    engine: llvm.ExecutionEngine
    module: llvm.ModuleRef
    entry_address: int | None     # jf_entry(i8** buffers), when it is the way in
    objects_address: int | None   # jf_entry_objects(PyArrayObject*...), otherwise
    llvm_ir: str
    times: dict[str, float] = field(default_factory=dict)

    @functools.cached_property
    def llvm_ir_optimized(self) -> str:
        return str(self.module)

    @functools.cached_property
    def asm(self) -> str:
        return target_machine().emit_assembly(llvm.parse_assembly(str(self.module)))


# Programs whose largest kernel does less work than this gain nothing measurable from
# loop interleaving (several vector accumulators), which doubles O3's compile time on
# small modules.
SMALL_PROGRAM_WORK = 1 << 14


def _optimize(module: llvm.ModuleRef, small: bool) -> None:
    options = llvm.create_pipeline_tuning_options(speed_level=3)
    options.loop_vectorization = True
    options.slp_vectorization = True
    # Unrolling vectorized loops tripled the IR and the compile time of an MLP training
    # step (1.3k -> 5.2k lines, 0.45 -> 1.15 s) for no measurable speed: the loops are
    # memory bound, or their bodies (vector math) are already long.
    options.loop_unrolling = False
    options.loop_interleaving = not small
    builder = llvm.create_pass_builder(target_machine(), options)
    builder.getModulePassManager().run(module, builder)


def _check_externals(module: llvm.ModuleRef) -> None:
    for fn in module.functions:
        if fn.is_declaration and not fn.name.startswith("llvm.") and llvm.address_of_symbol(fn.name) is None:
            raise CodegenError(f"generated code calls '{fn.name}', which is not available in this "
                               "process (a missing runtime library?)")


def compile_ir(text: str, entry: str, objects_entry: str | None, largest_work: int) -> Compiled:
    """Parse, verify, optimize at O3 for the host and JIT-compile LLVM IR text.

    ``largest_work`` (elements x inner trips of the biggest kernel) picks the small-program
    pipeline (no unrolling or interleaving) below ``SMALL_PROGRAM_WORK``.
    """
    register_system_symbols()
    times = {}
    start = time.perf_counter()
    try:
        module = llvm.parse_assembly(text)
        module.verify()
    except RuntimeError as error:  # a codegen bug, reported as such rather than a crash
        raise CodegenError(f"internal error: generated LLVM IR does not verify: {error}") from None
    tm = target_machine()
    module.triple = tm.triple
    module.data_layout = str(tm.target_data)
    times["llvm_parse_verify_s"] = time.perf_counter() - start
    start = time.perf_counter()
    _optimize(module, largest_work < SMALL_PROGRAM_WORK)
    times["llvm_optimize_s"] = time.perf_counter() - start
    _check_externals(module)
    start = time.perf_counter()
    engine = llvm.create_mcjit_compiler(module, new_target_machine())
    engine.finalize_object()
    times["llvm_codegen_s"] = time.perf_counter() - start
    if objects_entry:
        return Compiled(engine, module, None, engine.get_function_address(objects_entry), text, times)
    return Compiled(engine, module, engine.get_function_address(entry), None, text, times)
