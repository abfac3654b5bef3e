"""Codegen: optimized IR to machine code (LLVM through llvmlite for CPUs, CUDA C for GPUs)."""
