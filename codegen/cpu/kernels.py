"""Kernels: loop nests over an output's index space, native threads, and BLAS calls.

Every kernel is an internal function ``void k(i8** buffers, i64 begin, i64 end)``
that computes the output elements with row-major positions in [begin, end).  The
entry function calls it once over the whole range (LLVM then inlines it), or,
for large kernels, through ``jf_parallel_for``, which runs chunks of the range
on the process's native thread pool (``threads.py``): the executable stays one
native call either way.

The iteration space is walked as rows x columns (columns = the minor dimension),
so the innermost loop is a unit-stride counted loop that LLVM vectorizes; a
kernel made of elementwise ops only uses one flat loop over all elements.  A
reduction that keeps the minor dimension (a column sum, a bias gradient) is
computed the same way round: a tile of the row's columns accumulates on the stack
while the reduced positions are walked in the outer loop, so its inner loop is
unit-stride too, instead of one strided walk per output element.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

from llvmlite import ir

from ...ir import DType, Instruction, TensorType, Trait
from ...ir.analysis.dots import DotDimensions, dot_sizes
from ...ir.analysis.index_maps import reduce_input_indexer
from .buffers import Buffer
from .elemental import Elemental, Leaf, ReduceStep, buffer_leaf, entry_alloca
from .layouts import element_offset, is_row_major, layout_of
from .loops import Index, delinearize, for_range, i64
from . import threads
from .scalars import I32, I64, PTR, element_ptr, register_type, store_element

# Largest row kept on the stack for reuse (per thread; stacks are megabytes).
ROW_BUFFER_BYTES = 64 * 1024
# Columns of a column reduction accumulated at once: the accumulators and one input row
# segment stay in L1 while the reduced positions stream by.
COLUMN_TILE_BYTES = 8 * 1024

# Below this much work (elements x inner loop trips) threads cost more than they save.
# Handing chunks to a spinning pool worker costs ~1-5 us; smaller kernels also stay
# inlined in the entry, where their loops have constant bounds: splitting every (256, 512)
# elementwise kernel of an MLP step made its compile 35% slower for ~1% of run time.
PARALLEL_WORK = 1 << 18

KernelBody = Callable[[Elemental, Index], list]


class KernelSet:
    """The kernels of one LLVM module and the thread fan-out that runs big ones."""

    def __init__(self, module: ir.Module, threads: int) -> None:
        self.module = module
        self.threads = max(1, threads)
        self.kernels: list[ir.Function] = []
        self.parallel_kernels: list[ir.Function] = []
        self.largest_work = 0
        self._kernel_type = ir.FunctionType(ir.VoidType(), [PTR, I64, I64])

    def _new_kernel(self) -> tuple[ir.Function, ir.IRBuilder]:
        """An empty ``void jf_kernelN(i8** buffers, i64 begin, i64 end)`` and a builder at its entry."""
        fn = ir.Function(self.module, self._kernel_type, f"jf_kernel{len(self.kernels)}")
        fn.linkage = "internal"
        self.kernels.append(fn)
        return fn, ir.IRBuilder(fn.append_basic_block("entry"))

    def loop_kernel(self, shape: Sequence[int], inputs: dict[Instruction, Buffer],
                    outputs: Sequence[Buffer], body: KernelBody, nested: bool,
                    per_row: Sequence[Instruction] = (),
                    reused: Sequence[Instruction] = (),
                    column_reduces: Sequence[Instruction] = ()) -> ir.Function:
        """A kernel storing ``body(elemental, index)`` (one value per output) at every index.

        ``per_row`` are values that do not vary along the minor dimension (row broadcasts,
        see ``passes.fuse``): a nested kernel computes each once per row, before the column
        loop, so a reduction behind one (softmax's max and sum, layernorm's mean and
        variance) is one pass over the row, which then stays in cache for the next.
        ``reused`` are values those reductions compute at every column of the row that the
        column loop needs again (``ir.analysis.rows.row_reused_values``): kept in a row buffer
        on the stack rather than computed twice.
        ``column_reduces`` (see ``column_reductions``) are accumulated for a tile of columns
        before the column loop reads them.
        """
        fn, b = self._new_kernel()
        buffers, begin, end = fn.args
        leaves: dict[Instruction, Leaf] = {
            inst: buffer_leaf(b, buffer.pointer(b, buffers), buffer.type) for inst, buffer in inputs.items()}
        out_pointers = [o.pointer(b, buffers) for o in outputs]
        elemental = Elemental(b, leaves)
        shape = tuple(shape)
        columns = shape[-1] if nested and shape else max(math.prod(shape), 1)
        outer_shape = shape[:-1] if nested and shape else ()
        first_row = b.udiv(begin, i64(columns))
        last_row = b.add(b.udiv(b.sub(end, i64(1)), i64(columns)), i64(1))
        with for_range(b, first_row, last_row, "row") as row:
            row_start = b.mul(row, i64(columns))
            low = b.sub(begin, row_start)
            high = b.sub(end, row_start)
            low = b.select(b.icmp_signed("<", low, i64(0)), i64(0), low)
            high = b.select(b.icmp_signed(">", high, i64(columns)), i64(columns), high)
            outer = delinearize(b, row, outer_shape) if outer_shape else []
            if nested and shape and per_row:
                kept = self._keep_row_values(b, elemental, reused, columns, row_start)
                row_index = Index(shape, dims=outer + [i64(0)])
                for inst in per_row:  # in program order: later ones may read earlier ones
                    value = elemental.value(inst, row_index)
                    elemental.leaves[inst] = (lambda v: lambda index: v)(value)
                    # A kept value is whole once the reduction computing it has run: later
                    # reductions and the column loop load it.
                    for kept_inst, row_buffer in kept.items():
                        if row_buffer.stored and kept_inst in elemental.taps:
                            del elemental.taps[kept_inst]
                            elemental.leaves[kept_inst] = row_buffer.load
                for inst in kept:
                    elemental.taps.pop(inst, None)  # the row pass did not need it after all

            def column_loop(first: ir.Value, stop: ir.Value) -> None:
                with for_range(b, first, stop, "col") as column:
                    linear = b.add(row_start, column)
                    index = Index(shape, dims=outer + [column], linear=linear) if nested and shape else (
                        Index(shape, linear=linear))
                    for pointer, buffer, value in zip(out_pointers, outputs, body(elemental, index)):
                        offset = linear if is_row_major(buffer.type) else element_offset(b, index, buffer.type)
                        target = element_ptr(b, pointer, offset if shape else i64(0), buffer.type.dtype)
                        store_element(b, value, target, buffer.type.dtype)

            if column_reduces:
                self._column_tiles(b, elemental, column_reduces, shape, outer, low, high, column_loop)
            else:
                column_loop(low, high)
        b.ret_void()
        return fn

    @staticmethod
    def _column_tiles(b: ir.IRBuilder, elemental: Elemental, reduces: Sequence[Instruction],
                      shape: tuple, outer: list, low: ir.Value, high: ir.Value,
                      column_loop: Callable[[ir.Value, ir.Value], None]) -> None:
        """For each tile of columns in [low, high): accumulate every reduction of ``reduces``
        for the tile (reduced positions outer, columns inner), then run the column loop."""
        steps = [ReduceStep(b, inst) for inst in reduces]
        widest = max(max(1, t.width // 8) if isinstance(t, ir.IntType) else (8 if t == ir.DoubleType() else 4)
                     for step in steps for t in step.accumulator_types())
        tile = max(1, min(shape[-1], COLUMN_TILE_BYTES // widest))
        accumulators = [[entry_alloca(b, ir.ArrayType(t, tile)) for t in step.accumulator_types()]
                        for step in steps]
        inits = [step.enter([elemental.scalar_operand(inst, step.count + i) for i in range(step.count)])
                 for inst, step in zip(reduces, steps)]
        tiles = b.udiv(b.add(b.sub(high, low), i64(tile - 1)), i64(tile))
        with for_range(b, i64(0), tiles, "tile") as number:
            first = b.add(low, b.mul(number, i64(tile)))
            stop = b.add(first, i64(tile))
            stop = b.select(b.icmp_signed(">", stop, high), high, stop)

            def slots(arrays: list, column: ir.Value) -> list:
                position = b.sub(column, first)
                return [b.gep(array, [i64(0), position], inbounds=True) for array in arrays]

            for inst, step, arrays, init in zip(reduces, steps, accumulators, inits):
                with for_range(b, first, stop, "acc.init") as column:
                    for slot, value in zip(slots(arrays, column), init):
                        b.store(value, slot)
                source_shape = inst.operands[0].type.shape
                count = math.prod(source_shape[d] for d in inst.attrs["dimensions"])
                with for_range(b, i64(0), i64(count), "r") as position:
                    with for_range(b, first, stop, "acc") as column:
                        source = reduce_input_indexer(elemental, inst, Index(shape, dims=outer + [column]))(position)
                        elements = step.enter([elemental.operand(inst, i, source) for i in range(step.count)])
                        places = slots(arrays, column)
                        current = [b.load(slot, typ=array.allocated_type.element)
                                   for slot, array in zip(places, arrays)]
                        for slot, value in zip(places, step.combine(current, elements)):
                            b.store(value, slot)
                elemental.leaves[inst] = (lambda step, arrays: lambda index: step.leave(
                    [b.load(slot, typ=array.allocated_type.element)
                     for slot, array in zip(slots(arrays, index.dims(b)[-1]), arrays)]))(step, arrays)
            column_loop(first, stop)

    @staticmethod
    def _keep_row_values(b: ir.IRBuilder, elemental: Elemental, reused: Sequence[Instruction],
                         columns: int, row_start: ir.Value) -> dict:
        kept = {}
        for inst in reused:
            t = register_type(inst.type.dtype)
            if columns * max(inst.type.dtype.bits // 8, 1) > ROW_BUFFER_BYTES:
                continue
            kept[inst] = row_buffer = _RowBuffer(b, entry_alloca(b, ir.ArrayType(t, columns)), row_start)
            elemental.taps[inst] = row_buffer.store
        return kept

    def gemm_kernel(self, inst: Instruction, lhs: Buffer, rhs: Buffer, out: Buffer,
                    transpose: tuple[bool, bool], by_rows: bool) -> ir.Function:
        """A kernel computing rows (or columns) [begin, end) of the dot's result, of every
        batch element, with one single-threaded BLAS call each: threads split the result as
        in any kernel (see ``gemm_by_rows``).

        OpenBLAS's own threads, next to ours on few cores, hand work over by spinning for
        ~0.1 s after a call, time-sliced against our threads: a training step took 8, 12 or
        16 ms (4 ms scheduler ticks) from one call to the next, and a row-split dot right
        after a threaded one ran at half speed.  So OpenBLAS runs single-threaded, always."""
        fn, b = self._new_kernel()
        buffers, begin, end = fn.args
        call_gemm(b, buffers, inst, lhs, rhs, out, transpose, begin, b.sub(end, begin), by_rows)
        b.ret_void()
        return fn

    def rows_then(self, rows: ir.Function, then: ir.Function, columns: int) -> ir.Function:
        """A kernel over rows [begin, end) that runs ``rows`` on them, then ``then`` (a loop
        kernel over elements) on the same rows' elements, while they are in cache."""
        fn, b = self._new_kernel()
        buffers, begin, end = fn.args
        b.call(rows, [buffers, begin, end])
        b.call(then, [buffers, b.mul(begin, i64(columns)), b.mul(end, i64(columns))])
        b.ret_void()
        return fn

    def run(self, b: ir.IRBuilder, buffers: ir.Value, kernel: ir.Function, size: int, work: int,
            parallel_work: int = PARALLEL_WORK) -> None:
        """Call ``kernel`` over [0, size) from the entry: directly, or on threads if it is big
        (``work`` at least ``parallel_work``)."""
        self.largest_work = max(self.largest_work, work)
        if self.threads > 1 and work >= parallel_work and size >= self.threads:
            if kernel not in self.parallel_kernels:
                self.parallel_kernels.append(kernel)
                # Reached from the worker threads and from the caller's own chunk: inlined,
                # its (vectorized, often long) body would be compiled twice.
                kernel.attributes.add("noinline")
            number = self.parallel_kernels.index(kernel)
            b.call(self._parallel_for(), [ir.Constant(I32, number), buffers, i64(size)])
        else:
            b.call(kernel, [buffers, i64(0), i64(size)])

    # -- native threads ---------------------------------------------------------------

    def _parallel_for(self) -> ir.Function:
        existing = self.module.globals.get("jf_parallel_for")
        if existing is not None:
            return existing
        fn = ir.Function(self.module, ir.FunctionType(ir.VoidType(), [I32, PTR, I64]), "jf_parallel_for")
        fn.linkage = "internal"
        return fn

    def finish(self) -> None:
        """Emit the thread fan-out once every parallel kernel is known: ``jf_parallel_for``
        hands [0, n) to the process's thread pool (``threads.py``) as one chunk per thread,
        each run through ``jf_dispatch``."""
        if not self.parallel_kernels:
            return
        dispatch = self._dispatch()
        fn = self._parallel_for()
        number, buffers, n = fn.args
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        pool_run = _declare(self.module, threads.RUN, ir.VoidType(), [PTR, I32, PTR, I64, I32])
        b.call(pool_run, [dispatch, number, buffers, n, ir.Constant(I32, self.threads)])
        b.ret_void()

    def _dispatch(self) -> ir.Function:
        """``jf_dispatch(number, buffers, begin, end)``: parallel kernel ``number`` over
        [begin, end), a switch of direct calls."""
        fn = ir.Function(self.module, ir.FunctionType(ir.VoidType(), [I32, PTR, I64, I64]), "jf_dispatch")
        fn.linkage = "internal"
        number, *args = fn.args
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        done = fn.append_basic_block("dispatched")
        switch = b.switch(number, done)
        for i, kernel in enumerate(self.parallel_kernels):
            block = fn.append_basic_block(f"kernel{i}")
            switch.add_case(ir.Constant(I32, i), block)
            b.position_at_end(block)
            b.call(kernel, args)
            b.branch(done)
        b.position_at_end(done)
        b.ret_void()
        return fn


