"""Errors jitflow raises on purpose.

Every error a user can provoke is a ``JitflowError``: the CLI prints its message
and exits with status 2 instead of showing a traceback from our internals.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


class JitflowError(Exception):
    """Base class of all errors jitflow reports to users."""


class IRError(JitflowError):
    """Invalid IR built through the API (bad type, bad attribute, misuse of a mutator)."""


@dataclass(frozen=True)
class SourceLocation:
    """Where an instruction came from: the user's file, line and function."""

    file: str | None = None
    line: int | None = None
    function: str | None = None

    def __str__(self) -> str:
        where = self.file or "<unknown>"
        if self.line is not None:
            where += f":{self.line}"
        if self.function:
            where += f" (in {self.function})"
        return where


# The package directory as code objects name it (the import path) and as the disk does
# (an installation may reach the package through a symbolic link).
_PACKAGE_DIRS = tuple({os.path.dirname(os.path.abspath(__file__)),
                       os.path.dirname(os.path.realpath(__file__))})
# What the package ships that is user code: its tests, examples and benchmarks, and the
# programs ``jitflow demo`` compiles.  Errors and IR metadata point at their lines.
USER_CODE = frozenset({"tests", "examples", "bench", "demo.py"})
_jitflow_code_cache: dict[str, bool] = {}


def is_jitflow_code(filename: str) -> bool:
    """Whether ``filename`` (a code object's ``co_filename``) is jitflow's own code.

    Every file inside the jitflow package is, except the user code it ships (``USER_CODE``):
    the answer comes from the package directory, so a new folder of the library is jitflow's
    code without being listed anywhere.  Names such as ``<string>`` are never jitflow's.
    """
    inside = _jitflow_code_cache.get(filename)
    if inside is None:
        inside = not filename.startswith("<") and _in_package(os.path.abspath(filename))
        _jitflow_code_cache[filename] = inside
    return inside


def _in_package(path: str) -> bool:
    for package_dir in _PACKAGE_DIRS:
        if path.startswith(package_dir + os.sep):
            top = path[len(package_dir) + 1:].split(os.sep, 1)[0]
            return top not in USER_CODE
    return False


class ParseError(JitflowError):
    """Malformed IR text, reported at a line and column."""

    def __init__(self, message: str, line: int, column: int, source_line: str = "",
                 filename: str = "<text>") -> None:
        self.message = message
        self.line = line
        self.column = column
        self.source_line = source_line
        self.filename = filename
        text = f"{filename}:{line}:{column}: error: {message}"
        if source_line:
            excerpt, caret = excerpt_around(source_line, column)
            text += f"\n  {excerpt}\n  {' ' * (caret - 1)}^"
        super().__init__(text)


# Characters of a source line an error message shows around the column it points at.
EXCERPT_CHARS = 80


def excerpt_around(source_line: str, column: int) -> tuple[str, int]:
    """At most ``EXCERPT_CHARS`` of ``source_line`` around ``column`` (1-based), with
    ``...`` where it was cut, and the column of the same character in the excerpt.

    A one-line file of megabytes must not put megabytes on standard error.
    """
    if len(source_line) <= EXCERPT_CHARS:
        return source_line, column
    start = max(0, min(column - 1 - EXCERPT_CHARS // 2, len(source_line) - EXCERPT_CHARS))
    end = start + EXCERPT_CHARS
    prefix = "..." if start > 0 else ""
    suffix = "..." if end < len(source_line) else ""
    return prefix + source_line[start:end] + suffix, column - start + len(prefix)


class VerificationError(JitflowError):
    """IR that breaks an invariant: names the computation, instruction and source line."""


class InterpreterError(JitflowError):
    """A failure while evaluating IR, naming the instruction that failed."""


class TracingError(JitflowError):
    """A Python function cannot be traced as written; names the user's file and line."""


class UnsupportedError(TracingError):
    """A NumPy function, argument or Python construct jitflow does not trace."""


class ConcretizationError(TracingError, TypeError):
    """A traced value was used where Python needs a concrete one (``if``, ``float()``, ...)."""


class ShapeError(TracingError, ValueError):
    """Shapes that do not fit together (broadcasting, matmul, reshape, concatenate)."""


class TracingTypeError(TracingError, TypeError):
    """No NumPy type rule accepts these operands (``bool - bool``, ``int8 + 300``...)."""


class ScalarOverflowError(TracingError, OverflowError):
    """A Python int that does not fit the array dtype NEP 50 keeps (``int8_array + 300``)."""


class TracingIndexError(TracingError, IndexError):
    """A static index or axis out of range, as NumPy's IndexError and AxisError."""


class ArgumentError(JitflowError, TypeError):
    """An argument of a jitted function that cannot be an array or a static value."""


class BackendError(JitflowError):
    """The requested execution backend is unknown or not available."""


class JitflowRetraceWarning(UserWarning):
    """A jitted function keeps being traced again because an argument keeps changing."""


class AutodiffError(JitflowError):
    """A program or argument that reverse-mode autodiff cannot differentiate (integer inputs,
    non-scalar grad outputs, loops without a trip count known at trace time)."""


class VariableError(JitflowError, ValueError):
    """A ``Variable`` misused: created inside a trace, or assigned a value of another shape."""


class GradientTapeError(JitflowError, RuntimeError):
    """A ``GradientTape`` used out of order (a non-persistent tape asked twice, ...)."""


class AutoGraphError(TracingError):
    """Python control flow that AutoGraph cannot turn into IR as written (names the user's line)."""


class LoopVariableError(AutoGraphError):
    """A variable carried by a traced loop changes dtype or shape, or has no value before it."""


class BranchVariableError(AutoGraphError):
    """A variable after a traced ``if`` differs between its branches or is set in only one."""


class TracedListAppendError(AutoGraphError):
    """A Python list grown inside a traced loop (its length would depend on traced data)."""


class DeviceError(BackendError):
    """A device was asked for that is not there (no cupy, no GPU), or one call mixed devices."""


class CudaCompileError(BackendError):
    """Generated CUDA source that the CUDA compiler rejected; shows the compiler's message and line."""
