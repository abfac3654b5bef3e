"""LLVM for the host: target machine, O3 pipeline, external symbols, MCJIT.

Facts this relies on (see /work/shared/TOOLCHAIN.md): llvmlite 0.50 only needs the
native target and asm printer initialized; the target machine must name the host
CPU and its features or loops vectorize to SSE width; MCJIT resolves externals
silently to null, so every external symbol is checked before code is finalized.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import importlib.util
import os
import sys
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Iterator

import llvmlite.binding as llvm

from ..errors import CodegenError
from . import shards, threads
from .shards import Split

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
    """Finalized machine code, and the LLVM IR it was made from.

    An executable keeps its code and nothing of the compiler: its engines hold object
    code only (see ``_load``), and the IR text is kept compressed, ~1 KB for a small
    program.  The optimized IR and the assembly are made again from that text when
    asked for (``jitflow dump``, tests): the same pipeline on the same text for the same
    machine gives the same result, and a cache of thousands of programs does not pay
    for listings nobody reads.
    """

    engines: tuple                # the execution engines (or split halves) holding the code
    entry_address: int | None     # jf_entry(i8** buffers), when it is the way in
    objects_address: int | None   # jf_entry_objects(PyArrayObject*...), otherwise
    sources: tuple[bytes, ...]    # zlib-compressed LLVM IR: the module, or its main and far halves
    small: bool                   # optimized with the small-program pipeline
    times: dict[str, float] = field(default_factory=dict)

    @property
    def llvm_ir(self) -> str:
        """The LLVM IR as generated, before optimization."""
        return self._listing([zlib.decompress(source).decode() for source in self.sources])

    @property
    def llvm_ir_optimized(self) -> str:
        with _llvm_options():
            return self._listing([str(module) for module in self._optimized()])

    @property
    def asm(self) -> str:
        with _llvm_options():  # code generation as it ran
            return "\n".join(target_machine().emit_assembly(module) for module in self._optimized())

    def _optimized(self) -> list[llvm.ModuleRef]:
        modules = []
        for source in self.sources:
            module = llvm.parse_assembly(zlib.decompress(source).decode())
            module.triple = target_machine().triple
            module.data_layout = str(target_machine().target_data)
            _optimize(module, self.small)
            modules.append(module)
        return modules

    @staticmethod
    def _listing(texts: list[str]) -> str:
        return texts[0] if len(texts) == 1 else shards.both_halves(*texts)


# Programs whose largest kernel does less work than this gain nothing measurable from
# loop interleaving (several vector accumulators), which doubles O3's compile time on
# small modules.
SMALL_PROGRAM_WORK = 1 << 14


def _optimize(module: llvm.ModuleRef, small: bool, machine: llvm.TargetMachine | None = None,
              unlocked: bool = False) -> None:
    options = llvm.create_pipeline_tuning_options(speed_level=3)
    options.loop_vectorization = True
    options.slp_vectorization = True
    # Unrolling vectorized loops tripled the IR and the compile time of an MLP training
    # step (1.3k -> 5.2k lines, 0.45 -> 1.15 s) for no measurable speed: the loops are
    # memory bound, or their bodies (vector math) are already long.
    options.loop_unrolling = False
    options.loop_interleaving = not small
    builder = llvm.create_pass_builder(machine or target_machine(), options)
    passes = builder.getModulePassManager()
    if unlocked:
        _UNLOCKED["LLVMPY_RunNewModulePassManager"](passes, module, builder)
    else:
        passes.run(module, builder)
    # llvmlite 0.50's ModulePassManager wrapper never frees its pipeline: ~0.35 MB was
    # lost per compile, so a process that compiled thousands of programs grew by GBs.
    dispose = getattr(llvm.ffi.lib, "LLVMPY_DisposeNewModulePassManger", None)  # sic
    if dispose is not None and type(passes)._dispose is llvm.ffi.ObjectRef._dispose:
        dispose(passes)
        passes.detach()


def _unlocked_calls() -> dict:
    """llvmlite puts every call into LLVM behind one process-wide lock.  LLVM itself lets
    threads work at once on modules in separate contexts, which is all a split module's
    two halves do, so their two long calls (the O3 pipeline, code generation) go around
    the lock through its raw ctypes functions (which release the GIL).  Empty where
    llvmlite's internals differ: then the halves compile one after the other."""
    calls = {}
    for name in ("LLVMPY_RunNewModulePassManager", "LLVMPY_TargetMachineEmitToMemory"):
        raw = getattr(getattr(llvm.ffi.lib, name, None), "_cfn", None)
        if raw is None:
            return {}
        calls[name] = raw
    return calls


