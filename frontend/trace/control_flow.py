"""Traced control flow: build ``while`` and ``conditional`` IR from Python callables.

AutoGraph (``autograph/``) calls these when a condition is a traced value.  A
loop body or branch is an ordinary Python function; it is traced into its own
computation by swapping the trace context's builder for a ``SubgraphBuilder``.
Values of enclosing computations that the function uses (closures, outer loop
state, constants) are *captured*: the sub-builder replaces each with a
placeholder parameter and, once tracing is done, the placeholders of state and
captures become elements of the computation's single tuple parameter, which is
what ``while`` and ``conditional`` call their computations with.  Captures of
captures (an inner loop using a value of the function's entry) resolve on
their own, because the inner ``while`` instruction is emitted through the
middle computation's sub-builder.

State is any pytree of arrays and Python scalars.  Python scalars start *weak*
(NEP 50): a loop that starts ``total = 0`` and adds float32 values carries a
float32, which is found by tracing the body once and tracing it again with the
adapted initial value.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ...errors import BranchVariableError, ConcretizationError, LoopVariableError
from ...ir import Builder, Computation, Instruction, TensorType, TupleType
from .emitters import constant, convert, emit, full, reshape
from .promotion import format_shape, is_python_scalar, weak_dtype
from .pytree import TreeDef, flatten, unflatten
from .tracer import TraceContext, Tracer, tracing_error, user_location

# Leaves a traced loop or branch can carry: anything that lifts to an array.
_ARRAY_LEAVES = (Tracer, np.ndarray, np.generic)


class Undefined:
    """The value of a variable that has not been assigned yet.

    Reading it (any operation) raises, like Python's UnboundLocalError, naming
    the variable; traced control flow reports it with its own, clearer error.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<undefined {self.name}>"

    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        raise tracing_error(ConcretizationError, f"variable '{self.name}' is used before it is "
                            "assigned", "give it a value on every path before this line")

    __getattr__ = _fail
    __bool__ = __call__ = __iter__ = __len__ = __getitem__ = _fail
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _fail
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = _fail
    __pow__ = __rpow__ = __matmul__ = __rmatmul__ = __neg__ = __pos__ = __abs__ = _fail
    __lt__ = __le__ = __gt__ = __ge__ = _fail
    __array__ = __array_ufunc__ = __array_function__ = _fail


class ReturnValue(Undefined):
    """The function's return value before a ``return`` ran: where traced control flow needs
    a value of it, zeros of the returned type stand in (the return flag guards its use)."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__("<return value>")


# -- sub-computation building ---------------------------------------------------------

class SubgraphBuilder(Builder):
    """A builder for a loop body, condition or branch; operands defined outside its
    computation are captured as placeholder parameters (resolved by ``finish``)."""

    def __init__(self, computation: Computation) -> None:
        # Its own parameter and root instructions belong to the user's loop or if line.
        super().__init__(computation, source=user_location())
        self.state: list[Instruction] = []
        self.captures: dict[Instruction, Instruction] = {}  # outer value -> placeholder

    def emit(self, opcode: str, *operands: Instruction, **kwargs: Any) -> Instruction:
        return super().emit(opcode, *(self.local(o) for o in operands), **kwargs)

    def local(self, value: Instruction) -> Instruction:
        if not isinstance(value, Instruction) or value.parent is self.computation:
            return value
        placeholder = self.captures.get(value)
        if placeholder is None:
            placeholder = self.captures[value] = self._placeholder(value.type, "capture")
        return placeholder

    def state_parameter(self, type: TensorType) -> Instruction:
        placeholder = self._placeholder(type, "state")
        self.state.append(placeholder)
        return placeholder

    def _placeholder(self, type: TensorType, name: str) -> Instruction:
        # Numbered past the final tuple parameter 0, and gone once ``finish`` runs.
        number = 1 + len(self.state) + len(self.captures)
        return super().emit("parameter", type=type, name=name, parameter_number=number)

    def finish(self, captures: Sequence[Instruction], results: Sequence[Instruction], *,
               as_tuple: bool = True, carry_captures: bool = False) -> None:
        """Give the computation its tuple parameter (state, then ``captures``) and its root:
        ``tuple(results)`` (plus the captures unchanged, for a loop body, whose result is
        the next state), or the single ``results[0]`` (a loop condition)."""
        computation = self.computation
        results = [self.local(r) for r in results]
        types = [p.type for p in self.state] + [c.type for c in captures]
        self.set_insertion_point(before=computation.instructions[0]
                                 if computation.instructions else None)
        parameter = Builder.emit(self, "parameter", type=TupleType(tuple(types)), name="state",
                                 parameter_number=0)
        placeholders = self.state + [self.captures.get(c) for c in captures]
        elements = [Builder.emit(self, "get-tuple-element", parameter, index=index)
                    if placeholder is not None or (carry_captures and index >= len(self.state))
                    else None for index, placeholder in enumerate(placeholders)]
        self.set_insertion_point()
        replaced = {}
        for placeholder, element in zip(placeholders, elements):
            if placeholder is not None:
                computation.replace_all_uses_with(placeholder, element)
                computation.erase(placeholder)
                replaced[placeholder] = element
        results = [replaced.get(r, r) for r in results]
        if carry_captures:
            results += elements[len(self.state):]
        root = Builder.emit(self, "tuple", *results) if as_tuple else results[0]
        self.set_root(root)


@contextlib.contextmanager
def building(ctx: TraceContext, builder: Builder) -> Iterator[None]:
    """Trace into ``builder``'s computation inside the block."""
    saved, ctx.builder = ctx.builder, builder
    try:
        yield
    finally:
        ctx.builder = saved


