"""CUDA source -> cubin, with NVRTC (through cupy's bindings) or ``nvcc``, no GPU needed.

NVRTC is preferred at run time (no process start, no toolkit on disk beyond the
``nvidia-cuda-nvrtc`` wheel); ``nvcc`` is the fallback and what tests use on
machines without cupy.  A rejected source raises ``CudaCompileError`` with the
compiler's messages, each followed by the offending source line.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from ...errors import CudaCompileError

# Diagnostics that generated code triggers harmlessly: unused index variables (177)
# and set-but-unused ones (550).
_QUIET = ("-diag-suppress", "177,550")
# No FMA contraction: a*b+c rounds twice, as in the interpreter, so results match it
# exactly; the kernels are memory-bound, the lost FMAs cost nothing measurable.
_EXACT = "-fmad=false"


def nvcc_path() -> str | None:
    return shutil.which("nvcc")


def nvrtc_module():
    """cupy's low-level NVRTC bindings, or None where cupy or libnvrtc is missing."""
    try:
        from cupy_backends.cuda.libs import nvrtc

        nvrtc.getVersion()
        return nvrtc
    except Exception:  # ImportError, or the shared library cannot be loaded
        return None


def available_compilers() -> list[str]:
    found = []
    if nvrtc_module() is not None:
        found.append("nvrtc")
    if nvcc_path() is not None:
        found.append("nvcc")
    return found


def include_dirs() -> list[str]:
    """Where cuda_fp16.h and cuda_bf16.h live, for NVRTC (nvcc knows its own)."""
    candidates = []
    for variable in ("CUDA_PATH", "CUDA_HOME"):
        if os.environ.get(variable):
            candidates.append(Path(os.environ[variable]) / "include")
    candidates.append(Path("/usr/local/cuda/include"))
    try:
        import nvidia  # the namespace package of NVIDIA's wheels (cuda_runtime, cuda_nvrtc)

        for root in nvidia.__path__:
            candidates += sorted(Path(root).glob("*/include"))
            candidates += sorted(Path(root).glob("cu*/include"))
    except ImportError:
        pass
    nvcc = nvcc_path()
    if nvcc:
        candidates.append(Path(nvcc).resolve().parent.parent / "include")
    return [str(c) for c in dict.fromkeys(candidates) if (c / "cuda_fp16.h").exists()]


def compile_cubin(source: str, arch: str = "sm_90", optimize: bool = True,
                  compiler: str | None = None) -> bytes:
    """The cubin of ``source`` for ``arch``; ``optimize=False`` only checks that it compiles."""
    compiler = compiler or (available_compilers() or [None])[0]
    if compiler == "nvrtc":
        return _nvrtc(source, arch, optimize)
    if compiler == "nvcc":
        return _nvcc(source, arch, optimize)
    raise CudaCompileError("no CUDA compiler found: install cupy-cuda13x and nvidia-cuda-nvrtc "
                           "(pip install 'jitflow[cuda]') or put nvcc on PATH")


def _nvcc(source: str, arch: str, optimize: bool) -> bytes:
    with tempfile.TemporaryDirectory(prefix="jitflow-nvcc-") as folder:
        path = Path(folder) / "kernels.cu"
        path.write_text(source)
        flags = [] if optimize else ["-Xcicc", "-O0", "-Xptxas", "-O0"]
        command = [nvcc_path(), "-cubin", f"-arch={arch}", _EXACT, *_QUIET, *flags, "-o",
                   str(path.with_suffix(".cubin")), str(path)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise CudaCompileError(explain(done.stderr, source, "nvcc"))
        return path.with_suffix(".cubin").read_bytes()


def _nvrtc(source: str, arch: str, optimize: bool) -> bytes:
    nvrtc = nvrtc_module()
    program = nvrtc.createProgram(source, "jitflow.cu", [], [])
    options = [f"--gpu-architecture={arch}", "-std=c++17", "-" + _EXACT,
               *(f"--include-path={d}" for d in include_dirs())]
    # NVRTC always optimizes: ``optimize`` only speeds up nvcc's compile-only checks.
    try:
        try:
            nvrtc.compileProgram(program, options)
        except Exception:
            raise CudaCompileError(explain(nvrtc.getProgramLog(program), source, "nvrtc")) from None
        return nvrtc.getCUBIN(program)
    finally:
        nvrtc.destroyProgram(program)


_LOCATION = re.compile(r"^(?P<file>[^\s(]+)\((?P<line>\d+)\): (?P<kind>error|catastrophic error)", re.M)


def explain(log: str, source: str, compiler: str) -> str:
    """The compiler's log with each error followed by the source line it points at."""
    lines = source.splitlines()
    out = [f"{compiler} rejected the generated CUDA source:"]
    for text in log.splitlines():
        out.append("  " + text)
        match = _LOCATION.match(text)
        if match and 0 < int(match["line"]) <= len(lines):
            out.append(f"    source line {match['line']}: {lines[int(match['line']) - 1].strip()}")
    return "\n".join(out)
