import torch
from torch import nn

import weightlight as wl
from weightlight.measure.flops import count_macs


def test_macs_of_a_conv_equal_the_hand_computed_value():
    conv = nn.Conv2d(3, 8, kernel_size=3)  # 10x10 input -> 8x8 output
    # MACs = C_out * H_out * W_out * C_in * k * k
    assert count_macs(conv, torch.randn(1, 3, 10, 10)) == 8 * 8 * 8 * 3 * 3 * 3


def test_measurement_fields(trained_cnn, digits, tmp_path):
    m = wl.measure(trained_cnn, digits, name="fp32", runs=5, warmup=2, artifact_dir=tmp_path)
    artifact = tmp_path / "model.safetensors"
    assert m.size_bytes == artifact.stat().st_size
    assert 0 < m.size_zipped_bytes < m.size_bytes
    assert m.params == m.nonzero_params == 1_199_882
    # conv1 26*26*32*9 + conv2 24*24*64*32*9 + fc1 9216*128 + fc2 128*10
    assert m.macs == 26 * 26 * 32 * 9 + 24 * 24 * 64 * 32 * 9 + 9216 * 128 + 1280
    assert [p.batch_size for p in m.latency] == [1, 64]
    for p in m.latency:
        assert p.p50_ms > 0 and p.p90_ms >= p.p50_ms and p.throughput_per_s > 0 and p.runs == 5
    assert m.threads >= 1 and m.peak_memory_bytes > m.size_bytes
    assert set(m.methods) >= {"params", "size", "macs", "latency", "metric", "peak_memory"}
    assert wl.Measurement.from_json(m.to_json()) == m


def test_zipped_size_shrinks_when_half_the_weights_are_zero(digits):
    model = wl.models.mnist_cnn()
    dense = wl.measure(model, digits, runs=2, warmup=0, batch_sizes=(1,))
    with torch.no_grad():
        for p in model.parameters():
            flat = p.view(-1)
            flat[: flat.numel() // 2] = 0
    sparse = wl.measure(model, digits, runs=2, warmup=0, batch_sizes=(1,))
    assert sparse.size_bytes == dense.size_bytes  # dense storage: same raw bytes
    assert sparse.size_zipped_bytes < 0.6 * dense.size_zipped_bytes
    assert abs(sparse.sparsity - 0.5) < 0.001
