"""Errors of the code generators: programs a backend cannot compile, or a broken toolchain."""

from __future__ import annotations

from ..errors import JitflowError


class CodegenError(JitflowError):
    """A module could not be compiled for the requested target."""


class UnsupportedOpError(CodegenError):
    """The module uses an op (or a form of one) that the backend does not implement."""
