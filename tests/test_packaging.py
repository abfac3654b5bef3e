"""The package as installed: importable from anywhere, and a wheel with exactly jitflow in it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import jitflow

ROOT = Path(__file__).resolve().parent.parent
# Local clutter that must not leak into the copy the wheel is built from.
NOT_SOURCE = shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__",
                                    ".pytest_cache", ".hypothesis", ".venv")


def test_import_from_the_tests_directory():
    tests_dir = Path(__file__).resolve().parent
    result = subprocess.run(
        [sys.executable, "-c", "import jitflow, jitflow.ir, jitflow.cli; print(jitflow.__version__)"],
        capture_output=True, text=True, cwd=tests_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == jitflow.__version__


def test_wheel_holds_the_package_and_nothing_else(tmp_path):
    # --no-build-isolation uses this environment's setuptools; the [test] extra installs it.
    pytest.importorskip("setuptools", minversion="77", reason="building the wheel needs setuptools>=77")
    source = tmp_path / "source"
    # Build from a copy so that the build leaves no build/ or egg-info behind in the checkout.
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
         str(wheels), str(source)], capture_output=True, text=True)
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = wheels.glob("jitflow-*.whl")
    names = zipfile.ZipFile(wheel).namelist()

    top_level = {name.split("/")[0] for name in names}
    assert top_level == {"jitflow", f"jitflow-{jitflow.__version__}.dist-info"}
    assert not [n for n in names if n.startswith(("jitflow/tests/", "jitflow/bench/"))]

    def shipped(folder: str, pattern: str) -> set[str]:
        return {f"jitflow/{folder}/{p.name}" for p in (ROOT / folder).glob(pattern)}

    assert shipped("ir", "*.py") <= set(names)
    assert shipped("examples", "*.hlo") <= set(names)
    assert {"jitflow/__init__.py", "jitflow/__main__.py", "jitflow/cli.py",
            "jitflow/errors.py"} <= set(names)
    dist_info = f"jitflow-{jitflow.__version__}.dist-info"
    assert f"{dist_info}/licenses/LICENSE" in names
    entry_points = zipfile.ZipFile(wheel).read(f"{dist_info}/entry_points.txt").decode()
    assert "jitflow = jitflow.cli:main" in entry_points
