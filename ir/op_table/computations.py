"""Ops over computations and values as wholes: parameter, constant, reduce, dot, tuples,
control flow, calls, fusion and custom-call."""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from ...errors import IRError
from ..analysis.dots import DotDimensions
from ..analysis.reducers import single_op_reducer
from ..opdef import BRANCHES, AttrKind, AttrSpec, Cost, OpDef, Trait, dtype_kinds, register_op
from ..types import DType, TensorType, TupleType, Type, same_ignoring_layout, scalar
from .common import as_array, check_dims, is_half, shape_text, traits_of

FUSION_KINDS = ("kLoop", "kInput", "kOutput", "kCustom")


def _check_computation(computation, arg_types: Sequence[Type], result: Type | None, role: str) -> Type:
    params = computation.parameter_types
    if len(params) != len(arg_types) or any(not same_ignoring_layout(p, a)
                                            for p, a in zip(params, arg_types)):
        raise IRError(f"{role} computation '{computation.name}' takes "
                      f"({', '.join(map(shape_text, params))}) but is given "
                      f"({', '.join(map(shape_text, arg_types))})")
    returned = computation.result_type
    if result is not None and not same_ignoring_layout(returned, result):
        raise IRError(f"{role} computation '{computation.name}' returns {shape_text(returned)}, "
                      f"expected {shape_text(result)}")
    return returned.without_layout()


def _infer_reduce(types, attrs, called, declared):
    if len(types) % 2:
        raise IRError(f"reduce takes as many init values as inputs, got {len(types)} operands")
    count = len(types) // 2
    inputs = [as_array(t, f"input {i}") for i, t in enumerate(types[:count])]
    inits = [as_array(t, f"init value {i}") for i, t in enumerate(types[count:])]
    dims = attrs["dimensions"]
    for i, x in enumerate(inputs):
        if x.shape != inputs[0].shape:
            raise IRError(f"reduce inputs must have one shape: input 0 is {shape_text(inputs[0])}, "
                          f"input {i} is {shape_text(x)}")
        if inits[i].shape != () or inits[i].dtype is not x.dtype:
            raise IRError(f"init value {i} must be a {x.dtype} scalar, got {shape_text(inits[i])}")
    check_dims(dims, inputs[0].rank, "dimensions")
    kept = tuple(d for i, d in enumerate(inputs[0].shape) if i not in dims)
    scalars = [scalar(x.dtype) for x in inputs]
    expected = scalars[0] if count == 1 else TupleType(tuple(scalars))
    _check_computation(called[0], scalars + scalars, expected, "reducer")
    results = [TensorType(x.dtype, kept) for x in inputs]
    return results[0] if count == 1 else TupleType(tuple(results))


_UFUNC_REDUCERS = {"add": np.add, "multiply": np.multiply, "maximum": np.maximum,
                   "minimum": np.minimum, "and": np.bitwise_and, "or": np.bitwise_or,
                   "xor": np.bitwise_xor}


def _simple_reducer(computation) -> np.ufunc | None:
    """The NumPy ufunc equivalent to a reducer that applies one op to its two parameters."""
    return _UFUNC_REDUCERS.get(single_op_reducer(computation))


def _evaluate_reduce(inst, args, call):
    count = len(args) // 2
    inputs, inits = args[:count], args[count:]
    dims = tuple(inst.attrs["dimensions"])
    reducer = inst.called[0]
    ufunc = _simple_reducer(reducer) if count == 1 else None
    x = inputs[0]
    if ufunc is not None:
        if any(x.shape[d] == 0 for d in dims):
            kept = tuple(s for i, s in enumerate(x.shape) if i not in dims)
            return np.full(kept, inits[0], dtype=x.dtype)
        work = np.dtype(np.float32) if is_half(x.dtype) else x.dtype
        with np.errstate(all="ignore"):
            partial = ufunc.reduce(x.astype(work), axis=dims, dtype=work) if dims else x.astype(work)
            return np.asarray(ufunc(inits[0].astype(work), partial)).astype(x.dtype)
    # General reducer: fold over the reduced elements, vectorized over the kept ones.
    kept_axes = [i for i in range(x.ndim) if i not in dims]
    kept_shape = tuple(x.shape[i] for i in kept_axes)
    reduced = math.prod(x.shape[d] for d in dims)  # not -1: reshape cannot infer it when size is 0
    flat = [np.transpose(a, kept_axes + list(dims)).reshape(kept_shape + (reduced,)) for a in inputs]
    accumulators = [np.full(kept_shape, init, dtype=init.dtype) for init in inits]
    for position in range(flat[0].shape[-1] if flat[0].ndim else 1):
        elements = [f[..., position] for f in flat]
        out = _call_elementwise(reducer, accumulators + elements, call)
        accumulators = list(out) if count > 1 else [out]
    return tuple(accumulators) if count > 1 else accumulators[0]


