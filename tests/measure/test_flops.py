"""MACs of int8 torch models: the quantized kernels count from their packed weights' shapes."""

from __future__ import annotations

import warnings

import torch
from torch import nn

import weightlight as wl
from weightlight.measure.flops import count_macs


def _dynamic_int8(model: nn.Module) -> nn.Module:
    with warnings.catch_warnings():  # torch.ao's deprecation notice
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)


def test_a_dynamic_int8_linear_model_counts_its_int8_matmuls():
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4)).eval()
    expected = 3 * 8 * 16 + 3 * 16 * 4  # batch 3: out elements x in_features, per layer
    assert count_macs(model, torch.zeros(3, 8)) == expected
    assert count_macs(_dynamic_int8(model), torch.zeros(3, 8)) == expected


def test_a_static_int8_cnn_counts_what_its_fp32_source_does(digits):
    cnn = wl.models.mnist_cnn().eval()
    int8 = wl.quantize(cnn, {"method": "static_int8"}, digits)
    x = digits.example_batch(1)
    # conv 1->32 3x3 on 26x26, conv 32->64 3x3 on 24x24, fc 9216->128, fc 128->10
    expected = 26 * 26 * 32 * 9 + 24 * 24 * 64 * 32 * 9 + 9216 * 128 + 128 * 10
    assert count_macs(cnn, x) == count_macs(int8, x) == expected == 11_992_448
