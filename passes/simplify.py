"""``simplify``: constant folding and algebraic identities, as rewrite patterns.

Every rewrite keeps every result bit for bit, NaNs and signed zeros included:

* folding evaluates the op table's reference semantics (what the interpreter
  runs) on operands known at compile time.  Results larger than ``fold-limit``
  elements are not materialized; elementwise ops on splats (a constant with one
  repeated value, or a broadcast of one) fold to a broadcast of a scalar at any
  size.  Broadcasts and iotas themselves stay as they are, and ops that may loop,
  call the runtime or have side effects are never folded.
* identities hold for every input of the types they apply to: ``x + 0 -> x`` for
  integers but for floats only ``x + (-0.0)`` (``-0.0 + 0.0`` is ``+0.0``), and
  ``x * 0 -> 0`` for integers only (``NaN * 0`` is NaN).  Once layouts are
  assigned, a value replaces another only if their layouts agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..errors import JitflowError
from ..ir import (Instruction, Interpreter, Module, TensorType, Trait, TupleType, Type,
                  is_side_effecting, is_uniform)
from .base import Pass, option
from .match import constant_value, splat_value
from .registry import register_pass
from .rewrite import PatternRewriter, RewritePattern, apply_patterns_greedily, pattern

DEFAULT_FOLD_LIMIT = 1 << 16


@register_pass("simplify")
@dataclass(frozen=True)
class Simplify(Pass):
    """Fold constants and apply algebraic identities (results stay bit-for-bit the same)."""

    fold_limit: int = option(DEFAULT_FOLD_LIMIT,
                             "largest folded result, in elements, written out as a constant")

    def check_options(self) -> None:
        if self.fold_limit < 0:
            raise self.option_error("fold_limit", "must be at least 0")

    def run(self, module: Module) -> bool:
        return apply_patterns_greedily(module, [FoldConstants(self.fold_limit), *IDENTITIES])


# -- constant folding ----------------------------------------------------------------------

# Errors the reference semantics raise for inputs they reject; such an op is left for run time.
_EVALUATION_ERRORS = (JitflowError, ArithmeticError, ValueError, IndexError, TypeError)


class FoldConstants(RewritePattern):
    """Evaluate an instruction whose operands are known, through the op table's semantics."""

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def match_and_rewrite(self, inst: Instruction, rewriter: PatternRewriter) -> bool:
        if not inst.operands or not isinstance(inst.type, TensorType) or not _foldable(inst):
            return False
        if inst.opdef.has(Trait.ELEMENTWISE):
            scalars = [splat_value(o) for o in inst.operands]
            if all(s is not None for s in scalars):
                # Elementwise semantics do not depend on the shape: evaluate one element.
                value = self._evaluate(inst, [np.asarray(s) for s in scalars])
                if value is None:
                    return False
                return rewriter.replace(inst, splat(rewriter, value, inst.type))
        if inst.type.size > self.limit:
            return False
        values = [self._known_value(o) for o in inst.operands]
        if any(v is None for v in values):
            return False
        value = self._evaluate(inst, values)
        if value is None:
            return False
        if is_uniform(value):
            # np.zeros((n, m)) threaded through a tuple or a loop stays a broadcast of one
            # scalar instead of becoming an n*m literal in the IR.
            return rewriter.replace(inst, splat(rewriter, value.flat[0], inst.type))
        constant = rewriter.builder.emit("constant", type=inst.type, literal=value)
        return rewriter.replace(inst, constant)

    def _known_value(self, inst: Instruction) -> np.ndarray | None:
        """The value of a constant, or of a broadcast or iota of known values within the limit."""
        if inst.opcode == "constant":
            return constant_value(inst)
        if not inst.opdef.has(Trait.GENERATED) or inst.type.size > self.limit:
            return None
        operands = [self._known_value(o) for o in inst.operands]
        if any(v is None for v in operands):
            return None
        return self._evaluate(inst, operands)

    @staticmethod
    def _evaluate(inst: Instruction, args: list[np.ndarray]) -> np.ndarray | None:
        call = Interpreter(inst.parent.module).call
        try:
            return np.asarray(inst.opdef.evaluate(inst, args, call))
        except _EVALUATION_ERRORS:
            return None