# -- state: pytrees of array leaves ---------------------------------------------------------

@dataclass
class _State:
    """Variables flattened to leaves; array leaves are carried, others must stay put."""

    names: tuple[str, ...]
    treedefs: list[TreeDef]
    leaves: list[list[Any]]

    @classmethod
    def of(cls, names: Sequence[str], values: Sequence[Any]) -> _State:
        flat = [flatten(value) for value in values]
        return cls(tuple(names), [f[1] for f in flat], [f[0] for f in flat])

    def slots(self) -> Iterator[tuple[int, int, Any]]:
        for var, leaves in enumerate(self.leaves):
            for index, leaf in enumerate(leaves):
                yield var, index, leaf


def is_array_leaf(value: Any) -> bool:
    return isinstance(value, _ARRAY_LEAVES) or is_python_scalar(value)


def lift_leaf(ctx: TraceContext, value: Any) -> Tracer:
    """A carried leaf as a tracer; Python scalars stay weak as NEP 50 wants."""
    if isinstance(value, Tracer):
        return value
    if is_python_scalar(value):
        return Tracer(ctx, constant(ctx, value, weak_dtype(value)).inst, weak=not isinstance(
            value, bool))
    return constant(ctx, value)


def describe(value: Any) -> str:
    if isinstance(value, Tracer):
        return _array_text(value.dtype, value.shape) + (" (Python scalar)" if value.weak else "")
    if is_python_scalar(value):
        return f"Python {type(value).__name__} {value!r}"
    if isinstance(value, (np.ndarray, np.generic)):
        return _array_text(value.dtype, np.shape(value))
    if isinstance(value, Undefined):
        return "undefined"
    return type(value).__name__


def _array_text(dtype: np.dtype, shape: tuple[int, ...]) -> str:
    return f"{np.dtype(dtype).name}[{','.join(map(str, shape))}]"


def to_predicate(ctx: TraceContext, value: Any, what: str) -> Tracer:
    """A condition as a pred[] tracer: numbers compare with zero, as Python's truth does."""
    value = lift_leaf(ctx, value) if is_array_leaf(value) else value
    if not isinstance(value, Tracer):
        raise tracing_error(ConcretizationError, f"the {what} is a {type(value).__name__}",
                            "conditions must be booleans or numbers")
    if value.size != 1:
        raise tracing_error(ConcretizationError,
                            f"the {what} is a traced array of shape {format_shape(value.shape)}; "
                            "its truth value is ambiguous",
                            "reduce it first with np.any(...) or np.all(...)")
    value = reshape(value, ())
    if value.dtype != np.bool_:
        value = emit(ctx, "compare", value, full(ctx, 0, (), value.dtype), direction="NE")
    return value


# -- while ---------------------------------------------------------------------------

