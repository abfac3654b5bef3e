"""The objects entry: NumPy array objects in, their checks and data pointers read natively.

Checking and unpacking arguments in Python (type, dtype, shape, contiguity, data
pointer) costs more than running a small kernel.  ``jf_entry_objects`` takes the
array objects themselves (their addresses) and reads the fields of NumPy's
``PyArrayObject`` at offsets the runtime measured in this process: it returns 0
after running the program when every input is an exact ``ndarray`` with the
expected shape, the expected dtype and C-contiguous data, and 1 without running
anything otherwise, so the caller can take its slow path (convert, copy, or explain).
The dtype is first compared by descriptor address (arrays made in this process share
NumPy's canonical descriptor); when that fails it is compared by value (kind, size, a
native or not-applicable byte order), because arrays that went through pickle, or
whose dtype was rebuilt (``newbyteorder('=')``), carry an equal descriptor object of
their own.  Outputs and the workspace are arrays the runtime made itself: only
their data pointers are read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from llvmlite import ir

from ...ir import DType, TensorType
from .loops import i64
from .scalars import I1, I8, I32, I64, PTR, stack_array_element

# NPY_ARRAY_C_CONTIGUOUS in PyArrayObject.flags
C_CONTIGUOUS_FLAG = 0x1


@dataclass(frozen=True)
class DescriptorLayout:
    """Where a ``PyArray_Descr`` keeps what the by-value dtype check reads (byte offsets),
    and what it expects there.

    ``native_byteorders``: the byte-order characters of data in this machine's order
    ('=', '|' for single bytes, and the explicit '<' or '>' of this machine).
    ``expected``: by DType, the kind character, the item size and the address of the
    scalar type object, or 0 where kind and size say it all (bool, int, uint, float kinds;
    an extension type such as bfloat16 has kind 'V' and must be this very type).
    """

    typeobj: int
    kind: int
    byteorder: int
    elsize: int
    native_byteorders: tuple[int, ...]
    expected: Mapping[DType, tuple[int, int, int]]


@dataclass(frozen=True)
class ArrayObjectLayout:
    """Where a ``PyArrayObject`` keeps what the objects entry reads (byte offsets).

    ``ndarray_type`` is the address of the ``numpy.ndarray`` type object and
    ``descriptors`` the addresses of the canonical dtype descriptors, by DType;
    ``descriptor_fields`` where the fields of other descriptors are, or None when they
    could not be measured (then only the canonical descriptors are accepted natively).
    """

    type_offset: int
    data: int
    nd: int
    dimensions: int
    descr: int
    flags: int
    ndarray_type: int
    descriptors: Mapping[DType, int]
    descriptor_fields: DescriptorLayout | None = None


def emit_objects_entry(module: ir.Module, name: str, entry: ir.Function, layout: ArrayObjectLayout,
                       inputs: Sequence[TensorType], arrays: int, stack_workspace_bytes: int,
                       passed_workspace: bool, alignment: int) -> ir.Function:
    """``i32 name(PyObject* ...)``: checks the inputs, fills the pointer table, calls ``entry``."""
    passed = arrays + (1 if passed_workspace else 0)
    fn = ir.Function(module, ir.FunctionType(I32, [PTR] * passed), name)
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    ok = ir.Constant(I1, 1)
    for array, t in zip(fn.args, inputs):
        ok = b.and_(ok, _matches(b, array, t, layout))
    run = fn.append_basic_block("run")
    reject = fn.append_basic_block("reject")
    b.cbranch(ok, run, reject)
    b.position_at_end(reject)
    b.ret(ir.Constant(I32, 1))
    b.position_at_end(run)
    workspace_present = passed_workspace or stack_workspace_bytes > 0
    table = b.alloca(ir.ArrayType(PTR, arrays + (1 if workspace_present else 0)))
    if stack_workspace_bytes:
        workspace = b.alloca(ir.ArrayType(I8, stack_workspace_bytes))
        workspace.align = alignment
        b.store(workspace, stack_array_element(b, table, arrays))
    for k, array in enumerate(fn.args):
        b.store(_field(b, array, layout.data, PTR), stack_array_element(b, table, k))
    b.call(entry, [table])
    b.ret(ir.Constant(I32, 0))
    return fn


def _field(b: ir.IRBuilder, obj: ir.Value, offset: int, t: ir.Type) -> ir.Value:
    return b.load(b.gep(obj, [i64(offset)], source_etype=I8), typ=t)


def _matches(b: ir.IRBuilder, array: ir.Value, t: TensorType, layout: ArrayObjectLayout) -> ir.Value:
    """Whether the object at ``array`` is an exact ndarray of type ``t``, C-contiguous."""
    is_ndarray = b.icmp_unsigned("==", b.ptrtoint(_field(b, array, layout.type_offset, PTR), I64),
                                 i64(layout.ndarray_type))
    # Only read array fields of objects known to be arrays: the checks branch, not just combine.
    checked = b.append_basic_block("check.fields")
    done = b.append_basic_block("check.done")
    start = b.block
    b.cbranch(is_ndarray, checked, done)
    b.position_at_end(checked)
    ok = b.and_(b.icmp_signed("==", _field(b, array, layout.nd, I32), ir.Constant(I32, t.rank)),
                _dtype_matches(b, _field(b, array, layout.descr, PTR), t.dtype, layout))
    flags = _field(b, array, layout.flags, I32)
    ok = b.and_(ok, b.icmp_unsigned("!=", b.and_(flags, ir.Constant(I32, C_CONTIGUOUS_FLAG)),
                                    ir.Constant(I32, 0)))
    if t.rank:
        fields_ok = b.block
        dims_block = b.append_basic_block("check.dims")
        b.cbranch(ok, dims_block, done)
        b.position_at_end(dims_block)
        dims = _field(b, array, layout.dimensions, PTR)
        dims_ok = ir.Constant(I1, 1)
        for axis, extent in enumerate(t.shape):
            value = b.load(b.gep(dims, [i64(axis)], source_etype=I64), typ=I64)
            dims_ok = b.and_(dims_ok, b.icmp_signed("==", value, i64(extent)))
        return _merge(b, done, dims_ok, [(start, False), (fields_ok, False)])
    return _merge(b, done, ok, [(start, False)])


def _merge(b: ir.IRBuilder, done: ir.Block, value: ir.Value,
           earlier: list[tuple[ir.Block, bool]]) -> ir.Value:
    """Branch from the current block to ``done`` and return there the predicate that is
    ``value`` coming from this block, and the given constant coming from each earlier one."""
    last = b.block
    b.branch(done)
    b.position_at_end(done)
    result = b.phi(I1)
    for block, constant in earlier:
        result.add_incoming(ir.Constant(I1, int(constant)), block)
    result.add_incoming(value, last)
    return result


def _dtype_matches(b: ir.IRBuilder, descr: ir.Value, dtype: DType, layout: ArrayObjectLayout) -> ir.Value:
    """Whether the descriptor at ``descr`` describes ``dtype`` in native byte order: the
    canonical descriptor's address (one compare, the common case), else its fields."""
    descriptor = layout.descriptors.get(dtype)
    if descriptor is None:
        return ir.Constant(I1, 0)
    same = b.icmp_unsigned("==", b.ptrtoint(descr, I64), i64(descriptor))
    fields = layout.descriptor_fields
    expected = None if fields is None else fields.expected.get(dtype)
    if expected is None:
        return same
    kind, itemsize, typeobj = expected
    start = b.block
    by_value = b.append_basic_block("check.dtype.value")
    done = b.append_basic_block("check.dtype.done")
    b.cbranch(same, done, by_value)
    b.position_at_end(by_value)
    ok = b.and_(b.icmp_unsigned("==", _field(b, descr, fields.kind, I8), ir.Constant(I8, kind)),
                b.icmp_signed("==", _field(b, descr, fields.elsize, I32), ir.Constant(I32, itemsize)))
    order = _field(b, descr, fields.byteorder, I8)
    native = ir.Constant(I1, 0)
    for character in fields.native_byteorders:
        native = b.or_(native, b.icmp_unsigned("==", order, ir.Constant(I8, character)))
    ok = b.and_(ok, native)
    if typeobj:
        ok = b.and_(ok, b.icmp_unsigned("==", b.ptrtoint(_field(b, descr, fields.typeobj, PTR), I64),
                                        i64(typeobj)))
    return _merge(b, done, ok, [(start, True)])
