"""The index maps (``ir/analysis/index_maps.py``) checked without any backend.

``NumpyAlgebra`` implements the maps' value interface with NumPy arrays that hold a
value for every output position at once, so evaluating an op's description yields
its whole result.  For every structural op in the op corpus that result must equal
the interpreter's, and the positions it reads must agree with what ``OperandReads``
(the symbolic reading that the fusion pass asks) claims: no claimed "read once" or
"read at the output index" that the concrete reads contradict.
"""

from __future__ import annotations

import operator
from collections import defaultdict

import numpy as np
import pytest

import op_cases
from codegen_util import TOLERANCE, assert_same
from jitflow.ir import DType, Instruction, TensorType, TupleType, parse_module
from jitflow.ir.analysis.index_maps import READS, OperandReads, description
from jitflow.ir.interpreter import Interpreter, coerce_argument
from jitflow.ir.types import leaf_types
from jitflow.passes import PassManager

_COMPARE = {"<": operator.lt, ">": operator.gt, "<=": operator.le, ">=": operator.ge,
            "==": operator.eq, "!=": operator.ne}
# Ops whose clamped reads the symbolic reading counts as re-reads even where the clamp
# never changes an index (no padding, an update as large as the operand).
_CAUTIOUS = {"pad", "dynamic-update-slice"}


class Positions:
    """An index of an array of ``shape`` at every output position: int64 vectors (or scalars)."""

    def __init__(self, shape, dims=None, linear=None):
        self.shape = tuple(shape)
        self.dims_ = list(dims) if dims is not None else None
        self.linear_ = linear
        if not self.shape:
            self.dims_ = []
            self.linear_ = np.int64(0) if linear is None else linear


