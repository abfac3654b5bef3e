"""NumPy 2 type promotion (NEP 50) and broadcasting, decided by NumPy itself.

Rather than re-deriving NumPy's tables we ask NumPy: ``ufunc.resolve_dtypes``
gives the loop a ufunc would run for given operand dtypes, with Python ``int``
and ``float`` passed as *weak* types exactly as NEP 50 defines them, and
``np.result_type`` does the same for non-ufunc functions (``where``,
``concatenate``).  Weak operands are Python scalars written in the program and
tracers of Python scalar arguments.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import numpy as np

from ...errors import ShapeError, TracingTypeError
from ...ir import DType
from .tracer import Tracer, tracing_error

PYTHON_SCALARS = (bool, int, float)
# NumPy's ufunc resolution accepts int and float as weak types; a Python bool
# promotes exactly like np.bool_, which is the lowest kind anyway.
_WEAK_TYPE_OF_DTYPE = {np.dtype(np.int64): int, np.dtype(np.float64): float,
                       np.dtype(np.bool_): np.dtype(np.bool_)}
_WEAK_VALUE_OF_DTYPE = {np.dtype(np.int64): 0, np.dtype(np.float64): 0.0,
                        np.dtype(np.bool_): False}


def is_python_scalar(value: Any) -> bool:
    return type(value) in PYTHON_SCALARS


def weak_dtype(value: bool | int | float) -> np.dtype:
    """The dtype NumPy gives a Python scalar on its own: bool, int64 or float64."""
    return np.dtype({bool: np.bool_, int: np.int64, float: np.float64}[type(value)])


def dtype_of(value: Any) -> np.dtype:
    """The dtype of a tracer, array, NumPy scalar or Python scalar operand."""
    if isinstance(value, Tracer):
        return value.dtype
    if is_python_scalar(value):
        return weak_dtype(value)
    return np.asarray(value).dtype


def _ufunc_spec(value: Any) -> np.dtype | type:
    """What ``ufunc.resolve_dtypes`` takes for an operand: a dtype, or int/float if weak."""
    if isinstance(value, Tracer):
        return _WEAK_TYPE_OF_DTYPE.get(value.dtype, value.dtype) if value.weak else value.dtype
    if isinstance(value, bool):
        return np.dtype(np.bool_)
    if is_python_scalar(value):
        return type(value)
    return np.asarray(value).dtype


def _result_type_operand(value: Any) -> Any:
    """What ``np.result_type`` takes: a dtype, or a Python scalar standing for a weak type."""
    if isinstance(value, Tracer):
        return _WEAK_VALUE_OF_DTYPE.get(value.dtype, value.dtype) if value.weak else value.dtype
    if is_python_scalar(value):
        return type(value)(0)
    if isinstance(value, (np.dtype, type, str)):
        return np.dtype(value)
    return np.asarray(value).dtype


def is_weak(value: Any) -> bool:
    return is_python_scalar(value) or (isinstance(value, Tracer) and value.weak)


def ufunc_loop(ufunc: np.ufunc, operands: Sequence[Any],
               dtype: Any = None) -> tuple[tuple[np.dtype, ...], tuple[np.dtype, ...]]:
    """(input dtypes, output dtypes) of the loop NumPy runs for ``ufunc(*operands, dtype=)``."""
    specs = tuple(_ufunc_spec(v) for v in operands)
    return _resolve(ufunc, specs, None if dtype is None else np.dtype(dtype))


@functools.lru_cache(maxsize=4096)
def _resolve(ufunc: np.ufunc, specs: tuple, dtype: np.dtype | None):
    # dtype= fixes the output dtypes, as NumPy's ``ufunc(..., dtype=)`` does.
    signature = {} if dtype is None else {"signature": (None,) * ufunc.nin + (dtype,) * ufunc.nout}
    if all(isinstance(s, type) for s in specs):
        # Only Python scalars: NumPy resolves comparisons of two Python ints to object
        # loops (for unbounded ints); a weak-typed pair computes in its default dtypes.
        specs = tuple(weak_dtype(s(0)) for s in specs)
    try:
        dtypes = ufunc.resolve_dtypes(specs + (None,) * ufunc.nout, **signature)
    except TypeError as error:
        names = ", ".join(s.__name__ if isinstance(s, type) else str(s) for s in specs)
        raise tracing_error(TracingTypeError, f"np.{ufunc.__name__} does not accept ({names})",
                            f"NumPy says: {error}") from None
    for dt in dtypes:
        check_supported(dt)
    return dtypes[:ufunc.nin], dtypes[ufunc.nin:]


def result_type(*values: Any) -> np.dtype:
    """``np.result_type`` with NEP 50 weak scalars (Python scalars and weak tracers)."""
    dtype = np.result_type(*(_result_type_operand(v) for v in values))
    check_supported(dtype)
    return dtype


def all_weak(values: Sequence[Any]) -> bool:
    return all(is_weak(v) for v in values)


def check_supported(dtype: np.dtype) -> DType:
    """The IR element type of ``dtype``; a located error for complex, strings, objects."""
    try:
        return DType.from_numpy(dtype)
    except Exception:
        names = ", ".join(d.numpy.name for d in DType if d is not DType.BF16)
        raise tracing_error(TracingTypeError, f"dtype {np.dtype(dtype)} is not supported",
                            f"jitflow arrays are {names} or bfloat16") from None


def broadcast_shapes(*shapes: tuple[int, ...], what: str = "operands") -> tuple[int, ...]:
    """NumPy broadcasting of static shapes; a mismatch names every shape and the user's line."""
    rank = max((len(s) for s in shapes), default=0)
    result = []
    for axis in range(rank):
        sizes = {s[axis - rank + len(s)] for s in shapes if axis - rank + len(s) >= 0}
        sizes.discard(1)
        if len(sizes) > 1:
            text = " ".join(format_shape(s) for s in shapes)
            raise tracing_error(ShapeError,
                                f"{what} could not be broadcast together with shapes {text}",
                                "broadcasting aligns trailing dimensions, which must be equal "
                                "or 1; reshape or index with None to line them up")
        result.append(sizes.pop() if sizes else 1)
    return tuple(result)


def format_shape(shape: tuple[int, ...]) -> str:
    """A shape as NumPy prints it: (3,), (2, 3), ()."""
    return str(tuple(shape))
