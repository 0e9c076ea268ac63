"""Bad input fails up front with one UserError line (exit code 2 at the CLI)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import weightlight as wl
from weightlight.quantize import QAT, Dynamic, StaticInt8


def test_unknown_method(trained_cnn):
    with pytest.raises(wl.UserError, match="unknown quantization method 'int3'.*static_int8"):
        wl.quantize(trained_cnn, {"method": "int3"})


def test_bad_field_names_the_field(trained_cnn):
    with pytest.raises(wl.UserError, match=r"quantize\.static_int8\.calibration: .*magic"):
        wl.quantize(trained_cnn, {"method": "static_int8", "calibration": "magic"})


def test_static_without_calibration_data(trained_cnn, digits):
    empty = DataLoader(TensorDataset(torch.empty(0, 1, 28, 28), torch.empty(0)), batch_size=8)
    no_calib = dataclasses.replace(digits, calib=empty)
    with pytest.raises(wl.UserError, match="data.calib yielded no batches") as err:
        wl.quantize(trained_cnn, StaticInt8(), no_calib)
    assert "\n" not in str(err.value)
    with pytest.raises(wl.UserError, match="needs calibration data"):
        wl.quantize(trained_cnn, StaticInt8(), None)


@pytest.mark.parametrize(
    "config", [StaticInt8(exclude=("fc3",)), Dynamic(exclude=("fc3",)), QAT(exclude=("fc3",))]
)
def test_excluding_a_layer_that_does_not_exist(trained_cnn, digits, config):
    with pytest.raises(wl.UserError, match="no layer named 'fc3'.*conv1"):
        wl.quantize(trained_cnn, config, digits)


def test_unknown_layer_type(trained_cnn, digits):
    with pytest.raises(wl.UserError, match="'Linearr' is not a torch.nn layer type"):
        wl.quantize(trained_cnn, StaticInt8(exclude_types=("Linearr",)), digits)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--method", "int3"], "unknown quantization method 'int3'"),
        (["--exclude", "fc3"], "no layer named 'fc3'"),
        (["--method", "half", "--calibration", "mse"], "quantize.half.calibration: unknown key"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_code_2(run_cli, tmp_path, args, words):
    code, out, err = run_cli("quantize", "mnist_cnn", "--out", tmp_path / "q.pt", *args)
    assert code == 2, (out, err)
    assert words in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "q.pt").exists()
