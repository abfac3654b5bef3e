"""The ``jitflow`` command line: check, transform and run HLO text files.

Every mistake a user can make (unreadable file, malformed IR, wrong inputs) is a
``JitflowError``: ``main`` prints its message and returns 2.  A traceback from
here is a bug in jitflow, never the user's fault.
"""

from __future__ import annotations

import argparse
import importlib.resources
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, Sequence

import numpy as np
from numpy.lib import format as npy_format

from . import runtime
from ._version import __version__
from .errors import IRError, JitflowError, ParseError, VerificationError
from .ir.limits import MAX_TEXT_CHARS
from .ir import (Computation, DType, Instruction, Interpreter, Module, TensorType, TupleType, Type,
                 parse_module, print_module, verify)
from .passes import (DEFAULT_PIPELINE, PassError, PassManager, load_pass_plugin,
                     registered_passes)
from .passes.registry import origin

# argparse exits with 2 on bad usage; bad input files are the same kind of mistake.
USER_ERROR = 2

TOUR = """\
examples:
  jitflow demo
  jitflow opt model.hlo -o checked.hlo
  jitflow opt model.hlo --passes simplify,cse,dce --verify-each --timing
  jitflow passes
  jitflow run model.hlo --input x=x.npy --input 1=w.npy --output results/

Files use the HLO text format that XLA prints (HloModule, ENTRY, ROOT, %names).
"jitflow COMMAND --help" describes each command.
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``jitflow`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return USER_ERROR
    try:
        return args.handler(args)
    except JitflowError as error:
        print(format_error(error), file=sys.stderr)
        return USER_ERROR
    except MemoryError as error:  # a valid program or input can still be larger than memory
        print(f"error: not enough memory: {error}", file=sys.stderr)
        return USER_ERROR


def format_error(error: JitflowError) -> str:
    # A ParseError already reads "file:line:col: error: ..." followed by the offending line.
    return str(error) if isinstance(error, ParseError) else f"error: {error}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jitflow", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="jitflow: a small graph compiler for NumPy-style array programs.",
        epilog=TOUR)
    parser.add_argument("--version", action="version", version=f"jitflow {__version__}")
    parser.set_defaults(command=None)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    opt = commands.add_parser("opt", help="parse, verify, run passes and print an HLO file",
                              description="Parse and verify FILE, run the --passes pipeline, "
                                          "verify the result and print it.")
    opt.add_argument("file", metavar="FILE.hlo")
    opt.add_argument("--passes", default="", metavar="PIPELINE",
                     help="passes to run in order, with options: "
                          f"'{DEFAULT_PIPELINE}' or 'simplify{{fold-limit=1024}},dce' "
                          "('jitflow passes' lists them)")
    opt.add_argument("--verify-each", action="store_true",
                     help="verify the IR after every pass, naming the pass that breaks it")
    opt.add_argument("--dump-after", metavar="all|NAME",
                     help="print the IR after every pass (all) or after each pass named NAME, "
                          "to standard error or into --dump-dir")
    opt.add_argument("--dump-dir", metavar="DIR",
                     help="write the dumps to DIR as NN-PASS.hlo (alone: dump after all passes)")
    opt.add_argument("--timing", action="store_true",
                     help="print the time each pass took to standard error")
    add_plugin_argument(opt)
    opt.add_argument("-o", "--output", metavar="OUT", help="write the IR here instead of stdout")
    opt.set_defaults(command="opt", handler=run_opt)

    passes = commands.add_parser("passes", help="list the registered passes and their options",
                                 description="List every pass a pipeline can name (built in, "
                                             "from installed plugins and from "
                                             "--load-pass-plugin) with its options.")
    add_plugin_argument(passes)
    passes.set_defaults(command="passes", handler=run_passes)

    run = commands.add_parser("run", help="evaluate an HLO file on .npy inputs",
                              description="Evaluate FILE's ENTRY computation with the reference "
                                          "interpreter and print or save its result.")
    run.add_argument("file", metavar="FILE.hlo")
    run.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy",
                     help="bind an entry parameter, by name or number, to an array saved with "
                          "numpy.save (repeat for each parameter)")
    run.add_argument("--output", metavar="DIR",
                     help="save result.npy (tuples: result.0.npy, result.1.npy, ...) in DIR "
                          "instead of printing")
    run.set_defaults(command="run", handler=run_run)

    dump = commands.add_parser(
        "dump", help="trace a Python function and print one stage of its compilation",
        description="Import FILE.py, trace FUNC (jitted or plain) for arguments of the given "
                    "types, and print the chosen stage.")
    dump.add_argument("target", metavar="FILE.py:FUNC")
    dump.add_argument("--arg", action="append", default=[], metavar="TYPE",
                      help="type of the next positional argument, e.g. f32[1024,256] or s32[]")
    dump.add_argument("--stage", choices=DUMP_STAGES, default="traced",
                      help="the AutoGraph-converted source (autograph), "
                           "traced or optimized IR, LLVM IR before (llvm) or after (llvm-opt) "
                           "optimization, assembly, or the CUDA translation unit (cuda)")
    dump.add_argument("--backend", default="cpu", help="backend whose code llvm/asm show")
    dump.set_defaults(command="dump", handler=run_dump)

    demo = commands.add_parser("demo", help="run the bundled examples and check them against NumPy")
    demo.set_defaults(command="demo", handler=run_demo)
    return parser


# -- opt ---------------------------------------------------------------------

def add_plugin_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--load-pass-plugin", action="append", default=[], metavar="MODULE_OR_FILE",
                        help="import a module or .py file that registers passes (repeatable)")


def run_opt(args: argparse.Namespace) -> int:
    for plugin in args.load_pass_plugin:
        load_pass_plugin(plugin)
    # Build the pipeline before reading the file so that a typo fails fast.
    manager = PassManager(args.passes, verify=args.verify_each, dump_after=args.dump_after,
                          dump_dir=args.dump_dir)
    module = load_module(args.file)
    manager.run(module)
    if not args.verify_each and manager.passes:
        verify_pipeline_result(module, manager)
    if args.timing:
        print(manager.timing_table(), file=sys.stderr)
    write_text(print_module(module), args.output)
    return 0


def verify_pipeline_result(module: Module, manager: PassManager) -> None:
    """Never print invalid IR; say how to find the pass that broke it."""
    try:
        verify(module)
    except VerificationError as error:
        if len(manager.passes) == 1:
            raise PassError(manager.passes[0].name, f"left invalid IR: {error}") from None
        raise JitflowError(f"the pipeline '{manager.pipeline}' left invalid IR (run with "
                           f"--verify-each to find the pass): {error}") from None


def run_passes(args: argparse.Namespace) -> int:
    for plugin in args.load_pass_plugin:
        load_pass_plugin(plugin)
    passes = registered_passes()
    width = max(len(name) for name in passes)
    for name, pass_class in passes.items():
        where = "" if pass_class.__module__.startswith("jitflow.") else f"  [{origin(pass_class)}]"
        print(f"{name:<{width}}  {pass_class.description}{where}")
        for option in pass_class.options():
            help_text = f"  {option.help}" if option.help else ""
            print(f"{'':<{width}}    {option.describe()}{help_text}")
    print(f"\ndefault pipeline: {DEFAULT_PIPELINE}")
    return 0


# -- run ---------------------------------------------------------------------

def run_run(args: argparse.Namespace) -> int:
    module = load_module(args.file)
    entry = module.entry
    arguments = bind_inputs(entry, args.input)
    result = Interpreter(module).run(*arguments)
    leaves = list(result_leaves("result", result, entry.result_type))
    if args.output is None:
        for label, value, type_ in leaves:
            print(f"{label}: {type_}")
            print(np.asarray(value))
    else:
        for path, type_ in save_results(leaves, Path(args.output)):
            print(f"wrote {path} ({type_})")
    return 0


def bind_inputs(entry: Computation, specs: Sequence[str]) -> list[np.ndarray]:
    """Arrays for the entry's parameters, in order, from ``NAME=FILE.npy`` specs."""
    for param in entry.parameters:
        if isinstance(param.type, TupleType):
            raise JitflowError(f"parameter {describe_parameter(param)} is a tuple; "
                               f"only array parameters can be read from .npy files")
    paths: dict[Instruction, str] = {}
    for spec in specs:
        key, equals, path = spec.partition("=")
        if not equals or not key or not path:
            raise JitflowError(f"--input expects NAME=FILE.npy or NUMBER=FILE.npy, got '{spec}'")
        param = find_parameter(entry, key)
        if param in paths:
            raise JitflowError(f"parameter {describe_parameter(param)} is given twice "
                               f"('{paths[param]}' and '{path}')")
        paths[param] = path
    missing = [p for p in entry.parameters if p not in paths]
    if missing:
        needed = ", ".join(describe_parameter(p) for p in missing)
        flags = " ".join(f"--input {p.name}=FILE.npy" for p in missing)
        raise JitflowError(f"missing input for {needed}: pass {flags}")
    return [load_input(param, paths[param]) for param in entry.parameters]


