"""The jitflow command line: as users run it (a subprocess) and in-process through main()."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest

import jitflow
import jitflow.demo
from jitflow import cli
from jitflow.passes import Pass, registry
from jitflow.ir import DType, parse_module, print_module

from hostile_input import call_chain, write_npy_header

EXAMPLES_DIR = files("jitflow") / "examples"
EXAMPLES = sorted(entry.name for entry in EXAMPLES_DIR.iterdir() if entry.name.endswith(".hlo"))

TUPLE_RESULT = """\
HloModule tuple_result

ENTRY %main (x: f32[2], n: s32[]) -> (f32[2], (s32[], f32[2])) {
  %x = f32[2] parameter(0)
  %n = s32[] parameter(1)
  %e = f32[2] exponential(%x)
  %inner = (s32[], f32[2]) tuple(%n, %x)
  ROOT %result = (f32[2], (s32[], f32[2])) tuple(%e, %inner)
}
"""


def example(name: str) -> str:
    return str(EXAMPLES_DIR / name)


def jitflow_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jitflow", *args], capture_output=True,
                          text=True, cwd=cwd)


def save(directory: Path, name: str, value) -> str:
    path = directory / name
    np.save(path, value)
    return str(path)


def assert_user_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


# -- the basics --------------------------------------------------------------

def test_version():
    result = jitflow_cli("--version")
    assert result.returncode == 0
    assert result.stdout == f"jitflow {jitflow.__version__}\n"


def test_help_gives_a_tour():
    result = jitflow_cli("--help")
    assert result.returncode == 0
    for word in ("opt", "run", "demo", "passes", "--version", "jitflow run model.hlo --input"):
        assert word in result.stdout


def test_no_command_prints_help_and_fails(capsys):
    assert cli.main([]) == 2
    assert "usage: jitflow" in capsys.readouterr().err


def test_console_script_is_declared():
    from importlib.metadata import entry_points

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "jitflow"]
    assert script.value == "jitflow.cli:main"


# -- opt ---------------------------------------------------------------------

@pytest.mark.parametrize("name", EXAMPLES)
def test_opt_prints_ir_that_reparses_to_itself(name, capsys):
    assert cli.main(["opt", example(name)]) == 0
    printed = capsys.readouterr().out
    assert print_module(parse_module(printed)) == printed
    # The printed module is the file without its comments.
    source = EXAMPLES_DIR.joinpath(name).read_text()
    uncommented = "\n".join(line for line in source.splitlines() if not line.startswith("//"))
    assert printed.strip() == uncommented.strip()


def test_opt_writes_output_file(tmp_path):
    out = tmp_path / "softmax.opt.hlo"
    result = jitflow_cli("opt", example("softmax.hlo"), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert print_module(parse_module(out.read_text())) == out.read_text()


def test_opt_rejects_unknown_pass():
    result = jitflow_cli("opt", example("softmax.hlo"), "--passes", "bogus")
    assert_user_error(result, "error: unknown pass 'bogus' (available: buffers, cse, dce, fuse, layout, simplify)")
    assert result.stdout == ""


def recording_pass(name: str, log: list[str], breaks_ir: bool = False) -> None:
    @jitflow.register_pass(name)
    class Recording(Pass):
        def run(self, module) -> bool:
            log.append(self.name)
            if breaks_ir:
                module.entry.root = None
            return breaks_ir


def test_opt_runs_registered_passes_in_order(pass_registry, capsys):
    log: list[str] = []
    recording_pass("first", log)
    recording_pass("second", log)
    assert cli.main(["opt", example("softmax.hlo"), "--passes", "second, first,second"]) == 0
    assert log == ["second", "first", "second"]
    assert "ENTRY %main" in capsys.readouterr().out


def test_opt_verifies_after_each_pass(pass_registry, capsys):
    log: list[str] = []
    recording_pass("breaker", log, breaks_ir=True)
    recording_pass("after", log)
    assert cli.main(["opt", example("softmax.hlo"), "--passes", "breaker,after",
                     "--verify-each"]) == 2
    assert log == ["breaker"]
    err = capsys.readouterr().err
    assert "pass 'breaker' left invalid IR" in err and "has no ROOT" in err


def test_unknown_pass_lists_registered_ones(monkeypatch, capsys):
    class Named(Pass):
        def run(self, module) -> bool:
            return False

    monkeypatch.setattr(registry, "_PASSES", {"b": Named, "a": Named})
    assert cli.main(["opt", example("softmax.hlo"), "--passes", "c"]) == 2
    assert capsys.readouterr().err == "error: unknown pass 'c' (available: a, b)\n"


def test_malformed_file_reports_line_and_column(tmp_path):
    bad = tmp_path / "bad.hlo"
    bad.write_text("HloModule m\n\nENTRY %main (x: f32[2]) -> f32[2] {\n"
                   "  %x = f32[2] parameter(0)\n  ROOT %y = f32[2] frobnicate(%x)\n}\n")
    result = jitflow_cli("opt", str(bad))
    assert_user_error(result, "frobnicate")
    assert re.search(rf"{re.escape(str(bad))}:5:\d+: error: ", result.stderr)


def test_missing_hlo_file():
    assert_user_error(jitflow_cli("opt", "no_such_file.hlo"), "cannot read 'no_such_file.hlo'")


# -- run ---------------------------------------------------------------------

def test_run_softmax_prints_the_result(tmp_path):
    x = np.random.default_rng(1).standard_normal((4, 8), dtype=np.float32)
    result = jitflow_cli("run", example("softmax.hlo"), "--input", f"x={save(tmp_path, 'x.npy', x)}")
    assert result.returncode == 0, result.stderr
    header, *values = result.stdout.splitlines()
    assert header == "result: f32[4,8]"
    printed = np.array([float(v) for v in " ".join(values).replace("[", " ").replace("]", " ").split()])
    expected = np.exp(x - x.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(printed.reshape(4, 8), expected, rtol=1e-5, atol=1e-7)


def test_run_saves_result_and_binds_by_name_or_number(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 8), dtype=np.float32)
    w = rng.standard_normal((8, 3), dtype=np.float32)
    bias = rng.standard_normal(3, dtype=np.float32)
    out = tmp_path / "out"
    assert cli.main(["run", example("dot_bias_relu.hlo"),
                     "--input", f"bias={save(tmp_path, 'b.npy', bias)}",
                     "--input", f"0={save(tmp_path, 'x.npy', x)}",
                     "--input", f"1={save(tmp_path, 'w.npy', w)}",
                     "--output", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["result.npy"]
    saved = np.load(out / "result.npy")
    assert saved.dtype == np.float32
    np.testing.assert_allclose(saved, np.maximum(x @ w + bias, 0), rtol=1e-5, atol=1e-6)


def test_run_while_loop(tmp_path, capsys):
    assert cli.main(["run", example("while_sum.hlo"),
                     "--input", f"n={save(tmp_path, 'n.npy', np.int32(10))}"]) == 0
    assert capsys.readouterr().out == "result: s32[]\n45\n"


@pytest.mark.parametrize("use_abs", [True, False])
def test_run_conditional(tmp_path, use_abs):
    x = np.array([-2, -0.5, 0, 1, 3, -4, 5, -6], dtype=np.float32)
    assert cli.main(["run", example("conditional.hlo"),
                     "--input", f"use_abs={save(tmp_path, 'flag.npy', np.bool_(use_abs))}",
                     "--input", f"x={save(tmp_path, 'x.npy', x)}",
                     "--output", str(tmp_path)]) == 0
    expected = np.abs(x) if use_abs else x * 0.5
    np.testing.assert_array_equal(np.load(tmp_path / "result.npy"), expected)


def test_run_saves_nested_tuples_with_dotted_names(tmp_path, capsys):
    module = tmp_path / "tuple.hlo"
    module.write_text(TUPLE_RESULT)
    x = np.array([0.0, 1.0], dtype=np.float32)
    assert cli.main(["run", str(module), "--input", f"x={save(tmp_path, 'x.npy', x)}",
                     "--input", f"n={save(tmp_path, 'n.npy', np.int32(7))}",
                     "--output", str(tmp_path / "out")]) == 0
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["result.0.npy", "result.1.0.npy",
                                                     "result.1.1.npy"]
    np.testing.assert_allclose(np.load(out / "result.0.npy"), np.exp(x), rtol=1e-6)
    assert np.load(out / "result.1.0.npy") == 7
    np.testing.assert_array_equal(np.load(out / "result.1.1.npy"), x)
    assert "result.1.0.npy (s32[])" in capsys.readouterr().out


def test_run_prints_tuples_with_dotted_labels(tmp_path, capsys):
    module = tmp_path / "tuple.hlo"
    module.write_text(TUPLE_RESULT)
    assert cli.main(["run", str(module),
                     "--input", f"x={save(tmp_path, 'x.npy', np.zeros(2, np.float32))}",
                     "--input", f"n={save(tmp_path, 'n.npy', np.int32(7))}"]) == 0
    labels = [line for line in capsys.readouterr().out.splitlines() if line.startswith("result")]
    assert labels == ["result.0: f32[2]", "result.1.0: s32[]", "result.1.1: f32[2]"]


@pytest.fixture
def softmax_inputs(tmp_path: Path) -> dict[str, str]:
    return {
        "good": save(tmp_path, "good.npy", np.zeros((4, 8), np.float32)),
        "f64": save(tmp_path, "f64.npy", np.zeros((4, 8), np.float64)),
        "short": save(tmp_path, "short.npy", np.zeros((4, 7), np.float32)),
        "complex": save(tmp_path, "complex.npy", np.zeros((4, 8), np.complex64)),
        "missing": str(tmp_path / "missing.npy"),
        "text": str(tmp_path / "text.npy"),
    }


@pytest.mark.parametrize("inputs, fragments", [
    ([], ["missing input", "'x'", "f32[4,8]"]),
    (["x=f64"], ["parameter 'x' expects f32[4,8]", "holds f64[4,8]"]),
    (["x=short"], ["parameter 'x' expects f32[4,8]", "holds f32[4,7]"]),
    (["x=complex"], ["parameter 'x' expects f32[4,8]", "complex64"]),
    (["y=good"], ["no parameter 'y'", "'x' (parameter 0, f32[4,8])"]),
    (["1=good"], ["no parameter '1'", "'x' (parameter 0, f32[4,8])"]),
    (["x=missing"], ["cannot read", "for parameter 'x' (f32[4,8])", "No such file"]),
    (["x=text"], ["cannot load", "for parameter 'x' (f32[4,8])", "not a .npy file"]),
    (["x=good", "0=good"], ["'x' (parameter 0, f32[4,8]) is given twice"]),
    (["x"], ["--input expects NAME=FILE.npy"]),
])
def test_run_rejects_bad_inputs(softmax_inputs, tmp_path, inputs, fragments):
    Path(softmax_inputs["text"]).write_text("not numpy")
    args = []
    for spec in inputs:
        key, _, file = spec.partition("=")
        args += ["--input", f"{key}={softmax_inputs[file]}" if file else key]
    result = jitflow_cli("run", example("softmax.hlo"), *args)
    assert_user_error(result, *fragments)
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_run_rejects_tuple_parameters(tmp_path, capsys):
    module = tmp_path / "tuple_param.hlo"
    module.write_text("HloModule m\n\nENTRY %main (t: (f32[2], s32[])) -> f32[2] {\n"
                      "  %t = (f32[2], s32[]) parameter(0)\n"
                      "  ROOT %a = f32[2] get-tuple-element(%t), index=0\n}\n")
    assert cli.main(["run", str(module)]) == 2
    assert "parameter 't' (parameter 0, (f32[2], s32[])) is a tuple" in capsys.readouterr().err


# -- demo --------------------------------------------------------------------

def test_demo_covers_every_shipped_example():
    assert sorted({demo.file for demo in cli.DEMOS}) == EXAMPLES


def test_demo_runs_and_matches_numpy():
    result = jitflow_cli("demo", cwd=Path(__file__).parent)
    assert result.returncode == 0, result.stderr
    for name in EXAMPLES:
        assert f"=== {name} ===" in result.stdout
    for program in jitflow.demo.PROGRAMS:
        assert f"=== {program.function.__name__} (compiled from Python) ===" in result.stdout
    assert result.stdout.count("time per call: jitflow") == len(jitflow.demo.PROGRAMS)
    hlo_runs = sum(len(demo.runs(np.random.default_rng(0))) for demo in cli.DEMOS)
    # Each HLO example runs in the interpreter and compiled; each program compiled.
    assert result.stdout.count("matches NumPy: max abs error") == 2 * hlo_runs + len(
        jitflow.demo.PROGRAMS)
    assert "close to the truth 1, 2, -5" in result.stdout  # the quadratic-fit training section
    checks = hlo_runs + len(jitflow.demo.PROGRAMS) + len(jitflow.demo.TRAINING)
    assert f"all {checks} demo checks match NumPy" in result.stdout


def test_demo_fails_when_a_check_fails(monkeypatch, capsys):
    wrong = cli.DemoExample("while_sum.hlo", lambda rng: [{"n": np.int32(4)}],
                            lambda n: np.int32(7))
    monkeypatch.setattr(cli, "DEMOS", (wrong,))
    monkeypatch.setattr(jitflow.demo, "PROGRAMS", ())
    monkeypatch.setattr(jitflow.demo, "TRAINING", ())
    assert cli.main(["demo"]) == 1
    captured = capsys.readouterr()
    assert "interpreter: DOES NOT MATCH NumPy: max abs error 1.0e+00" in captured.out
    assert "compiled for the cpu: DOES NOT MATCH NumPy: max abs error 1.0e+00" in captured.out
    assert "1 of 1 demo checks do not match NumPy" in captured.err


USER_FUNCTIONS = '''\
import numpy as np
import jitflow


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@jitflow.jit
def scale(x, y):
    return x * y


def branchy(x):
    if x > 0:
        return x
    return -x
'''


@pytest.fixture
def user_file(tmp_path: Path) -> Path:
    path = tmp_path / "user_functions.py"
    path.write_text(USER_FUNCTIONS)
    return path


def test_dump_traced_ir_names_the_user_lines(user_file, capsys):
    assert cli.main(["dump", f"{user_file}:softmax", "--arg", "f32[4,8]"]) == 0
    module = parse_module(capsys.readouterr().out)
    assert module.entry.parameters[0].type.shape == (4, 8)
    assert {i.source.line for i in module.entry.instructions if i.opcode == "exponential"} == {6}
    assert all(i.source.file == str(user_file) for i in module.entry.instructions)


def test_dump_accepts_jitted_functions_and_scalars(user_file, capsys):
    assert cli.main(["dump", f"{user_file}:scale", "--arg", "s32[3]", "--arg", "s32[]",
                     "--stage", "optimized"]) == 0
    root = parse_module(capsys.readouterr().out).entry.root
    assert root.opcode in ("multiply", "fusion")
    assert root.type.dtype is DType.S32 and root.type.shape == (3,)


@pytest.mark.parametrize("argv,fragments", [
    (["{file}:nope", "--arg", "f32[2]"], ["has no function 'nope'"]),
    (["{file}", "--arg", "f32[2]"], ["expected FILE.py:FUNC"]),
    (["/no/such/file.py:f"], ["cannot read '/no/such/file.py'"]),
    (["{file}:softmax", "--arg", "f32[2,"], ["--arg:1:7: error: expected a dimension size"]),
    (["{file}:softmax", "--arg", "(f32[2])"], ["--arg expects an array type"]),
    (["{file}:branchy", "--arg", "f32[2]"], ["user_functions.py:16 (in branchy)", "truth value is ambiguous", "np.any"]),
])
def test_dump_errors(user_file, capsys, argv, fragments):
    argv = [a.replace("{file}", str(user_file)) for a in argv]
    assert cli.main(["dump", *argv]) == 2
    err = capsys.readouterr().err
    for fragment in fragments:
        assert fragment in err, err
    assert "Traceback" not in err


# -- hostile input (issue 16, defect 7) --------------------------------------

@pytest.mark.parametrize("header, fragments", [
    # 3.64 TiB claimed: refused from the header, before any allocation.
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (9999999, 99999), }",
     ["expects f32[4,8]", "holds f32[9999999,99999]"]),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (4, }", ["malformed .npy header"]),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': " + "(" * 5000 + ")" * 5000 + "}",
     ["cannot load"]),
    ("{'descr': '|O', 'fortran_order': False, 'shape': (4, 8), }", ["Python objects"]),
    ("{'descr': 'zz', 'fortran_order': False, 'shape': (4, 8), }", ["cannot load"]),
    ("__import__('os').system('echo pwned')", ["cannot load"]),
], ids=["huge-shape", "unbalanced", "deep-parens", "objects", "bad-descr", "code"])
def test_run_refuses_hostile_npy_headers(tmp_path, capsys, header, fragments):
    path = write_npy_header(tmp_path / "hostile.npy", header)
    assert cli.main(["run", example("softmax.hlo"), "--input", f"x={path}"]) == 2
    captured = capsys.readouterr()
    assert "pwned" not in captured.out
    for fragment in fragments:
        assert fragment in captured.err, captured.err
    assert len(captured.err.strip().splitlines()) == 1


def test_run_reports_results_too_large_for_memory(tmp_path):
    module = tmp_path / "huge.hlo"
    module.write_text("HloModule m\n\nENTRY %main () -> s32[100000,100000,100] {\n"
                      "  ROOT %i = s32[100000,100000,100] iota(), iota_dimension=0\n}\n")
    result = jitflow_cli("run", str(module))
    assert_user_error(result, "evaluating %i", "iota", "3.64 TiB")


def test_run_and_opt_refuse_shapes_no_offset_can_address(tmp_path):
    module = tmp_path / "overflow.hlo"
    module.write_text("HloModule m\n\nENTRY %main () -> s32[4294967296,4294967296] {\n"
                      "  ROOT %i = s32[4294967296,4294967296] iota(), iota_dimension=0\n}\n")
    for command in ("run", "opt"):
        result = jitflow_cli(command, str(module))
        assert_user_error(result, "overflow.hlo:3:19:", "more than an int64 byte offset")


def test_deep_call_chains_fail_cleanly_with_passes(tmp_path):
    module = tmp_path / "chain.hlo"
    module.write_text(call_chain(1100))
    for args in (["opt", "--passes", "simplify"], ["run", "--input", "x=" + save(tmp_path, "x.npy", np.float32(1))]):
        result = jitflow_cli(args[0], str(module), *args[1:])
        assert_user_error(result, "computations deep")
        assert "RecursionError" not in result.stderr and len(result.stderr) < 1000


def test_dump_traces_from_types_without_allocating(user_file, capsys):
    # 400 GB as a real array: tracing must not create one.
    assert cli.main(["dump", f"{user_file}:softmax", "--arg", "f32[99999999999,1]"]) == 0
    module = parse_module(capsys.readouterr().out)
    assert module.entry.parameters[0].type.shape == (99999999999, 1)


@pytest.mark.parametrize("argv, fragments", [
    (["{dir}/broken.py:f", "--arg", "f32[2]"], ["broken.py", "SyntaxError"]),
    (["{dir}/exits.py:f", "--arg", "f32[2]"], ["exits.py", "SystemExit"]),
    (["{dir}/data.txt:f", "--arg", "f32[2]"], ["expected a Python file"]),
    (["{file}:softmax"], ["missing a required argument", "--arg"]),
    (["{file}:softmax", "--arg", "f32[1_0]"], ["--arg:1:5: error: expected a dimension size"]),
])
def test_dump_refuses_unimportable_targets_cleanly(user_file, tmp_path, capsys, argv, fragments):
    (tmp_path / "broken.py").write_text("def f(x:\n")
    (tmp_path / "exits.py").write_text("import sys\nsys.exit(3)\n")
    (tmp_path / "data.txt").write_text("def f(x): return x\n")
    argv = [a.replace("{file}", str(user_file)).replace("{dir}", str(tmp_path)) for a in argv]
    assert cli.main(["dump", *argv]) == 2
    err = capsys.readouterr().err
    for fragment in fragments:
        assert fragment in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 3
