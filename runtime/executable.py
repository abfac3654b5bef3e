"""Executables: validated inputs in, one native call, fresh NumPy arrays out."""

from __future__ import annotations

import ctypes
import math
from typing import Any

import numpy as np

from ..codegen.cpu import Compiled, Plan
from ..errors import JitflowError
from ..ir import TensorType


class InputError(JitflowError, TypeError):
    """An argument of an executable that does not match its parameter (count, type or shape)."""


def array_data_offset() -> int | None:
    """The byte offset of the data pointer inside a NumPy array object, or None if not found.

    It is NumPy's ``PyArrayObject_fields.data``, right after the object header; it is
    measured rather than assumed (free-threaded CPython has a larger header) and
    checked on arrays of two dtypes and ranks.
    """
    probes = [np.empty(3), np.empty((2, 5), np.int8), np.empty((), np.float32)]
    for offset in range(8, 129, 8):
        if all(ctypes.c_void_p.from_address(id(a) + offset).value == a.ctypes.data for a in probes):
            return offset
    return None


DATA_OFFSET = array_data_offset()


class Executable:
    """A compiled program.  ``executable(*arrays)`` runs the entry computation.

    Inputs are the entry parameters in order (tuple parameters flattened).  The
    result is a NumPy array, or a tuple of them for a tuple root; results are
    fresh arrays owned by the caller.
    """

    def __init__(self, compiled: Compiled, plan: Plan, stats: dict) -> None:
        self._compiled = compiled  # keeps the machine code alive
        self.plan = plan
        self.stats = stats
        self._inputs = [(t.dtype.numpy, t.shape) for t in plan.inputs]
        self._outputs = [(t.shape, t.dtype.numpy) for t in plan.outputs]
        passes_workspace = plan.workspace_bytes and not plan.stack_workspace
        self._workspace = plan.workspace_bytes if passes_workspace else 0
        count = len(plan.inputs) + len(plan.outputs) + (1 if self._workspace else 0)
        if compiled.objects_address is not None:
            # Array objects are passed by address (CPython's id); the native entry reads their
            # data pointers.  Plain pointer arguments are the cheapest ctypes call (~0.3 us),
            # and CFUNCTYPE releases the GIL while the kernels run.
            prototype = ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * count))
            self._native = prototype(compiled.objects_address)
            self._address = id
        else:  # the slower path: data pointers extracted in Python
            entry = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(compiled.entry_address)
            table = ctypes.c_void_p * count
            self._native = lambda *addresses: entry(table(*addresses))
            self._address = lambda array: array.ctypes.data

    @property
    def llvm_ir(self) -> str:
        """The generated LLVM IR, before optimization."""
        return self._compiled.llvm_ir

    @property
    def llvm_ir_optimized(self) -> str:
        return self._compiled.llvm_ir_optimized

    @property
    def asm(self) -> str:
        """Host assembly of the optimized module."""
        return self._compiled.asm

    def __call__(self, *args: Any) -> Any:
        inputs = self._inputs
        if len(args) != len(inputs):
            raise InputError(f"the executable takes {len(inputs)} input array(s) "
                             f"({', '.join(self._describe(i) for i in range(len(inputs)))}), got {len(args)}")
        address = self._address
        addresses = []
        converted = []  # keeps converted inputs alive during the call
        for number, (arg, (dtype, shape)) in enumerate(zip(args, inputs)):
            if not (type(arg) is np.ndarray and arg.dtype == dtype and arg.shape == shape
                    and arg.flags.c_contiguous):
                arg = self._coerce(number, arg)
                converted.append(arg)
            addresses.append(address(arg))
        outputs = [np.empty(shape, dtype) for shape, dtype in self._outputs]
        for output in outputs:
            addresses.append(address(output))
        if self._workspace:
            workspace = np.empty(self._workspace, np.uint8)
            addresses.append(address(workspace))
        self._native(*addresses)
        tree = self.plan.output_tree
        return outputs[tree] if type(tree) is int else self._result(tree, outputs)

    def _result(self, tree: Any, outputs: list[np.ndarray]) -> Any:
        if isinstance(tree, int):
            return outputs[tree]
        return tuple(self._result(t, outputs) for t in tree)

    def _describe(self, number: int) -> str:
        return f"{self.plan.input_names[number]}: {self.plan.inputs[number]}"

    def _coerce(self, number: int, arg: Any) -> np.ndarray:
        """The slow path: convert, copy to C order, or explain what is wrong."""
        expected: TensorType = self.plan.inputs[number]
        dtype = expected.dtype.numpy
        what = f"input {number} ({self.plan.input_names[number]})"
        if isinstance(arg, (bool, int, float)) and not isinstance(arg, np.generic):
            array = self._python_scalar(arg, dtype, what)
        elif isinstance(arg, np.ndarray) or isinstance(arg, np.generic):
            array = np.asarray(arg)
        else:
            array = self._array_like(arg, dtype, what)
        if array.dtype != dtype or array.shape != expected.shape:
            raise InputError(f"{what} must be {expected.without_layout()}, got "
                             f"{_describe_array(array)}")
        # Copies non-contiguous views, and base-class the rest (the native entry reads ndarrays).
        return np.array(array, dtype=dtype, order="C", copy=not array.flags.c_contiguous, subok=False)

    @staticmethod
    def _python_scalar(arg: Any, dtype: np.dtype, what: str) -> np.ndarray:
        with np.errstate(all="ignore"):
            try:
                array = np.asarray(arg, dtype=dtype)
            except (OverflowError, ValueError):
                array = None
        if array is None or not (array == arg or (isinstance(arg, float) and math.isnan(arg))):
            raise InputError(f"{what} must be {dtype.name}; the Python value {arg!r} does not fit")
        return array

    @staticmethod
    def _array_like(arg: Any, dtype: np.dtype, what: str) -> np.ndarray:
        try:
            natural = np.asarray(arg)
        except (TypeError, ValueError) as error:
            raise InputError(f"{what} is not an array: {type(arg).__name__} ({error})") from None
        if natural.dtype == object or natural.dtype.kind not in "biuf" and natural.dtype != dtype:
            raise InputError(f"{what} is not an array of numbers: got {type(arg).__name__}")
        if natural.dtype != dtype and np.can_cast(natural.dtype, dtype, "same_kind"):
            return natural.astype(dtype)
        return natural


def _describe_array(array: np.ndarray) -> str:
    try:
        from ..ir.types import type_of_value

        return str(type_of_value(array))
    except JitflowError:
        return f"an array of dtype {array.dtype} and shape {list(array.shape)}"
