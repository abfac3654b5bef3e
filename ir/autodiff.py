"""Reverse-mode autodiff as an IR -> IR transformation.

``emit_vjp(builder, outputs, cotangents, wrt)`` appends, to the computation the
builder emits into, the instructions computing the vector-Jacobian product
``d sum(outputs * cotangents) / d wrt``.  It walks the instructions that lie on
a path from ``wrt`` to ``outputs`` in reverse order, accumulating one
cotangent per value (contributions are summed with ``add``) and pulling it
back through each instruction with the rule that ``vjp.VJP_RULES`` holds for
its opcode.  Values off those paths are constants for the derivative and get
no backward code at all.

Control flow is differentiated structurally:

* ``call`` and ``fusion``: the callee is re-emitted inline and differentiated
  there (it is pure, so recomputing it is the price of a simple rule).
* ``conditional``: the backward is a conditional over the same selector; branch
  ``k`` re-emits forward branch ``k`` on its operand, differentiates it, and
  returns a cotangent for every branch operand (zeros for the others), so that
  all branches have one result type.
* ``while``: the trip count must be known at trace time: the values that decide
  the condition must start from constants and be updated by the body from
  themselves and constants only (a counter ``i = i + 1`` against a bound, as
  ``for i in range(n)`` gives).  The loop is then replaced by an augmented loop
  that also stores the state at the start of each iteration into stacked
  buffers (memory: trip count x state size), and a reverse loop walks the
  iterations backwards, differentiating the body at each stored state.  A loop
  whose trip count depends on runtime data is an ``AutodiffError``.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import AutodiffError
from .builder import Builder
from .core import Computation, Instruction, Module
from .interpreter import Interpreter
from .opdef import is_side_effecting
from .types import DType, TensorType, TupleType, Type, same_ignoring_layout
from .vjp import VJP_RULES, ZERO_GRADIENT, Cotangent, has_float, register_vjp, zeros

__all__ = ["emit_vjp", "zeros_like", "materialize", "clone_computation", "grad_module"]

# Loops whose static trip count simulation exceeds this many iterations are refused: the
# stored per-iteration state would be unreasonable anyway.
MAX_STATIC_TRIP_COUNT = 1_000_000


def zeros_like(builder: Builder, inst: Instruction) -> Instruction:
    """Zeros of ``inst``'s type (a tuple of zeros for a tuple value), emitted by ``builder``."""
    return zeros(builder, inst.type)


def emit_vjp(builder: Builder, outputs: Sequence[Instruction], cotangents: Sequence[Instruction],
             wrt: Sequence[Instruction]) -> list[Instruction | None]:
    """Emit the backward pass of ``outputs`` with respect to ``wrt``.

    Returns, for each ``wrt``, the instruction holding ``d sum(outputs * cotangents) / d wrt``,
    or None when the outputs do not depend on it (through differentiable paths).
    """
    computation = builder.computation
    if len(outputs) != len(cotangents):
        raise AutodiffError(f"emit_vjp got {len(outputs)} outputs but {len(cotangents)} "
                            "cotangents")
    for value in (*outputs, *cotangents, *wrt):
        if value.parent is not computation:
            raise AutodiffError(f"{value.describe()} is not in computation "
                                f"'{computation.name}', which the builder emits into")
    for output, cotangent in zip(outputs, cotangents):
        if not same_ignoring_layout(output.type, cotangent.type):
            raise AutodiffError(f"the cotangent of {output.describe()} must be "
                                f"{output.type.without_layout()}, got {cotangent.type}")
    for target in wrt:
        if not has_float(target.type):
            raise AutodiffError(f"cannot differentiate with respect to {target.describe()}: "
                                f"its type {target.type} has no floating-point elements; "
                                "gradients are defined for float inputs only")
    return _Backward(builder).run(list(outputs), list(cotangents), list(wrt))