class _RowBuffer:
    """One row of a value on the stack: stored where the row pass computes it, loaded by the
    column loop (positions are row offsets: linear index minus the row's start)."""

    def __init__(self, b: ir.IRBuilder, array: ir.Value, row_start: ir.Value) -> None:
        self.b = b
        self.array = array
        self.row_start = row_start
        self.stored = False

    def _slot(self, index: Index) -> ir.Value:
        column = self.b.sub(index.linear(self.b), self.row_start)
        return self.b.gep(self.array, [i64(0), column], inbounds=True)  # typed by the alloca

    def store(self, index: Index, value: object) -> None:
        self.b.store(value, self._slot(index))
        self.stored = True

    def load(self, index: Index) -> ir.Value:
        return self.b.load(self._slot(index), typ=self.array.allocated_type.element)


def column_reductions(scope: Sequence[Instruction], shape: Sequence[int]) -> list[Instruction]:
    """The reductions of ``scope`` (one kernel's instructions over loop ``shape``) that keep
    their input's minor dimension and are read only at the loop's current index: a column
    tile of them can be accumulated before the column loop (see ``_column_tiles``)."""
    shape = tuple(shape)
    if not shape:
        return []
    return [inst for inst in scope
            if inst.opcode == "reduce" and isinstance(inst.type, TensorType) and inst.type.shape == shape
            and inst.operands[0].type.rank - 1 not in inst.attrs["dimensions"]
            and read_only_at_loop_index(inst, scope, shape)]


