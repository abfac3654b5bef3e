"""Mutable state in the TensorFlow style: ``Variable`` and its functionalization.

A ``Variable`` owns a NumPy array.  Outside any trace it behaves like that array
(operators, NumPy functions, ``np.asarray``).  While ``jit`` traces a function,
the trace is *functionalized*: the first read of a variable makes it an extra
ENTRY parameter of the traced module (an implicit input), ``assign`` only
records the new traced value, and when tracing ends every assigned variable's
final value becomes an extra output.  The executable is wrapped so that each
call passes the variables' current arrays in and stores the new ones back.

Variables keep the shape and dtype they were created with (an assignment of
another shape is an error), so a trace's implicit inputs never change type and
need no re-check per call.  As in ``tf.function``, the set of variables a trace
reads is fixed by that trace: a jitted function that later closes over other
variables keeps using the ones it first read.

``Scope`` is one functionalization in progress: a ``jit`` trace, or an eager
``GradientTape``'s recording (``autodiff/tape.py``), which reads variables the
same way but also computes every value.  Containers of variables (``jitflow.nn.Module``)
live above the frontend; ``jit`` knows them by ``STATE_CONTAINER_ATTRIBUTE``.
"""

from __future__ import annotations

import contextlib
import itertools
import operator
import threading
from typing import Any, Callable, Iterator

import numpy as np

from ..errors import ConcretizationError, IRError, VariableError
from ..ir import DType, Instruction, TensorType
from .trace.emitters import convert, lift
from .trace.promotion import is_python_scalar
from .trace.tracer import TraceContext, Tracer, tracing_error

# -- scopes -------------------------------------------------------------------------


class Scope:
    """How variables read and write inside one trace (or one eager tape recording)."""

    def __init__(self, ctx: TraceContext, *, eager: bool = False) -> None:
        self.ctx = ctx
        self.eager = eager
        # The entry computation's builder: AutoGraph swaps ctx.builder while it traces a
        # branch or loop body, but variables are parameters of the entry (branches and
        # bodies capture them like any outer value).
        self.entry_builder = ctx.builder
        self.inputs: list[Variable] = []        # read before any assignment: implicit inputs
        self.assigned: dict[int, Variable] = {}  # id -> variable, in first-assignment order
        self._current: dict[int, Tracer] = {}    # id -> the variable's value in this trace
        self.tapes: list[Any] = []               # GradientTapes (tape.py) recording reads

    def read(self, variable: Variable) -> Tracer:
        value = self._current.get(id(variable))
        if value is None:
            value = self._parameter(variable)
        for tape in self.tapes:
            tape.record_read(variable, value)
        return value

    def _parameter(self, variable: Variable) -> Tracer:
        builder = self.entry_builder
        with builder.at(None):
            inst = builder.parameter(variable._type, name=f"var.{variable.name}")
        if self.eager:
            # An eager recording knows the value; later assignments must not change it.
            self.ctx.set_value(inst, variable._value.copy())
        else:
            self.inputs.append(variable)
        tracer = Tracer(self.ctx, inst)
        self._current[id(variable)] = tracer
        return tracer

    def assign(self, variable: Variable, value: Tracer) -> None:
        if self.ctx.builder is not self.entry_builder:
            raise tracing_error(
                VariableError, f"Variable '{variable.name}' assigned inside a traced `if` or "
                "loop (AutoGraph control flow on a traced condition)",
                "compute the new value in the branch or loop, and assign it after: for a "
                "choice, v.assign(np.where(cond, new, v)); for a loop, carry the value as a "
                "loop variable")
        if self.eager:
            # Eagerly the assignment happens now; the next read is a new (watched) value.
            variable._store(np.asarray(value))
            self._current.pop(id(variable), None)
            return
        self._current[id(variable)] = value
        self.assigned.setdefault(id(variable), variable)

    def output_instructions(self) -> list[Instruction]:
        """The final value of every assigned variable, in ``self.assigned`` order."""
        return [self._current[key].inst for key in self.assigned]


class _Scopes(threading.local):
    def __init__(self) -> None:
        self.stack: list[Scope] = []


# The open scopes of this thread, innermost last.  Read directly (not through a function)
# by Jitted.__call__, whose every call checks for an eager tape.
scopes = _Scopes()