def materialize(builder: Builder, cotangent: Cotangent | None, type_: Type) -> Instruction:
    """An instruction for a cotangent: zeros for None, a tuple instruction for a list."""
    if cotangent is None:
        return zeros(builder, type_)
    if isinstance(cotangent, list):
        assert isinstance(type_, TupleType)
        return builder.tuple(*(materialize(builder, c, t)
                               for c, t in zip(cotangent, type_.elements)))
    return cotangent


class _Backward:
    """One reverse sweep over one computation."""

    def __init__(self, builder: Builder) -> None:
        self.builder = builder
        self.cotangents: dict[Instruction, Cotangent] = {}

    def run(self, outputs: list[Instruction], cotangents: list[Instruction],
            wrt: list[Instruction]) -> list[Instruction | None]:
        active = _between(wrt, outputs)
        for output, cotangent in zip(outputs, cotangents):
            if output in active:
                self._accumulate(output, _split(self.builder, cotangent))
        # A snapshot: the sweep must not visit the backward instructions it appends.
        forward = [inst for inst in self.builder.computation.instructions if inst in active]
        for inst in reversed(forward):
            cotangent = self.cotangents.get(inst)
            if cotangent is None or not has_float(inst.type) or inst.opcode in ZERO_GRADIENT:
                continue
            rule = VJP_RULES.get(inst.opcode)
            if rule is None:
                raise AutodiffError(f"no gradient rule for {inst.opcode} at {inst.describe()}")
            with self.builder.at(inst.source):
                contributions = rule(self.builder, inst, cotangent)
            for operand, contribution in zip(inst.operands, contributions):
                if contribution is not None and operand in active and has_float(operand.type):
                    self._accumulate(operand, contribution)
        results = []
        for target in wrt:
            cotangent = self.cotangents.get(target)
            results.append(None if cotangent is None
                           else materialize(self.builder, cotangent, target.type))
        return results

    def _accumulate(self, inst: Instruction, contribution: Cotangent) -> None:
        previous = self.cotangents.get(inst)
        self.cotangents[inst] = _add(self.builder, previous, contribution, inst.type)


def _add(b: Builder, a: Cotangent | None, c: Cotangent | None, type_: Type) -> Cotangent | None:
    if a is None:
        return c
    if c is None:
        return a
    if isinstance(type_, TupleType):
        a = a if isinstance(a, list) else _split(b, a)
        c = c if isinstance(c, list) else _split(b, c)
        return [_add(b, x, y, t) for x, y, t in zip(a, c, type_.elements)]
    if not type_.dtype.is_float:
        return None
    return b.add(a, c)


def _split(b: Builder, value: Instruction) -> Cotangent:
    """A cotangent in the sweep's form: tuple-typed values become lists of elements."""
    if isinstance(value.type, TupleType):
        return [_split(b, b.get_tuple_element(value, index=i))
                for i in range(len(value.type.elements))]
    return value


def _between(sources: Sequence[Instruction], sinks: Sequence[Instruction]) -> set[Instruction]:
    """Instructions on some path from a source to a sink (both ends included)."""
    reached: set[Instruction] = set()
    stack = list(sources)
    while stack:
        inst = stack.pop()
        if inst not in reached:
            reached.add(inst)
            stack.extend(inst.users)
    between: set[Instruction] = set()
    stack = [s for s in sinks if s in reached]
    while stack:
        inst = stack.pop()
        if inst not in between:
            between.add(inst)
            stack.extend(o for o in inst.operands if o in reached)
    return between


# ---------------------------------------------------------------------------
# re-emitting called computations


def clone_computation(b: Builder, computation: Computation,
                      arguments: Sequence[Instruction]) -> Instruction:
    """Emit a copy of ``computation``'s instructions applied to ``arguments``; its root's copy."""
    mapping: dict[Instruction, Instruction] = {}
    for param in computation.parameters:
        mapping[param] = arguments[param.attrs["parameter_number"]]
    for inst in computation.instructions:
        if inst.opcode == "parameter":
            continue
        with b.at(inst.source or b.source):
            mapping[inst] = b.emit(inst.opcode, *(mapping[o] for o in inst.operands),
                                   type=inst.type, called=inst.called, name=inst.name,
                                   **dict(inst.attrs))
    return mapping[computation.root]