_UNLOCKED = _unlocked_calls()


class _Part:
    """One half of a split module, compiled in an LLVM context of its own.  It lives as long
    as the executable and is torn down in order: the engine (which owns the module) first,
    the context last.  The context is owned here, not by its wrapper, so that the garbage
    collector, finalizing an executable's objects in any order, cannot free it first."""

    def __init__(self, context: llvm.ContextRef, engine: llvm.ExecutionEngine) -> None:
        self.engine = engine
        self._context = context._ptr

    def __del__(self) -> None:
        if sys.is_finalizing():  # llvmlite may be half torn down; the process is ending anyway
            return
        self.engine.close()
        llvm.ffi.lib.LLVMPY_ContextDispose(self._context)


def can_compile_in_parallel() -> bool:
    return bool(_UNLOCKED)


def _check_externals(module: llvm.ModuleRef) -> None:
    for fn in module.functions:
        if fn.is_declaration and not fn.name.startswith("llvm.") and llvm.address_of_symbol(fn.name) is None:
            raise CodegenError(f"generated code calls '{fn.name}', which is not available in this "
                               "process (a missing runtime library?)")


# LLVM options for jitflow's own compiles, set around them and then put back to LLVM's
# defaults (they are process-wide: Numba, in the same process, must not see them).
# Together they took an MLP training step's O3 + code generation from ~630 to ~400 ms,
# with run times unchanged (W1-W5, compiled both ways in one process, alternating):
# - loop strength reduction is most of code generation's time on our loop nests, whose
#   addressing is already one unit-stride index;
# - a second vectorized loop for a vectorized loop's remainder is code for at most a
#   few elements per row.
LLVM_OPTIONS = {"disable-lsr": ("true", "false"), "enable-epilogue-vectorization": ("false", "true")}
# Held for the whole of each compile (the options are process-wide, and LLVM's own state
# must be consistent when a process forks: see _hold_compiles_across_fork).
_OPTIONS_LOCK = threading.RLock()


def _hold_compiles_across_fork() -> None:
    """A fork waits for a compile under way on another thread to finish, and the child
    starts with a free lock: a fork in mid-compile would leave the child with the lock held
    by a thread that does not exist there, and its first compile would wait forever."""
    def fresh_lock_in_child() -> None:
        global _OPTIONS_LOCK
        _OPTIONS_LOCK = threading.RLock()

    os.register_at_fork(before=lambda: _OPTIONS_LOCK.acquire(),
                        after_in_parent=lambda: _OPTIONS_LOCK.release(),
                        after_in_child=fresh_lock_in_child)


if hasattr(os, "register_at_fork"):
    _hold_compiles_across_fork()


@contextlib.contextmanager
def _llvm_options() -> Iterator[None]:
    with _OPTIONS_LOCK:
        for name, (ours, _) in LLVM_OPTIONS.items():
            llvm.set_option("jitflow", f"-{name}={ours}")
        try:
            yield
        finally:
            for name, (_, default) in LLVM_OPTIONS.items():
                llvm.set_option("jitflow", f"-{name}={default}")


def compile_ir(text: str, entry: str, objects_entry: str | None, largest_work: int,
               split: Split | None = None) -> Compiled:
    """Parse, verify, optimize at O3 for the host and JIT-compile LLVM IR text.

    ``largest_work`` (elements x inner trips of the biggest kernel) picks the small-program
    pipeline (no unrolling or interleaving) below ``SMALL_PROGRAM_WORK``.  With ``split``,
    its two halves are compiled instead, at once on two threads (``text`` is kept for
    reading).
    """
    register_system_symbols()
    small = largest_work < SMALL_PROGRAM_WORK
    times: dict[str, float] = {}
    with _llvm_options():
        if split is None:
            engines: tuple = (_compile(text, small, times),)
            sources = (text,)
        else:
            engines, times = _compile_split(split, small)
            sources = (split.main, split.far)
    main = engines[0] if split is None else engines[0].engine
    address = main.get_function_address(objects_entry or entry)
    return Compiled(engines, None if objects_entry else address, address if objects_entry else None,
                    tuple(zlib.compress(source.encode(), 1) for source in sources), small, times)


