"""CUDA kernels: one ``__global__`` function per fusion (or per unfused array instruction).

Two shapes of kernel:

* **elementwise** (no reduction, or reductions that are not row-shaped): a
  grid-stride loop, one output element per thread per step, unrolled four times
  when the body has no inner loop so that several independent loads are in flight
  (pointers are ``__restrict__``, so the compiler may hoist them); reductions in
  such a body are inline loops over the reduced elements (column reductions read
  coalesced: neighbouring threads own neighbouring outputs).
* **rows**: every reduction of the kernel reduces the trailing dimensions of its
  input and all keep the same number of rows, and every output starts with those
  rows (``sum(x, axis=-1)``, softmax, layernorm).  One thread block owns a row at a
  time: each reduction is a strided pass over the row by all threads, combined with
  warp shuffles and one shared-memory exchange, after which every thread holds the
  result; then the outputs of the row are written.  Inputs re-read in later passes
  of the same row come from L1/L2, so DRAM sees each row about once.

The launch grid is chosen at run time from the device's properties (``runtime/cuda.py``);
the block size is part of the source (``__launch_bounds__``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ...ir import DType, Instruction, TensorType, Trait
from ...ir.analysis.reducers import single_op_reducer
from ...ir.analysis.rows import trailing_rows
from ..errors import UnsupportedOpError
from .cstyle import HALVES, CStyleRenderer, c_identifier
from .elemental import CEmitter, Index, compute_dtype

ELEMENTWISE_BLOCK = 256
UNROLL = 4
# Elements per thread and step of a vectorized elementwise kernel (16-byte accesses of
# 4-byte elements), and the CUDA vector types that carry them.
VECTOR = 4
_VECTOR_TYPES = {DType.F32: ("float4", "make_float4"), DType.S32: ("int4", "make_int4"),
                 DType.U32: ("uint4", "make_uint4")}
_LANES = "xyzw"
# Rows shorter than this are reduced by one thread each (an elementwise kernel).
MIN_ROW_FOR_BLOCKS = 32
# Elements each thread handles per pass over a row, when choosing the block size.
ROW_ITEMS_PER_THREAD = 16
# Rows up to this many elements per thread are kept in registers between passes.
MAX_ROW_ITEMS = 16

# Block-level combination used by row kernels: a butterfly of warp shuffles, then the
# per-warp partials through shared memory, read back by every thread (at most 32 of
# them: cheaper than a second shuffle round plus a broadcast).
ROW_HELPERS = r"""
struct JfAdd { template <typename T> __device__ __forceinline__ T operator()(T a, T b) const { return a + b; } };
struct JfMul { template <typename T> __device__ __forceinline__ T operator()(T a, T b) const { return a * b; } };
struct JfMax { template <typename T> __device__ __forceinline__ T operator()(T a, T b) const { return jf_fmax<T>(a, b); } };
struct JfMin { template <typename T> __device__ __forceinline__ T operator()(T a, T b) const { return jf_fmin<T>(a, b); } };
struct JfAnd { template <typename T> __device__ __forceinline__ T operator()(T a, T b) const { return a & b; } };
struct JfOr { template <typename T> __device__ __forceinline__ T operator()(T a, T b) const { return a | b; } };
struct JfXor { template <typename T> __device__ __forceinline__ T operator()(T a, T b) const { return a ^ b; } };
template <typename T, typename Op>
__device__ __forceinline__ T jf_block_reduce(T v, Op op, unsigned long long* smem) {
  #pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
  T* partial = reinterpret_cast<T*>(smem);
  const int warps = (int)(blockDim.x >> 5);
  __syncthreads();  // the previous reduction's readers are done with the scratch space
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = v;
  __syncthreads();
  v = partial[0];
  for (int w = 1; w < warps; ++w) v = op(v, partial[w]);
  return v;
}
"""

_FUNCTORS = {"add": "JfAdd", "multiply": "JfMul", "maximum": "JfMax", "minimum": "JfMin",
             "and": "JfAnd", "or": "JfOr", "xor": "JfXor"}


@dataclass
class Kernel:
    """One generated ``__global__`` function and how to launch it."""

    name: str
    source: str
    inputs: list[TensorType]
    outputs: list[TensorType]
    kind: str  # "elementwise" or "rows"
    work: int  # elementwise: the largest output size; rows: the number of rows
    block: int
    unroll: int
    vector: bool = False  # 16-byte loads and stores: the runtime passes 16-byte-aligned inputs


def index_type(types: Sequence[TensorType]) -> str:
    """32-bit index arithmetic when every array (and the grid-stride overshoot) fits."""
    largest = max((t.size for t in types), default=1)
    return "int" if largest * 2 + ELEMENTWISE_BLOCK * UNROLL * 65536 < 2 ** 31 else "long long"


def row_plan(scope: Sequence[Instruction], outputs: Sequence[TensorType]) -> tuple[int, list[int], int] | None:
    """(rows, split point of each output, longest row) when a row kernel fits, else None:
    the reductions share their rows, and the rows are long enough for a block each."""
    rows = trailing_rows(scope, outputs)
    if rows is None or rows.longest < MIN_ROW_FOR_BLOCKS or rows.rows == 0:
        return None
    return rows.rows, list(rows.splits), rows.longest


class KernelBuilder:
    """Generates kernels into one translation unit (shared constants, unique names)."""

    def __init__(self, renderer: CStyleRenderer, prefix: str) -> None:
        self.renderer = renderer
        self.prefix = prefix
        self.constants: dict[str, str] = {}
        self.kernels: list[Kernel] = []
        self.uses_rows = False

    def build(self, label: str, scope: Sequence[Instruction], leaves: Sequence[Instruction],
              outputs: Sequence[Instruction]) -> Kernel:
        """A kernel computing ``outputs`` from buffers of ``leaves``; ``scope`` is everything
        generated inside it (used to choose the kernel's shape)."""
        name = f"{self.prefix}_k{len(self.kernels)}_{c_identifier(label)}"[:120]
        in_types = [leaf.type for leaf in leaves]
        out_types = [o.type for o in outputs]
        itype = index_type(in_types + out_types + [i.type for i in scope if isinstance(i.type, TensorType)])
        emitter = CEmitter(self.renderer, {}, itype, self.constants, self.prefix)
        for number, leaf in enumerate(leaves):
            emitter.leaves[leaf] = emitter.buffer_leaf(f"in{number}", leaf.type)
        emitter.leaves_in_order = list(leaves)
        plan = row_plan(scope, out_types)
        if plan is not None:
            kind, block, unroll = "rows", _row_block(plan[2]), 1
            work = plan[0]
            self._rows(emitter, scope, outputs, plan, block)
            self.uses_rows = True
            vector = self.row_vector
        else:
            loops = any(i.opdef.has(Trait.LOOP_PER_ELEMENT) for i in scope)
            kind, block, unroll = "elementwise", ELEMENTWISE_BLOCK, 1 if loops else UNROLL
            work = max((t.size for t in out_types), default=0)
            vector = not loops and _vectorizable(leaves, out_types)
            if vector:
                unroll = VECTOR
                self._vectorized(emitter, leaves, outputs)
            else:
                self._elementwise(emitter, outputs, unroll)
        r = self.renderer
        params = [f"const {r.storage(t.dtype)}* __restrict__ in{n}" for n, t in enumerate(in_types)]
        params += [f"{r.storage(t.dtype)}* __restrict__ out{n}" for n, t in enumerate(out_types)]
        header = (f'extern "C" __global__ void __launch_bounds__({block}) '
                  f"{name}({', '.join(params)})")
        source = header + " {\n" + "\n".join(emitter.lines) + "\n}\n"
        kernel = Kernel(name, source, in_types, out_types, kind, work, block, unroll, vector)
        self.kernels.append(kernel)
        return kernel

    def _store(self, e: CEmitter, number: int, inst: Instruction, offset: str, value: object) -> None:
        if isinstance(value, list):  # callers pass array elements; a nested tuple lands here
            raise UnsupportedOpError(f"the cuda backend cannot store the nested tuple {inst.describe()}")
        e.emit(f"out{number}[{offset}] = {self.renderer.store_value(inst.type.dtype, value)};")

    def _elementwise(self, e: CEmitter, outputs: Sequence[Instruction], unroll: int) -> None:
        by_size: dict[tuple, list[int]] = {}
        for number, inst in enumerate(outputs):
            if inst.type.size:
                by_size.setdefault(inst.type.shape, []).append(number)
        step = ELEMENTWISE_BLOCK * unroll
        it = e.itype
        for shape, numbers in by_size.items():
            size = math.prod(shape)
            with e.block(f"for ({it} base = ({it})blockIdx.x * {step} + threadIdx.x; base < {size}; "
                         f"base += ({it})gridDim.x * {step})"):
                body = e.block(f"for (int u = 0; u < {unroll}; ++u)")
                if unroll > 1:
                    e.emit("#pragma unroll")
                with body:
                    e.emit(f"const {it} i = base + u * {ELEMENTWISE_BLOCK};")
                    with e.block(f"if (i < {size})"):
                        index = Index(shape, linear="i")
                        for number in numbers:
                            self._store(e, number, outputs[number], "i", e.value(outputs[number], index))

    def _vectorized(self, e: CEmitter, leaves: Sequence[Instruction], outputs: Sequence[Instruction]) -> None:
        """Each thread computes VECTOR consecutive elements per step: inputs of 4-byte
        elements read at those positions arrive in one 16-byte load, 4-byte outputs leave in
        one 16-byte store (LDG.128/STG.128: fewer memory instructions in flight per byte)."""
        shape = outputs[0].type.shape
        vectors = math.prod(shape) // VECTOR
        it = e.itype
        lanes = {f"i{v}": v for v in range(VECTOR)}
        loaded: set[int] = set()
        with e.block(f"for ({it} iv = ({it})blockIdx.x * {ELEMENTWISE_BLOCK} + threadIdx.x; iv < {vectors}; "
                     f"iv += ({it})gridDim.x * {ELEMENTWISE_BLOCK})"):
            prologue = len(e.lines)
            for number, leaf in enumerate(leaves):
                if leaf.type.dtype not in _VECTOR_TYPES:
                    continue
                scalar = e.leaves[leaf]

                def load(index: Index, number=number, leaf=leaf, scalar=scalar) -> str:
                    lane = lanes.get(e.key(index))
                    if lane is None:
                        return scalar(index)
                    vector_type = _VECTOR_TYPES[leaf.type.dtype][0]
                    if number not in loaded:
                        loaded.add(number)
                        e.lines.insert(prologue, "  " * e.depth + f"const {vector_type} vin{number} = "
                                       f"reinterpret_cast<const {vector_type}*>(in{number})[iv];")
                    return f"vin{number}.{_LANES[lane]}"
                e.leaves[leaf] = load
            for v in range(VECTOR):
                e.emit(f"const {it} i{v} = iv * {VECTOR} + {v};")
            values = [[e.value(out, Index(shape, linear=f"i{v}")) for v in range(VECTOR)] for out in outputs]
            for number, (out, lanes_values) in enumerate(zip(outputs, values)):
                dtype = out.type.dtype
                if dtype in _VECTOR_TYPES:
                    vector_type, make = _VECTOR_TYPES[dtype]
                    e.emit(f"reinterpret_cast<{vector_type}*>(out{number})[iv] = {make}({', '.join(lanes_values)});")
                else:
                    for v, value in enumerate(lanes_values):
                        self._store(e, number, out, f"i{v}", value)

    def _rows(self, e: CEmitter, scope: Sequence[Instruction], outputs: Sequence[Instruction],
              plan: tuple[int, list[int], int], block: int) -> None:
        rows, splits, longest = plan
        r = self.renderer
        it = e.itype
        e.emit("__shared__ unsigned long long jf_smem[32];")
        row_dims: dict[tuple, list[str]] = {}
        # Passes over a row of the common length run as unrolled loops of ITEMS steps, so
        # an input row read by several passes is loaded once into a register array.
        items = -(-longest // block)
        cached = items <= MAX_ROW_ITEMS
        # Vector rows: each thread owns groups of VECTOR consecutive positions, moved with
        # 16-byte loads and stores (a row starts 16-byte aligned when its length is a
        # multiple of VECTOR).
        vector = self.row_vector = cached and longest % VECTOR == 0 and items % VECTOR == 0
        width = VECTOR if vector else 1
        position = (f"(threadIdx.x + (it / {VECTOR}) * {block}) * {VECTOR} + it % {VECTOR}" if vector
                    else f"threadIdx.x + it * {block}")
        registers: set[int] = set()
        inside_cached_pass = [False]

        def row_index(shape: tuple) -> Index:
            """The current row as an index of an array of ``shape`` (product ``rows``)."""
            if shape not in row_dims:
                row_dims[shape] = e.dims(Index(shape, linear="row"))
            return Index(shape, row_dims[shape], "row" if shape else "0")

        def row_pass(length: int):
            """A loop over the row's positions ``k`` (the element is at ``lrow``)."""
            inside_cached_pass[0] = cached and length == longest
            if inside_cached_pass[0]:
                e.emit("#pragma unroll")
                header = e.block(f"for (int it = 0; it < {items}; ++it)")
                return _Pass(e, header, f"const {it} k = {position};",
                             None if length % (block * width) == 0 else f"if (k < {length})",
                             f"const {it} lrow = row * {length} + k;")
            return _Pass(e, e.loop("k", "threadIdx.x", str(length), str(block)), None, None,
                         f"const {it} lrow = row * {length} + k;")

        with e.block(f"for ({it} row = blockIdx.x; row < {rows}; row += gridDim.x)"):
            prologue, row_depth = len(e.lines), e.depth
            if cached:
                for number, leaf in enumerate(e.leaves_in_order):
                    scalar = e.leaves[leaf]

                    def load(index: Index, number=number, leaf=leaf, scalar=scalar) -> str:
                        if e.key(index) != "lrow" or not inside_cached_pass[0]:
                            return scalar(index)
                        if number not in registers:
                            registers.add(number)
                            reg = r.register(leaf.type.dtype)
                            pad = "  " * row_depth
                            if vector and leaf.type.dtype in _VECTOR_TYPES:
                                vt = _VECTOR_TYPES[leaf.type.dtype][0]
                                moves = " ".join(f"rc{number}[{VECTOR} * g + {n}] = t.{_LANES[n]};"
                                                 for n in range(VECTOR))
                                fill = [
                                    f"{pad}for (int g = 0; g < {items // VECTOR}; ++g) {{",
                                    f"{pad}  const {it} k = (threadIdx.x + g * {block}) * {VECTOR};",
                                    f"{pad}  const {vt} t = k < {longest} ? reinterpret_cast<const {vt}*>"
                                    f"(in{number} + row * {longest})[threadIdx.x + g * {block}] : {vt}{{}};",
                                    f"{pad}  {moves}",
                                    f"{pad}}}"]
                            else:
                                value = r.load(leaf.type.dtype, f"in{number}[row * {longest} + k]")
                                fill = [
                                    f"{pad}for (int it = 0; it < {items}; ++it) {{",
                                    f"{pad}  const {it} k = {position};",
                                    f"{pad}  rc{number}[it] = k < {longest} ? {value} : ({reg})0;",
                                    f"{pad}}}"]
                            e.lines[prologue:prologue] = [f"{pad}{reg} rc{number}[{items}];",
                                                          f"{pad}#pragma unroll"] + fill
                        return f"rc{number}[it]"
                    e.leaves[leaf] = load
            for inst in (i for i in scope if i.opcode == "reduce"):
                shape = inst.operands[0].type.shape
                reduced = len(inst.attrs["dimensions"])
                kept, lanes = shape[:len(shape) - reduced], shape[len(shape) - reduced:]
                dtype = inst.type.dtype
                op = single_op_reducer(inst.called[0])
                acc_type, identity = _accumulator(r, op, dtype)
                init = e.value(inst.operands[1], Index.scalar())
                acc = e.mutable(acc_type, f"threadIdx.x == 0 ? ({acc_type}){init} : {identity}")
                kept_index = row_index(kept)
                with row_pass(math.prod(lanes)):
                    dims = list(kept_index.dims) + e.dims(Index(lanes, linear="k"))
                    element = e.operand(inst, 0, Index(shape, dims, "lrow"))
                    e.emit(f"{acc} = {_FUNCTORS[op]}()({acc}, ({acc_type}){element});")
                total = e.var(acc_type, f"jf_block_reduce<{acc_type}>({acc}, {_FUNCTORS[op]}(), jf_smem)")
                e.precomputed[(inst, e.key(kept_index))] = e.var(r.register(dtype), _leave(r, dtype, total))
            for number, (inst, split) in enumerate(zip(outputs, splits)):
                shape = inst.type.shape
                if not inst.type.size:
                    continue
                lead, tail = shape[:split], shape[split:]
                columns = math.prod(tail)
                lead_index = row_index(lead)
                if columns == 1:
                    with e.block("if (threadIdx.x == 0)"):
                        index = Index(shape, list(lead_index.dims) + ["0"] * len(tail), "row")
                        self._store(e, number, inst, "row", e.value(inst, index))
                    continue
                staged = vector and columns == longest and inst.type.dtype in _VECTOR_TYPES
                if staged:  # the pass fills registers, then 16-byte stores write them
                    e.emit(f"{r.register(inst.type.dtype)} ro{number}[{items}];")
                with row_pass(columns):
                    dims = list(lead_index.dims) + e.dims(Index(tail, linear="k"))
                    value = e.value(inst, Index(shape, dims, "lrow"))
                    if staged:
                        e.emit(f"ro{number}[it] = {value};")
                    else:
                        self._store(e, number, inst, "lrow", value)
                if staged:
                    vt, make = _VECTOR_TYPES[inst.type.dtype]
                    parts = ", ".join(f"ro{number}[{VECTOR} * g + {n}]" for n in range(VECTOR))
                    e.emit("#pragma unroll")
                    with e.block(f"for (int g = 0; g < {items // VECTOR}; ++g)"):
                        e.emit(f"const {it} k = (threadIdx.x + g * {block}) * {VECTOR};")
                        with e.block(f"if (k < {longest})"):
                            e.emit(f"reinterpret_cast<{vt}*>(out{number} + row * {longest})"
                                   f"[threadIdx.x + g * {block}] = {make}({parts});")


class _Pass:
    """Enters a row pass: the loop, the position ``k``, an optional bound check, ``lrow``."""

    def __init__(self, e: CEmitter, loop, position: str | None, guard: str | None, linear: str) -> None:
        self.e, self.loop, self.position, self.guard, self.linear = e, loop, position, guard, linear
        self.inner = None

    def __enter__(self) -> None:
        self.loop.__enter__()
        if self.position:
            self.e.emit(self.position)
        if self.guard:
            self.inner = self.e.block(self.guard)
            self.inner.__enter__()
        self.e.emit(self.linear)

    def __exit__(self, *exc) -> None:
        if self.inner is not None:
            self.inner.__exit__(*exc)
        self.loop.__exit__(*exc)


def _vectorizable(leaves: Sequence[Instruction], outputs: Sequence[TensorType]) -> bool:
    """One output shape whose size is a multiple of VECTOR, and 16-byte accesses to gain."""
    shapes = {t.shape for t in outputs}
    if len(shapes) != 1 or not outputs[0].size or outputs[0].size % VECTOR:
        return False
    return any(t.dtype in _VECTOR_TYPES for t in list(outputs) + [leaf.type for leaf in leaves])


def _row_block(longest: int) -> int:
    wanted = -(-longest // ROW_ITEMS_PER_THREAD)
    return int(min(1024, max(32, 1 << max(0, (wanted - 1).bit_length()))))


def _accumulator(r: CStyleRenderer, op: str, dtype: DType) -> tuple[str, str]:
    """The type a row reduction accumulates (and shuffles) in, and the op's identity in it."""
    if dtype.is_float:
        work = compute_dtype(dtype)
        identity = {"add": 0.0, "multiply": 1.0, "maximum": -np.inf, "minimum": np.inf}[op]
        return r.register(work), r.literal(work, identity)
    wide_bits = 64 if dtype.bits == 64 else 32
    # An integer maximum starts from the type's least value, a minimum from its greatest.
    bound = {"maximum": "min", "minimum": "max"}.get(op)
    if bound is not None and dtype is not DType.PRED:
        acc_dtype = DType(f"{'s' if dtype.is_signed_int else 'u'}{wide_bits}")
        identity = getattr(np.iinfo(dtype.numpy), bound)
        return r.storage(acc_dtype), r.literal(acc_dtype, identity)
    acc = r.unsigned(wide_bits)
    identity = {"add": 0, "multiply": 1, "or": 0, "xor": 0, "and": -1,
                "maximum": 0, "minimum": 1}[op]
    return acc, f"(({acc}){identity})"


def _leave(r: CStyleRenderer, dtype: DType, acc: str) -> str:
    if dtype in HALVES:
        return r.round_to(dtype, acc)
    if dtype is DType.PRED:
        return f"({acc} != 0)"
    if dtype.is_float:
        return acc
    return f"(({r.storage(dtype)}){acc})"