@register_vjp("call", "fusion")
def _call(b: Builder, inst: Instruction, ct: Cotangent) -> Sequence[Any]:
    operands = list(inst.operands)
    root = clone_computation(b, inst.called[0], operands)
    differentiable = [o for o in operands if has_float(o.type)]
    grads = iter(_Backward(b).run([root], [materialize(b, ct, inst.type)], differentiable))
    return [next(grads) if has_float(o.type) else None for o in operands]


@register_vjp("conditional")
def _conditional(b: Builder, inst: Instruction, ct: Cotangent) -> Sequence[Any]:
    selector, *operands = inst.operands
    ct_value = materialize(b, ct, inst.type)
    operand_types = [o.type for o in operands]
    result = TupleType(tuple(operand_types))
    backward_branches = []
    for k, branch in enumerate(inst.called):
        sub = b.module.builder(f"{branch.name}_vjp")
        sub.source = inst.source
        packed = sub.parameter(TupleType((operand_types[k], ct_value.type)), name="primal_and_ct")
        primal = sub.get_tuple_element(packed, index=0)
        cotangent = sub.get_tuple_element(packed, index=1)
        root = clone_computation(sub, branch, [primal])
        (grad,) = emit_vjp(sub, [root], [cotangent], [primal]) if has_float(primal.type) \
            else (None,)
        cts = [materialize(sub, grad if i == k else None, t)
               for i, t in enumerate(operand_types)]
        sub.set_root(sub.tuple(*cts))
        backward_branches.append(sub.computation)
    packs = [b.tuple(operand, ct_value) for operand in operands]
    backward = b.conditional(selector, *packs, called=backward_branches)
    assert same_ignoring_layout(backward.type, result)
    return [None] + [_split(b, b.get_tuple_element(backward, index=i))
                     for i in range(len(operands))]


# ---------------------------------------------------------------------------
# while loops with a trip count known at trace time


def _static_trip_count(inst: Instruction) -> int:
    """Run the loop's control (the state elements its condition reads) at trace time."""
    condition, body = inst.called
    init = inst.operand(0)
    if not isinstance(init.type, TupleType):
        raise _unknown_trip_count(inst, "its state is not a tuple")
    control = _control_elements(condition, body)
    if control is None:
        raise _unknown_trip_count(inst, "its condition or the body's update of the values the "
                                        "condition reads depends on more than the loop counter")
    values = {}
    for index in control:
        value = _constant_value(_tuple_element(init, index))
        if value is None:
            raise _unknown_trip_count(inst, f"the initial value of state element {index} is not "
                                            "known at trace time")
        values[index] = value
    interpreter = Interpreter(inst.parent.module)
    for trips in range(MAX_STATIC_TRIP_COUNT + 1):
        if not bool(_evaluate_elements(interpreter, condition, values, [condition.root])[0]):
            return trips
        roots = [_tuple_element(body.root, index) for index in control]
        updated = _evaluate_elements(interpreter, body, values, roots)
        values = dict(zip(control, updated))
    raise AutodiffError(f"cannot differentiate {inst.describe()}: it runs more than "
                        f"{MAX_STATIC_TRIP_COUNT} iterations")


def _unknown_trip_count(inst: Instruction, why: str) -> AutodiffError:
    return AutodiffError(
        f"cannot differentiate the while loop {inst.describe()}: reverse mode stores every "
        f"iteration, so the trip count must be known at trace time (a counter running from a "
        f"constant to a constant bound), but {why}. Make the bound a Python int (a static "
        f"argument: jit(..., static_argnames=...)) so that the loop unrolls while tracing")


