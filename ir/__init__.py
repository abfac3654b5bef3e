"""jitflow's IR: HLO-style typed SSA, its op table, text format, verifier and interpreter."""

from . import op_table as _op_table  # noqa: F401  (declares every opcode)
from .builder import Builder, build_scalar_computation
from .autodiff import emit_vjp, zeros_like
from .core import Computation, Instruction, Module
from .interpreter import Interpreter, evaluate
from .op_table import register_custom_call
from .opdef import OPS, AttrKind, AttrSpec, Cost, OpDef, Trait, is_side_effecting, lookup
from .printer import print_computation, print_instruction, print_module
from .types import DType, TensorType, TupleType, Type, is_uniform, leaf_types, scalar
from .verifier import verify

__all__ = [
    "AttrKind", "AttrSpec", "Builder", "Computation", "Cost", "DType", "Instruction", "Interpreter",
    "emit_vjp", "zeros_like",
    "Module", "OPS", "OpDef", "TensorType", "Trait", "TupleType", "Type", "build_scalar_computation",
    "evaluate", "is_side_effecting", "leaf_types", "lookup", "parse_module", "print_computation",
    "print_instruction", "print_module", "register_custom_call", "scalar", "verify",
]


def parse_module(text: str, filename: str = "<text>") -> Module:
    """Parse HLO text into a verified-syntax Module (see ``parser``)."""
    from .parser import parse_module as parse

    return parse(text, filename)
