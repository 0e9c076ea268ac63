"""Peak memory: one method (a forked child's RSS high-water mark) for torch and ONNX Runtime."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import weightlight as wl
from weightlight.measure import memory

pytestmark = pytest.mark.skipif(not memory.available(), reason="needs Linux fork and /proc")


def test_the_child_counts_what_it_allocates():
    peak, method = memory.forked_peak(lambda: bytearray(64_000_000), batch=1)
    assert 64_000_000 <= peak < 64_000_000 + 16_000_000
    assert method.startswith("fresh forked process")


def test_a_failing_child_is_reported_not_raised():
    def boom():
        raise RuntimeError("no")

    assert memory.forked_peak(boom, batch=1) == (
        None, "not measured: the measuring child process failed")  # fmt: skip


def test_torch_peak_grows_with_the_weights_it_copies():
    x = torch.randn(1, 2048)
    small = wl.measure.as_runnable(nn.Linear(2048, 16)).peak_memory(x)[0]
    big = wl.measure.as_runnable(nn.Linear(2048, 4096)).peak_memory(x)[0]
    weights = 2048 * 4096 * 4  # 33.5 MB the big model's child must copy
    assert weights * 0.9 <= big - small <= weights * 1.5


def test_torch_and_onnx_rows_are_measured_by_the_same_method(tmp_path, digits):
    from weightlight.export.onnx import export_onnx

    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 2048), nn.ReLU(), nn.Linear(2048, 10))
    batch = digits.example_batch(64)
    torch_peak, torch_how = wl.measure.as_runnable(model).peak_memory(batch)
    onnx = export_onnx(model, digits, tmp_path / "m.onnx")
    onnx_peak, onnx_how = onnx.peak_memory(batch)
    assert torch_how == onnx_how
    weights = (784 * 2048 + 2048 + 2048 * 10 + 10) * 4
    assert torch_peak >= weights and onnx_peak >= weights
