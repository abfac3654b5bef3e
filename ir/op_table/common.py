"""What the op table's shape rules and evaluations share: type checks and error texts."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ...errors import IRError
from ..opdef import Trait, dtype_kinds
from ..types import TensorType, Type


def traits_of(*traits: Trait) -> frozenset[Trait]:
    return frozenset(traits)


def as_array(t: Type, what: str) -> TensorType:
    if not isinstance(t, TensorType):
        raise IRError(f"{what} must be an array, got the tuple {t}")
    return t


def shape_text(t: Type) -> str:
    return str(t.without_layout())


def check_kinds(t: TensorType, kinds: str, what: str) -> None:
    if dtype_kinds(t.dtype) not in kinds:
        names = {"p": "pred", "s": "signed integer", "u": "unsigned integer", "f": "floating-point"}
        allowed = " or ".join(names[k] for k in kinds)
        raise IRError(f"{what} must be {allowed}, got {t.dtype}")


def same_arrays(types: Sequence[Type]) -> TensorType:
    arrays = [as_array(t, f"operand {i}") for i, t in enumerate(types)]
    first = arrays[0].without_layout()
    for i, other in enumerate(arrays[1:], 1):
        if other.without_layout() != first:
            raise IRError(f"operands must have the same shape and type: operand 0 is "
                          f"{shape_text(first)}, operand {i} is {shape_text(other)}")
    return first


def check_dims(dims: Sequence[int], rank: int, what: str) -> None:
    for d in dims:
        if not 0 <= d < rank:
            raise IRError(f"{what} {list(dims)} out of range for rank {rank}")
    if len(set(dims)) != len(dims):
        raise IRError(f"{what} {list(dims)} repeats a dimension")


def declared_array(declared: Type | None) -> TensorType:
    if declared is None:
        raise IRError("the result type must be given")
    return as_array(declared, "the result")


def is_half(dtype: np.dtype) -> bool:
    """f16 and bf16: their math runs in f32 and rounds back (XLA CPU behaviour)."""
    return dtype == np.float16 or dtype.name == "bfloat16"


def is_float(dtype: np.dtype) -> bool:
    return dtype.kind == "f" or dtype.name == "bfloat16"
