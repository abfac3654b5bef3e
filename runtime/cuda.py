"""CUDA executables: cupy arrays in and out, cached kernels, launch configuration per device.

* **Placement.** Inputs may be cupy arrays (on the current device) or anything NumPy
  accepts; NumPy inputs are copied to the device.  Results are always fresh cupy
  arrays (``.get()`` copies one to the host).  cupy has no bfloat16 dtype: bf16
  values travel as ``uint16`` cupy arrays holding the bits
  (``result.get().view(ml_dtypes.bfloat16)``); NumPy bf16 inputs are accepted.
* **Caches.** A module's translation unit compiles once per process (in memory, by
  source hash and GPU architecture) and once per machine (a cubin on disk under
  ``JITFLOW_CACHE_DIR`` or the user cache folder, written atomically, with a checksum
  over its key and its bytes: an unreadable, corrupt or misplaced entry is rebuilt, never
  trusted; a folder that cannot be written leaves the cubins in memory, with one
  warning).  Launches reuse the loaded kernels.
* **Launch configuration** comes from the device: elementwise kernels get enough
  blocks to fill every multiprocessor a few times over (grid-stride loops cover the
  rest), row kernels one block per row.
* cupy is optional (extra ``cuda``): without it, or without a GPU, asking for the
  cuda target raises ``DeviceError`` and nothing else changes.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..codegen.cuda import compile_cubin
from ..codegen.cuda.module import Alias, Control, Dot, HostComputation, HostProgram, Launch, lower_module
from ..errors import DeviceError
from ..ir import DType, Instruction, Module, TensorType, TupleType, leaf_types
from ..ir.analysis.dots import DotDimensions
from .executable import InputError

# Waves of resident blocks an elementwise grid asks for; the grid-stride loop does the rest.
_WAVES = 4
_MAX_GRID = 65535
_MAX_ROW_GRID = 2 ** 31 - 1


def require_cupy():
    """cupy with a usable GPU, or a DeviceError saying what is missing."""
    try:
        import cupy
    except ImportError:
        raise DeviceError("device='cuda' needs cupy: pip install 'jitflow[cuda]' (cupy-cuda13x)") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:  # cupy raises its own CUDARuntimeError without a driver
        raise DeviceError(f"device='cuda' needs a CUDA GPU; cupy reports: {error}") from None
    if count == 0:
        raise DeviceError("device='cuda' needs a CUDA GPU; none is visible")
    return cupy


def is_device_array(value: Any) -> bool:
    """A cupy array, recognised without importing cupy (which may be absent)."""
    return type(value).__module__.startswith("cupy") and hasattr(value, "__cuda_array_interface__")


def device_dtype(dtype: DType) -> np.dtype:
    """The cupy dtype holding ``dtype``'s elements (bf16 as its bits)."""
    return np.dtype(np.uint16) if dtype is DType.BF16 else dtype.numpy


def cache_dir() -> Path:
    root = os.environ.get("JITFLOW_CACHE_DIR")
    if root:
        return Path(root) / "cuda"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "jitflow" / "cuda"


class KernelCache:
    """Loaded cupy modules by (source hash, architecture); cubins on disk between processes."""

    def __init__(self) -> None:
        self._loaded: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self.hits = self.disk_hits = self.compiles = 0

    def load(self, source: str, arch: str, probe: str | None = None) -> Any:
        """The loaded module of ``source``; ``probe`` names a kernel that must be in it (cupy
        loads a cubin lazily: getting a function is what proves the file is sound)."""
        cupy = require_cupy()
        digest = hashlib.sha256(f"{__version__}\n{arch}\n{source}".encode()).hexdigest()
        key = (digest, arch)
        with self._lock:
            module = self._loaded.get(key)
            if module is not None:
                self.hits += 1
                return module
        path = cache_dir() / f"{digest[:32]}-{arch}.cubin"
        module = None
        if read_cubin(path, digest) is not None:
            try:
                module = cupy.RawModule(path=str(path))
                if probe is not None:
                    module.get_function(probe)
                self.disk_hits += 1
            except Exception:  # a cubin the driver refuses: rebuild it
                module = None
        if module is None:
            cubin = compile_cubin(source, arch)
            self.compiles += 1
            if write_cubin(path, digest, cubin):
                module = cupy.RawModule(path=str(path))
            else:  # kept in this process only
                module = cupy.cuda.function.Module()
                module.load(cubin)
        with self._lock:
            self._loaded[key] = module
        return module


