"""What converted code calls (as ``ag__.<name>``): Python or IR control flow, decided per call.

Each helper looks at its condition (or iterable) when the converted function
runs under ``jit``: a Python value runs the statement as Python would (loops
unroll, the branch is chosen while tracing); a traced value builds
``conditional``/``while`` IR through ``control_flow``.  A Python ``while``
whose condition becomes traced after some iterations (a flag set by a traced
``if``) continues as an IR loop from the state it reached.
"""

from __future__ import annotations

import builtins
import contextlib
import contextvars
import sys
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ...errors import AutoGraphError, TracedListAppendError, TracingError, UnsupportedError
from ..trace.control_flow import (ReturnValue, Undefined, lift_leaf, to_predicate, traced_cond,
                                  traced_while)
from ..trace.emitters import constant, convert, emit, full, reshape
from ..trace.tracer import Tracer, tracing_error
from .transform import RETURN_VALUE

__all__ = ["ReturnValue", "Undefined", "and_", "for_range", "for_stmt", "if_exp", "if_stmt",
           "list_append", "not_", "or_", "outer_store", "return_value", "set_item",
           "while_stmt"]

# Ids of the Python lists that existed where each enclosing traced loop or branch began:
# appending to one of them while tracing it would record one append, not one per run.
_outer_lists: contextvars.ContextVar[frozenset[int]] = contextvars.ContextVar(
    "jitflow_autograph_outer_lists", default=frozenset())


# Whether a traced loop or branch is being traced: its body runs once (or a few times, when
# loop types settle) while tracing, not once per iteration or only on the branch taken.
_in_traced_region: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "jitflow_autograph_in_traced_region", default=False)


@contextlib.contextmanager
def _traced_region(frame: Any) -> Iterator[None]:
    lists = {id(v) for v in frame.f_locals.values() if isinstance(v, list)}
    token = _outer_lists.set(_outer_lists.get() | lists)
    region = _in_traced_region.set(True)
    try:
        yield
    finally:
        _in_traced_region.reset(region)
        _outer_lists.reset(token)


# -- statements ------------------------------------------------------------------------

def _shown(names: Sequence[str]) -> tuple[str, ...]:
    """Variable names as errors show them: generated ones say what they stand for."""
    return tuple("<return value>" if n == RETURN_VALUE else n for n in names)


def if_stmt(condition: Any, true_fn: Callable[..., tuple], false_fn: Callable[..., tuple],
            names: Sequence[str], inputs: Sequence[Any]) -> tuple:
    if isinstance(condition, Tracer):
        with _traced_region(sys._getframe(1)):
            return traced_cond(condition.ctx, condition, true_fn, false_fn, _shown(names),
                               inputs)
    return true_fn(*inputs) if condition else false_fn(*inputs)


def while_stmt(test: Callable[..., Any], body: Callable[..., tuple], names: Sequence[str],
               state: Sequence[Any]) -> tuple:
    state = tuple(state)
    while True:
        condition = test(*state)
        if isinstance(condition, Tracer):
            with _traced_region(sys._getframe(1)):
                return traced_while(condition.ctx, test, body, _shown(names), state)
        if not condition:
            return state
        state = tuple(body(*state))


class TracedRange:
    """``range(start, stop, step)`` with a traced bound: a counting ``while`` loop."""

    def __init__(self, start: Any, stop: Any, step: Any) -> None:
        self.start, self.stop, self.step = start, stop, step
        tracer = next(v for v in (start, stop, step) if isinstance(v, Tracer))
        self.ctx = tracer.ctx
        for value in (start, stop, step):
            if not isinstance(value, (Tracer, int, np.integer)) or isinstance(value, bool) or (
                    isinstance(value, Tracer) and (value.dtype.kind not in "iu" or value.ndim)):
                raise tracing_error(TracingError, f"range() bounds must be integer scalars, got "
                                                  f"{_describe(value)}")
        if isinstance(step, (int, np.integer)) and step == 0:
            raise tracing_error(TracingError, "range() arg 3 must not be zero")


def for_range(range_fn: Any, *args: Any) -> Any:
    if range_fn is builtins.range and any(isinstance(a, Tracer) for a in args):
        start, stop, step = (0, args[0], 1) if len(args) == 1 else (
            (args[0], args[1], 1) if len(args) == 2 else args)
        return TracedRange(start, stop, step)
    return range_fn(*args)