def _look_through(value: Instruction) -> Instruction:
    """The instruction a get-tuple-element of a tuple instruction forwards (as the augmented
    loops of higher derivatives build), else ``value``."""
    while value.opcode == "get-tuple-element" and value.operand(0).opcode == "tuple":
        value = value.operand(0).operand(value.attrs["index"])
    return value


def _tuple_element(value: Instruction, index: int) -> Instruction | None:
    """Element ``index`` of a tuple value when the IR shows which instruction it is."""
    if value.opcode != "tuple":
        return None
    return _look_through(value.operand(index))


def _constant_value(inst: Instruction | None) -> np.ndarray | None:
    """The value of an instruction computed from constants only, else None."""
    if inst is None:
        return None
    pending, seen = [inst], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        if current.opcode == "parameter" or is_side_effecting(current) or current.called:
            return None
        pending.extend(current.operands)
    env: dict[Instruction, Any] = {}
    for current in _in_program_order(inst.parent, seen):
        env[current] = current.opdef.evaluate(current, [env[o] for o in current.operands], None)
    return env[inst]


def _in_program_order(computation: Computation,
                      subset: set[Instruction]) -> list[Instruction]:
    return [i for i in computation.instructions if i in subset]


def _control_elements(condition: Computation, body: Computation) -> list[int] | None:
    """State indices the condition reads, closed under the body's updates; None if some of them
    depend on anything but each other and constants."""
    wanted = _elements_read(condition, condition.root)
    if wanted is None:
        return None
    closed: set[int] = set()
    while wanted - closed:
        index = min(wanted - closed)
        closed.add(index)
        update = _tuple_element(body.root, index)
        if update is None:
            return None
        read = _elements_read(body, update)
        if read is None:
            return None
        wanted |= read
    return sorted(closed)


def _elements_read(computation: Computation, value: Instruction) -> set[int] | None:
    """Which elements of the state parameter ``value`` depends on (only through
    get-tuple-element), or None if it uses the whole state, a side effect or a call."""
    (state,) = computation.parameters
    read: set[int] = set()
    pending, seen = [value], set()
    while pending:
        current = _look_through(pending.pop())
        if current in seen:
            continue
        seen.add(current)
        if current.opcode == "get-tuple-element" and current.operand(0) is state:
            read.add(current.attrs["index"])
            continue
        if current is state or is_side_effecting(current) or current.opcode in ("while",
                                                                                  "conditional"):
            return None
        pending.extend(current.operands)
    return read


def _evaluate_elements(interpreter: Interpreter, computation: Computation,
                       values: dict[int, np.ndarray], roots: list[Instruction]) -> list[Any]:
    """Evaluate ``roots`` of a loop computation knowing only some state elements."""
    (state,) = computation.parameters
    roots = [_look_through(root) for root in roots]
    needed: set[Instruction] = set()
    pending = list(roots)
    while pending:
        current = _look_through(pending.pop())
        if current in needed:
            continue
        needed.add(current)
        if not (current.opcode == "get-tuple-element" and current.operand(0) is state):
            pending.extend(current.operands)
    env: dict[Instruction, Any] = {}
    for current in _in_program_order(computation, needed):
        if current.opcode == "get-tuple-element" and current.operand(0) is state:
            env[current] = values[current.attrs["index"]]
        else:
            args = [env[_look_through(o)] for o in current.operands]
            env[current] = current.opdef.evaluate(current, args, interpreter.call)
    return [env[root] for root in roots]