def find_parameter(entry: Computation, key: str) -> Instruction:
    """The entry parameter named ``key``, or numbered ``key``."""
    params = entry.parameters
    for param in params:
        if param.name == key:
            return param
    if key.isdecimal() and int(key) < len(params):
        return params[int(key)]
    listing = ", ".join(describe_parameter(p) for p in params) or "none"
    raise JitflowError(f"no parameter '{key}' in ENTRY computation '{entry.name}' "
                       f"(its parameters: {listing})")


def describe_parameter(param: Instruction) -> str:
    return f"'{param.name}' (parameter {param.attrs['parameter_number']}, {param.type})"


def load_input(param: Instruction, path: str) -> np.ndarray:
    """The array in ``path`` if it has exactly the parameter's type (never cast silently).

    The header is compared with the parameter before any data is read, so a file that
    claims a huge shape costs nothing; Python objects are never unpickled.
    """
    expected = param.type.without_layout()
    what = f"'{path}' for parameter '{param.name}' ({expected})"
    try:
        with open(path, "rb") as file:
            shape, dtype = read_npy_header(file)
            held = type_text(dtype, shape)
            if held != str(expected):
                raise JitflowError(f"parameter '{param.name}' expects {expected}, but '{path}' "
                                   f"holds {held}")
            file.seek(0)
            return npy_format.read_array(file, allow_pickle=False)
    except OSError as error:
        raise JitflowError(f"cannot read {what}: {error.strerror or error}") from None
    except (ValueError, EOFError) as error:
        raise JitflowError(f"cannot load {what}: {error}") from None


