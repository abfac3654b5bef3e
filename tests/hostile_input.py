"""Hostile inputs shared by the parser's and the command line's tests (issue 16, defect 7)."""

from __future__ import annotations

from pathlib import Path

HEADER = "HloModule m\n\n"


def call_chain(depth: int) -> str:
    """ENTRY calls c0, which calls c1, ... c{depth-1}, which negates its argument."""
    computations = []
    for i in reversed(range(depth)):
        last = i + 1 == depth
        root = f"negate(%x{i})" if last else f"call(%x{i}), to_apply=%c{i + 1}"
        computations.append(f"%c{i} (x{i}: f32[]) -> f32[] {{\n  %x{i} = f32[] parameter(0)\n"
                            f"  ROOT %r{i} = f32[] {root}\n}}\n")
    return HEADER + "\n".join(computations) + (
        "\nENTRY %main (x: f32[]) -> f32[] {\n  %x = f32[] parameter(0)\n"
        "  ROOT %r = f32[] call(%x), to_apply=%c0\n}\n")


def write_npy_header(path: Path, header: str) -> str:
    """A version 1.0 .npy file with this header dictionary text and 16 bytes of data."""
    encoded = header.encode("latin1")
    padding = 64 - (10 + len(encoded) + 1) % 64
    length = len(encoded) + padding + 1
    path.write_bytes(b"\x93NUMPY\x01\x00" + length.to_bytes(2, "little") + encoded
                     + b" " * padding + b"\n" + bytes(16))
    return str(path)
