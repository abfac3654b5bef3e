"""Helpers shared by the CUDA backend's tests: the corpus as translation units, filecheck."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

import numpy as np

import op_cases
from jitflow.codegen.cuda import available_compilers, lower_module, translation_unit
from jitflow.codegen.cuda.module import HostProgram
from jitflow.ir import DType


def has_custom_call(module) -> bool:
    return any(inst.opcode == "custom-call" for inst in module.instructions())


@dataclass
class Lowered:
    case_id: str
    program: HostProgram


def lowered_corpus(unique: bool) -> list[Lowered]:
    """Every corpus program the backend accepts (custom-calls are refused by design), each
    with its own symbol prefix; ``unique`` drops programs whose kernels repeat another's
    (the @colmajor twins: buffers are row-major whatever the layout)."""
    seen: set[str] = set()
    result = []
    for number, case in enumerate(op_cases.CASES):
        module = case.build()
        if has_custom_call(module):
            continue
        prefix = f"c{number}"
        program = lower_module(module, prefix)
        if unique:
            shape = program.body.replace(prefix + "_", "P_")
            if shape in seen:
                continue
            seen.add(shape)
        result.append(Lowered(case.id, program))
    return result


def chunks(items: list, count: int) -> list[list]:
    size = -(-len(items) // count)
    return [items[i:i + size] for i in range(0, len(items), size)]


def corpus_source(part: list[Lowered], what: str) -> tuple[str, list[tuple[int, str]]]:
    """One translation unit and, for error messages, the first line of each case's code."""
    source = translation_unit([p.program for p in part], what)
    starts, lines = [], source.splitlines()
    for lowered in part:
        marker = f" {lowered.program.prefix}_"
        for number, line in enumerate(lines, 1):
            if marker in line:
                starts.append((number, lowered.case_id))
                break
    return source, starts


def compiler_or_skip() -> str:
    import pytest

    found = available_compilers()
    if not found:
        pytest.skip("neither nvcc nor NVRTC (cupy + nvidia-cuda-nvrtc) is available")
    return "nvcc" if "nvcc" in found else found[0]


def filecheck(text: str, checks: str) -> None:
    """Run the filecheck tool over ``text`` with the CHECK lines ``checks``."""
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".checks", delete=False) as handle:
        handle.write(checks)
    done = subprocess.run([sys.executable, "-m", "filecheck", handle.name], input=text,
                          capture_output=True, text=True)
    assert done.returncode == 0, f"filecheck failed:\n{done.stdout}{done.stderr}\n--- input ---\n{text}"


def to_host(value):
    """cupy results as NumPy arrays (bf16 arrives as its uint16 bits)."""
    if isinstance(value, tuple):
        return tuple(to_host(v) for v in value)
    return value.get()


def as_expected_dtype(actual, expected):
    if isinstance(expected, tuple):
        return tuple(as_expected_dtype(a, e) for a, e in zip(actual, expected))
    expected = np.asarray(expected)
    if expected.dtype == DType.BF16.numpy and actual.dtype == np.uint16:
        return actual.view(expected.dtype)
    return actual
