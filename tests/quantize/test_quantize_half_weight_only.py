"""bf16/fp16 casts, weight-only int8/int4, and CPU feature detection."""

from __future__ import annotations

import pytest
import torch

import weightlight as wl
from weightlight.hardware import cpu_features, parse_cpuinfo
from weightlight.quantize import Half, WeightOnly, affine
from weightlight.quantize.weight_only import WeightOnlyLinear

QUICK = {"batch_sizes": (1,), "runs": 2, "warmup": 1}


@pytest.mark.parametrize("dtype", ["bf16", "fp16"])
def test_half_halves_the_size_and_keeps_accuracy(trained_cnn, digits, dtype):
    base = wl.measure(trained_cnn, digits, **QUICK)
    q = wl.quantize(trained_cnn, Half(dtype=dtype))
    m = wl.measure(q, digits, **QUICK)
    assert base.size_bytes / m.size_bytes == pytest.approx(2.0, rel=0.01)
    assert m.metric >= base.metric - 0.6
    assert q(digits.example_input).dtype == {"bf16": torch.bfloat16, "fp16": torch.float16}[dtype]


@pytest.mark.parametrize(("bits", "ratio"), [(8, 3.5), (4, 6.0)])
def test_weight_only_shrinks_linear_weights_and_keeps_accuracy(trained_cnn, digits, bits, ratio):
    base = wl.measure(trained_cnn, digits, **QUICK)
    q = wl.quantize(trained_cnn, WeightOnly(bits=bits, group_size=32))
    m = wl.measure(q, digits, **QUICK)
    assert isinstance(q.fc1, WeightOnlyLinear) and isinstance(q.fc2, WeightOnlyLinear)
    assert base.size_bytes / m.size_bytes >= ratio  # fc1 is 98 % of the weights
    assert m.metric >= base.metric - 1.0


def test_weight_only_round_trip_is_within_half_a_step(trained_cnn):
    w = trained_cnn.fc1.weight.detach()
    layer = WeightOnlyLinear.from_linear(trained_cnn.fc1, bits=4, group_size=32)
    err = (layer.dequantized_weight() - w).abs().reshape(128, -1, 32)
    half_step = layer.scales.float().unsqueeze(-1) / 2
    assert bool((err <= half_step * (1 + 1e-5)).all())
    qp = affine.scale_zero_point(w.reshape(-1, 32), 4, symmetric=True, axis=0)
    assert torch.allclose(layer.scales.float().flatten(), qp.scale, rtol=1e-3)


def test_weight_only_rejects_a_group_size_that_does_not_divide(trained_cnn):
    with pytest.raises(wl.UserError, match="not a multiple of group_size 48"):
        wl.quantize(trained_cnn, WeightOnly(group_size=48))


def test_cpu_feature_parsing():
    text = "processor : 0\nmodel name : Test CPU\nflags : fpu avx512_vnni avx512_bf16\n"
    f = parse_cpuinfo(text)
    assert (f.model_name, f.fast_bf16, f.fast_fp16, f.fast_int8) == ("Test CPU", True, False, True)
    assert not parse_cpuinfo("").fast_bf16
    assert cpu_features().model_name  # this machine, read once
