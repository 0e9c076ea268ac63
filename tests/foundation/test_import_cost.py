"""Every CLI call imports weightlight: onnx (through ml_dtypes, ~1.2 s) and matplotlib
(~0.9 s) load only when a command touches a graph or draws a report."""

from __future__ import annotations

import subprocess
import sys

CHECK = "import sys, weightlight.cli; print(sorted({'ml_dtypes', 'matplotlib'} & set(sys.modules)))"


def test_cli_import_leaves_onnx_and_matplotlib_unloaded() -> None:
    run = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
