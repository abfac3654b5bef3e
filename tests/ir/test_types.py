"""Element types, array types and tuple types: properties, formatting, validation."""

from __future__ import annotations

import dataclasses

import ml_dtypes
import numpy as np
import pytest

from jitflow.errors import IRError
from jitflow.ir import DType, TensorType, TupleType, scalar
from jitflow.ir.types import same_ignoring_layout, type_of_value

F32 = DType.F32

# dtype, is_float, is_signed_int, is_unsigned_int, bits, NumPy dtype
DTYPES = [
    (DType.PRED, False, False, False, 8, np.dtype(np.bool_)),
    (DType.S8, False, True, False, 8, np.dtype(np.int8)),
    (DType.S16, False, True, False, 16, np.dtype(np.int16)),
    (DType.S32, False, True, False, 32, np.dtype(np.int32)),
    (DType.S64, False, True, False, 64, np.dtype(np.int64)),
    (DType.U8, False, False, True, 8, np.dtype(np.uint8)),
    (DType.U16, False, False, True, 16, np.dtype(np.uint16)),
    (DType.U32, False, False, True, 32, np.dtype(np.uint32)),
    (DType.U64, False, False, True, 64, np.dtype(np.uint64)),
    (DType.F16, True, False, False, 16, np.dtype(np.float16)),
    (DType.BF16, True, False, False, 16, np.dtype(ml_dtypes.bfloat16)),
    (DType.F32, True, False, False, 32, np.dtype(np.float32)),
    (DType.F64, True, False, False, 64, np.dtype(np.float64)),
]


def test_every_dtype_is_in_the_table():
    assert {row[0] for row in DTYPES} == set(DType)


@pytest.mark.parametrize("dtype, is_float, is_signed, is_unsigned, bits, numpy_dtype", DTYPES,
                         ids=[row[0].value for row in DTYPES])
def test_dtype_properties(dtype, is_float, is_signed, is_unsigned, bits, numpy_dtype):
    assert dtype.is_float is is_float
    assert dtype.is_signed_int is is_signed
    assert dtype.is_unsigned_int is is_unsigned
    assert dtype.is_integer is (is_signed or is_unsigned)
    assert dtype.is_pred is (dtype is DType.PRED)
    assert dtype.bits == bits
    assert dtype.numpy == numpy_dtype
    # Both directions of the NumPy mapping.
    assert DType.from_numpy(numpy_dtype) is dtype
    assert DType.from_numpy(dtype.numpy) is dtype
    # Spelled as in HLO text, and parsed back from that spelling.
    assert str(dtype) == dtype.value
    assert DType.parse(str(dtype)) is dtype
    assert repr(dtype) == f"DType.{dtype.name}"


def test_bf16_is_ml_dtypes_bfloat16():
    assert DType.BF16.numpy == np.dtype(ml_dtypes.bfloat16)
    assert DType.BF16.numpy.itemsize == 2
    assert DType.from_numpy(ml_dtypes.bfloat16) is DType.BF16
    assert DType.from_numpy(np.zeros(2, ml_dtypes.bfloat16).dtype) is DType.BF16
    # bf16 and f16 are both 16 bits wide but are different types.
    assert DType.from_numpy(np.float16) is DType.F16


@pytest.mark.parametrize("value, expected", [
    (np.float32, DType.F32), (float, DType.F64), (bool, DType.PRED), (np.uint16, DType.U16),
    ("int8", DType.S8), (np.dtype(">f4").newbyteorder("="), DType.F32),
])
def test_from_numpy_accepts_scalar_types_and_names(value, expected):
    assert DType.from_numpy(value) is expected


@pytest.mark.parametrize("numpy_dtype", [np.complex64, np.dtype("U3"), object, np.dtype("M8[s]")])
def test_from_numpy_rejects_types_without_an_element_type(numpy_dtype):
    with pytest.raises(IRError) as info:
        DType.from_numpy(numpy_dtype)
    assert str(info.value) == f"NumPy dtype {np.dtype(numpy_dtype)} has no jitflow element type"


@pytest.mark.parametrize("text", ["f33", "F32", "float32", "", "s32[]"])
def test_parse_unknown_names_lists_the_valid_ones(text):
    with pytest.raises(IRError) as info:
        DType.parse(text)
    message = str(info.value)
    assert f"unknown element type '{text}'" in message
    expected = ", ".join(d.value for d in DType)
    assert f"(expected one of {expected})" in message
    assert "bf16" in expected and "u16" in expected


