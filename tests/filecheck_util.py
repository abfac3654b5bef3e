"""FileCheck inside pytest tests: CHECK lines given as a string, run over generated text.

The ``filecheck`` package (in the test extra) runs under this Python, as the FileCheck
files under ``filecheck/`` do; a failure shows its report, which names the CHECK line
that did not match and where in the text it looked.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest


def filecheck(text: str, checks: str, *, prefix: str = "CHECK") -> None:
    """Fail the test unless ``text`` satisfies the ``prefix:`` lines of ``checks``, in order."""
    with tempfile.TemporaryDirectory() as folder:
        check_file = Path(folder) / "checks.txt"
        check_file.write_text(checks)
        command = [sys.executable, "-m", "filecheck", str(check_file), "--check-prefix", prefix]
        result = subprocess.run(command, input=text, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        pytest.fail(f"FileCheck failed:\n{result.stdout}{result.stderr}", pytrace=False)
