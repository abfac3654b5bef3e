"""Tracing: the ``Tracer`` value and the context that records IR for it.

A ``TraceContext`` owns the module being built and its entry builder.  A
``Tracer`` is a symbolic array: an IR instruction plus the context it lives in
and a *weak* flag (a Python scalar argument, which NEP 50 lets adapt to the
other operand's dtype).  Its operators and methods are attached from a table in
``numpy/methods.py``; its NumPy protocols dispatch through ``numpy/api.py``.

Every instruction is stamped with the user's source line: the first stack frame
outside jitflow's own modules (and NumPy's), found when the instruction is built.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, NoReturn

import numpy as np

from ...errors import ConcretizationError, SourceLocation, TracingError, is_jitflow_code
from ...ir import Builder, Computation, DType, Instruction, Module, TensorType, is_uniform

_NUMPY_PREFIX = os.path.dirname(os.path.abspath(np.__file__)) + os.sep
_internal_cache: dict[str, bool] = {}


def is_internal(filename: str) -> bool:
    """Whether frames of ``filename`` are skipped to find the user's line: jitflow's own
    code (``errors.is_jitflow_code``) and NumPy's."""
    internal = _internal_cache.get(filename)
    if internal is None:
        internal = is_jitflow_code(filename) or os.path.abspath(filename).startswith(_NUMPY_PREFIX)
        _internal_cache[filename] = internal
    return internal


def user_location() -> SourceLocation:
    """File, line and function of the innermost frame that is user code."""
    frame = sys._getframe(1)
    while frame is not None and is_internal(frame.f_code.co_filename):
        frame = frame.f_back
    if frame is None:
        return SourceLocation()
    return SourceLocation(frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name)


def tracing_error(cls: type[TracingError], what: str, hint: str = "") -> TracingError:
    """``cls("<what> at <file>:<line> (in f): <hint>")`` located at the user's line."""
    message = f"{what} at {user_location()}"
    if hint:
        message += f": {hint}"
    return cls(message)


def numpy_name(func: Any) -> str:
    """``np.fft.fft`` style name of a NumPy function or ufunc."""
    name = getattr(func, "__name__", repr(func))
    module = getattr(func, "__module__", None) or "numpy"
    if module.startswith("numpy._"):  # private implementation modules: public as np.<name>
        module = "numpy"
    if module == "numpy" or module.startswith("numpy."):
        return "np" + module[len("numpy"):] + "." + name
    return f"{module}.{name}"


class TraceContext:
    """Records the IR of one traced function into ``module``'s entry computation."""

    # The class of this context's tracers: an eager GradientTape's context (autodiff/tape.py)
    # makes tracers that also have concrete values.
    tracer_class: type[Tracer]

    def __init__(self, module: Module, builder: Builder) -> None:
        self.module = module
        self.builder = builder
        self.active = True
        self._computations: dict[Any, Computation] = {}

    def emit(self, opcode: str, *operands: Instruction, **kwargs: Any) -> Instruction:
        """Build one instruction stamped with the user's source line."""
        if not self.active:
            raise tracing_error(
                TracingError, "a traced value was used after its jit trace finished",
                "return it from the jitted function instead of storing it elsewhere")
        with self.builder.at(user_location()):
            return self.builder.emit(opcode, *operands, **kwargs)

    def computation(self, key: Any, build: Callable[[Module], Computation]) -> Computation:
        """A helper computation (reducer, comparator) built once per key in this module."""
        computation = self._computations.get(key)
        if computation is None:
            computation = self._computations[key] = build(self.module)
        return computation

    def constant(self, value: Any, dtype: np.dtype | None = None) -> Tracer:
        array = np.asarray(value) if dtype is None else np.asarray(value).astype(dtype)
        t = TensorType(DType.from_numpy(array.dtype), array.shape)
        if is_uniform(array):  # np.zeros((n, m)) captured by the trace: one scalar, broadcast
            scalar = self.emit("constant", type=TensorType(t.dtype, ()), literal=array.flat[0])
            return Tracer(self, self.emit("broadcast", scalar, type=t, dimensions=()))
        return Tracer(self, self.emit("constant", type=t, literal=array))


