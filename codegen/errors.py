"""Errors of the code generators: programs a backend cannot compile, or a broken toolchain."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import JitflowError

if TYPE_CHECKING:
    from ..ir import Module


class CodegenError(JitflowError):
    """A module could not be compiled for the requested target."""


class UnsupportedOpError(CodegenError):
    """The module uses an op (or a form of one) that the backend does not implement."""


def reject_custom_calls(module: Module, backend: str) -> None:
    """Custom-call targets have no lowering on any backend yet: refuse them before any code
    is generated, naming the target and the instruction."""
    for inst in module.instructions():
        if inst.opcode == "custom-call":
            raise UnsupportedOpError(
                f"custom-call target '{inst.attrs['custom_call_target']}' is not supported by the "
                f"{backend} backend ({inst.describe()})")
