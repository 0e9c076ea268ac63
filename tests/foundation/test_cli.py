import subprocess
import sys

import numpy as np
import pytest


@pytest.mark.parametrize(
    "args, words",
    [
        (["measure", "mnist_cnn", "--data", "nosuchsource"], "unknown data source"),
        (["measure", "missing.safetensors"], "does not exist"),
        (["measure", "mnist_cnn", "--data", "nosuchmod_abc:make"], "was not found"),
        (["measure", "mnist_cnn", "--data", "weightlight.data:nope"], "has no function"),
        (["measure", "mnist_cnn", "--batch-sizes", "1,x"], "not integers"),
        (["train", "--model", "nosuch_model"], "unknown model"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(run_cli, args, words):
    code, out, err = run_cli(*args)
    assert code == 2
    assert words in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err + out


def test_npz_without_xy_via_cli(run_cli, tmp_path):
    np.savez(tmp_path / "bad.npz", a=np.zeros(3))
    code, _, err = run_cli("measure", "mnist_cnn", "--data", tmp_path / "bad.npz")
    assert code == 2 and "needs 'x' and 'y'" in err


def test_measure_json_from_the_console_script(tmp_path):
    """The real console entry (python -m weightlight) end to end, with --json output."""
    import json

    proc = subprocess.run(
        [sys.executable, "-m", "weightlight", "measure", "mlp", "--runs", "3", "--json"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["params"] == 235_146 and record["runtime"] == "torch"


def test_missing_file_from_the_console_script_has_no_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "weightlight", "measure", "nope.onnx"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error:") and "Traceback" not in proc.stderr


def test_measure_prints_energy_co2_and_cost(run_cli):
    """`weightlight measure` reports energy, CO2 and cost like run/search, with the user's grid
    intensity and price: doubling them doubles CO2 and cost for the same energy."""
    import json

    code, out, err = run_cli("measure", "mlp", "--runs", "3", "--batch-sizes", "8", "--json",
                             "--carbon", "400", "--price", "0.2", "--currency", "EUR")  # fmt: skip
    assert code == 0, err
    energy = json.loads(out)["energy"]
    assert energy["batch_size"] == 8 and energy["currency"] == "EUR"
    assert energy["co2_g_per_1m"] == pytest.approx(energy["kwh_per_1m"] * 400)
    assert energy["cost_per_1m"] == pytest.approx(energy["kwh_per_1m"] * 0.2)
    assert energy["kwh_per_1m"] == pytest.approx(energy["joules_per_1m"] / 3.6e6)
    code, out, err = run_cli("measure", "mlp", "--runs", "3", "--batch-sizes", "8")
    assert code == 0, err
    assert "g CO2e" in out and "USD" in out and "per 1M inferences (batch 8)" in out