def _call_elementwise(computation, args: list[np.ndarray], call) -> Any:
    """Apply a scalar computation to arrays of arguments, element by element when needed."""
    if all(i.opdef.has(Trait.ELEMENTWISE) or i.opcode in ("parameter", "tuple", "constant",
                                                           "get-tuple-element")
           for i in computation.instructions) and all(
            i.type.shape == () for i in computation.instructions if i.opcode == "constant"):
        return call(computation, args)
    shape = args[0].shape
    results = [call(computation, [a[index] for a in args]) for index in np.ndindex(*shape)]
    result_type = computation.result_type
    if isinstance(result_type, TupleType):  # from the type: there may be no results (size 0)
        return tuple(np.array([r[k] for r in results], dtype=t.dtype.numpy).reshape(shape)
                     for k, t in enumerate(result_type.elements))
    dtype = computation.result_type.dtype.numpy
    return np.array(results, dtype=dtype).reshape(shape)


def _infer_dot(types, attrs, called, declared):
    lhs = as_array(types[0], "lhs")
    rhs = as_array(types[1], "rhs")
    lb, rb = attrs["lhs_batch_dims"], attrs["rhs_batch_dims"]
    lc, rc = attrs["lhs_contracting_dims"], attrs["rhs_contracting_dims"]
    check_dims(lb + lc, lhs.rank, "lhs batch and contracting dimensions")
    check_dims(rb + rc, rhs.rank, "rhs batch and contracting dimensions")
    if len(lb) != len(rb) or len(lc) != len(rc):
        raise IRError("lhs and rhs must have as many batch and contracting dimensions as each other")
    for a, b, what in [(a, b, "batch") for a, b in zip(lb, rb)] + [(a, b, "contracting")
                                                                    for a, b in zip(lc, rc)]:
        if lhs.shape[a] != rhs.shape[b]:
            raise IRError(f"{what} dimension mismatch: lhs {shape_text(lhs)} dimension {a} is "
                          f"{lhs.shape[a]}, rhs {shape_text(rhs)} dimension {b} is {rhs.shape[b]}")
    if lhs.dtype is not rhs.dtype or lhs.dtype is DType.PRED:
        raise IRError(f"dot needs numeric operands of one element type, got {lhs.dtype} and {rhs.dtype}")
    dtype = lhs.dtype
    if declared is not None:
        wanted = as_array(declared, "the result").dtype
        if dtype_kinds(wanted) != dtype_kinds(dtype) and not (
                dtype.is_integer and wanted.is_integer) or wanted.bits < dtype.bits:
            raise IRError(f"dot of {dtype} cannot produce {wanted}")
        dtype = wanted
    shape = ([lhs.shape[d] for d in lb]
             + [s for d, s in enumerate(lhs.shape) if d not in lb + lc]
             + [s for d, s in enumerate(rhs.shape) if d not in rb + rc])
    return TensorType(dtype, tuple(shape))


def _evaluate_dot(inst, args, call):
    lhs, rhs = args
    dims = DotDimensions.of(inst)
    lb, lc, lf = list(dims.lhs_batch), list(dims.lhs_contracting), list(dims.lhs_free)
    rb, rc, rf = list(dims.rhs_batch), list(dims.rhs_contracting), list(dims.rhs_free)
    out = inst.type.dtype.numpy
    work = np.dtype(np.float32) if is_half(out) else out
    size = lambda a, ds: math.prod(a.shape[d] for d in ds)
    batch = size(lhs, lb)
    a = np.transpose(lhs, lb + lf + lc).astype(work).reshape(batch, size(lhs, lf), size(lhs, lc))
    b = np.transpose(rhs, rb + rc + rf).astype(work).reshape(batch, size(rhs, rc), size(rhs, rf))
    with np.errstate(all="ignore"):  # overflow to inf when rounding to f16 is the answer
        product = np.matmul(a, b)
        return product.reshape(inst.type.shape).astype(out)


