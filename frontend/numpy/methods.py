"""The ``Tracer``'s operators, methods and array properties, as one table onto ``api``.

Kept apart from ``trace/tracer.py`` so that the tracer's data model does not import
every NumPy implementation; ``frontend/__init__`` installs the table once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import api as numpy_api
from . import linalg, reductions, shapes
from ..trace.tracer import Tracer
from .api import operator, unary_operator
from .indexing import getitem

_BINARY = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide,
    "floordiv": np.floor_divide, "mod": np.remainder, "pow": np.power, "and": np.bitwise_and,
    "or": np.bitwise_or, "xor": np.bitwise_xor, "lshift": np.left_shift,
    "rshift": np.right_shift, "matmul": np.matmul,
}
_COMPARISONS = {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
                "eq": np.equal, "ne": np.not_equal}
_UNARY = {"neg": np.negative, "pos": np.positive, "abs": np.absolute, "invert": np.invert}

_METHODS = {
    "sum": reductions.sum_, "prod": reductions.prod, "max": reductions.max_,
    "min": reductions.min_, "mean": reductions.mean, "var": reductions.var, "std": reductions.std,
    "argmax": reductions.argmax, "argmin": reductions.argmin, "any": reductions.any_,
    "all": reductions.all_,
    "reshape": shapes.reshape_method, "transpose": shapes.transpose_method,
    "swapaxes": shapes.swapaxes, "squeeze": shapes.squeeze, "ravel": shapes.ravel,
    "flatten": shapes.ravel, "astype": shapes.astype, "copy": shapes.copy,
    "clip": numpy_api.clip, "round": numpy_api.round_, "take": numpy_api.take,
    "dot": linalg.dot, "__getitem__": getitem,
}
_PROPERTIES = {"T": shapes.transpose, "mT": shapes.matrix_transpose}


def _divmod(self: Tracer, other: Any) -> tuple[Tracer, Tracer]:
    return self // other, self % other


def _rdivmod(self: Tracer, other: Any) -> tuple[Tracer, Tracer]:
    return other // self, other % self


def _round(self: Tracer, ndigits: int | None = None) -> Tracer:
    return numpy_api.round_(self, ndigits or 0)


def _array_ufunc(self: Tracer, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
    return numpy_api.array_ufunc(ufunc, method, inputs, kwargs)


def _array_function(self: Tracer, func: Any, types: Any, args: tuple, kwargs: dict) -> Any:
    return numpy_api.array_function(func, args, kwargs)


def install() -> None:
    """Attach the table to ``Tracer``."""
    for name, ufunc in _BINARY.items():
        setattr(Tracer, f"__{name}__", operator(ufunc))
        setattr(Tracer, f"__r{name}__", operator(ufunc, reflected=True))
    for name, ufunc in _COMPARISONS.items():
        setattr(Tracer, f"__{name}__", operator(ufunc))
    for name, ufunc in _UNARY.items():
        setattr(Tracer, f"__{name}__", unary_operator(ufunc))
    for name, function in _METHODS.items():
        setattr(Tracer, name, function)
    for name, function in _PROPERTIES.items():
        setattr(Tracer, name, property(function))
    Tracer.__divmod__ = _divmod
    Tracer.__rdivmod__ = _rdivmod
    Tracer.__round__ = _round
    Tracer.__array_ufunc__ = _array_ufunc
    Tracer.__array_function__ = _array_function