def read_only_at_loop_index(inst: Instruction, scope: Sequence[Instruction], shape: Sequence[int]) -> bool:
    """Whether ``scope`` (one kernel's instructions over loop ``shape``) reads ``inst`` only at
    the loop's current index: every path from it to an output is elementwise at that shape."""
    members = set(scope)
    shape = tuple(shape)
    verdicts: dict[Instruction, bool] = {}

    def at_index(value: Instruction) -> bool:
        if value not in verdicts:
            verdicts[value] = all(
                user.opcode == "tuple" or (
                    user.opdef.has(Trait.ELEMENTWISE)
                    and isinstance(user.type, TensorType) and user.type.shape == shape and at_index(user))
                for user in value.users if user in members)
        return verdicts[value]

    return at_index(inst)


def _declare(module: ir.Module, name: str, result: ir.Type, args: list[ir.Type]) -> ir.Function:
    existing = module.globals.get(name)
    return existing if existing is not None else ir.Function(module, ir.FunctionType(result, args), name)


# -- dot through BLAS ------------------------------------------------------------------

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
# Below this many multiply-adds the generated loop beats the BLAS call's overhead.
BLAS_MIN_FLOPS = 16 ** 3
# Multiply-adds from which a dot's result is split across threads (~15 us on one core).
GEMM_PARALLEL_WORK = 1 << 20
# Rows per thread below which a dot with more columns than rows is split by columns.
GEMM_MIN_ROWS = 64


