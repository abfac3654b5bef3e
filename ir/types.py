"""Element types, array types and tuple types of the IR.

Types are frozen and hashable: they belong to values (instructions) and are
compared structurally.  Layouts use HLO's minor-to-major notation:
``f32[2,3]{1,0}`` is row-major, ``f32[2,3]{0,1}`` column-major.  A layout of
``None`` means "not assigned yet" (before layout assignment).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Union

import numpy as np

from ..errors import IRError
from .limits import MAX_ARRAY_BYTES

try:  # bf16 has no NumPy dtype of its own; ml_dtypes provides the one JAX uses.
    import ml_dtypes

    _BFLOAT16 = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover - ml_dtypes is a core dependency
    _BFLOAT16 = None


class DType(enum.Enum):
    """Element types, spelled as in HLO text."""

    PRED = "pred"
    S8 = "s8"
    S16 = "s16"
    S32 = "s32"
    S64 = "s64"
    U8 = "u8"
    U16 = "u16"
    U32 = "u32"
    U64 = "u64"
    F16 = "f16"
    BF16 = "bf16"
    F32 = "f32"
    F64 = "f64"

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return f"DType.{self.name}"

    @property
    def is_pred(self) -> bool:
        return self is DType.PRED

    @property
    def is_float(self) -> bool:
        return self in _FLOATS

    @property
    def is_signed_int(self) -> bool:
        return self in _SIGNED

    @property
    def is_unsigned_int(self) -> bool:
        return self in _UNSIGNED

    @property
    def is_integer(self) -> bool:
        return self in _SIGNED or self in _UNSIGNED

    @property
    def bits(self) -> int:
        return _BITS[self]

    @property
    def numpy(self) -> np.dtype:
        """The NumPy dtype that holds values of this type."""
        if self is DType.BF16 and _BFLOAT16 is None:
            raise IRError("bf16 needs the 'ml_dtypes' package, which is not installed")
        return _BFLOAT16 if self is DType.BF16 else np.dtype(_NUMPY_NAMES[self])

    @staticmethod
    def from_numpy(dtype: np.dtype | type) -> DType:
        dtype = np.dtype(dtype)
        if _BFLOAT16 is not None and dtype == _BFLOAT16:
            return DType.BF16
        for member, name in _NUMPY_NAMES.items():
            if dtype == np.dtype(name):
                return member
        raise IRError(f"NumPy dtype {dtype} has no jitflow element type")

    @staticmethod
    def parse(text: str) -> DType:
        try:
            return DType(text)
        except ValueError:
            names = ", ".join(d.value for d in DType)
            raise IRError(f"unknown element type '{text}' (expected one of {names})") from None


_FLOATS = frozenset({DType.F16, DType.BF16, DType.F32, DType.F64})
_SIGNED = frozenset({DType.S8, DType.S16, DType.S32, DType.S64})
_UNSIGNED = frozenset({DType.U8, DType.U16, DType.U32, DType.U64})
_BITS = {
    DType.PRED: 8, DType.S8: 8, DType.S16: 16, DType.S32: 32, DType.S64: 64,
    DType.U8: 8, DType.U16: 16, DType.U32: 32, DType.U64: 64,
    DType.F16: 16, DType.BF16: 16, DType.F32: 32, DType.F64: 64,
}
_NUMPY_NAMES = {
    DType.PRED: "bool", DType.S8: "int8", DType.S16: "int16", DType.S32: "int32",
    DType.S64: "int64", DType.U8: "uint8", DType.U16: "uint16", DType.U32: "uint32",
    DType.U64: "uint64", DType.F16: "float16", DType.F32: "float32", DType.F64: "float64",
}


@dataclass(frozen=True)
class TensorType:
    """An array type: element type, static shape, and an optional layout.

    ``layout`` is a minor-to-major permutation of the dimensions, as in HLO.
    """

    dtype: DType
    shape: tuple[int, ...]
    layout: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.dtype, DType):
            raise IRError(f"TensorType dtype must be a DType, got {self.dtype!r}")
        shape = tuple(int(d) for d in self.shape)
        if any(d < 0 for d in shape):
            raise IRError(f"negative dimension in shape {list(shape)}")
        nbytes = self.dtype.bits // 8
        for d in shape:
            nbytes *= d
        # Byte offsets are int64 everywhere (NumPy, LLVM, CUDA): a larger array cannot exist.
        if nbytes > MAX_ARRAY_BYTES:
            raise IRError(f"{self.dtype}[{','.join(map(str, shape))}] has {nbytes} bytes, more "
                          f"than an int64 byte offset can address")
        object.__setattr__(self, "shape", shape)
        if self.layout is not None:
            layout = tuple(int(d) for d in self.layout)
            if sorted(layout) != list(range(len(shape))):
                raise IRError(
                    f"layout {{{','.join(map(str, layout))}}} is not a permutation of the "
                    f"{len(shape)} dimensions of {self.dtype}[{','.join(map(str, shape))}]"
                )
            object.__setattr__(self, "layout", layout)

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        """Number of elements."""
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.numpy.itemsize

    @staticmethod
    def default_layout(rank: int) -> tuple[int, ...]:
        """Row-major layout: the last dimension is the most minor."""
        return tuple(range(rank - 1, -1, -1))

    def with_layout(self, layout: tuple[int, ...] | None) -> TensorType:
        return TensorType(self.dtype, self.shape, layout)

    def with_dtype(self, dtype: DType) -> TensorType:
        return TensorType(dtype, self.shape, self.layout)

    def with_shape(self, shape: tuple[int, ...]) -> TensorType:
        return TensorType(self.dtype, tuple(shape), None)

    def without_layout(self) -> TensorType:
        if self.layout is None:
            return self  # immutable: no copy needed (types are made and compared by the 10k)
        return TensorType(self.dtype, self.shape, None)

    def __str__(self) -> str:
        text = f"{self.dtype}[{','.join(map(str, self.shape))}]"
        if self.layout is not None:
            text += "{" + ",".join(map(str, self.layout)) + "}"
        return text

    def __repr__(self) -> str:
        return f"TensorType({self})"


@dataclass(frozen=True)
class TupleType:
    """The type of a value holding several values (multiple results)."""

    elements: tuple[Type, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "elements", tuple(self.elements))

    def without_layout(self) -> TupleType:
        return TupleType(tuple(e.without_layout() for e in self.elements))

    def __str__(self) -> str:
        return "(" + ", ".join(map(str, self.elements)) + ")"

    def __repr__(self) -> str:
        return f"TupleType({self})"


Type = Union[TensorType, TupleType]


def leaf_types(t: Type) -> list[TensorType]:
    """The array types of ``t`` in order: ``t`` itself, or a tuple's leaves depth first."""
    if isinstance(t, TupleType):
        return [leaf for element in t.elements for leaf in leaf_types(element)]
    return [t]


def scalar(dtype: DType) -> TensorType:
    return TensorType(dtype, ())


def same_ignoring_layout(a: Type, b: Type) -> bool:
    """Types agree in element type and shape; layouts are a later pass's business."""
    if isinstance(a, TensorType) and isinstance(b, TensorType):
        return a.dtype == b.dtype and a.shape == b.shape
    return a.without_layout() == b.without_layout()


def is_uniform(value: np.ndarray) -> bool:
    """Whether an array of more than one element has every element bit-identical (so -0.0
    and 0.0, or NaNs with different payloads, do not count as equal): a splat, which the
    IR writes as a broadcast of one scalar rather than as a literal of every element."""
    if value.size <= 1:
        return False
    rows = np.ascontiguousarray(value).reshape(value.size).view(np.uint8).reshape(value.size, -1)
    return bool((rows == rows[0]).all())


def type_of_value(value: np.ndarray | tuple) -> Type:
    """The IR type of a runtime value (NumPy array or nested tuple of them)."""
    if isinstance(value, tuple):
        return TupleType(tuple(type_of_value(v) for v in value))
    array = np.asarray(value)
    return TensorType(DType.from_numpy(array.dtype), array.shape)