def for_stmt(iterable: Any, extra_test: Callable[..., Any] | None, body: Callable[..., tuple],
             names: Sequence[str], state: Sequence[Any]) -> tuple:
    state = tuple(state)
    if isinstance(iterable, TracedRange):
        with _traced_region(sys._getframe(1)):
            return _counted_loop(iterable.ctx, iterable.start, iterable.stop, iterable.step,
                                 lambda counter: counter, extra_test, body, names, state)
    if isinstance(iterable, Tracer):
        if not iterable.shape:
            raise tracing_error(TracingError, "iteration over a 0-d traced array")
        with _traced_region(sys._getframe(1)):
            return _counted_loop(iterable.ctx, 0, iterable.shape[0], 1,
                                 lambda counter: iterable[counter], extra_test, body, names, state)
    for item in iterable:
        if extra_test is not None:
            keep = extra_test(*state)
            if isinstance(keep, Tracer):
                # A traced break/return happened in an unrolled loop: the remaining
                # iterations run only where it did not.
                with _traced_region(sys._getframe(1)):
                    state = traced_cond(keep.ctx, keep, lambda *s: body(item, *s),
                                        lambda *s: s, _shown(names), state)
                continue
            if not keep:
                break
        state = tuple(body(item, *state))
    return state


def _counted_loop(ctx: Any, start: Any, stop: Any, step: Any, item: Callable[[Tracer], Any],
                  extra_test: Callable[..., Any] | None, body: Callable[..., tuple],
                  names: Sequence[str], state: tuple) -> tuple:
    """``for counter in range(start, stop, step)`` as a ``while`` over (counter, *state).
    The counter is a weak int64, as the Python ints ``range`` yields are."""
    as_int = [v if isinstance(v, Tracer) else int(v) for v in (start, stop, step)]
    start, stop, step = (convert(lift_leaf(ctx, v), np.int64, weak=True) if isinstance(v, Tracer)
                         else v for v in as_int)
    counter = convert(lift_leaf(ctx, start), np.int64, weak=True)

    def test(counter: Tracer, *carried: Any) -> Any:
        if isinstance(step, Tracer):
            up = np.logical_and(step > 0, counter < stop)
            keep = np.logical_or(up, np.logical_and(step < 0, counter > stop))
        else:
            keep = counter < stop if step > 0 else counter > stop
        if extra_test is not None:
            keep = and_(keep, lambda: extra_test(*carried))
        return keep

    def loop_body(counter: Tracer, *carried: Any) -> tuple:
        return (counter + step, *body(item(counter), *carried))

    return tuple(traced_while(ctx, test, loop_body, ("<loop counter>", *_shown(names)),
                              (counter, *state))[1:])


def return_value(value: Any) -> Any:
    return None if isinstance(value, ReturnValue) else value


# -- expressions --------------------------------------------------------------------------

def and_(first: Any, *rest: Callable[[], Any]) -> Any:
    """``a and b``: Python's short circuit, or a logical and of traced scalars."""
    value = first
    for thunk in rest:
        if isinstance(value, Tracer):
            value = _logical(np.logical_and, value, thunk())
        elif not value:
            return value
        else:
            value = thunk()
    return value


def or_(first: Any, *rest: Callable[[], Any]) -> Any:
    """``a or b``: Python's short circuit, or a logical or of traced scalars."""
    value = first
    for thunk in rest:
        if isinstance(value, Tracer):
            value = _logical(np.logical_or, value, thunk())
        elif value:
            return value
        else:
            value = thunk()
    return value


def _logical(ufunc: np.ufunc, a: Tracer, b: Any) -> Tracer:
    a = to_predicate(a.ctx, a, "operand of and/or")
    return ufunc(a, to_predicate(a.ctx, b, "operand of and/or"))


def not_(value: Any) -> Any:
    if isinstance(value, Tracer):
        return np.logical_not(to_predicate(value.ctx, value, "operand of not"))
    return not value


def if_exp(condition: Any, true_value: Callable[[], Any], false_value: Callable[[], Any]) -> Any:
    """``a if c else b``: a ``conditional`` on a traced ``c``."""
    if isinstance(condition, Tracer):
        return traced_cond(condition.ctx, condition, lambda: (true_value(),),
                           lambda: (false_value(),), ("<conditional expression>",), ())[0]
    return true_value() if condition else false_value()


def list_append(target: Any, value: Any, name: str = "list") -> None:
    if isinstance(target, list) and id(target) in _outer_lists.get():
        raise tracing_error(
            TracedListAppendError, f"appending to Python list '{name}' inside a traced loop or "
            "branch", "its length would depend on traced values; preallocate an array before "
            "the loop (out = np.zeros((n, ...))) and assign rows with out[i] = value, which "
            "becomes a dynamic-update-slice")
    target.append(value)


# -- index assignment -----------------------------------------------------------------------