def blas_layout(inst: Instruction, lhs: TensorType | None = None,
                rhs: TensorType | None = None) -> tuple[bool, bool] | None:
    """(transpose lhs, transpose rhs) if both operand buffers (types ``lhs``/``rhs``, by default
    the operands' types) hold matrices (after the batch dims, which must be the most major)
    in some orientation; None if a copy into matrix order is needed first.  A column-major
    buffer is a row-major matrix of the transposed shape: BLAS reads it with a trans flag."""
    lhs = lhs if lhs is not None else inst.operands[0].type
    rhs = rhs if rhs is not None else inst.operands[1].type
    dims = DotDimensions.of(inst)
    lb, lc, lf = list(dims.lhs_batch), list(dims.lhs_contracting), list(dims.lhs_free)
    rb, rc, rf = list(dims.rhs_batch), list(dims.rhs_contracting), list(dims.rhs_free)
    # Dimensions in memory order, most major first.
    lhs_order, rhs_order = list(reversed(layout_of(lhs))), list(reversed(layout_of(rhs)))
    if lhs_order[:len(lb)] != lb or rhs_order[:len(rb)] != rb:
        return None
    lhs_rest = lhs_order[len(lb):]
    rhs_rest = rhs_order[len(rb):]
    if lhs_rest == lf + lc:
        transpose_lhs = False
    elif lhs_rest == lc + lf:
        transpose_lhs = True
    else:
        return None
    if rhs_rest == rc + rf:
        return transpose_lhs, False
    if rhs_rest == rf + rc:
        return transpose_lhs, True
    return None