@register_vjp("while")
def _while(b: Builder, inst: Instruction, ct: Cotangent) -> Sequence[Any]:
    trips = _static_trip_count(inst)
    elements = list(inst.type.elements)
    n = len(elements)
    if not all(isinstance(e, TensorType) for e in elements):
        raise AutodiffError(f"cannot differentiate {inst.describe()}: nested tuples in a loop "
                            "state are not supported")
    ct_list = ct if isinstance(ct, list) else _split(b, ct)
    varying = _varying_elements(inst.called[1])
    augmented = _augmented_loop(b, inst, trips, varying)
    # The forward loop's users now read the augmented loop's state, which is the same.
    with b.at(inst.source):
        b.set_insertion_point(after=augmented)
        final_state = [b.get_tuple_element(augmented, index=i) for i in range(n)]
        replacement = b.tuple(*final_state)
        b.set_insertion_point()
    inst.parent.replace_all_uses_with(inst, replacement)
    histories = [b.get_tuple_element(augmented, index=n + k) for k in range(len(varying))]
    # Elements the body passes through unchanged are the same in every iteration: they are
    # read from the final state instead of being stored per iteration.
    invariants = [final_state[i] for i in range(n) if i not in varying]
    initial_ct = [materialize(b, c, e) for c, e in zip(ct_list, elements)]
    start = b.constant(np.asarray(trips - 1, np.int32))
    backward_state = b.tuple(start, *initial_ct, *histories, *invariants)
    condition, body = _reverse_loop(b, inst, varying, backward_state.type)
    final = b.emit("while", backward_state, called=[condition, body])
    return ([b.get_tuple_element(final, index=1 + i) for i in range(n)],)


def _varying_elements(body: Computation) -> list[int]:
    """State elements the body may change (not passed through as ``gte(state, i)``)."""
    (state,) = body.parameters
    count = len(state.type.elements)
    root = body.root
    if root.opcode != "tuple":
        return list(range(count))
    return [i for i, value in enumerate(root.operands)
            if not (value.opcode == "get-tuple-element" and value.operand(0) is state
                    and value.attrs["index"] == i)]


def _augmented_loop(b: Builder, inst: Instruction, trips: int,
                    varying: list[int]) -> Instruction:
    """The forward loop, also writing the varying state elements at the start of iteration j
    to row j of their history buffers."""
    condition, body = inst.called
    elements = list(inst.type.elements)
    n = len(elements)
    history_types = [TensorType(elements[i].dtype, (max(trips, 1), *elements[i].shape))
                     for i in varying]
    augmented_type = TupleType((*elements, *history_types, TensorType(DType.S32, ())))

    cond = b.module.builder(f"{condition.name}_augmented")
    cond.source = inst.source
    packed = cond.parameter(augmented_type, name="state")
    original = cond.tuple(*(cond.get_tuple_element(packed, index=i) for i in range(n)))
    cond.set_root(clone_computation(cond, condition, [original]))

    step = b.module.builder(f"{body.name}_augmented")
    step.source = inst.source
    packed = step.parameter(augmented_type, name="state")
    state = [step.get_tuple_element(packed, index=i) for i in range(n)]
    counter = step.get_tuple_element(packed, index=n + len(varying))
    zero = step.constant(np.asarray(0, np.int32))
    histories = []
    for k, i in enumerate(varying):
        buffer = step.get_tuple_element(packed, index=n + k)
        row = step.reshape(state[i], shape=(1, *elements[i].shape))
        histories.append(step.dynamic_update_slice(buffer, row, counter,
                                                   *[zero] * elements[i].rank))
    new_state = clone_computation(step, body, [step.tuple(*state)])
    advanced = step.add(counter, step.constant(np.asarray(1, np.int32)))
    step.set_root(step.tuple(*(step.get_tuple_element(new_state, index=i) for i in range(n)),
                             *histories, advanced))

    with b.at(inst.source):
        b.set_insertion_point(after=inst)
        init = inst.operand(0)
        starts = [_tuple_element(init, i) or b.get_tuple_element(init, index=i)
                  for i in range(n)]
        empties = [zeros(b, h) for h in history_types]
        packed_init = b.tuple(*starts, *empties, b.constant(np.asarray(0, np.int32)))
        augmented = b.emit("while", packed_init, called=[cond.computation, step.computation])
        b.set_insertion_point()
    return augmented