def _foldable(inst: Instruction) -> bool:
    """Whether evaluating ``inst`` now is safe and worth it.

    Generated values stay (broadcasts, iotas: folding them would grow the IR, not save work;
    their values are still known to the ops that use them); custom-calls need the runtime; control flow may run
    for long or forever; side effects must happen at run time.  Called computations
    must be foldable throughout.
    """
    return not inst.opdef.has(Trait.GENERATED) and _evaluates_safely(inst)


def _evaluates_safely(inst: Instruction) -> bool:
    if (inst.opcode == "custom-call" or inst.opdef.has(Trait.CONTROL_FLOW)
            or is_side_effecting(inst)):
        return False
    return all(_evaluates_safely(i) for c in inst.called for i in c.instructions)


def splat(rewriter: PatternRewriter, value: np.ndarray, type_: TensorType) -> Instruction:
    """A value of ``type_`` with every element ``value``: a scalar constant, broadcast if needed."""
    builder = rewriter.builder
    literal = np.asarray(value, dtype=type_.dtype.numpy)
    if type_.rank == 0:
        return builder.emit("constant", type=type_, literal=literal)
    scalar = builder.emit("constant", type=TensorType(type_.dtype, ()), literal=literal)
    return builder.emit("broadcast", scalar, type=type_, dimensions=())


# -- algebraic identities --------------------------------------------------------------------

def forward(rewriter: PatternRewriter, inst: Instruction, value: Instruction) -> bool:
    """Replace ``inst`` by the existing ``value``, unless their assigned layouts differ.

    Once layouts are assigned, a reshape or copy between layouts moves data: the value
    with the other layout is no replacement.  Before, layouts are None and anything goes.
    """
    if not _layouts_agree(inst.type, value.type):
        return False
    return rewriter.replace(inst, value)


def _layouts_agree(wanted: Type, given: Type) -> bool:
    if isinstance(wanted, TupleType):
        return all(_layouts_agree(w, g) for w, g in zip(wanted.elements, given.elements))
    return wanted.layout is None or wanted.layout == given.layout


def _integral(inst: Instruction) -> bool:
    return not inst.type.dtype.is_float


def _operand_orders(inst: Instruction) -> Iterator[tuple[Instruction, Instruction]]:
    """(x, y) for ``op(x, y)``, and (y, x) too when the op is commutative."""
    x, y = inst.operands
    yield x, y
    if inst.opdef.has(Trait.COMMUTATIVE):
        yield y, x


def _all_ones(value: np.generic) -> bool:
    return bool(value == np.bitwise_not(np.zeros((), dtype=value.dtype)))


@pattern("add")
def add_zero(inst: Instruction, rewriter: PatternRewriter) -> bool:
    """x + 0 -> x; for floats only x + (-0.0), since -0.0 + 0.0 is +0.0."""
    for x, zero in _operand_orders(inst):
        value = splat_value(zero)
        if value is not None and value == 0 and (_integral(inst) or np.signbit(value)):
            return forward(rewriter, inst, x)
    return False


@pattern("subtract")
def subtract_zero(inst: Instruction, rewriter: PatternRewriter) -> bool:
    """x - 0 -> x; for floats only x - (+0.0), since -0.0 - (-0.0) is +0.0."""
    x, zero = inst.operands
    value = splat_value(zero)
    if value is not None and value == 0 and (_integral(inst) or not np.signbit(value)):
        return forward(rewriter, inst, x)
    return False


@pattern("subtract")
def subtract_self(inst: Instruction, rewriter: PatternRewriter) -> bool:
    """x - x -> 0 for integers (for floats, inf - inf is NaN)."""
    x, y = inst.operands
    if x is not y or not _integral(inst):
        return False
    return rewriter.replace(inst, splat(rewriter, np.zeros(()), inst.type))