def wants_blas(inst: Instruction) -> bool:
    """f32/f64 dots of useful size whose result type is the operand type go to BLAS."""
    dtype = inst.operands[0].type.dtype
    if dtype not in (DType.F32, DType.F64) or inst.type.dtype is not dtype:
        return False
    batch, m, n, k = dot_sizes(inst)
    return min(m, n, k, batch) > 0 and m * n * k >= BLAS_MIN_FLOPS and max(m, n, k) < 2 ** 31


def gemm_by_rows(inst: Instruction, threads: int) -> bool:
    """Whether threads split a dot's result by rows (else by columns): by rows unless there
    are too few for every thread to get a useful block while the columns are many (a thread
    then streams only its share of B instead of all of it)."""
    _, m, n, _ = dot_sizes(inst)
    return m >= n or m >= GEMM_MIN_ROWS * threads


def call_gemm(b: ir.IRBuilder, buffers: ir.Value, inst: Instruction, lhs: Buffer, rhs: Buffer,
              out: Buffer, transpose: tuple[bool, bool], first: ir.Value, count: ir.Value,
              by_rows: bool = True) -> None:
    """One cblas_?gemm per batch element: rows (or columns) [first, first + count) of
    C = A @ B, with transposes as flags."""
    dtype = inst.type.dtype
    t = ir.FloatType() if dtype is DType.F32 else ir.DoubleType()
    name = "scipy_cblas_sgemm" if dtype is DType.F32 else "scipy_cblas_dgemm"
    gemm = _declare(b.module, name, ir.VoidType(),
                    [I32, I32, I32, I32, I32, I32, t, PTR, I32, PTR, I32, t, PTR, I32])
    batch, m, n, k = dot_sizes(inst)
    ta, tb = transpose
    lda = m if ta else k
    ldb = k if tb else n
    a_base, b_base, c_base = (x.pointer(b, buffers) for x in (lhs, rhs, out))
    c32 = lambda v: ir.Constant(I32, v)  # noqa: E731
    zero = i64(0)
    if by_rows:
        # Row r of A starts at r * k, or (stored transposed) at column r; row r of C at r * n.
        a_skip, b_skip = first if ta else b.mul(first, i64(k)), zero
        c_skip = b.mul(first, i64(n))
        rows, columns = b.trunc(count, I32), c32(n)
    else:
        # Column j of B starts at j, or (stored transposed) at row j * k; column j of C at j.
        a_skip, b_skip = zero, b.mul(first, i64(k)) if tb else first
        c_skip = first
        rows, columns = c32(m), b.trunc(count, I32)
    with for_range(b, i64(0), i64(batch), "batch") as index:
        a = element_ptr(b, a_base, b.add(b.mul(index, i64(m * k)), a_skip), dtype)
        bb = element_ptr(b, b_base, b.add(b.mul(index, i64(k * n)), b_skip), dtype)
        c = element_ptr(b, c_base, b.add(b.mul(index, i64(m * n)), c_skip), dtype)
        b.call(gemm, [c32(ROW_MAJOR), c32(TRANS if ta else NO_TRANS), c32(TRANS if tb else NO_TRANS),
                      rows, columns, c32(k), ir.Constant(t, 1.0), a, c32(lda), bb, c32(ldb),
                      ir.Constant(t, 0.0), c, c32(n)])


def matrix_order(inst: Instruction, operand: int) -> list[int]:
    """The transpose permutation putting an operand in (batch, free, contracting) order for the
    lhs, (batch, contracting, free) for the rhs."""
    t = inst.operands[operand].type
    side = "lhs" if operand == 0 else "rhs"
    batch = list(inst.attrs[f"{side}_batch_dims"])
    contracting = list(inst.attrs[f"{side}_contracting_dims"])
    free = [d for d in range(t.rank) if d not in batch + contracting]
    return batch + (free + contracting if operand == 0 else contracting + free)


def permuted(t: TensorType, permutation: Sequence[int]) -> TensorType:
    return TensorType(t.dtype, tuple(t.shape[d] for d in permutation))