def traced_while(ctx: TraceContext, cond: Callable[..., Any], body: Callable[..., Sequence[Any]],
                 names: Sequence[str], init: Sequence[Any]) -> tuple:
    """``while cond(*state): state = body(*state)`` as one ``while`` instruction.

    Tracing runs again (at most once per carried leaf) when the body shows that a
    weak Python-scalar or not-yet-returned initial value must take another type."""
    state = _State.of(names, init)
    for _ in range(sum(len(leaves) for leaves in state.leaves) + 2):
        known = set(ctx.module.computations)
        adapted = _try_while(ctx, cond, body, state)
        if not isinstance(adapted, _State):
            return tuple(adapted)
        _discard_computations_since(ctx, known)
        state = adapted
    raise AssertionError("loop state types did not settle")  # each retry fixes a leaf for good


def _discard_computations_since(ctx: TraceContext, known: set[str]) -> None:
    """Drop what a discarded trace attempt built (callers first), helper computations
    (reducers) included, so that they are built again when needed."""
    removed = [c for name, c in ctx.module.computations.items() if name not in known]
    for computation in removed:
        ctx.module.remove_computation(computation)
    helpers = ctx._computations
    for key in [k for k, c in helpers.items() if any(c is r for r in removed)]:
        del helpers[key]


def _try_while(ctx: TraceContext, cond: Callable[..., Any], body: Callable[..., Sequence[Any]],
               state: _State) -> list[Any] | _State:
    carried = [(var, index) for var, index, leaf in state.slots() if is_array_leaf(leaf)]
    initial = {slot: lift_leaf(ctx, state.leaves[slot[0]][slot[1]]) for slot in carried}
    cond_builder = SubgraphBuilder(ctx.module.add_computation("while_condition"))
    body_builder = SubgraphBuilder(ctx.module.add_computation("while_body"))

    def parameters(builder: SubgraphBuilder) -> list[Any]:
        leaves = [list(ls) for ls in state.leaves]
        for slot, value in initial.items():
            leaves[slot[0]][slot[1]] = Tracer(ctx, builder.state_parameter(value.type), value.weak)
        return [unflatten(t, ls) for t, ls in zip(state.treedefs, leaves)]

    with building(ctx, cond_builder):
        predicate = to_predicate(ctx, cond(*parameters(cond_builder)), "loop condition")
    with building(ctx, body_builder):
        outputs = body(*parameters(body_builder))
    new = _State.of(state.names, outputs)
    adapted = _check_loop_state(ctx, state, new)
    if adapted is not None:
        return adapted
    results = []
    with building(ctx, body_builder):
        for slot, start in initial.items():
            value = lift_leaf(ctx, new.leaves[slot[0]][slot[1]])
            results.append(convert(value, start.dtype, start.weak and value.weak))
    predicate_inst = cond_builder.local(predicate.inst)
    result_insts = [body_builder.local(r.inst) for r in results]
    captures = list(dict.fromkeys([*cond_builder.captures, *body_builder.captures]))
    cond_builder.finish(captures, [predicate_inst], as_tuple=False)
    body_builder.finish(captures, result_insts, carry_captures=True)
    operand = ctx.emit("tuple", *(v.inst for v in initial.values()), *captures)
    loop = ctx.emit("while", operand, called=(cond_builder.computation, body_builder.computation))
    leaves = [list(ls) for ls in state.leaves]
    for index, (slot, start) in enumerate(initial.items()):
        weak = start.weak and results[index].weak
        leaves[slot[0]][slot[1]] = Tracer(ctx, ctx.emit("get-tuple-element", loop, index=index),
                                          weak)
    return [unflatten(t, ls) for t, ls in zip(state.treedefs, leaves)]


