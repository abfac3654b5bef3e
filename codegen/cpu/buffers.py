"""Where array values live at run time: slots of the entry's pointer array, or constants."""

from __future__ import annotations

from dataclasses import dataclass

from llvmlite import ir

from ...ir import TensorType
from .loops import i64
from .scalars import I8, PTR


@dataclass(frozen=True, eq=True)
class Buffer:
    """An array value's storage.

    ``slot`` indexes the ``i8**`` argument every generated function receives
    (inputs, then outputs, then the workspace); ``offset`` is a byte offset in
    that buffer (temporaries live in the workspace).  Constants are globals.
    ``type`` carries the layout the elements are stored in (``layouts.py``): two buffers
    may share memory and differ in layout, as a free transpose does with its operand.
    """

    type: TensorType
    slot: int | None = None
    offset: int = 0
    constant: ir.GlobalVariable | None = None

    def pointer(self, b: ir.IRBuilder, buffers: ir.Value) -> ir.Value:
        if self.constant is not None:
            return self.constant
        base = b.load(b.gep(buffers, [i64(self.slot)], inbounds=True, source_etype=PTR), typ=PTR)
        if self.offset == 0:
            return base
        return b.gep(base, [i64(self.offset)], inbounds=True, source_etype=I8)

    @property
    def nbytes(self) -> int:
        return self.type.nbytes

    def overlaps(self, other: Buffer) -> bool:
        """Whether the two may share bytes (constants are never written, so never do)."""
        return (self.constant is None and other.constant is None and self.slot == other.slot
                and self.offset < other.offset + other.nbytes and other.offset < self.offset + self.nbytes)


def leaves(value) -> list[Buffer]:
    """The buffers of a value (a Buffer or nested tuples of them), in order."""
    if isinstance(value, Buffer):
        return [value]
    return [leaf for element in value for leaf in leaves(element)]
