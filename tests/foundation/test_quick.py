"""The quick path: model + input shape utilities agree with the thorough wl.measure."""

from __future__ import annotations

import pytest
import torch

import weightlight as wl
from weightlight.errors import UserError


def test_count_parameters_of_the_seed_cnn_by_hand():
    model = wl.models.mnist_cnn()
    by_hand = sum(p.numel() for p in model.parameters())
    assert wl.quick.count_parameters(model) == by_hand == 1_199_882


def test_nonzero_count_drops_with_unstructured_pruning(trained_cnn, digits):
    pruned = wl.prune(trained_cnn, wl.prune.Unstructured(ratio=0.5), digits)
    total = wl.quick.count_parameters(pruned)
    nonzero = wl.quick.count_parameters(pruned, nonzero=True)
    assert total == 1_199_882
    assert 0.45 < 1 - nonzero / total < 0.55  # biases stay; half the weights are zero


def test_size_is_four_bytes_per_float_weight_and_int8_is_smaller(trained_cnn, digits):
    fp32 = wl.quick.size_mb(trained_cnn)
    assert 4 * 1_199_882 / 1e6 <= fp32 < 4 * 1_199_882 / 1e6 + 0.01  # + the safetensors header
    int8 = wl.quick.size_mb(wl.quantize(trained_cnn, wl.quantize.Dynamic(), digits))
    assert 2.5 < fp32 / int8 < 4.2  # int8 weights: ~4x smaller, less for fp32 biases/scales


def test_benchmark_times_the_given_shape(monkeypatch):
    model = wl.models.mnist_cnn().eval()
    seen = []
    original = model.forward
    monkeypatch.setattr(model, "forward", lambda x: (seen.append(tuple(x.shape)), original(x))[1])
    result = wl.quick.benchmark(model, (4, 1, 28, 28), runs=6, warmup=2)
    assert seen[0] == (1, 1, 28, 28)  # the shape check
    assert seen[1:] == [(4, 1, 28, 28)] * 8  # 2 warm-up + 6 timed calls, at the asked shape
    assert result["runs"] == 6 and 0 < result["p50_ms"] <= result["p90_ms"]
    assert result["per_second"] == pytest.approx(4000 / result["p50_ms"])


def test_benchmark_with_a_wrong_shape_is_one_line():
    with pytest.raises(UserError, match=r"cannot run on input_shape \(1, 3, 32, 32\)"):
        wl.quick.benchmark(wl.models.mnist_cnn(), (1, 3, 32, 32), runs=1)
    with pytest.raises(UserError, match="size below 1"):
        wl.quick.benchmark(wl.models.mnist_cnn(), (0, 1, 28, 28))


def test_save_and_load_round_trip(trained_cnn, tmp_path):
    path = wl.quick.save(trained_cnn, tmp_path / "cnn.safetensors")
    loaded = wl.quick.load(path)
    x = torch.randn(3, 1, 28, 28)
    torch.testing.assert_close(loaded.eval()(x), trained_cnn.eval()(x))
    again = wl.quick.load(path, architecture=wl.models.mnist_cnn())
    torch.testing.assert_close(again.eval()(x), trained_cnn.eval()(x))


def test_quick_and_thorough_paths_agree(trained_cnn, digits):
    record = wl.measure(trained_cnn, digits, runs=2, warmup=0, batch_sizes=(1,))
    assert wl.quick.count_parameters(trained_cnn) == record.params
    assert wl.quick.size_mb(trained_cnn) == pytest.approx(record.size_bytes / 1e6)