@pattern("multiply", "divide")
def multiply_one(inst: Instruction, rewriter: PatternRewriter) -> bool:
    """x * 1 -> x, 1 * x -> x, x / 1 -> x (exact for every type)."""
    for x, one in _operand_orders(inst):
        if splat_value(one) == 1:
            return forward(rewriter, inst, x)
    return False


@pattern("multiply")
def multiply_zero(inst: Instruction, rewriter: PatternRewriter) -> bool:
    """x * 0 -> 0 for integers only: for floats NaN * 0 and inf * 0 are NaN, -1 * 0 is -0."""
    if not _integral(inst):
        return False
    for _, zero in _operand_orders(inst):
        if splat_value(zero) == 0:
            return forward(rewriter, inst, zero)
    return False


@pattern("and")
def and_all_ones(inst: Instruction, rewriter: PatternRewriter) -> bool:
    """x & ~0 -> x (x and true -> x for pred)."""
    for x, ones in _operand_orders(inst):
        value = splat_value(ones)
        if value is not None and _all_ones(value):
            return forward(rewriter, inst, x)
    return False


@pattern("or", "xor")
def or_zero(inst: Instruction, rewriter: PatternRewriter) -> bool:
    """x | 0 -> x and x ^ 0 -> x (x or false -> x for pred)."""
    for x, zero in _operand_orders(inst):
        value = splat_value(zero)
        if value is not None and not value:
            return forward(rewriter, inst, x)
    return False


@pattern("and", "or", "maximum", "minimum")
def idempotent(inst: Instruction, rewriter: PatternRewriter) -> bool:
    """op(x, x) -> x."""
    x, y = inst.operands
    return x is y and forward(rewriter, inst, x)


@pattern("negate", "not")
def involution(inst: Instruction, rewriter: PatternRewriter) -> bool:
    """negate(negate(x)) -> x and not(not(x)) -> x (integers wrap both ways)."""
    inner = inst.operand(0)
    return inner.opcode == inst.opcode and forward(rewriter, inst, inner.operand(0))


@pattern("convert")
def convert_to_same_type(inst: Instruction, rewriter: PatternRewriter) -> bool:
    """convert(x) to x's own element type -> x."""
    x = inst.operand(0)
    return x.type.dtype is inst.type.dtype and forward(rewriter, inst, x)


@pattern("select")
def select_known(inst: Instruction, rewriter: PatternRewriter) -> bool:
    """select(true, a, b) -> a, select(false, a, b) -> b, select(p, a, a) -> a."""
    predicate, on_true, on_false = inst.operands
    if on_true is on_false:
        return forward(rewriter, inst, on_true)
    value = splat_value(predicate)
    if value is None:
        return False
    return forward(rewriter, inst, on_true if value else on_false)


@pattern("conditional")
def conditional_known(inst: Instruction, rewriter: PatternRewriter) -> bool:
    """conditional(constant selector, ...) -> a call of the branch it selects (an AutoGraph
    ``if`` whose condition folded away)."""
    if inst.operand(0).opcode != "constant":
        return False
    selector = constant_value(inst.operand(0))
    branches = inst.called
    if selector.dtype == np.bool_:
        chosen = 0 if bool(selector) else 1
    else:
        chosen = int(selector)
        if not 0 <= chosen < len(branches):
            chosen = len(branches) - 1  # as the conditional itself: out of range is the last
    return rewriter.replace(inst, rewriter.builder.emit("call", inst.operand(1 + chosen),
                                                        called=[branches[chosen]]))


@pattern("get-tuple-element")
def element_of_tuple(inst: Instruction, rewriter: PatternRewriter) -> bool:
    """get-tuple-element(tuple(a, b, ...), index=i) -> the i-th operand."""
    operand = inst.operand(0)
    if operand.opcode != "tuple":
        return False
    return forward(rewriter, inst, operand.operand(inst.attrs["index"]))


