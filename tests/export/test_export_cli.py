"""`weightlight export` and `weightlight measure x.onnx`, and bad input: one line, exit code 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import weightlight as wl


def test_cli_export_static_int8_then_measure(run_cli, trained_cnn, digits, tmp_path):
    weights = wl.models.save_model(trained_cnn, tmp_path / "cnn.safetensors")
    out = tmp_path / "out.onnx"
    code, stdout, err = run_cli(
        "export", weights, "--onnx", out, "--optimize", "all", "--quantize", "static_int8"
    )
    assert code == 0, err
    assert out.is_file() and (tmp_path / "out.int8.onnx").is_file()
    assert "parity vs torch" in stdout and "100.00 %" in stdout
    code, stdout, err = run_cli(
        "measure", tmp_path / "out.int8.onnx", "--data", "digits", "--runs", "3",
        "--batch-sizes", "1,8", "--json",
    )  # fmt: skip
    assert code == 0, err
    record = json.loads(stdout)
    assert record["runtime"] == "onnxruntime"
    assert record["artifact_format"] == "onnx"
    fp32_accuracy = wl.measure.metric.evaluate(wl.measure.as_runnable(trained_cnn).run, digits.eval)
    assert abs(record["metric"] - fp32_accuracy) <= 1.0  # 3.6 of 360 images: any CPU's numerics
    assert record["size_bytes"] < 0.27 * out.stat().st_size


def _assert_one_line_error(result, words):
    code, out, err = result
    assert code == 2
    assert words in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err + out


def test_corrupt_onnx_file_is_one_line(run_cli, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage that is not a protobuf model" * 10)
    _assert_one_line_error(run_cli("measure", bad), "is not a valid ONNX model")
    with pytest.raises(wl.UserError, match="not a valid ONNX model"):
        wl.export.load_onnx(bad)


def test_truncated_onnx_file_is_one_line(run_cli, cnn_onnx, tmp_path):
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(cnn_onnx.path.read_bytes()[:5000])
    _assert_one_line_error(run_cli("measure", cut), "is not a valid ONNX model")


def test_wrong_input_shape_is_one_line(run_cli, cnn_onnx, tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "small.npz", x=rng.normal(size=(40, 1, 20, 20)), y=np.arange(40) % 4)
    _assert_one_line_error(
        run_cli("measure", cnn_onnx.path, "--data", tmp_path / "small.npz"),
        "takes inputs of shape ('N', 1, 28, 28), got (1, 1, 20, 20)",
    )
    with pytest.raises(wl.UserError, match="takes inputs of shape"):
        cnn_onnx.run(torch.zeros(2, 28, 28))


def test_export_with_wrong_shape_fails_before_writing(trained_cnn, tmp_path):
    rng = np.random.default_rng(0)
    data = wl.data.from_arrays(rng.normal(size=(40, 1, 20, 20)), np.arange(40) % 4)
    with pytest.raises(wl.UserError, match="cannot run on the data's input shape"):
        wl.export.onnx(trained_cnn, data, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_cli_export_rejects_bad_options(run_cli, tmp_path):
    _assert_one_line_error(
        run_cli("export", "mnist_cnn", "--onnx", tmp_path / "m.onnx", "--optimize", "max"),
        "invalid --optimize",
    )
    _assert_one_line_error(
        run_cli("export", "mnist_cnn", "--onnx", tmp_path / "m.txt"), "must end in .onnx"
    )
