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


def _run(script, cwd, *args):
    proc = subprocess.run([sys.executable, str(script), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=900)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    return proc.stdout


# model_optimization starts from mnist_training's file: the two run as the pair below (once
# each: mnist_training alone would train the same 15 epochs again, 37 s of CI).
STANDALONE = [p for p in EXAMPLES if p.stem not in ("mnist_training", "model_optimization")]


@pytest.mark.slow
@pytest.mark.parametrize("script", STANDALONE, ids=[p.stem for p in STANDALONE])
def test_example_runs(script, tmp_path):
    # 2 epochs for the seed CNN, not 15: every line still runs, 20-25 s sooner per script
    out = _run(script, tmp_path, *(["--epochs", "2"] if "--epochs" in script.read_text() else []))
    assert len(out.strip().splitlines()) >= 3  # it printed what changed


@pytest.mark.slow
def test_training_then_optimization_prints_the_comparison(tmp_path):
    """`python examples/mnist_training.py && python examples/model_optimization.py`: the second
    loads what the first saved and prints one row per technique, with why, and a plot."""
    folder = EXAMPLES[0].parent
    trained = _run(folder / "mnist_training.py", tmp_path, "--epochs", "2")  # 15: 23 s more
    assert (tmp_path / "cnn.safetensors").is_file() and "test accuracy" in trained
    out = _run(folder / "model_optimization.py", tmp_path)
    for name in ("weights-50%", "neurons-50% +FT", "neurons-50% +KD", "+FT PTQ int8",
                 "+FT QAT int8", "fp32 dynamic int8", "+FT ONNX int8"):  # fmt: skip
        assert f"  {name} " in out, name  # a 'what changed and why' line each
    assert (tmp_path / "comparison.png").read_bytes()[:4] == b"\x89PNG"


def test_optimization_without_a_trained_model_says_what_to_run(tmp_path):
    proc = subprocess.run([sys.executable, str(EXAMPLES[0].parent / "model_optimization.py")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 2 and "run python examples/mnist_training.py first" in proc.stderr
    assert "Traceback" not in proc.stderr