def _checksum(key: str, cubin: bytes) -> str:
    """What the ``.sha256`` file beside a cubin holds: a hash over the entry's key and its
    bytes, so that an entry copied or renamed to another key's place does not verify
    (programs share kernel names such as ``jf_k0_...``: loading one would not catch it)."""
    return hashlib.sha256(key.encode() + b"\0" + cubin).hexdigest()


def read_cubin(path: Path, key: str) -> bytes | None:
    """The cubin cached at ``path`` for ``key`` (the full digest of source, architecture
    and version), or None when it is missing, unreadable, or not verified by the checksum
    written after it: then it is rebuilt."""
    try:
        expected = path.with_suffix(".sha256").read_text().strip()
        cubin = path.read_bytes()
    except (OSError, UnicodeDecodeError):
        return None
    return cubin if _checksum(key, cubin) == expected else None


_unwritable_warned = False
_warn_lock = threading.Lock()


def write_cubin(path: Path, key: str, cubin: bytes) -> bool:
    """Cache ``cubin`` for ``key`` at ``path``, then its checksum; False when the folder
    cannot be written (read-only, full, not ours): the first time in a process that says
    so in a warning, and compiling goes on with the cubin in memory."""
    global _unwritable_warned
    try:
        _atomic_write(path, cubin)
        _atomic_write(path.with_suffix(".sha256"), _checksum(key, cubin).encode())
        return True
    except OSError as error:
        with _warn_lock:
            first, _unwritable_warned = not _unwritable_warned, True
        if first:
            warnings.warn(f"jitflow cannot write its CUDA kernel cache in {path.parent} ({error}); "
                          "compiled kernels stay in memory for this process only. Set "
                          "JITFLOW_CACHE_DIR to a writable folder to keep them between runs",
                          RuntimeWarning, stacklevel=2)
        return False


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)  # no half-written files left behind
        raise


KERNELS = KernelCache()


