"""Every example script runs end to end (they are teaching material: they must work)."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.py"))


def test_the_six_examples_exist():
    names = {p.stem for p in EXAMPLES}
    assert {"mnist_training", "model_optimization", "pruning_example", "quantization_example",
            "distillation_example", "onnx_example"} <= names  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(script, tmp_path):
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=900)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(proc.stdout.strip().splitlines()) >= 3  # it printed what changed
    assert "Traceback" not in proc.stderr
