"""Static int8 on the seed CNN: accuracy, size, exclusion, save/reload."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import weightlight as wl
from weightlight.quantize import StaticInt8, load_quantized, save_quantized

QUICK = {"batch_sizes": (1,), "runs": 3, "warmup": 1}


@pytest.fixture(scope="module")
def cnn_fp32(trained_cnn, digits):
    return wl.measure(trained_cnn, digits, name="fp32", **QUICK)


@pytest.fixture(scope="module")
def cnn_int8(trained_cnn, digits):
    return wl.quantize(trained_cnn, StaticInt8(calibration="percentile", per_channel=True), digits)


def test_static_int8_agrees_with_fp32_and_is_3_5x_smaller(
    cnn_int8, cnn_fp32, trained_cnn, digits, agreement
):
    m = wl.measure(cnn_int8, digits, name="int8", **QUICK)
    # Margins any x86 CPU's numerics keep (tests/conftest.py); int16 saturation breaks them.
    assert agreement(trained_cnn, cnn_int8, digits) >= agreement.int8_floor
    assert m.metric >= cnn_fp32.metric - 1.0, (m.metric, cnn_fp32.metric)
    assert cnn_fp32.size_bytes / m.size_bytes >= 3.5
    # int8 weights are counted as parameters (within 2 %: scales and zero points add a few)
    assert abs(m.params - cnn_fp32.params) / cnn_fp32.params < 0.02


def test_every_calibration_method_gives_a_working_int8_model(trained_cnn, digits, cnn_fp32):
    for method in ("minmax", "entropy", "mse"):
        q = wl.quantize(trained_cnn, StaticInt8(calibration=method, batches=4), digits)
        acc = wl.measure(q, digits, **QUICK).metric
        assert acc >= cnn_fp32.metric - 1.5, (method, acc)


def test_excluded_layer_stays_float_and_input_is_untouched(trained_cnn, digits):
    before = {k: v.clone() for k, v in trained_cnn.state_dict().items()}
    q = wl.quantize(trained_cnn, StaticInt8(exclude=("fc2",), batches=2), digits)
    assert type(q.fc2) is nn.Linear
    assert "quantized" in type(q.fc1).__module__
    assert all(torch.equal(before[k], v) for k, v in trained_cnn.state_dict().items())


def test_save_and_reload_gives_identical_outputs(cnn_int8, digits, tmp_path):
    config = StaticInt8(calibration="percentile", per_channel=True)
    path = save_quantized(cnn_int8, tmp_path / "cnn_int8.pt", config)
    back = load_quantized(path, wl.models.mnist_cnn(), digits.example_input)
    x = digits.example_batch(16)
    with torch.inference_mode():
        assert torch.equal(back(x), cnn_int8(x))
    assert path.stat().st_size < 1_300_000  # vs 4.8 MB of fp32 weights