class DeviceProperties:
    """What launch configuration needs to know about the current device."""

    def __init__(self, cupy) -> None:
        device = cupy.cuda.Device()
        attributes = device.attributes
        self.id = device.id
        self.arch = f"sm_{device.compute_capability}"
        self.multiprocessors = attributes["MultiProcessorCount"]
        self.threads_per_multiprocessor = attributes["MaxThreadsPerMultiProcessor"]

    def grid(self, kind: str, work: int, block: int, unroll: int) -> int:
        resident = self.multiprocessors * max(1, self.threads_per_multiprocessor // block)
        if kind == "rows":
            # A block per row: the block scheduler starts the next row's loads as soon as
            # any block finishes, instead of each block walking its rows one after another.
            return max(1, min(work, _MAX_ROW_GRID))
        needed = -(-work // (block * unroll))
        return max(1, min(needed, resident * _WAVES, _MAX_GRID))


class CudaExecutable:
    """A compiled module for the current GPU: ``executable(*arrays)`` runs the entry computation.

    Inputs are the entry parameters in order (tuple parameters flattened); the
    result is a cupy array, or a tuple of them for a tuple root.
    """

    def __init__(self, program: HostProgram, stats: dict, module: Any = None) -> None:
        """``module``: a loaded cupy RawModule holding the kernels (tests load many programs
        from one cubin); by default the program's own translation unit, through the caches."""
        self._cupy = cupy = require_cupy()
        self.program = program
        self.stats = stats
        self.device = DeviceProperties(cupy)
        start = time.perf_counter()
        if module is None and program.kernels:
            module = KERNELS.load(program.source, self.device.arch, program.kernels[0].name)
        self.stats["cuda_load_s"] = time.perf_counter() - start
        self._launches = {}
        for kernel in program.kernels:
            grid = self.device.grid(kernel.kind, kernel.work, kernel.block, kernel.unroll)
            self._launches[kernel.name] = (module.get_function(kernel.name), (grid,), (kernel.block,),
                                           kernel.vector)
        self._inputs = program.input_types
        self._names = [f"%{p.name}" for p in program.module.entry.parameters
                       for _ in range(len(leaf_types(p.type)))]

    @property
    def cuda_source(self) -> str:
        """The translation unit of every kernel of this executable."""
        return self.program.source

    def __call__(self, *args: Any) -> Any:
        if len(args) != len(self._inputs):
            raise InputError(f"the executable takes {len(self._inputs)} input array(s), got {len(args)}")
        cupy = self._cupy
        with cupy.cuda.Device(self.device.id):
            flat = [self._to_device(number, arg) for number, arg in enumerate(args)]
            entry = self.program.module.entry
            values, position = [], 0
            for param in entry.parameters:
                value, position = _rebuild(param.type, flat, position)
                values.append(value)
            result = self._run(self.program.entry, values)
            seen: set[int] = {id(a) for a in flat}
            return _fresh(result, seen)

    # -- running a host program -------------------------------------------------------------

    def _run(self, program: HostComputation, args: list[Any]) -> Any:
        env: dict[Instruction, Any] = {}
        for param in program.computation.parameters:
            env[param] = args[param.attrs["parameter_number"]]
        for step in program.steps:
            RUNNERS[type(step)](self, step, env)
        return env[program.computation.root]

    def _launch(self, step: Launch, env: dict) -> None:
        cupy = self._cupy
        types = leaf_types(step.inst.type)
        outputs = [cupy.empty(t.shape, device_dtype(t.dtype)) for t in types]
        if step.kernel is not None:
            function, grid, block, vector = self._launches[step.kernel.name]
            inputs = [env[i] for i in step.inputs]
            if vector:  # 16-byte loads need 16-byte-aligned buffers (a view may start anywhere)
                inputs = [a if a.data.ptr % 16 == 0 else a.copy() for a in inputs]
            function(grid, block, tuple(inputs) + tuple(outputs))
        if isinstance(step.inst.type, TupleType):
            env[step.inst] = tuple(outputs)
        else:
            env[step.inst] = outputs[0]

    def _dot(self, step: Dot, env: dict) -> None:
        inst = step.inst
        lhs, rhs = (env[source] if permutation is None else env[source].transpose(permutation)
                    for source, permutation in zip(step.sources, step.permutations))
        dims = DotDimensions.of(inst)
        lb, lc, lf = list(dims.lhs_batch), list(dims.lhs_contracting), list(dims.lhs_free)
        rb, rc, rf = list(dims.rhs_batch), list(dims.rhs_contracting), list(dims.rhs_free)
        out = inst.type.dtype.numpy
        work = np.dtype(np.float32) if inst.type.dtype is DType.F16 else out
        size = lambda array, dims: math.prod(array.shape[d] for d in dims)
        # Transposed views, not copies: cupy hands their order to cuBLAS as transpose flags.
        a = lhs.transpose(lb + lf + lc)
        b = rhs.transpose(rb + rc + rf)
        if lb or len(lf) != 1 or len(lc) != 1:
            a = a.reshape(size(lhs, lb), size(lhs, lf), size(lhs, lc))
        if rb or len(rf) != 1 or len(rc) != 1:
            b = b.reshape(size(rhs, rb), size(rhs, rc), size(rhs, rf))
        if a.ndim != b.ndim:
            a, b = (a if a.ndim == 3 else a[None]), (b if b.ndim == 3 else b[None])
        product = self._cupy.matmul(a.astype(work, copy=False), b.astype(work, copy=False))
        env[inst] = product.reshape(inst.type.shape).astype(out, copy=False)

    def _alias(self, step: Alias, env: dict) -> None:
        inst = step.inst
        if step.source is not None:
            env[inst] = env[step.source]
        elif inst.opcode == "tuple":
            env[inst] = tuple(env[o] for o in inst.operands)
        else:
            env[inst] = env[inst.operands[0]][inst.attrs["index"]]

    def _control(self, step: Control, env: dict) -> None:
        inst = step.inst
        if inst.opcode == "while":
            condition, body = step.programs
            state = env[inst.operands[0]]
            # Control on the host, state on the device: one scalar comes back per trip.
            while bool(self._run(condition, [state]).get()):
                state = self._run(body, [state])
            env[inst] = state
        elif inst.opcode == "conditional":
            selector = self._run_scalar(env[inst.operands[0]])
            branches = len(step.programs)
            if inst.operands[0].type.dtype is DType.PRED:
                index = 0 if selector else 1
            else:
                index = int(selector) if 0 <= int(selector) < branches else branches - 1
            env[inst] = self._run(step.programs[index], [env[inst.operands[1 + index]]])
        else:
            env[inst] = self._run(step.programs[0], [env[o] for o in inst.operands])

    @staticmethod
    def _run_scalar(value: Any) -> Any:
        return value.get()[()]

    # -- inputs ----------------------------------------------------------------------------------

    def _to_device(self, number: int, arg: Any) -> Any:
        cupy = self._cupy
        expected: TensorType = self._inputs[number]
        dtype = device_dtype(expected.dtype)
        what = f"input {number} ({self._names[number]})"
        if is_device_array(arg):
            if arg.device.id != self.device.id:
                raise DeviceError(f"{what} is on GPU {arg.device.id}, the executable on GPU "
                                  f"{self.device.id}: copy it with cupy.asarray under the right device")
            array = arg
        else:
            host = np.asarray(arg)
            if expected.dtype is DType.BF16 and host.dtype == expected.dtype.numpy:
                host = host.view(np.uint16)
            elif host.dtype != dtype and host.ndim == 0 and np.can_cast(host.dtype, dtype, "same_kind"):
                host = host.astype(dtype)
            array = host
        if array.dtype != dtype or tuple(array.shape) != expected.shape:
            got = f"{array.dtype}{list(array.shape)}"
            raise InputError(f"{what} must be {expected.without_layout()}, got {got}")
        array = cupy.asarray(array)
        # Not ascontiguousarray: it turns a 0-d array into a 1-d one.
        return array if array.flags.c_contiguous else array.copy(order="C")


RUNNERS = {Launch: CudaExecutable._launch, Dot: CudaExecutable._dot, Alias: CudaExecutable._alias,
           Control: CudaExecutable._control}


def _rebuild(t, flat: list, position: int) -> tuple[Any, int]:
    if isinstance(t, TupleType):
        values = []
        for element in t.elements:
            value, position = _rebuild(element, flat, position)
            values.append(value)
        return tuple(values), position
    return flat[position], position + 1


def _fresh(value: Any, seen: set[int]) -> Any:
    """Results are arrays the caller owns: inputs passed through (and repeats) are copied."""
    if isinstance(value, tuple):
        return tuple(_fresh(v, seen) for v in value)
    if id(value) in seen:
        return value.copy()
    seen.add(id(value))
    return value


def compile_cuda(module: Module) -> CudaExecutable:
    """Lower ``module`` to CUDA and load it on the current GPU."""
    require_cupy()
    start = time.perf_counter()
    program = lower_module(module)
    stats = {"kernel_count": len(program.kernels), "lower_s": time.perf_counter() - start}
    return CudaExecutable(program, stats)