@pattern("transpose")
def transpose_of_transpose(inst: Instruction, rewriter: PatternRewriter) -> bool:
    """transpose(transpose(x)) -> one transpose, or x; a transpose that keeps the order -> x."""
    dims = inst.attrs["dimensions"]
    source = inst.operand(0)
    if source.opcode == "transpose":
        inner = source.attrs["dimensions"]
        dims = tuple(inner[d] for d in dims)  # result dim i is x's dim inner[dims[i]]
        source = source.operand(0)
    if dims == tuple(range(len(dims))):
        return forward(rewriter, inst, source)
    if source is inst.operand(0):
        return False
    return rewriter.replace(inst, rewriter.builder.transpose(source, dimensions=dims,
                                                             type=inst.type))


@pattern("reshape")
def reshape_of_reshape(inst: Instruction, rewriter: PatternRewriter) -> bool:
    """reshape(reshape(x)) -> reshape(x); a reshape to x's own shape -> x."""
    source = inst.operand(0)
    if source.opcode == "reshape":
        source = source.operand(0)
    if source.type.shape == inst.type.shape:
        return forward(rewriter, inst, source)
    if source is inst.operand(0):
        return False
    return rewriter.replace(inst, rewriter.builder.reshape(source, type=inst.type))


@pattern("broadcast")
def broadcast_of_broadcast(inst: Instruction, rewriter: PatternRewriter) -> bool:
    """broadcast(broadcast(x)) -> one broadcast; a broadcast to x's own shape -> x."""
    dims = inst.attrs["dimensions"]
    source = inst.operand(0)
    if source.opcode == "broadcast":
        # x's dimension j lands in dims[inner[j]].
        dims = tuple(dims[d] for d in source.attrs["dimensions"])
        source = source.operand(0)
    if source.type.shape == inst.type.shape:
        return forward(rewriter, inst, source)
    if source is inst.operand(0):
        return False
    return rewriter.replace(inst, rewriter.builder.broadcast(source, dimensions=dims,
                                                             type=inst.type))


@pattern("reverse")
def reverse_of_reverse(inst: Instruction, rewriter: PatternRewriter) -> bool:
    """reverse(reverse(x)) -> one reverse of the dimensions reversed once, or x."""
    dims = set(inst.attrs["dimensions"])
    source = inst.operand(0)
    if source.opcode == "reverse":
        dims ^= set(source.attrs["dimensions"])
        source = source.operand(0)
    if not dims:
        return forward(rewriter, inst, source)
    if source is inst.operand(0):
        return False
    return rewriter.replace(inst, rewriter.builder.reverse(source, dimensions=tuple(sorted(dims)),
                                                           type=inst.type))


@pattern("slice")
def whole_slice(inst: Instruction, rewriter: PatternRewriter) -> bool:
    """A slice [0:n:1] of every dimension -> the operand."""
    x = inst.operand(0)
    whole = tuple((0, size, 1) for size in x.type.shape)
    return inst.attrs["slice"] == whole and forward(rewriter, inst, x)


@pattern("concatenate")
def concatenate_one(inst: Instruction, rewriter: PatternRewriter) -> bool:
    """concatenate(x) of a single operand -> x."""
    return len(inst.operands) == 1 and forward(rewriter, inst, inst.operand(0))


@pattern("reshape", "transpose", "slice", "reverse")
def move_scalar_broadcast(inst: Instruction, rewriter: PatternRewriter) -> bool:
    """Moving the elements of broadcast(scalar s) around -> broadcast(s) to the new shape."""
    operand = inst.operand(0)
    if operand.opcode != "broadcast" or operand.operand(0).type.rank != 0:
        return False
    return rewriter.replace(inst, rewriter.builder.broadcast(operand.operand(0), dimensions=(),
                                                             type=inst.type))


# The identities, keyed by opcode through each pattern's ``opcodes``; tried in this order.
IDENTITIES: tuple[RewritePattern, ...] = (
    add_zero, subtract_zero, subtract_self, multiply_one, multiply_zero, and_all_ones, or_zero,
    idempotent, involution, convert_to_same_type, select_known, conditional_known, element_of_tuple,
    transpose_of_transpose, reshape_of_reshape, broadcast_of_broadcast, reverse_of_reverse,
    whole_slice, concatenate_one, move_scalar_broadcast,
)