def _check_loop_state(ctx: TraceContext, state: _State, new: _State) -> _State | None:
    """None when the body keeps every variable's structure and types; an adapted initial
    state when a weak scalar or pending return value must change type; else an error."""
    adapted = [list(ls) for ls in state.leaves]
    treedefs = list(state.treedefs)
    changed = False
    for var, name in enumerate(state.names):
        if _pending_return(state, var) and new.treedefs[var] != state.treedefs[var]:
            # ``return a, b`` inside the loop: the pending value takes the returned structure.
            treedefs[var] = new.treedefs[var]
            adapted[var] = [np.zeros(v.shape, v.dtype) for v in
                            (_abstract_array(leaf) for leaf in new.leaves[var])]
            changed = True
            continue
        if new.treedefs[var] != state.treedefs[var]:
            raise tracing_error(LoopVariableError, f"loop variable '{name}' changes structure in "
                                "the loop body", f"it starts as {_tree_text(state, var)} and "
                                f"becomes {_tree_text(new, var)}")
        for index, (before, after) in enumerate(zip(state.leaves[var], new.leaves[var])):
            if isinstance(before, ReturnValue) and is_array_leaf(after):
                adapted[var][index] = _abstract_array(after)
                changed = True
                continue
            if isinstance(before, Undefined) and not isinstance(after, Undefined):
                raise tracing_error(
                    LoopVariableError, f"variable '{name}' is first assigned inside a traced loop "
                    "and used after it (or in the next iteration)",
                    f"give it a value before the loop: if the loop runs zero times it is "
                    f"undefined (in the loop it is {describe(after)})")
            if not is_array_leaf(before):
                if after is not before:
                    raise tracing_error(
                        LoopVariableError, f"loop variable '{name}' holds a "
                        f"{type(before).__name__}, which a traced loop cannot carry",
                        "carry arrays or numbers; keep other values unchanged in the loop")
                continue
            if not is_array_leaf(after):
                raise tracing_error(LoopVariableError, f"loop variable '{name}' becomes a "
                                    f"{describe(after)} in the loop body, it was {describe(before)}",
                                    "carry arrays or numbers")
            start, end = _abstract(before), _abstract(after)
            if start[:2] == end[:2]:
                continue  # same type: the result is weak only if both are
            if start[2] and start[0] == () and end[0] == ():
                # A weak Python scalar adapts to what the body makes of it (NEP 50).
                adapted[var][index] = np.asarray(before, dtype=end[1]) if not isinstance(
                    before, Tracer) else convert(before, end[1], end[2])
                changed = True
                continue
            raise tracing_error(
                LoopVariableError, f"loop variable '{name}' changes from {describe(before)} to "
                f"{describe(after)} in the loop body",
                "a traced loop carries values of one dtype and shape: cast with .astype(...) or "
                "give the variable its final dtype and shape before the loop")
    if not changed:
        return None
    return _State(state.names, treedefs, adapted)


def _pending_return(state: _State, var: int) -> bool:
    return state.treedefs[var].kind == "leaf" and isinstance(state.leaves[var][0], ReturnValue)


def _abstract_array(value: Any) -> np.ndarray:
    """Zeros of a leaf's dtype and shape: what a not-yet-returned value holds meanwhile."""
    shape, dtype, _ = _abstract(value) if is_array_leaf(value) else ((), np.dtype(np.bool_), 0)
    return np.zeros(shape, dtype)


def _abstract(value: Any) -> tuple[tuple[int, ...], np.dtype, bool]:
    if isinstance(value, Tracer):
        return value.shape, value.dtype, value.weak
    if is_python_scalar(value):
        return (), weak_dtype(value), not isinstance(value, bool)
    return np.shape(value), np.asarray(value).dtype, False


def _tree_text(state: _State, var: int) -> str:
    treedef = state.treedefs[var]
    if treedef.kind == "leaf":
        return describe(state.leaves[var][0])
    if treedef.kind == "none":
        return "None"
    return f"a {treedef.kind} of {treedef.num_leaves} value(s)"


# -- conditional -------------------------------------------------------------------------