def current_scope() -> Scope | None:
    stack = scopes.stack
    return stack[-1] if stack else None


def open_scope(ctx: TraceContext, *, eager: bool = False) -> Scope:
    """From now until ``close_scope``, variables read and assigned belong to ``ctx``'s trace."""
    scope = Scope(ctx, eager=eager)
    scopes.stack.append(scope)
    return scope


def close_scope(scope: Scope) -> None:
    if scope in scopes.stack:
        scopes.stack.remove(scope)


@contextlib.contextmanager
def allow_variable_creation() -> Iterator[None]:
    """Let library code (optimizer slots) create variables with concrete initial values
    while tracing: they are created once, on the first trace, and read as inputs after."""
    saved = scopes.stack
    scopes.stack = []
    try:
        yield
    finally:
        scopes.stack = saved


class StatefulExecutable:
    """Runs an executable whose trace read or assigned variables.

    Each call appends the read variables' arrays to the inputs and stores the extra
    outputs back into the assigned variables (rebinding their storage to the fresh
    result arrays: no copy).  ``user_outputs`` is how many leading outputs are the
    function's own; ``leaf`` says whether the function returned a single array.
    """

    def __init__(self, executable: Callable[..., Any], inputs: list[Variable],
                 assigned: list[Variable], user_outputs: int, leaf: bool) -> None:
        self.executable = executable
        self.inputs = tuple(inputs)
        self.assigned = tuple(assigned)
        self._user_outputs = user_outputs
        self._leaf = leaf
        inner_probe = getattr(executable, "probe", None)
        self.probe = None if inner_probe is None else self._make_probe(inner_probe)

    def __call__(self, *arrays: np.ndarray) -> Any:
        values = [v._value for v in self.inputs]
        return self._finish(self.executable(*arrays, *values), arrays, values)

    def _make_probe(self, inner_probe: Callable[..., Any]) -> Callable[..., Any]:
        inputs, finish = self.inputs, self._finish
        if not self.assigned:
            # Read-only state (a model's predict): the executable's own probe reads the
            # variables' current arrays, with no call in between (at a few microseconds a
            # call, one more Python frame and its argument tuple show).
            reading = getattr(self.executable, "probe_reading", None)
            probe = None if reading is None else reading(inputs, "_value")
            if probe is not None:
                return probe

        def probe(*arrays: Any) -> Any:
            values = [v._value for v in inputs]
            results = inner_probe(*arrays, *values)
            return None if results is None else finish(results, arrays, values)
        return probe

    def _finish(self, results: Any, arrays: tuple, values: list[np.ndarray]) -> Any:
        if not self.assigned:  # the root is the function's own output
            return results
        count = self._user_outputs
        # A backend may hand back an input, or one array for two outputs (the interpreter
        # does both): each variable's storage must be its own, since eager assignments
        # write into it, and must not be an array the caller got back.
        taken = {id(a) for a in arrays}
        taken.update(map(id, values))
        taken.update(map(id, results[:count]))
        for variable, array in zip(self.assigned, results[count:]):
            if id(array) in taken:
                array = array.copy()
            else:
                taken.add(id(array))
            variable._value = array
        return results[0] if self._leaf else tuple(results[:count])

    def __getattr__(self, name: str) -> Any:
        # Introspection (llvm_ir, asm, statistics) is the wrapped executable's.
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.executable, name)


# -- Variable -------------------------------------------------------------------------

_names = itertools.count()


def _unwrap(value: Any) -> Any:
    """A variable's current value (traced or concrete); other values unchanged."""
    return value.value if isinstance(value, Variable) else value


def _unwrap_tree(values: Any) -> Any:
    if isinstance(values, Variable):
        return values.value
    if isinstance(values, (list, tuple)):
        return type(values)(_unwrap_tree(v) for v in values)
    if isinstance(values, dict):
        return {k: _unwrap_tree(v) for k, v in values.items()}
    return values


