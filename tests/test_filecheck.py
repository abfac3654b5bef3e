"""FileCheck tests, run by lit: IR text in, a ``jitflow`` command, CHECK lines over its output.

Each test file under ``filecheck/`` (subfolders included; ``filecheck/lit.cfg.py``
says which files are tests and how their ``RUN:`` lines run) holds lines such as
``// RUN: jitflow opt %s | filecheck %s``.  ``lit tests/filecheck`` runs them all;
here lit runs one file per test, so that pytest reports and selects them one by one.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

FILECHECK_DIR = Path(__file__).parent / "filecheck"
# lit has no ``python -m lit``; its console script may belong to another Python.
LIT = [sys.executable, "-c", "import sys, lit.main; sys.argv[0] = 'lit'; lit.main.main()"]
# What lit.cfg.py declares: its suffixes, minus its excludes.
SUFFIXES = (".hlo", ".py")
EXCLUDED = ("plugins", "lit.cfg.py")


def filecheck_files() -> list[Path]:
    return sorted(path for path in FILECHECK_DIR.rglob("*") if path.suffix in SUFFIXES
                  and not set(path.relative_to(FILECHECK_DIR).parts) & set(EXCLUDED))


def run_lit(exec_root: Path, *args: str) -> subprocess.CompletedProcess:
    """lit with its scratch files in ``exec_root``, apart from concurrent runs."""
    return subprocess.run(LIT + [f"--param=exec_root={exec_root}", *args], capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("path", filecheck_files(), ids=lambda p: p.relative_to(FILECHECK_DIR).as_posix())
def test_filecheck(path: Path, tmp_path: Path) -> None:
    result = run_lit(tmp_path, "-v", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Passed: 1 " in result.stdout, result.stdout


def test_lit_finds_the_files_this_test_runs(tmp_path: Path):
    result = run_lit(tmp_path, "--show-tests", str(FILECHECK_DIR))
    assert result.returncode == 0, result.stdout + result.stderr
    listed = {line.split(" :: ", 1)[1].strip() for line in result.stdout.splitlines() if " :: " in line}
    assert listed == {p.relative_to(FILECHECK_DIR).as_posix() for p in filecheck_files()}