def _reverse_loop(b: Builder, inst: Instruction, varying: list[int],
                  state_type: TupleType) -> tuple[Computation, Computation]:
    """Condition and body of the loop running iterations trips-1 .. 0 backwards.

    Its state is (j, cotangent of the state after iteration j, histories, invariants)."""
    _, body = inst.called
    elements = list(inst.type.elements)
    n = len(elements)

    cond = b.module.builder(f"{body.name}_reverse_condition")
    cond.source = inst.source
    packed = cond.parameter(state_type, name="state")
    j = cond.get_tuple_element(packed, index=0)
    cond.set_root(cond.compare(j, cond.constant(np.asarray(0, np.int32)), direction="GE"))

    step = b.module.builder(f"{body.name}_reverse")
    step.source = inst.source
    packed = step.parameter(state_type, name="state")
    j = step.get_tuple_element(packed, index=0)
    cts = [step.get_tuple_element(packed, index=1 + i) for i in range(n)]
    saved = [step.get_tuple_element(packed, index=1 + n + k)
             for k in range(len(state_type.elements) - 1 - n)]
    histories, invariants = iter(saved[:len(varying)]), iter(saved[len(varying):])
    zero = step.constant(np.asarray(0, np.int32))
    primal = []
    for i, e in enumerate(elements):
        if i in varying:
            row = step.dynamic_slice(next(histories), j, *[zero] * e.rank,
                                     dynamic_slice_sizes=(1, *e.shape))
            primal.append(step.reshape(row, shape=e.shape))
        else:
            primal.append(next(invariants))
    root = clone_computation(step, body, [step.tuple(*primal)])
    outputs = [step.get_tuple_element(root, index=i) for i in range(n)]
    float_outputs = [(o, c) for o, c in zip(outputs, cts) if has_float(o.type)]
    float_inputs = list(dict.fromkeys(p for p in primal if has_float(p.type)))
    grads = emit_vjp(step, [o for o, _ in float_outputs], [c for _, c in float_outputs],
                     float_inputs) if float_outputs and float_inputs else []
    by_input = dict(zip(float_inputs, grads))
    new_cts = [materialize(step, by_input.get(p), p.type) for p in primal]
    previous = step.subtract(j, step.constant(np.asarray(1, np.int32)))
    step.set_root(step.tuple(previous, *new_cts, *saved))
    return cond.computation, step.computation


# ---------------------------------------------------------------------------
# whole modules


def grad_module(module: Module, wrt_params: Sequence[int] | None = None, *,
                with_value: bool = True) -> Module:
    """A new module whose entry returns ``(value, d value / d param...)`` for the given
    parameter numbers (default: every float parameter); ``module``'s entry must return a
    float scalar.  ``with_value=False`` returns only the gradients (one tuple)."""
    from .parser import parse_module
    from .printer import print_module

    copy = parse_module(print_module(module), f"<gradient of {module.name}>")
    entry = copy.entry
    root = entry.root
    if not isinstance(root.type, TensorType) or root.type.shape != () \
            or not root.type.dtype.is_float:
        raise AutodiffError(f"grad_module needs an entry returning a float scalar; "
                            f"'{entry.name}' returns {root.type}")
    params = entry.parameters
    numbers = [p.attrs["parameter_number"] for p in params if has_float(p.type)] \
        if wrt_params is None else list(wrt_params)
    by_number = {p.attrs["parameter_number"]: p for p in params}
    missing = [n for n in numbers if n not in by_number]
    if missing:
        raise AutodiffError(f"'{entry.name}' has no parameter {missing[0]} (it has "
                            f"{len(params)})")
    wrt = [by_number[n] for n in numbers]
    builder = Builder(entry, source=root.source)
    seed = builder.constant(np.ones((), dtype=root.type.dtype.numpy))
    grads = emit_vjp(builder, [root], [seed], wrt)
    results = [g if g is not None else zeros_like(builder, w) for g, w in zip(grads, wrt)]
    builder.set_root(builder.tuple(*([root] if with_value else []), *results))
    return copy