class Variable:
    """A mutable array: ``Variable(value, trainable=True, name=None, dtype=None)``.

    Reads (``.value``, ``read_value()``, operators, NumPy functions, ``np.asarray``)
    give the current value; ``assign``, ``assign_add`` and ``assign_sub`` change it.
    The shape and dtype are fixed at creation (``dtype`` converts the initial value).
    Inside ``jit`` reads and assignments are functionalized (see the module docstring).
    Like NumPy arrays, variables are unhashable (``==`` is elementwise): use ``id(v)``
    as a dictionary key.
    """

    __slots__ = ("_value", "_type", "name", "trainable", "__weakref__")
    __hash__ = None
    # Tracers return NotImplemented for operands of this type, so the variable's own
    # operators and NumPy overrides run and trace its current value.
    __jitflow_defers__ = True

    def __init__(self, value: Any, trainable: bool = True, name: str | None = None,
                 dtype: Any = None) -> None:
        scope = current_scope()
        if scope is not None and not scope.eager:
            raise tracing_error(
                VariableError, "jitflow.Variable created inside a jitted function",
                "create variables once, outside (in __init__ of a jitflow.Module, or before "
                "the first call), and read or assign them inside; as in TensorFlow 2's "
                "tf.function, a traced function cannot create state on every call")
        if isinstance(value, Variable):
            value = value.numpy()
        array = np.array(value, dtype=dtype, order="C")  # always our own copy
        if not array.dtype.isnative:
            # Data in the other byte order (a big-endian file, another machine): the same
            # numbers in this machine's order, as jitted functions take such arguments.
            array = array.astype(array.dtype.newbyteorder("="))
        try:
            ir_dtype = DType.from_numpy(array.dtype)
        except IRError:
            raise VariableError(f"jitflow.Variable of {array.dtype} values: variables hold "
                                "bool, int, uint or float arrays") from None
        self._value = array
        self._type = TensorType(ir_dtype, array.shape)
        self.name = name if name is not None else f"Variable_{next(_names)}"
        self.trainable = bool(trainable)

    # -- reading ----------------------------------------------------------------------

    @property
    def value(self) -> Any:
        """The current value: a NumPy array, or a traced value while tracing."""
        scope = current_scope()
        return self._value if scope is None else scope.read(self)

    def read_value(self) -> Any:
        return self.value

    def numpy(self) -> np.ndarray:
        """A copy of the current value (only outside ``jit``)."""
        scope = current_scope()
        if scope is not None and not scope.eager:
            raise tracing_error(ConcretizationError,
                                f"Variable '{self.name}'.numpy() inside a jitted function",
                                "use the variable itself (or .value) in traced code, and call "
                                ".numpy() outside")
        return self._value.copy()

    @property
    def shape(self) -> tuple[int, ...]:
        return self._value.shape

    @property
    def dtype(self) -> np.dtype:
        return self._value.dtype

    @property
    def ndim(self) -> int:
        return self._value.ndim

    @property
    def size(self) -> int:
        return self._value.size

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        scope = current_scope()
        shown = self._value if scope is None or scope.eager else "<traced>"
        return (f"<jitflow.Variable '{self.name}' shape={self.shape} dtype={self.dtype}"
                f"{'' if self.trainable else ' trainable=False'}, value={shown!r}>")

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        scope = current_scope()
        if scope is not None and not scope.eager:
            raise tracing_error(ConcretizationError,
                                f"cannot use Variable '{self.name}' as a NumPy array "
                                "(np.asarray/np.array) inside a jitted function",
                                "use the variable directly: NumPy functions and operators "
                                "accept it and trace its value")
        array = self._value
        if dtype is not None and np.dtype(dtype) != array.dtype:
            return array.astype(dtype)
        return array.copy() if copy else array

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if "out" in kwargs:
            raise VariableError(f"np.{ufunc.__name__}(..., out=...) with a jitflow.Variable: "
                                f"use variable.assign(np.{ufunc.__name__}(...)) instead")
        return getattr(ufunc, method)(*_unwrap_tree(inputs), **kwargs)

    def __array_function__(self, func: Any, types: Any, args: tuple, kwargs: dict) -> Any:
        return func(*_unwrap_tree(args), **_unwrap_tree(kwargs))

    def __getattr__(self, name: str) -> Any:
        # Array methods and properties (sum, reshape, T, astype, ...) of the current value.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.value, name)

    def __getitem__(self, key: Any) -> Any:
        return self.value[key]

    def __bool__(self) -> bool:
        return bool(self.value)

    def __float__(self) -> float:
        return float(self.value)

    def __int__(self) -> int:
        return int(self.value)

    def __index__(self) -> int:
        return operator.index(self.value)

    # -- writing ----------------------------------------------------------------------

    def assign(self, value: Any) -> Variable:
        """Set the value (same shape; a dtype NumPy casts to this one with ``same_kind``)."""
        value = _unwrap(value)
        scope = current_scope()
        if scope is None:
            self._store(value)
            return self
        traced = lift(scope.ctx, value)
        self._check(traced.shape, traced.dtype, is_python_scalar(value))
        scope.assign(self, convert(traced, self.dtype))
        return self

    def assign_add(self, delta: Any) -> Variable:
        return self.assign(self.value + _unwrap(delta))

    def assign_sub(self, delta: Any) -> Variable:
        return self.assign(self.value - _unwrap(delta))

    def _store(self, value: Any) -> None:
        array = np.asarray(value)
        self._check(array.shape, array.dtype, is_python_scalar(value))
        np.copyto(self._value, array, casting="unsafe")

    def _check(self, shape: tuple[int, ...], dtype: np.dtype, python_scalar: bool) -> None:
        if tuple(shape) != self.shape:
            raise VariableError(f"cannot assign a value of shape {tuple(shape)} to Variable "
                                f"'{self.name}' of shape {self.shape}: a variable keeps its shape")
        if not python_scalar and not np.can_cast(dtype, self.dtype, "same_kind"):
            raise VariableError(f"cannot assign {np.dtype(dtype)} values to Variable "
                                f"'{self.name}' of dtype {self.dtype} (only same-kind casts); "
                                f"convert explicitly with .astype(np.{self.dtype})")