class Tracer:
    """A symbolic array inside ``jit``: NumPy code runs on it and records IR."""

    __slots__ = ("ctx", "inst", "weak")
    __hash__ = None  # like ndarray: == is elementwise, so tracers are unhashable

    def __new__(cls, ctx: TraceContext, inst: Instruction, weak: bool = False) -> Tracer:
        return object.__new__(ctx.tracer_class)

    def __init__(self, ctx: TraceContext, inst: Instruction, weak: bool = False) -> None:
        self.ctx = ctx
        self.inst = inst
        self.weak = weak

    @property
    def type(self) -> TensorType:
        return self.inst.type

    @property
    def shape(self) -> tuple[int, ...]:
        return self.inst.type.shape

    @property
    def dtype(self) -> np.dtype:
        return self.inst.type.dtype.numpy

    @property
    def ndim(self) -> int:
        return len(self.inst.type.shape)

    @property
    def size(self) -> int:
        return self.inst.type.size

    def __len__(self) -> int:
        if not self.shape:
            raise tracing_error(TracingError, "len() of a 0-d traced array")
        return self.shape[0]

    def __iter__(self):
        # Iteration is static: the length is part of the traced shape.
        if not self.shape:
            raise tracing_error(TracingError, "iteration over a 0-d traced array")
        return (self[i] for i in range(self.shape[0]))

    def __repr__(self) -> str:
        weak = ", weak" if self.weak else ""
        return f"Tracer<{self.inst.type}{weak}> (%{self.inst.name})"

    # -- conversions that need a concrete value -----------------------------

    def _concretize(self, construct: str, hint: str) -> NoReturn:
        raise tracing_error(ConcretizationError, f"cannot use a traced value as {construct}", hint)

    def __bool__(self) -> bool:
        self._concretize(
            "a Python bool (if/while/and/or/not on a traced value)",
            "use np.where(...) for elementwise choice, or mark the argument static with "
            "jit(static_argnames=...); AutoGraph converts if/while/and/or/not on traced scalars, "
            "but not in this code (jit(autograph=False), or a function without source)")

    def __float__(self) -> float:
        self._concretize("a Python float (float())",
                         "keep it an array (x.astype(np.float64)), or return it from the jitted "
                         "function and convert outside")

    def __int__(self) -> int:
        self._concretize("a Python int (int())",
                         "keep it an array (x.astype(np.int64)); for sizes and shapes use static "
                         "arguments (jit(static_argnames=...))")

    def __index__(self) -> int:
        self._concretize("a Python index (range(), a shape, or indexing a NumPy array)",
                         "sizes and shapes must be static: pass them with jit(static_argnames=...)")

    def __complex__(self) -> complex:
        self._concretize("a Python complex (complex())", "jitflow has no complex types")

    def __array__(self, dtype: Any = None, copy: Any = None) -> NoReturn:
        self._concretize("a NumPy array (np.asarray/np.array)",
                         "use the traced value directly (x.astype(...) to change its dtype); "
                         "NumPy functions accept it as it is")

    def item(self, *args: Any) -> NoReturn:
        self._concretize("a Python scalar (.item())",
                         "return the value from the jitted function and call .item() outside")

    def tolist(self) -> NoReturn:
        self._concretize("a Python list (.tolist())",
                         "return the value from the jitted function and call .tolist() outside")

    def __setitem__(self, key: Any, value: Any) -> NoReturn:
        raise tracing_error(TracingError, "traced arrays are immutable: item assignment",
                            "build the new array with np.where(mask, value, x) or "
                            "np.concatenate of slices")


def check_same_context(tracers: list[Tracer]) -> TraceContext:
    """The one context these tracers belong to (tracers of two traces cannot mix)."""
    ctx = tracers[0].ctx
    if any(tracer.ctx is not ctx for tracer in tracers[1:]):
        raise mixed_traces_error()
    return ctx


def mixed_traces_error() -> TracingError:
    return tracing_error(TracingError, "values from two different jit traces were combined",
                         "pass the outer value into the inner function as an argument")


TraceContext.tracer_class = Tracer