class NumpyAlgebra:
    """The index algebra over NumPy vectors with one entry per output position.

    Reads go to ``leaves`` (instruction -> function of a ``Positions``) or, for the
    instructions of a called computation, to their descriptions; every read is logged
    with the linear offsets it touched."""

    def __init__(self, count: int, leaves: dict, log: defaultdict | None = None) -> None:
        self.count = count
        self.leaves = leaves
        self.log = log if log is not None else defaultdict(list)

    def constant(self, value):
        return np.int64(value)

    def add(self, a, b):
        return a + b

    def sub(self, a, b):
        return a - b

    def mul(self, a, b):
        return a * b

    def div(self, a, b):
        quotient = np.abs(a) // np.abs(b)
        return np.where((a < 0) != (b < 0), -quotient, quotient)

    def rem(self, a, b):
        return a - b * self.div(a, b)

    def compare(self, direction, a, b, unsigned=False):
        if unsigned:
            a, b = np.asarray(a).astype(np.uint64), np.asarray(b).astype(np.uint64)
        return _COMPARE[direction](a, b)

    def and_(self, a, b):
        return a & b

    def select(self, predicate, on_true, on_false):
        return np.where(predicate, on_true, on_false)

    def clamp(self, value, low, high):
        return np.clip(value, low, high)

    def index(self, shape, dims=None, linear=None):
        return Positions(shape, dims, linear)

    def dims(self, index):
        if index.dims_ is None:
            index.dims_ = list(np.unravel_index(index.linear_, index.shape))
        return index.dims_

    def linear(self, index):
        if index.linear_ is None:
            dims = np.broadcast_arrays(*index.dims_)
            index.linear_ = np.ravel_multi_index(dims, index.shape)
        return index.linear_

    def operand(self, inst, number, index):
        return self.value(inst.operands[number], index, (inst, number))

    def value(self, inst: Instruction, index: Positions, reader=None):
        if reader is not None and isinstance(inst.type, TensorType):
            self.log[reader].append(np.broadcast_to(self.linear(index), (self.count,)))
        leaf = self.leaves.get(inst)
        if leaf is not None:
            return leaf(index)
        if inst.opcode == "constant":
            literal = np.asarray(inst.attrs["literal"], dtype=inst.type.dtype.numpy)
            return self._spread(literal.reshape(-1)[self.linear(index)])
        if inst.opcode == "iota":
            position = self.dims(index)[inst.attrs["iota_dimension"]]
            return self._spread(np.asarray(position).astype(inst.type.dtype.numpy))
        return description(inst.opcode)(self, inst, index)

    def _spread(self, values):
        return np.broadcast_to(values, (self.count,)) if np.ndim(values) == 0 else values

    def to_index(self, value, dtype):
        return np.asarray(value).astype(np.int64)

    def apply(self, inst, args):
        with np.errstate(all="ignore"):
            result = inst.opdef.evaluate(inst, [self._spread(np.asarray(a)) for a in args], None)
        return np.asarray(result).reshape(-1)  # some evaluations give the result's own shape

    def split_bits(self, inst, wide, part):
        source, target = inst.operands[0].type.dtype, inst.type.dtype
        bits = wide.view(f"u{source.bits // 8}").astype(np.uint64)
        narrow = (bits >> (part.astype(np.uint64) * np.uint64(target.bits))) & np.uint64((1 << target.bits) - 1)
        return narrow.astype(f"u{target.bits // 8}").view(target.numpy)

    def join_bits(self, inst, parts):
        source, target = inst.operands[0].type.dtype, inst.type.dtype
        whole = np.zeros(self.count, np.uint64)
        for j, part in enumerate(parts):
            bits = np.asarray(part).view(f"u{source.bits // 8}").astype(np.uint64)
            whole |= bits << np.uint64(j * source.bits)
        return whole.astype(f"u{target.bits // 8}").view(target.numpy)

    def call(self, computation, arguments, index):
        leaves = {p: arguments[p.attrs["parameter_number"]] for p in computation.parameters}
        return NumpyAlgebra(self.count, leaves, self.log).value(computation.root, index)

    def fold(self, inst, inits, count, elements):
        accumulators = [self._spread(np.asarray(v)) for v in inits]
        reducer = inst.called[0]
        for position in range(count):
            values = accumulators + [self._spread(np.asarray(v)) for v in elements(np.int64(position))]
            bound = {p: _constant_leaf(values[p.attrs["parameter_number"]]) for p in reducer.parameters}
            result = NumpyAlgebra(self.count, bound).value(reducer.root, Positions(()))
            accumulators = result if isinstance(result, list) else [result]
        return accumulators if len(accumulators) > 1 else accumulators[0]

    def sum_of_products(self, inst, count, factors):
        dtype = inst.type.dtype
        work = np.float32 if dtype in (DType.F16, DType.BF16) else dtype.numpy
        total = np.zeros(self.count, work)
        with np.errstate(all="ignore"):
            for position in range(count):
                x, y = factors(np.int64(position))
                total = total + np.asarray(x).astype(work) * np.asarray(y).astype(work)
            return total.astype(dtype.numpy)


def _constant_leaf(value):
    return lambda index: value


def _values(module, inputs) -> dict:
    """Every instruction's value in the entry computation, by the interpreter."""
    interpreter = Interpreter(module)
    entry = module.entry
    env = {p: coerce_argument(v, p.type, p.name) for p, v in zip(entry.parameters, inputs)}
    for inst in entry.instructions:
        if inst.opcode != "parameter":
            env[inst] = inst.opdef.evaluate(inst, [env[o] for o in inst.operands], interpreter.call)
    return env


def _leaf(value):
    def read(index: Positions):
        if isinstance(value, tuple):
            return [_leaf(v)(index) for v in value]
        array = np.asarray(value)
        linear = 0 if not array.shape else NumpyAlgebra(0, {}).linear(index)
        return array.reshape(-1)[linear]
    return read


def _as_result(value, t, count):
    if isinstance(t, TupleType):
        return tuple(_as_result(v, e, count) for v, e in zip(value, t.elements))
    return np.broadcast_to(np.asarray(value), (count,)).astype(t.dtype.numpy).reshape(t.shape)


def _structural(case):
    module = case.build()
    if any(i.opcode == "custom-call" for i in module.instructions()):
        return []
    return [i for i in module.entry.instructions if i.opcode in READS]


CASES = [case for case in op_cases.CASES
         if case.raises is None and case.setup is None and not case.id.endswith("@colmajor")]
STRUCTURAL_CASES = [case for case in CASES if _structural(case)]