def _binary(op: Callable[[Any, Any], Any]) -> Callable[[Variable, Any], Any]:
    def method(self: Variable, other: Any) -> Any:
        return op(self.value, _unwrap(other))
    return method


def _reflected(op: Callable[[Any, Any], Any]) -> Callable[[Variable, Any], Any]:
    def method(self: Variable, other: Any) -> Any:
        return op(_unwrap(other), self.value)
    return method


def _unary(op: Callable[[Any], Any]) -> Callable[[Variable], Any]:
    def method(self: Variable) -> Any:
        return op(self.value)
    return method


_BINARY_OPERATORS = ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and",
                     "or", "xor", "lshift", "rshift")
_COMPARISON_OPERATORS = ("lt", "le", "gt", "ge", "eq", "ne")
_UNARY_OPERATORS = ("neg", "pos", "abs", "invert")

for _name in _BINARY_OPERATORS:
    _function = getattr(operator, f"{_name}_" if _name in ("and", "or") else _name)
    setattr(Variable, f"__{_name}__", _binary(_function))
    setattr(Variable, f"__r{_name}__", _reflected(_function))
for _name in _COMPARISON_OPERATORS:
    setattr(Variable, f"__{_name}__", _binary(getattr(operator, _name)))
for _name in _UNARY_OPERATORS:
    setattr(Variable, f"__{_name}__", _unary(getattr(operator, _name)))
del _name, _function


# -- jit's protocol for containers of state --------------------------------------------

# A class whose instances hold variables (``jitflow.nn.Module`` and its subclasses) sets
# this attribute to True.  ``jit`` then treats an argument of that class as static by
# identity, and the variables it holds are read inside the trace like any variable: this is
# how ``jit`` recognizes modules (``self`` of a jitted method) without importing them.
STATE_CONTAINER_ATTRIBUTE = "__jitflow_state_container__"


def is_implicitly_static(value: Any) -> bool:
    """Arguments ``jit`` treats as static without being told, by identity: variables and
    containers of state (``STATE_CONTAINER_ATTRIBUTE``).  Their state is read inside the
    trace, as for variables the function closes over (a variable argument is an implicit
    input, and written back when assigned)."""
    return isinstance(value, Variable) or getattr(type(value), STATE_CONTAINER_ATTRIBUTE, False)


class IdentityKey:
    """A cache-key part that is one object (kept alive) compared by identity, for objects
    whose ``==`` is elementwise or user-defined."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __hash__(self) -> int:
        return id(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdentityKey) and other.value is self.value

    def __repr__(self) -> str:
        return f"IdentityKey({type(self.value).__name__} at {id(self.value):#x})"