# The .npy format versions whose header NumPy has a public reader for.
NPY_HEADER_READERS = {(1, 0): npy_format.read_array_header_1_0,
                      (2, 0): npy_format.read_array_header_2_0}


def read_npy_header(file: BinaryIO) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype an .npy file's header declares (``ValueError`` if it is malformed)."""
    # np.load would take anything else for a pickle and suggest allow_pickle=True.
    if file.read(len(npy_format.MAGIC_PREFIX)) != npy_format.MAGIC_PREFIX:
        raise ValueError("not a .npy file (numpy.save writes one array per file)")
    file.seek(0)
    version = npy_format.read_magic(file)
    reader = NPY_HEADER_READERS.get(version)
    if reader is None:
        raise ValueError(f".npy format version {version[0]}.{version[1]} is not supported "
                         "(numpy.save writes 1.0 for these arrays)")
    try:
        shape, _, dtype = reader(file)
    # NumPy evaluates the header as a Python literal (tokenize for old files): a broken
    # one raises what Python's tokenizer or parser raise, not only ValueError.
    except (SyntaxError, TypeError, RecursionError, tokenize.TokenError) as error:
        raise ValueError(f"malformed .npy header ({type(error).__name__}: {error})") from None
    except ValueError as error:
        # NumPy's own message runs over several lines and suggests allow_pickle=True,
        # which jitflow never uses; its first line says what is wrong.
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else "unreadable"
        raise ValueError(f"malformed .npy header ({first_line})") from None
    if dtype.hasobject:
        raise ValueError("it holds Python objects, which would have to be unpickled; "
                         "jitflow reads arrays of numbers only")
    return shape, dtype


def array_type_text(array: np.ndarray) -> str:
    """The array's IR type as text (``f32[2,3]``), or NumPy's words for dtypes the IR lacks."""
    return type_text(array.dtype, array.shape)


def type_text(dtype: np.dtype, shape: tuple[int, ...]) -> str:
    """The IR type of arrays of ``dtype`` and ``shape`` as text, or NumPy's words for those
    the IR lacks (dtypes it has no type for, shapes no array can have)."""
    try:
        return str(TensorType(DType.from_numpy(dtype), shape))
    except IRError:
        return f"a {dtype} array of shape {shape}"


def result_leaves(label: str, value: Any, type_: Type) -> Iterator[tuple[str, Any, Type]]:
    """(label, array, type) for every array in a result; tuple elements get ``.i`` suffixes."""
    if isinstance(type_, TupleType):
        for index, (element, element_type) in enumerate(zip(value, type_.elements)):
            yield from result_leaves(f"{label}.{index}", element, element_type)
    else:
        yield label, value, type_


def save_results(leaves: Sequence[tuple[str, Any, Type]], directory: Path) -> list[tuple[Path, Type]]:
    written = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for label, value, type_ in leaves:
            path = directory / f"{label}.npy"
            np.save(path, np.asarray(value))
            written.append((path, type_))
    except OSError as error:
        raise JitflowError(f"cannot write results to '{directory}': "
                           f"{error.strerror or error}") from None
    return written