# ---------------------------------------------------------------------------
# tuples, control flow, calls

def _infer_get_tuple_element(types, attrs, called, declared):
    operand = types[0]
    if not isinstance(operand, TupleType):
        raise IRError(f"get-tuple-element needs a tuple operand, got {shape_text(operand)}")
    index = attrs["index"]
    if not 0 <= index < len(operand.elements):
        raise IRError(f"index={index} out of range for {shape_text(operand)}")
    return operand.elements[index].without_layout()


def _infer_while(types, attrs, called, declared):
    state = types[0].without_layout()
    _check_computation(called[0], [state], scalar(DType.PRED), "while condition")
    _check_computation(called[1], [state], state, "while body")
    return state


def _evaluate_while(inst, args, call):
    condition, body = inst.called
    state = args[0]
    while bool(call(condition, [state])):
        state = call(body, [state])
    return state


def _infer_conditional(types, attrs, called, declared):
    selector = as_array(types[0], "the branch selector")
    branch_operands = types[1:]
    if selector.shape != () or selector.dtype not in (DType.PRED, DType.S32):
        raise IRError(f"conditional's selector must be pred[] or s32[], got {shape_text(selector)}")
    if selector.dtype is DType.PRED and len(called) != 2:
        raise IRError(f"a pred conditional has 2 branches, got {len(called)}")
    if len(called) < 1 or len(branch_operands) != len(called):
        raise IRError(f"conditional has {len(called)} branch computations and "
                      f"{len(branch_operands)} branch operands; they must match")
    result = None
    for branch, operand in zip(called, branch_operands):
        result = _check_computation(branch, [operand], result, "branch")
    return result


def _evaluate_conditional(inst, args, call):
    selector = args[0]
    branches = inst.called
    if selector.dtype == np.bool_:
        index = 0 if bool(selector) else 1  # pred form: true branch first
    else:
        index = int(selector)
        if not 0 <= index < len(branches):
            index = len(branches) - 1  # XLA: out-of-range selects the last branch
    return call(branches[index], [args[1 + index]])


def _infer_call(types, attrs, called, declared):
    return _check_computation(called[0], list(types), None, "called")


def _evaluate_call(inst, args, call):
    return call(inst.called[0], list(args))


# ---------------------------------------------------------------------------
# the rest of the table

def _declared_result(types, attrs, called, declared):
    if declared is None:
        raise IRError("the result type must be given")
    return declared.without_layout()


def _infer_constant(types, attrs, called, declared):
    literal = attrs["literal"]
    if declared is not None:
        result = as_array(declared, "the result")
        if tuple(literal.shape) != result.shape:
            raise IRError(f"literal of shape {list(literal.shape)} does not match {shape_text(result)}")
        return TensorType(result.dtype, result.shape)
    return TensorType(DType.from_numpy(literal.dtype), literal.shape)


def _evaluate_constant(inst, args, call):
    return np.asarray(inst.attrs["literal"]).astype(inst.type.dtype.numpy)


def _evaluate_parameter(inst, args, call):  # pragma: no cover - bound by the interpreter
    raise IRError("parameters are bound by the interpreter, not evaluated")


CUSTOM_CALL_TARGETS: dict[str, Callable[..., Any]] = {}


def register_custom_call(target: str, fn: Callable[..., Any]) -> None:
    """Give the interpreter an implementation of ``custom-call`` target ``target``.

    ``fn(*operands, result_type=..., backend_config=...)`` returns NumPy arrays.
    """
    CUSTOM_CALL_TARGETS[target] = fn


def _evaluate_custom_call(inst, args, call):
    target = inst.attrs["custom_call_target"]
    if target not in CUSTOM_CALL_TARGETS:
        known = ", ".join(sorted(CUSTOM_CALL_TARGETS)) or "none registered"
        raise IRError(f"no implementation of custom-call target '{target}' (known: {known})")
    try:
        return CUSTOM_CALL_TARGETS[target](*args, result_type=inst.type,
                                           backend_config=inst.attrs.get("backend_config", ""))
    except Exception as error:  # user code may raise anything; the interpreter names the call
        raise IRError(f"custom-call target '{target}' failed: {type(error).__name__}: {error}") from error