def _compile_split(split: Split, small: bool) -> tuple[tuple[_Part, _Part], dict[str, float]]:
    """Both halves at once (the far one on a helper thread), then the main half's table
    of far kernels filled in.  Times are the slower half's, stage by stage."""
    results: list[dict] = [{}, {}]
    helper = threading.Thread(target=_compile_part, args=(split.far, small, results[1]), daemon=True)
    helper.start()
    _compile_part(split.main, small, results[0])
    helper.join()
    for result in results:
        if "error" in result:
            raise result["error"]
    main, far = (result["part"] for result in results)
    table = (ctypes.c_void_p * len(split.far_kernels)).from_address(
        main.engine.get_global_value_address(shards.FAR_TABLE))
    for slot, name in enumerate(split.far_kernels):
        table[slot] = far.engine.get_function_address(name)
    times = {stage: max(results[0]["times"][stage], results[1]["times"][stage]) for stage in results[0]["times"]}
    return (main, far), times


def _compile_part(text: str, small: bool, result: dict) -> None:
    try:
        context = llvm.create_context()
        context._owned = True  # see _Part; a half that fails leaves its context behind
        result["times"] = {}
        engine = _compile(text, small, result["times"], context)
        result["part"] = _Part(context, engine)
    except BaseException as error:  # noqa: BLE001 - re-raised on the calling thread
        result["error"] = error


def _compile(text: str, small: bool, times: dict[str, float],
             context: llvm.ContextRef | None = None) -> llvm.ExecutionEngine:
    """The finalized engine running ``text``.  In a context of its own (half of a split
    module) it has its own target machine, and its long LLVM calls do not wait for
    llvmlite's lock (see ``_unlocked_calls``)."""
    start = time.perf_counter()
    try:
        module = llvm.parse_assembly(text, context=context)  # None: the global context
        module.verify()
    except RuntimeError as error:  # a codegen bug, reported as such rather than a crash
        raise CodegenError(f"internal error: generated LLVM IR does not verify: {error}") from None
    machine = target_machine() if context is None else new_target_machine()
    module.triple = machine.triple
    module.data_layout = str(machine.target_data)
    times["llvm_parse_verify_s"] = time.perf_counter() - start
    start = time.perf_counter()
    unlocked = context is not None and bool(_UNLOCKED)
    _optimize(module, small, machine, unlocked)
    times["llvm_optimize_s"] = time.perf_counter() - start
    _check_externals(module)
    start = time.perf_counter()
    engine = _load(_emit_object(module, machine, unlocked), context)
    module.close()  # the engine holds object code only
    times["llvm_codegen_s"] = time.perf_counter() - start
    return engine


def _emit_object(module: llvm.ModuleRef, machine: llvm.TargetMachine, unlocked: bool) -> bytes:
    """``module``'s object code, made by ``machine``."""
    if not unlocked:
        return machine.emit_object(module)
    lib = llvm.ffi.lib
    with llvm.ffi.OutputString() as error:
        buffer = _UNLOCKED["LLVMPY_TargetMachineEmitToMemory"](machine, module, 1, error)
        if not buffer:
            raise CodegenError(f"internal error: LLVM code generation failed: {error}")
    try:
        return ctypes.string_at(lib.LLVMPY_GetBufferStart(buffer), lib.LLVMPY_GetBufferSize(buffer))
    finally:
        lib.LLVMPY_DisposeMemoryBuffer(buffer)


def _load(code: bytes, context: llvm.ContextRef | None) -> llvm.ExecutionEngine:
    """An engine holding ``code``, relocated and ready to run.

    Code generation is done beforehand by the shared target machine, not by the engine:
    the first function a target machine compiles builds its subtarget tables (~0.7 MB
    for x86-64 with AVX-512), and an engine owns a target machine of its own for as long
    as its code lives, so an engine that generated its own code cost ~0.8 MB per program
    and one that only loads object code ~50 KB.  The engine's module is empty."""
    engine = llvm.create_mcjit_compiler(llvm.parse_assembly("", context=context), new_target_machine())
    engine.add_object_file(llvm.ObjectFileRef.from_data(code))
    engine.finalize_object()
    return engine
