"""``jitflow opt`` with pipelines, dumps and timing, and ``jitflow passes``."""

from __future__ import annotations

from importlib.resources import files

import pytest

from jitflow import cli
from jitflow.ir import parse_module

SOFTMAX = str(files("jitflow") / "examples" / "softmax.hlo")


def test_dump_dir_alone_dumps_after_every_pass(tmp_path, capsys):
    dumps = tmp_path / "dumps"
    assert cli.main(["opt", SOFTMAX, "--passes", "simplify,cse,dce", "--dump-dir", str(dumps)]) == 0
    assert sorted(p.name for p in dumps.iterdir()) == ["01-simplify.hlo", "02-cse.hlo", "03-dce.hlo"]
    final = capsys.readouterr().out
    dce_dump = (dumps / "03-dce.hlo").read_text()
    assert dce_dump.startswith("// IR after pass 3 'dce' (unchanged)\n")
    assert dce_dump.split("\n", 1)[1] == final


def test_dump_after_one_pass_into_a_directory(tmp_path):
    dumps = tmp_path / "dumps"
    assert cli.main(["opt", SOFTMAX, "--passes", "simplify,cse,cse", "--dump-after", "cse",
                     "--dump-dir", str(dumps)]) == 0
    assert sorted(p.name for p in dumps.iterdir()) == ["02-cse.hlo", "03-cse.hlo"]


def test_unwritable_dump_dir_is_a_user_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert cli.main(["opt", SOFTMAX, "--passes", "cse", "--dump-dir", str(blocker / "sub")]) == 2
    assert "error: cannot write the IR dump" in capsys.readouterr().err


def test_timing_goes_to_stderr_and_the_ir_to_the_output(tmp_path, capsys):
    out = tmp_path / "out.hlo"
    assert cli.main(["opt", SOFTMAX, "--passes", "simplify,dce", "--timing", "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    rows = [line.split()[0] for line in captured.err.splitlines()]
    assert rows == ["pass", "simplify", "dce", "total"]
    parse_module(out.read_text())


def test_passes_lists_plugins_loaded_from_a_module(tmp_path, monkeypatch, capsys, pass_registry):
    (tmp_path / "listed_plugin.py").write_text(
        "import jitflow\nfrom jitflow.passes import Pass, option\n\n"
        "@jitflow.register_pass('shout')\nclass Shout(Pass):\n"
        "    '''Make names louder.'''\n    times: int = option(2, 'how loud')\n\n"
        "    def run(self, module):\n        return False\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert cli.main(["passes", "--load-pass-plugin", "listed_plugin"]) == 0
    lines = capsys.readouterr().out.splitlines()
    row = lines.index("shout     Make names louder.  [listed_plugin.Shout]")
    assert lines[row + 1] == "            times: int = 2  how loud"
    assert lines[-1].startswith("default pipeline: simplify,cse,dce,fuse")
    assert cli.main(["opt", SOFTMAX, "--load-pass-plugin", "listed_plugin",
                     "--passes", "shout{times=3}"]) == 0


@pytest.mark.parametrize("argv, message", [
    (["--passes", "bogus"], "error: unknown pass 'bogus'"),
    (["--passes", "simplify{size=1}"], "error: pass 'simplify' has no option 'size'"),
    (["--passes", "simplify{fold-limit=big}"], "error: option 'fold-limit' of pass 'simplify' "
                                               "expects an int, got 'big'"),
    (["--passes", "simplify{"], "error: malformed pipeline (column 10): expected an option name"),
    (["--passes", "cse", "--dump-after", "dce"], "error: cannot dump after 'dce'"),
    (["--load-pass-plugin", "no/such/plugin.py"], "error: cannot load pass plugin"),
])
def test_pipeline_mistakes_exit_with_status_2(argv, message, capsys):
    assert cli.main(["opt", SOFTMAX, *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith(message)
    assert "Traceback" not in captured.err