# ---------------------------------------------------------------------------
# TensorType

def test_tensor_type_is_frozen():
    t = TensorType(F32, (2, 3))
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.shape = (3, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.layout = (1, 0)
    assert t.shape == (2, 3) and t.layout is None


def test_tensor_type_normalizes_shape_and_layout_to_int_tuples():
    t = TensorType(F32, [np.int64(2), 3], [1, np.int32(0)])
    assert t.shape == (2, 3) and type(t.shape) is tuple
    assert t.layout == (1, 0) and type(t.layout) is tuple
    assert all(type(d) is int for d in t.shape + t.layout)


def test_tensor_type_equality_and_hash():
    a = TensorType(F32, (2, 3))
    b = TensorType(F32, [2, 3])
    assert a == b and hash(a) == hash(b)
    assert len({a, b, TensorType(F32, (2, 3), None)}) == 1
    different = [
        TensorType(DType.F64, (2, 3)),
        TensorType(F32, (3, 2)),
        TensorType(F32, (2, 3, 1)),
        TensorType(F32, (2, 3), (1, 0)),
        TensorType(F32, (2, 3), (0, 1)),
    ]
    for other in different:
        assert a != other
    assert len({a, *different}) == 1 + len(different)
    # A dict keyed by types finds structurally equal keys.
    table = {TensorType(F32, (2, 3), (1, 0)): "row-major"}
    assert table[TensorType(F32, [2, 3], [1, 0])] == "row-major"


@pytest.mark.parametrize("t, text", [
    (TensorType(F32, (2, 3), (1, 0)), "f32[2,3]{1,0}"),
    (TensorType(F32, (2, 3), (0, 1)), "f32[2,3]{0,1}"),
    (TensorType(F32, (2, 3)), "f32[2,3]"),
    (TensorType(F32, ()), "f32[]"),
    (TensorType(DType.PRED, (0,)), "pred[0]"),
    (TensorType(DType.BF16, (4, 1, 2), (0, 2, 1)), "bf16[4,1,2]{0,2,1}"),
    (TensorType(DType.U8, (7,), (0,)), "u8[7]{0}"),
])
def test_tensor_type_str(t, text):
    assert str(t) == text
    assert repr(t) == f"TensorType({text})"


@pytest.mark.parametrize("t, text", [
    (TupleType((TensorType(F32, (2,)), scalar(DType.S32))), "(f32[2], s32[])"),
    (TupleType(()), "()"),
    (TupleType((TupleType((TensorType(F32, (2,), (0,)), scalar(DType.PRED))),
                TensorType(DType.U8, (3,)))), "((f32[2]{0}, pred[]), u8[3])"),
])
def test_tuple_type_str(t, text):
    assert str(t) == text
    assert repr(t) == f"TupleType({text})"


def test_tuple_type_equality_and_hash():
    a = TupleType([TensorType(F32, (2,)), scalar(DType.S32)])
    b = TupleType((TensorType(F32, [2]), TensorType(DType.S32, ())))
    assert isinstance(a.elements, tuple)
    assert a == b and hash(a) == hash(b)
    assert a != TupleType((scalar(DType.S32), TensorType(F32, (2,))))
    assert a != TensorType(F32, (2,))
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.elements = ()


@pytest.mark.parametrize("shape, layout", [
    ((2, 3), (0, 0)),
    ((2, 3), (0,)),
    ((2, 3), (0, 1, 2)),
    ((2, 3), (1, 2)),
    ((2, 3), (-1, 0)),
    ((), (0,)),
    ((5,), ()),
])
def test_layout_must_be_a_permutation(shape, layout):
    with pytest.raises(IRError, match="is not a permutation") as info:
        TensorType(F32, shape, layout)
    message = str(info.value)
    assert "{" + ",".join(map(str, layout)) + "}" in message
    assert f"of the {len(shape)} dimensions of f32[{','.join(map(str, shape))}]" in message


def test_negative_dimension_is_rejected():
    with pytest.raises(IRError, match=r"negative dimension in shape \[2, -1\]"):
        TensorType(F32, (2, -1))
    assert TensorType(F32, (0, 2)).shape == (0, 2)  # zero is a valid size


def test_dtype_must_be_a_dtype():
    with pytest.raises(IRError, match="dtype must be a DType, got 'f32'"):
        TensorType("f32", (2,))
    with pytest.raises(IRError, match="dtype must be a DType"):
        TensorType(np.float32, (2,))


@pytest.mark.parametrize("rank, layout", [(0, ()), (1, (0,)), (2, (1, 0)), (4, (3, 2, 1, 0))])
def test_default_layout_is_row_major(rank, layout):
    assert TensorType.default_layout(rank) == layout
    # It is a valid layout for that rank.
    t = TensorType(F32, (2,) * rank, TensorType.default_layout(rank))
    assert t.layout == layout


@pytest.mark.parametrize("t, size, nbytes", [
    (TensorType(F32, (2, 3)), 6, 24),
    (TensorType(F32, ()), 1, 4),
    (TensorType(DType.F64, (0, 5)), 0, 0),
    (TensorType(DType.PRED, (3,)), 3, 3),
    (TensorType(DType.BF16, (4,)), 4, 8),
    (TensorType(DType.S64, (2, 2, 2), (0, 1, 2)), 8, 64),
    (TensorType(DType.U16, (5,)), 5, 10),
])
def test_size_and_nbytes(t, size, nbytes):
    assert t.size == size
    assert t.nbytes == nbytes


def test_rank_and_with_helpers():
    t = TensorType(F32, (2, 3), (1, 0))
    assert t.rank == 2 and scalar(F32).rank == 0
    assert t.with_layout((0, 1)) == TensorType(F32, (2, 3), (0, 1))
    assert t.with_layout(None).layout is None
    assert t.with_dtype(DType.S8) == TensorType(DType.S8, (2, 3), (1, 0))
    # A new shape drops the layout: the old one may not fit.
    assert t.with_shape((6,)) == TensorType(F32, (6,))
    assert t.without_layout() == TensorType(F32, (2, 3))
    assert t == TensorType(F32, (2, 3), (1, 0))  # the original is unchanged
    with pytest.raises(IRError, match="not a permutation"):
        t.with_layout((0, 0))


def test_scalar():
    assert scalar(DType.S32) == TensorType(DType.S32, ())
    assert str(scalar(DType.PRED)) == "pred[]"


def test_same_ignoring_layout():
    row = TensorType(F32, (2, 3), (1, 0))
    col = TensorType(F32, (2, 3), (0, 1))
    bare = TensorType(F32, (2, 3))
    assert same_ignoring_layout(row, col)
    assert same_ignoring_layout(row, bare)
    assert not same_ignoring_layout(row, TensorType(DType.S32, (2, 3), (1, 0)))
    assert not same_ignoring_layout(row, TensorType(F32, (3, 2), (1, 0)))
    assert not same_ignoring_layout(bare, TupleType((bare,)))
    assert same_ignoring_layout(TupleType((row, scalar(DType.S32))),
                                TupleType((col, TensorType(DType.S32, (), ()))))
    assert not same_ignoring_layout(TupleType((row,)), TupleType((row, row)))
    nested = TupleType((row, TupleType((col,))))
    assert nested.without_layout() == TupleType((bare, TupleType((bare,))))


@pytest.mark.parametrize("value, expected", [
    (np.zeros((2, 3), np.float32), TensorType(F32, (2, 3))),
    (np.float32(1.5), TensorType(F32, ())),
    (np.array(True), TensorType(DType.PRED, ())),
    (np.arange(4, dtype=np.int8).reshape(2, 2).T, TensorType(DType.S8, (2, 2))),
    (np.zeros(3, ml_dtypes.bfloat16), TensorType(DType.BF16, (3,))),
    (np.zeros((0, 4), np.uint64), TensorType(DType.U64, (0, 4))),
    ((np.zeros(2, np.float32), (np.int32(1), np.zeros((), np.bool_))),
     TupleType((TensorType(F32, (2,)), TupleType((TensorType(DType.S32, ()),
                                                   TensorType(DType.PRED, ())))))),
    ((), TupleType(())),
])
def test_type_of_value(value, expected):
    result = type_of_value(value)
    assert result == expected
    if isinstance(result, TensorType):
        assert result.layout is None


def test_type_of_value_rejects_unsupported_dtypes():
    with pytest.raises(IRError, match="complex128 has no jitflow element type"):
        type_of_value(np.zeros(2, np.complex128))
