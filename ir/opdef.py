"""How an opcode is declared: ``OpDef``, its ``Trait``s and ``Cost``, and the registry.

Every opcode is declared exactly once (in the ``op_table`` package) as an ``OpDef``:
arity, attribute schema, called-computation roles, traits, cost, the shape/dtype
rule, and the NumPy reference evaluation.  The builder, verifier, parser, printer
and interpreter look ops up here; passes and backends decide by an op's traits and
cost, and attach their own rules (VJPs, lowerings) in tables keyed by opcode.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..errors import IRError
from .attributes import AttrKind, AttrSpec  # noqa: F401  (op declarations name them from here)
from .types import DType, Type

if TYPE_CHECKING:
    from .core import Computation, Instruction


class Trait(enum.Enum):
    """What passes and backends may assume of an op.  They ask the op's declaration
    (``inst.opdef.has(Trait.X)``), never a list of opcodes of their own."""

    # Applies one scalar function at each index of same-shaped operands.
    ELEMENTWISE = "elementwise"
    COMMUTATIVE = "commutative"
    # Associative as well as commutative: a reduction by this one op may regroup freely.
    ASSOCIATIVE = "associative"
    SIDE_EFFECTING = "side-effecting"
    REDUCTION = "reduction"
    # while, conditional: a loop or branch the program runs at the op's position, with the
    # callees' results copied into the op's own buffer.
    CONTROL_FLOW = "control-flow"
    # Moves data or computes indices: a loop body computes it per element, as it does an
    # elementwise op, so it fuses like one.
    INDEXING = "indexing"
    # Computed from the output index (and a smaller operand) wherever it is read: consumers
    # recompute it per element, and it never needs a buffer of its own.
    GENERATED = "generated"
    # Its memory is given (the caller's argument, a literal): no kernel writes it and it
    # does not live in the workspace.
    SOURCE = "source"
    # Names its operands' buffers (a tuple, an element of one) instead of owning one.
    NAMES_BUFFERS = "names-buffers"
    # Its called computations are programs run in sequence at its position (loop bodies,
    # branches, calls), not scalar functions applied per element.
    CALLS_PROGRAMS = "calls-programs"
    # A step of the host program (naming buffers, control flow, launching a fused kernel,
    # calling a runtime target): never computed inside another op's kernel.
    HOST_STEP = "host-step"
    # May run as a call of a library (BLAS, cuBLAS, a runtime target) that reads its
    # operands' memory as it is laid out.
    LIBRARY_CALL = "library-call"
    # Hands its operands' buffers on untouched (to a tuple, a called computation, or code
    # outside jitflow that assumes row-major order): what it reads keeps the row-major layout.
    PASSES_BUFFERS_ON = "passes-buffers-on"
    # May share its operand's buffer (a reshape of a row-major array, a transpose that
    # layout assignment turned into a layout change).
    MAY_ALIAS_OPERAND = "may-alias-operand"
    # Each element of the result costs a loop over the operands (reduce, dot).
    LOOP_PER_ELEMENT = "loop-per-element"


class Cost(enum.Enum):
    """How much computing one element costs, against loading one: what fusion may duplicate.

    Every op declares one, so that a new op is never silently treated as cheap or dear.
    """

    # Free to recompute in every consumer (broadcast, iota, constant): no memory traffic of
    # its own worth keeping.
    FREE = "free"
    # A few instructions: copied into consumers when it has only a few users.
    CHEAP = "cheap"
    NORMAL = "normal"
    # Much more than a load (transcendentals, divisions, reductions): never computed twice
    # per element on purpose.
    EXPENSIVE = "expensive"


# Called-computation roles.  A tuple names fixed roles in order, e.g.
# ("condition", "body"); BRANCHES marks conditional's variable-length list.
BRANCHES = "branch_computations"


InferFn = Callable[[Sequence[Type], dict, Sequence["Computation"], "Type | None"], Type]
EvalFn = Callable[["Instruction", list, "Callable[[Computation, list], Any]"], Any]


@dataclass(frozen=True)
class OpDef:
    """One opcode's declaration.

    ``infer(operand_types, attrs, called, declared)`` returns the result type
    (layout-free) or raises ``IRError``.  ``declared`` is the type the text or
    the builder states; ops whose result cannot be derived from operands
    (broadcast's shape, convert's dtype, parameter, custom-call) validate and
    return it.  ``evaluate(inst, args, call)`` is the reference semantics;
    ``call(computation, args)`` evaluates a called computation.
    """

    opcode: str
    arity: tuple[int, int | None]
    infer: InferFn
    evaluate: EvalFn
    attrs: tuple[AttrSpec, ...] = ()
    callees: tuple[str, ...] = ()
    traits: frozenset[Trait] = field(default_factory=frozenset)
    needs_declared_type: bool = False
    doc: str = ""
    cost: Cost = field(kw_only=True)

    def attr_spec_spelled(self, text_name: str) -> AttrSpec | None:
        """The attribute written ``text_name=`` in HLO text."""
        for spec in self.attrs:
            if spec.spelling == text_name:
                return spec
        return None

    def has(self, trait: Trait) -> bool:
        return trait in self.traits

    def has_any(self, *traits: Trait) -> bool:
        return not self.traits.isdisjoint(traits)

    def normalize_attrs(self, attrs: dict) -> dict:
        """Check names and kinds against the schema; fill defaults."""
        unknown = set(attrs) - {spec.name for spec in self.attrs}
        if unknown:
            allowed = ", ".join(spec.name for spec in self.attrs) or "none"
            raise IRError(
                f"{self.opcode} has no attribute '{sorted(unknown)[0]}' (its attributes: {allowed})"
            )
        result = {}
        for spec in self.attrs:
            if spec.name in attrs:
                result[spec.name] = spec.normalize(attrs[spec.name])
            elif spec.required:
                raise IRError(f"{self.opcode} needs attribute '{spec.name}'")
            elif spec.default is not None:
                result[spec.name] = spec.normalize(spec.default)
        return result

    def check_arity(self, count: int) -> None:
        low, high = self.arity
        if count < low or (high is not None and count > high):
            if high == low:
                expected = f"{low}"
            elif high is None:
                expected = f"at least {low}"
            else:
                expected = f"{low} to {high}"
            raise IRError(f"{self.opcode} takes {expected} operand(s), got {count}")


OPS: dict[str, OpDef] = {}


def register_op(opdef: OpDef) -> OpDef:
    if opdef.opcode in OPS:
        raise IRError(f"opcode '{opdef.opcode}' is declared twice")
    OPS[opdef.opcode] = opdef
    return opdef


def lookup(opcode: str) -> OpDef:
    try:
        return OPS[opcode]
    except KeyError:
        raise IRError(f"unknown opcode '{opcode}'") from None


def is_side_effecting(inst: "Instruction") -> bool:
    """Side effects are a trait of the op, or declared per custom-call."""
    opdef = OPS[inst.opcode]
    return opdef.has(Trait.SIDE_EFFECTING) or bool(inst.attrs.get("custom_call_has_side_effect"))


def dtype_kinds(dtype: DType) -> str:
    """A one-letter class of an element type: p(red), s(igned), u(nsigned), f(loat)."""
    if dtype.is_pred:
        return "p"
    if dtype.is_signed_int:
        return "s"
    if dtype.is_unsigned_int:
        return "u"
    return "f"
