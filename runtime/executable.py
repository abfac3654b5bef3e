"""Executables: validated inputs in, one native call, fresh NumPy arrays out."""

from __future__ import annotations

import ctypes
import math
import sys
from typing import Any, Callable, Sequence

import numpy as np

from ..codegen.cpu import ArrayObjectLayout, Compiled, Plan
from ..codegen.cpu.pyarray import DescriptorLayout
from ..errors import JitflowError
from ..ir import DType, TensorType


class InputError(JitflowError, TypeError):
    """An argument of an executable that does not match its parameter (count, type or shape)."""


def _word(obj: Any, offset: int) -> int:
    return ctypes.c_void_p.from_address(id(obj) + offset).value or 0


def _int32(obj: Any, offset: int) -> int:
    return ctypes.c_int32.from_address(id(obj) + offset).value


def _byte(obj: Any, offset: int) -> int:
    return ctypes.c_uint8.from_address(id(obj) + offset).value


def _first(offsets: range, holds: Callable[[int], bool]) -> int | None:
    return next((offset for offset in offsets if holds(offset)), None)


def measure_array_layout() -> ArrayObjectLayout | None:
    """Where NumPy's ``PyArrayObject`` keeps its fields in this process, or None.

    The offsets are measured on probe arrays of several ranks, dtypes and orders rather
    than assumed (free-threaded CPython has a larger object header, NumPy may reorder
    fields); each must hold for every probe.  None (then inputs are unpacked in Python)
    when any field is not found, or when arrays do not share one dtype descriptor
    object per dtype, which the native check relies on.
    """
    base = np.empty((4, 6), np.float32)
    probes = [np.empty(3), np.empty((2, 5), np.int8), np.empty((), np.float32),
              np.empty((3, 7, 2), np.uint16, order="F"), base[:, ::2], base.T]
    size = min(sys.getsizeof(a) for a in probes)  # reads stay inside every probe object
    offsets = range(0, size - 3, 4)
    words = range(0, size - 7, 8)
    type_offset = _first(words, lambda o: all(_word(a, o) == id(np.ndarray) for a in probes))
    data = _first(words, lambda o: all(_word(a, o) == a.ctypes.data for a in probes))
    nd = _first(offsets, lambda o: all(_int32(a, o) == a.ndim for a in probes))
    descr = _first(words, lambda o: all(_word(a, o) == id(a.dtype) for a in probes))

    def flags_of(a: np.ndarray) -> int:
        return (0x1 * a.flags.c_contiguous) | (0x2 * a.flags.f_contiguous) | (0x4 * a.flags.owndata)

    flags = _first(offsets, lambda o: descr is not None and o > descr and all(
        _int32(a, o) & 0x7 == flags_of(a) for a in probes))
    if None in (type_offset, data, nd, descr, flags):
        return None
    # The shape pointer cannot be found by probing without dereferencing guesses: take it
    # from NumPy's stable ABI order (nd, dimensions, strides, base, descr), confirmed by
    # the measured neighbours and then by reading the shapes through it.
    dimensions = -(-(nd + 4) // 8) * 8
    if descr != dimensions + 24 or not all(
            [ctypes.c_int64.from_address(_word(a, dimensions) + 8 * k).value for k in range(a.ndim)]
            == list(a.shape) for a in probes if a.ndim):
        return None
    descriptors = {}
    for dtype in DType:
        canonical = np.dtype(dtype.numpy)
        if np.empty(2, canonical).dtype is not canonical:
            return None
        descriptors[dtype] = id(canonical)
    return ArrayObjectLayout(type_offset, data, nd, dimensions, descr, flags, id(np.ndarray),
                             descriptors, measure_descriptor_layout())


def measure_descriptor_layout() -> DescriptorLayout | None:
    """Where NumPy's ``PyArray_Descr`` keeps its scalar type, kind, byte order and item
    size in this process, or None (then dtypes are compared by descriptor address only).

    Measured on probe descriptors of distinct kinds, sizes, alignments and byte orders
    (NumPy 1 and 2 lay the item size out differently), each field after the previous one
    as in NumPy's ABI, and confirmed on a rebuilt descriptor (as pickle makes them).
    """
    probes = [np.dtype(name) for name in ("f4", "f8", "i1", "?", "c16", "S7", "V3")]
    probes += [np.dtype(">i4"), np.dtype("<u2"), np.dtype("f8").newbyteorder("=")]
    size = min(sys.getsizeof(d) for d in probes)
    typeobj = _first(range(0, size - 7, 8), lambda o: all(_word(d, o) == id(d.type) for d in probes))
    if typeobj is None:
        return None
    kind = _first(range(typeobj + 8, size), lambda o: all(_byte(d, o) == ord(d.kind) for d in probes))
    if kind is None:
        return None
    byteorder = _first(range(kind + 1, size),
                       lambda o: all(_byte(d, o) == ord(d.byteorder) for d in probes))
    if byteorder is None:
        return None
    elsize = _first(range(-(-(byteorder + 1) // 4) * 4, size - 3, 4),
                    lambda o: all(_int32(d, o) == d.itemsize for d in probes))
    if elsize is None:
        return None
    native = (ord("="), ord("|"), ord("<" if sys.byteorder == "little" else ">"))
    expected = {}
    for dtype in DType:
        canonical = np.dtype(dtype.numpy)
        expected[dtype] = (ord(canonical.kind), canonical.itemsize,
                           0 if canonical.kind in "biuf" else id(canonical.type))
    layout = DescriptorLayout(typeobj, kind, byteorder, elsize, native, expected)
    rebuilt = np.dtype("f4").newbyteorder("=")
    if rebuilt is np.dtype("f4") or not (_byte(rebuilt, kind) == ord("f") and _int32(rebuilt, elsize) == 4
                                         and _byte(rebuilt, byteorder) in native):
        return None
    return layout


ARRAY_LAYOUT = measure_array_layout()


def _result_expression(tree: Any) -> str:
    """Python source building the result from outputs ``o0, o1, ...``, shaped as ``tree``."""
    if isinstance(tree, int):
        return f"o{tree}"
    return "(" + "".join(f"{_result_expression(t)}, " for t in tree) + ")"


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
        self.probe: Callable[..., Any] | None = None
        if compiled.objects_address is not None:
            # Array objects are passed by address (CPython's id); the native entry checks
            # them and reads their data pointers.  Plain pointer arguments are the cheapest
            # ctypes call (~0.3 us), and CFUNCTYPE releases the GIL while the kernels run.
            prototype = ctypes.CFUNCTYPE(ctypes.c_int, *([ctypes.c_void_p] * count))
            self._native = prototype(compiled.objects_address)
            self._address = id
            self.probe = self._generate_probe()
        else:  # the slower path: data pointers extracted in Python
            entry = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(compiled.entry_address)
            table = ctypes.c_void_p * count
            self._native = lambda *addresses: entry(table(*addresses)) or 0
            self._address = lambda array: array.ctypes.data

    def _generate_probe(self, holders: Sequence[Any] = (),
                        attribute: str = "") -> Callable[..., Any]:
        """``probe(*args)``: the result, or None when an argument is not exactly an input's
        type (then nothing ran; a result is never None).  The last ``len(holders)`` inputs
        are not arguments: they are read from ``attribute`` of each holder at each call.

        Generated per executable, without loops over inputs and outputs, because at a few
        microseconds per call every Python operation shows (as ``dataclasses`` generates
        its methods).
        """
        count = len(self._inputs) - len(holders)
        outputs = [f"o{k}" for k in range(len(self._outputs))]
        names = {"empty": np.empty, "uint8": np.uint8, "native": self._native}
        lines = ["def probe(*args):", f"    if len(args) == {count}:"]
        for k, (shape, dtype) in enumerate(self._outputs):
            names[f"shape{k}"], names[f"dtype{k}"] = shape, dtype
            lines.append(f"        o{k} = empty(shape{k}, dtype{k})")
        addresses = [f"id(args[{k}])" for k in range(count)]
        for k, holder in enumerate(holders):
            names[f"holder{k}"] = holder
            addresses.append(f"id(holder{k}.{attribute})")
        addresses += [f"id({o})" for o in outputs]
        if self._workspace:
            lines.append(f"        workspace = empty({self._workspace}, uint8)")
            addresses.append("id(workspace)")
        lines.append(f"        if not native({', '.join(addresses)}):")
        lines.append(f"            return {_result_expression(self.plan.output_tree)}")
        lines.append("    return None")
        exec(compile("\n".join(lines), f"<jitflow probe of {count} input(s)>", "exec"), names)
        return names["probe"]

    def probe_reading(self, holders: Sequence[Any], attribute: str) -> Callable[..., Any] | None:
        """A probe (see ``probe``) whose last ``len(holders)`` inputs are the arrays found in
        ``attribute`` of ``holders`` at each call, so callers pass only the leading inputs
        (stateful callers: the frontend's variables); None where there is no probe."""
        if self.probe is None or not attribute.isidentifier() or len(holders) > len(self._inputs):
            return None
        return self._generate_probe(tuple(holders), attribute)

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
        if self.probe is not None:
            result = self.probe(*args)
            if result is not None:
                return result
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
        if self._native(*addresses):
            raise InputError("internal error: the compiled code rejected inputs that were converted to "
                             f"its parameter types ({', '.join(self._describe(i) for i in range(len(inputs)))})")
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
        if array.dtype != dtype and array.dtype.newbyteorder("=") == dtype:
            array = array.astype(dtype)  # the same numbers in the other byte order
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
