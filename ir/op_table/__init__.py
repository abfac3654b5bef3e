"""The op table: every opcode declared once, with its shape rule and NumPy semantics.

Semantics follow XLA's operation semantics (openxla.org/xla/operation_semantics).
Where XLA leaves a result implementation-defined, we pick what XLA's CPU and GPU
backends produce and say so in the op's doc:

* integer ``divide`` by zero gives -1 (all bits set), ``remainder`` by zero gives
  the dividend; ``INT_MIN / -1`` gives ``INT_MIN`` and ``INT_MIN % -1`` gives 0;
  integer division truncates toward zero.
* integer arithmetic wraps around (two's complement).
* ``maximum``/``minimum`` propagate NaN.
* ``convert`` from float to integer saturates to the integer range and maps NaN
  to 0; integer to narrower integer wraps; anything to ``pred`` is ``x != 0``.
* shifts by an amount >= the bit width (or negative, read as unsigned) give 0
  (``shift-left``, ``shift-right-logical``) or the sign fill (``shift-right-arithmetic``).
* f16 and bf16 elementwise math is computed in f32 and rounded back, as XLA's
  CPU backend does.

Operand values are NumPy arrays in logical (row-major) order; layouts describe
physical placement and never change a result here.

The ops are declared by family: ``elementwise`` (arithmetic, compare, select,
convert), ``data_movement`` (iota, broadcast, reshape, slices, pad, ...) and
``computations`` (parameter, constant, reduce, dot, tuples, control flow, calls).

Adding an op (the tests named in brackets fail until each step is done):

1. Declare it once, in its family's module: ``OpDef(opcode, arity, infer, evaluate,
   attrs=..., callees=..., traits=..., cost=..., doc=...)``.  ``cost`` has no default;
   read every ``Trait`` in ``opdef.py`` and give the op each one that holds, since
   passes and backends decide by them alone [tests/ir/test_op_properties.py].
2. Write its interpreter cases in ``tests/op_cases.py``: a 0-d case, a size-0 case, a
   non-default layout, every dtype it accepts [tests/ir/test_interpreter_ops.py].  The
   same cases run through both backends, fusion and the text round trip
   [tests/codegen/test_codegen_op_cases.py, tests/codegen/test_cuda_codegen.py,
   tests/ir/test_parser.py].
3. Give it a VJP rule in ``ir/vjp.py``, or classify it there as having a zero or no
   gradient [tests/ir/test_autodiff_ops.py, with a finite-difference check per rule].
4. Lower it: an elementwise op needs a scalar emitter in each backend; an op that
   moves data describes its reads once in ``ir/analysis/index_maps.py``; anything else
   needs a kernel or library path in each backend [the corpus tests of step 2].
5. New attribute kinds go in ``ir/attributes.py``, with their normalization, printing
   and parsing together [tests/ir/test_parser.py round trips every case].
"""

from . import elementwise, data_movement, computations  # noqa: F401  (each declares its ops)
from .computations import CUSTOM_CALL_TARGETS, register_custom_call

__all__ = ["CUSTOM_CALL_TARGETS", "register_custom_call"]