# -- dump --------------------------------------------------------------------

DUMP_STAGES = ("autograph", "traced", "optimized", "llvm", "llvm-opt", "asm", "cuda")
# Executable attribute holding each code stage's text.
CODE_STAGES = {"llvm": "llvm_ir", "llvm-opt": "llvm_ir_optimized", "asm": "asm"}


def run_dump(args: argparse.Namespace) -> int:
    from .frontend import Jitted, jit

    function = load_function(args.target)
    jitted = function if isinstance(function, Jitted) else jit(function, backend=args.backend)
    # Types, not arrays: the program is traced for them and nothing is allocated, so
    # f32[99999999999] costs no more than f32[8].
    arrays = [argument_type(text) for text in args.arg]
    if args.stage != "autograph":
        check_arity(jitted, args.target, arrays)
    if args.stage == "autograph":  # the converted source: needs no arguments
        from .frontend.autograph import to_code

        text = to_code(jitted.fn)
    elif args.stage == "traced":
        text = print_module(jitted.trace(*arrays))
    elif args.stage == "optimized":
        text = print_module(jitted.lower(*arrays))
    elif args.stage == "cuda":  # generated without a GPU: one self-contained translation unit
        from .codegen.cuda import lower_module

        text = lower_module(jitted.lower(*arrays)).source
    else:
        executable = jitted.compile(*arrays)
        text = getattr(executable, CODE_STAGES[args.stage], None)
        if text is None:
            raise JitflowError(f"the {args.backend} backend has no {args.stage} stage to show")
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def load_function(target: str) -> Callable[..., Any]:
    """``FUNC`` from ``FILE.py:FUNC``, importing the file as a module."""
    import importlib.util

    path, colon, name = target.rpartition(":")
    if not colon or not path or not name:
        raise JitflowError(f"expected FILE.py:FUNC, got '{target}'")
    if not Path(path).is_file():
        raise JitflowError(f"cannot read '{path}': no such file")
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    if spec is None or spec.loader is None:  # not a suffix Python imports (.py, .pyc, ...)
        raise JitflowError(f"cannot import '{path}': expected a Python file (FILE.py)")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except JitflowError:
        raise
    # SystemExit too: a script that calls sys.exit() at import is still the user's module
    # failing, not a reason to leave with its status and no message.
    except (Exception, SystemExit) as error:
        raise JitflowError(f"importing '{path}' failed: {type(error).__name__}: {error}") from None
    function = getattr(module, name, None)
    if not callable(function):
        raise JitflowError(f"'{path}' has no function '{name}'")
    return function


def argument_type(text: str) -> TensorType:
    """The array type written as ``f32[8,16]``."""
    from .ir.parser import Parser

    parser = Parser(text, filename="--arg")
    type_ = parser.parse_type()  # a ParseError says where: --arg:1:7: ...
    if parser.token.kind != "eof" or not isinstance(type_, TensorType):
        raise JitflowError(f"--arg expects an array type such as f32[8,16] or s32[], got '{text}'")
    return type_


def check_arity(jitted: Any, target: str, types: Sequence[TensorType]) -> None:
    """One ``--arg`` per argument the function needs, said before tracing starts."""
    import inspect

    try:
        inspect.signature(jitted.fn).bind(*types)
    except TypeError as error:
        raise JitflowError(f"cannot trace '{target}' with {len(types)} --arg type(s): {error} "
                           "(give one --arg TYPE per positional argument)") from None
    except ValueError:  # no signature to check (a builtin): tracing will say what is wrong
        pass


# -- demo --------------------------------------------------------------------

DEMO_SEED = 0
# float32 IR results against float64 NumPy references.
DEMO_RTOL = 1e-5
DEMO_ATOL = 1e-5


@dataclass(frozen=True)
class DemoExample:
    """A shipped example, the inputs to run it on, and what NumPy says it computes."""

    file: str
    runs: Callable[[np.random.Generator], list[dict[str, np.ndarray]]]
    reference: Callable[..., np.ndarray]