def traced_cond(ctx: TraceContext, predicate: Tracer, true_fn: Callable[..., Sequence[Any]],
                false_fn: Callable[..., Sequence[Any]], names: Sequence[str],
                inputs: Sequence[Any]) -> tuple:
    """``true_fn(*inputs) if predicate else false_fn(*inputs)`` as one ``conditional``."""
    predicate = to_predicate(ctx, predicate, "if condition")
    branches = []
    for label, fn in (("true", true_fn), ("false", false_fn)):
        builder = SubgraphBuilder(ctx.module.add_computation(f"branch_{label}"))
        with building(ctx, builder):
            outputs = fn(*inputs)
        branches.append((builder, _State.of(names, outputs)))
    (true_builder, true_state), (false_builder, false_state) = branches
    merged = _merge_branches(names, true_state, false_state)
    results: list[list[Instruction]] = []
    for builder, branch_state in branches:
        values = []
        with building(ctx, builder):
            for var, index, (dtype, shape, weak) in merged.array_slots:
                leaf = branch_state.leaves[var][index]
                value = full(ctx, 0, shape, dtype) if isinstance(leaf, Undefined) else \
                    lift_leaf(ctx, leaf)
                values.append(convert(value, dtype, weak))
        results.append([builder.local(v.inst) for v in values])
    operands = []
    for (builder, _), values in zip(branches, results):
        captures = list(builder.captures)
        builder.finish(captures, values)
        operands.append(ctx.emit("tuple", *captures))
    result = ctx.emit("conditional", predicate.inst, *operands,
                      called=(true_builder.computation, false_builder.computation))
    leaves = [list(ls) for ls in merged.leaves]
    for number, (var, index, (dtype, shape, weak)) in enumerate(merged.array_slots):
        leaves[var][index] = Tracer(ctx, ctx.emit("get-tuple-element", result, index=number), weak)
    return tuple(unflatten(t, ls) for t, ls in zip(merged.treedefs, leaves))


@dataclass
class _Merged:
    treedefs: list[TreeDef]
    leaves: list[list[Any]]
    array_slots: list[tuple[int, int, tuple[np.dtype, tuple[int, ...], bool]]]


def _merge_branches(names: Sequence[str], true_state: _State, false_state: _State) -> _Merged:
    """The type each variable has after the conditional, or an error naming it."""
    for state, other in ((true_state, false_state), (false_state, true_state)):
        for var in range(len(names)):
            if _pending_return(state, var) and not _pending_return(other, var):
                # One branch returned a tuple: the other's pending value takes its structure.
                state.treedefs[var] = other.treedefs[var]
                state.leaves[var] = [ReturnValue() for _ in other.leaves[var]]
    treedefs = list(true_state.treedefs)
    leaves = [list(ls) for ls in true_state.leaves]
    slots = []
    for var, name in enumerate(names):
        if true_state.treedefs[var] != false_state.treedefs[var]:
            raise _branch_error(name, _tree_text(true_state, var), _tree_text(false_state, var))
        for index, (a, b) in enumerate(zip(true_state.leaves[var], false_state.leaves[var])):
            if a is b:
                continue  # the same object either way: stays a Python value
            undefined_a, undefined_b = isinstance(a, Undefined), isinstance(b, Undefined)
            if undefined_a and undefined_b:
                continue  # unset either way: still undefined after the if
            if undefined_a or undefined_b:
                other = b if undefined_a else a
                pending = a if undefined_a else b
                if isinstance(pending, ReturnValue) and is_array_leaf(other) and \
                        not isinstance(other, Undefined):
                    start = _abstract(other)
                    slots.append((var, index, (start[1], start[0], start[2])))
                    continue
                raise tracing_error(
                    BranchVariableError, f"variable '{name}' is assigned in only one branch of a "
                    f"traced if ({'true' if undefined_b else 'false'} branch: {describe(other)}) "
                    "and used after it", "give it a value before the if, or in both branches")
            if not (is_array_leaf(a) and is_array_leaf(b)):
                if type(a) is type(b) and isinstance(a, str) and a == b:
                    continue
                raise _branch_error(name, describe(a), describe(b))
            ta, tb = _abstract(a), _abstract(b)
            if ta[0] != tb[0]:
                raise _branch_error(name, describe(a), describe(b))
            if ta[1] == tb[1]:
                slots.append((var, index, (ta[1], ta[0], ta[2] and tb[2])))
            elif ta[2] != tb[2]:
                strong = tb if ta[2] else ta  # the weak Python scalar takes the other's dtype
                slots.append((var, index, (strong[1], strong[0], False)))
            else:
                raise _branch_error(name, describe(a), describe(b))
    return _Merged(treedefs, leaves, slots)


def _branch_error(name: str, true_text: str, false_text: str) -> BranchVariableError:
    return tracing_error(BranchVariableError, f"variable '{name}' differs between the branches of "
                         f"a traced if: {true_text} (true branch) vs {false_text} (false branch)",
                         "both branches must give it the same dtype and shape: cast with "
                         ".astype(...) or assign it the same kind of value in both")