def _declare_computations() -> None:
    """Ops that take whole values or call computations."""
    INTS, INT = AttrKind.INTS, AttrKind.INT
    names = traits_of(Trait.NAMES_BUFFERS, Trait.HOST_STEP, Trait.PASSES_BUFFERS_ON)
    runs_programs = traits_of(Trait.CALLS_PROGRAMS, Trait.HOST_STEP, Trait.PASSES_BUFFERS_ON)
    control_flow = runs_programs | {Trait.CONTROL_FLOW}
    for opdef in [
        OpDef("parameter", (0, 0), _declared_result, _evaluate_parameter,
              attrs=(AttrSpec("parameter_number", INT),), needs_declared_type=True,
              doc="Argument number `parameter_number` of the computation.",
              traits=traits_of(Trait.SOURCE), cost=Cost.NORMAL),
        OpDef("constant", (0, 0), _infer_constant, _evaluate_constant,
              attrs=(AttrSpec("literal", AttrKind.LITERAL),), doc="A literal array.",
              traits=traits_of(Trait.SOURCE), cost=Cost.FREE),
        OpDef("reduce", (2, None), _infer_reduce, _evaluate_reduce,
              attrs=(AttrSpec("dimensions", INTS),), callees=("to_apply",),
              doc="Fold dimensions with the to_apply computation (variadic: N inputs, N inits).",
              traits=traits_of(Trait.REDUCTION, Trait.LOOP_PER_ELEMENT), cost=Cost.EXPENSIVE),
        OpDef("dot", (2, 2), _infer_dot, _evaluate_dot,
              attrs=(AttrSpec("lhs_batch_dims", INTS, required=False, default=()),
                     AttrSpec("lhs_contracting_dims", INTS, required=False, default=()),
                     AttrSpec("rhs_batch_dims", INTS, required=False, default=()),
                     AttrSpec("rhs_contracting_dims", INTS, required=False, default=())),
              doc="General dot: result is batch dims, lhs free dims, rhs free dims.",
              traits=traits_of(Trait.LIBRARY_CALL, Trait.LOOP_PER_ELEMENT), cost=Cost.NORMAL),
        OpDef("tuple", (0, None),
              lambda types, attrs, called, declared: TupleType(tuple(t.without_layout() for t in types)),
              lambda inst, args, call: tuple(args), doc="Group values into one.",
              traits=names, cost=Cost.NORMAL),
        OpDef("get-tuple-element", (1, 1), _infer_get_tuple_element,
              lambda inst, args, call: args[0][inst.attrs["index"]],
              attrs=(AttrSpec("index", INT),), doc="Element `index` of a tuple.",
              traits=names, cost=Cost.NORMAL),
        OpDef("while", (1, 1), _infer_while, _evaluate_while, callees=("condition", "body"),
              doc="Repeat body on the state while condition(state) holds.",
              traits=control_flow, cost=Cost.NORMAL),
        OpDef("conditional", (2, None), _infer_conditional, _evaluate_conditional,
              callees=(BRANCHES,),
              doc="Run one branch: pred form (true, false) or s32 index form "
                  "(out-of-range runs the last branch).",
              traits=control_flow, cost=Cost.NORMAL),
        OpDef("call", (0, None), _infer_call, _evaluate_call, callees=("to_apply",),
              doc="Evaluate a computation on the operands.",
              traits=runs_programs, cost=Cost.NORMAL),
        OpDef("fusion", (0, None), _infer_call, _evaluate_call, callees=("calls",),
              attrs=(AttrSpec("kind", AttrKind.ENUM, choices=FUSION_KINDS),),
              doc="A fused computation, produced by the fusion pass; evaluates like call.",
              traits=traits_of(Trait.HOST_STEP), cost=Cost.NORMAL),
        OpDef("custom-call", (0, None), _declared_result, _evaluate_custom_call,
              attrs=(AttrSpec("custom_call_target", AttrKind.STRING),
                     AttrSpec("backend_config", AttrKind.STRING, required=False),
                     AttrSpec("custom_call_has_side_effect", AttrKind.BOOL, required=False)),
              needs_declared_type=True,
              doc="Call a runtime library function by target name; see register_custom_call.",
              traits=traits_of(Trait.HOST_STEP, Trait.LIBRARY_CALL, Trait.PASSES_BUFFERS_ON),
              cost=Cost.NORMAL),
    ]:
        register_op(opdef)


_declare_computations()
