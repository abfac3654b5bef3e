"""The CUDA backend: fused kernels as CUDA C (one translation unit per module), a host
program that launches them through cupy, cuBLAS for dot.  See ``module.py``."""

from .compiler import CudaCompileError, available_compilers, compile_cubin
from .cstyle import CStyleRenderer, CudaRenderer
from .kernels import Kernel
from .module import HostProgram, lower_module, translation_unit

__all__ = ["CStyleRenderer", "CudaCompileError", "CudaRenderer", "HostProgram", "Kernel",
           "available_compilers", "compile_cubin", "lower_module", "translation_unit"]