def _softmax(x: np.ndarray) -> np.ndarray:
    shifted = np.exp(x.astype(np.float64) - x.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _layernorm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    centered = x - x.mean(axis=1, keepdims=True)
    return centered / np.sqrt(x.var(axis=1, keepdims=True) + 1e-5) * gamma + beta


def _conditional(use_abs: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.abs(x) if use_abs else x * np.float32(0.5)


def _dot_bias_relu(x: np.ndarray, w: np.ndarray, bias: np.ndarray) -> np.ndarray:
    return np.maximum(x.astype(np.float64) @ w + bias, 0.0)


def _normal(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape, dtype=np.float32)


DEMOS = (
    DemoExample("softmax.hlo", lambda rng: [{"x": _normal(rng, 4, 8)}], _softmax),
    DemoExample("layernorm.hlo",
                lambda rng: [{"x": _normal(rng, 4, 8), "gamma": _normal(rng, 8),
                              "beta": _normal(rng, 8)}],
                _layernorm),
    DemoExample("while_sum.hlo", lambda rng: [{"n": np.int32(rng.integers(5, 50))}],
                lambda n: np.int32(n * (n - 1) // 2)),
    DemoExample("conditional.hlo",
                lambda rng: [{"use_abs": np.bool_(flag), "x": _normal(rng, 8)}
                             for flag in (True, False)],
                _conditional),
    DemoExample("dot_bias_relu.hlo",
                lambda rng: [{"x": _normal(rng, 4, 8), "w": _normal(rng, 8, 3),
                              "bias": np.float32(0.1) * _normal(rng, 3)}],
                _dot_bias_relu),
)


def run_demo(args: argparse.Namespace) -> int:
    from . import demo

    # Package data, not a path relative to this file, so that the demo also runs from a wheel.
    examples = importlib.resources.files("jitflow") / "examples"
    outcomes = []
    with np.printoptions(precision=4, suppress=True, linewidth=100):
        for program in demo.PROGRAMS:
            outcomes.append(demo.run_program(program, np.random.default_rng(DEMO_SEED)))
        for example in DEMOS:
            text = (examples / example.file).read_text(encoding="utf-8")
            module = parse_module(text, filename=f"examples/{example.file}")
            verify(module)
            print(f"=== {example.file} ===")
            print(text.rstrip())
            for inputs in example.runs(np.random.default_rng(DEMO_SEED)):
                outcomes.append(run_demo_case(module, example.reference, inputs))
            print()
        for train in demo.TRAINING:
            outcomes.append(train())
    if not all(outcomes):
        print(f"error: {outcomes.count(False)} of {len(outcomes)} demo checks do not match NumPy",
              file=sys.stderr)
        return 1
    print(f"all {len(outcomes)} demo checks match NumPy")
    return 0


def run_demo_case(module: Module, reference: Callable[..., np.ndarray],
                  inputs: dict[str, np.ndarray]) -> bool:
    print(f"\ninputs (generated, seed {DEMO_SEED}):")
    for name, value in inputs.items():
        print(f"{name}: {array_type_text(np.asarray(value))}")
        print(value)
    arguments = [inputs[p.name] for p in module.entry.parameters]
    result = np.asarray(Interpreter(module).run(*arguments))
    print(f"result: {module.entry.result_type}")
    print(result)
    expected = np.asarray(reference(**inputs))
    matches = True
    for how, value in (("interpreter", result),
                       ("compiled for the cpu", np.asarray(runtime.compile(module)(*arguments)))):
        if value.shape != expected.shape:
            print(f"{how}: DOES NOT MATCH NumPy: shape {value.shape}, NumPy's is {expected.shape}")
            matches = False
            continue
        error = float(np.max(np.abs(value.astype(np.float64) - expected), initial=0.0))
        agrees = bool(np.allclose(value, expected, rtol=DEMO_RTOL, atol=DEMO_ATOL))
        verdict = "matches NumPy" if agrees else "DOES NOT MATCH NumPy"
        print(f"{how}: {verdict}: max abs error {error:.1e}")
        matches = matches and agrees
    return matches


# -- files -------------------------------------------------------------------

def load_module(path: str) -> Module:
    """Parse and verify an HLO text file."""
    module = parse_module(read_text(path), filename=path)
    verify(module)
    return module


def read_text(path: str) -> str:
    try:
        # Checked before reading: the parser would refuse the text anyway, after holding it.
        size = Path(path).stat().st_size
        if size > MAX_TEXT_CHARS:
            raise JitflowError(f"cannot read '{path}': it has {size} bytes, more than the limit "
                               f"of {MAX_TEXT_CHARS} for HLO text")
        return Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise JitflowError(f"cannot read '{path}': {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise JitflowError(f"cannot read '{path}': it is not UTF-8 text") from None


def write_text(text: str, path: str | None) -> None:
    if path is None:
        sys.stdout.write(text)
        return
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as error:
        raise JitflowError(f"cannot write '{path}': {error.strerror or error}") from None
