"""The example plugin package (examples/pass_plugin), installed, found through its entry points."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PLUGIN_SOURCE = Path(__file__).resolve().parents[2] / "examples" / "pass_plugin"

DOUBLED = """\
HloModule doubled

ENTRY %main (x: f32[4]) -> f32[4] {
  %x = f32[4] parameter(0)
  %two = f32[] constant(2)
  %twos = f32[4] broadcast(%two), dimensions={}
  ROOT %y = f32[4] multiply(%x, %twos)
}
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A directory the plugin is pip-installed into, as a site directory on PYTHONPATH."""
    pytest.importorskip("setuptools", minversion="77", reason="installing the plugin needs setuptools>=77")
    root = tmp_path_factory.mktemp("plugin")
    # Build from a copy so that the build leaves nothing behind in the checkout.
    source = root / "source"
    shutil.copytree(PLUGIN_SOURCE, source)
    target = root / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--quiet",
         "--target", str(target), str(source)], capture_output=True, text=True)
    assert install.returncode == 0, install.stdout + install.stderr
    return target


def run(site: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=cwd)


def test_installed_passes_are_listed(site):
    result = run(site, "-m", "jitflow", "passes")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "count-ops      Print how many instructions of each opcode the module holds " \
           "(to standard error).  [jitflow_example_passes.CountOps]" in lines
    assert "double-to-add  Rewrite x * 2 into x + x.  [jitflow_example_passes.double_to_add]" in lines


def test_installed_passes_run_by_name_in_the_cli(site, tmp_path):
    path = tmp_path / "doubled.hlo"
    path.write_text(DOUBLED)
    result = run(site, "-m", "jitflow", "opt", str(path), "--passes",
                 "double-to-add,count-ops{top=1}", "--verify-each")
    assert result.returncode == 0, result.stderr
    assert "ROOT %add = f32[4] add(%x, %x)" in result.stdout
    assert result.stderr.split() == ["1", "parameter"]
    bad = run(site, "-m", "jitflow", "opt", str(path), "--passes", "count-ops{top=-2}")
    assert bad.returncode == 2
    assert bad.stderr == "error: option 'top' of pass 'count-ops' must be at least 0, got -2\n"


def test_installed_passes_in_jit(site, tmp_path):
    script = textwrap.dedent("""
        import numpy as np
        import jitflow
        from jitflow.passes import insert_after, remove

        def f(x):
            return x * 2 + 1

        x = np.array([1.5, -0.0, np.inf, np.nan], dtype=np.float32)
        jitted = jitflow.jit(f, backend="interpreter", verify=True,
                             passes=[insert_after("simplify", "double-to-add"), remove("fuse")])
        ops = [i.opcode for i in jitted.lower(x).entry.instructions]
        assert "multiply" not in ops and ops.count("add") == 2, ops
        np.testing.assert_array_equal(jitted(x), f(x))
        print("ok")
    """)
    result = run(site, "-c", script, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n"