def outer_store(container: Any, value: Any, name: str) -> Any:
    """``value``, about to be stored into an item or attribute of ``container``, the global or
    enclosing variable ``name`` (``name[k] = value``, ``name.a += value``): the store itself
    runs as Python runs it.  A traced value is refused where it would be wrong there: inside a
    traced loop or branch (the store runs while tracing, so the container would keep a value
    of the loop body's or branch's trace, stored whichever way the condition goes), and into
    a NumPy array (which cannot hold one)."""
    if not isinstance(value, Tracer):
        return value
    if _in_traced_region.get():
        raise tracing_error(
            AutoGraphError, f"storing a traced value into '{name}', a global or enclosing "
            "variable, inside a traced if/while/for",
            "Python stores into outer containers run once while tracing, not per iteration or "
            "per branch taken; carry the value in a local variable and store it after the "
            "statement, or return it")
    if isinstance(container, np.ndarray):
        raise tracing_error(
            AutoGraphError, f"storing a traced value into NumPy array '{name}', a global or "
            "enclosing variable", f"a NumPy array cannot hold traced values; copy it into a "
            f"local name first (a = {name}.copy()): a[i] = v then makes a traced array")
    return value


def set_item(target: Any, key: Any, value: Any) -> Any:
    """``target[key] = value`` that returns the updated array: in place for NumPy arrays and
    other Python objects, a ``dynamic-update-slice`` (a new traced array) for traced ones."""
    traced_key = any(isinstance(k, Tracer) for k in (key if isinstance(key, tuple) else (key,)))
    if isinstance(target, Tracer) or (isinstance(target, np.ndarray) and (
            traced_key or isinstance(value, Tracer))):
        return _update(target, key, value)
    target[key] = value
    return target


def _update(target: Any, key: Any, value: Any) -> Tracer:
    ctx = next(v.ctx for v in (target, value, *(key if isinstance(key, tuple) else (key,)))
               if isinstance(v, Tracer))
    target = lift_leaf(ctx, target)
    entries = list(key) if isinstance(key, tuple) else [key]
    if any(e is Ellipsis for e in entries):
        at = entries.index(Ellipsis)
        entries[at:at + 1] = [slice(None)] * (target.ndim - len(entries) + 1)
    if len(entries) > target.ndim:
        raise tracing_error(UnsupportedError, f"index assignment with {len(entries)} indices into "
                                              f"a {target.ndim}-d traced array")
    entries += [slice(None)] * (target.ndim - len(entries))
    starts, sizes, kept = [], [], []
    for axis, (entry, size) in enumerate(zip(entries, target.shape)):
        if isinstance(entry, slice):
            if any(isinstance(p, Tracer) for p in (entry.start, entry.stop, entry.step)):
                raise tracing_error(UnsupportedError, "index assignment to a slice with traced "
                                                      "bounds", "slice bounds must be static")
            first, stop, stride = entry.indices(size)
            if stride != 1:
                raise tracing_error(UnsupportedError, "index assignment to a strided slice",
                                    "assign to a contiguous slice (step 1)")
            starts.append(constant(ctx, first, np.int64))
            sizes.append(max(stop - first, 0))
            kept.append(sizes[-1])
        elif isinstance(entry, Tracer):
            if entry.ndim or entry.dtype.kind not in "iu":
                raise tracing_error(UnsupportedError, "index assignment with a traced "
                                    f"{_describe(entry)} index", "use integer scalar indices")
            index = convert(entry, np.int64)
            wrapped = emit(ctx, "add", index, full(ctx, size, (), np.int64))
            negative = emit(ctx, "compare", index, full(ctx, 0, (), np.int64), direction="LT")
            starts.append(emit(ctx, "select", negative, wrapped, index))
            sizes.append(1)
        elif isinstance(entry, (int, np.integer)) and not isinstance(entry, bool):
            if not -size <= entry < size:
                raise tracing_error(TracingError, f"index {entry} is out of bounds for axis "
                                                  f"{axis} with size {size}")
            starts.append(constant(ctx, int(entry) % size, np.int64))
            sizes.append(1)
        else:
            raise tracing_error(UnsupportedError, f"index assignment with a {_describe(entry)} "
                                "index", "use ints, traced integer scalars and step-1 slices; "
                                "for masks use np.where(mask, value, x)")
    update = lift_leaf(ctx, value)
    if update.dtype != target.dtype:
        update = convert(update, target.dtype)
    update = np.broadcast_to(update, tuple(kept))
    update = reshape(update, tuple(sizes))
    if 0 in sizes or 0 in target.shape:  # nothing to write (a zero-trip loop's body, say)
        return target
    return emit(ctx, "dynamic-update-slice", target, update, *starts, weak=target.weak)


def _describe(value: Any) -> str:
    if isinstance(value, Tracer):
        return f"{value.dtype}{list(value.shape)} traced value"
    return type(value).__name__