def _testable(inst) -> bool:
    """Tuples are read at one index for all their elements: only where those agree in shape."""
    types = [inst.type] + [o.type for o in inst.operands]
    shapes = {leaf.shape for t in types if isinstance(t, TupleType) for leaf in leaf_types(t)}
    return len(shapes) <= 1 and (isinstance(inst.type, TensorType) or bool(shapes))


@pytest.mark.parametrize("case", STRUCTURAL_CASES, ids=lambda case: case.id)
def test_descriptions_compute_what_the_interpreter_computes(case):
    module = case.build()
    env = _values(module, case.inputs)
    for inst in [i for i in module.entry.instructions if i.opcode in READS and _testable(i)]:
        t = inst.type
        shape = leaf_types(t)[0].shape
        count = int(np.prod(shape))
        if count == 0:
            continue
        leaves = {o: _leaf(env[o]) for o in inst.operands}
        algebra = NumpyAlgebra(count, leaves)
        out = Positions(shape, list(np.unravel_index(np.arange(count), shape)) if shape else [], np.arange(count))
        got = _as_result(description(inst.opcode)(algebra, inst, out), t, count)
        floats = any(leaf.dtype.is_float for leaf in leaf_types(t))
        rtol = max(case.rtol, max(TOLERANCE.values())) if floats and inst.opcode in ("reduce", "dot") else 0.0
        assert_same(got, env[inst], rtol, f"{case.id}: {inst.opcode}")
        _check_symbolic_reads(inst, algebra.log, count)


def _check_symbolic_reads(inst, log, count) -> None:
    """What ``OperandReads`` claims holds for the concrete reads logged at every position."""
    claims = OperandReads(inst)
    for operand in dict.fromkeys(inst.operands):
        numbers = {n for n, o in enumerate(inst.operands) if o is operand}
        # The same read through two operand slots is one evaluation (emitters cache it).
        offsets = list({o.tobytes(): o for (reader, n), reads in log.items()
                        if reader is inst and n in numbers for o in reads}.values())
        if not offsets or not isinstance(operand.type, TensorType):
            continue
        every = np.concatenate(offsets)
        reread = len(np.unique(every)) < len(every)
        where = f"{inst.opcode} reading %{operand.name}"
        if reread:
            assert claims.rereads(operand), f"{where}: read more than once, claimed once"
        elif inst.opcode not in _CAUTIOUS and inst.opcode not in ("call", "fusion"):
            assert not claims.rereads(operand), f"{where}: read once, claimed re-read"
        at_output = operand.type.shape == leaf_types(inst.type)[0].shape and all(
            np.array_equal(o, np.arange(count)) for o in offsets)
        if claims.only_at_output_index(operand):
            assert at_output, f"{where}: claimed read at the output index only"


def test_every_described_op_is_in_the_corpus():
    seen = {i.opcode for case in STRUCTURAL_CASES for i in _structural(case)}
    assert set(READS) - seen == set()


FUSIBLE_READERS = """
HloModule readers
ENTRY main {
  x = f32[8,16] parameter(0)
  e = f32[8,16] exponential(x)
  z = f32[] constant(0)
  p = f32[10,16] pad(e, z), padding=1_1x0_0
  q = f32[10,16] add(p, p)
  y = f32[8,16] parameter(1)
  f = f32[8,16] exponential(y)
  r = f32[8,16] reverse(f), dimensions={0}
  s = f32[8,16] negate(r)
  ROOT t = (f32[10,16], f32[8,16]) tuple(q, s)
}
"""


def test_fusion_moves_expensive_producers_only_where_the_maps_read_them_once():
    module = parse_module(FUSIBLE_READERS)
    entry = module.entry
    by_name = {i.name: i for i in entry.instructions}
    assert OperandReads(by_name["p"]).rereads(by_name["e"])      # clamped reads of the pad
    assert not OperandReads(by_name["r"]).rereads(by_name["f"])  # a permutation of positions
    PassManager("fuse", verify=True).run(module)
    owners = {}
    for inst in module.entry.instructions:
        if inst.opcode == "fusion":
            for member in inst.called[0].instructions:
                owners[member.opcode] = owners.get(member.opcode, []) + [inst.name]
    assert "exponential" in [i.opcode for i in module.entry.instructions]  # exp(x) stays outside the pad
    assert owners.get("reverse") and len(owners["exponential"]) == 1          # exp(y) moved in with the reverse
