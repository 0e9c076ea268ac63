"""Peers are the tutorials' defaults: static int8 for CNNs, dynamic int8 for the rest."""

from __future__ import annotations

import onnx
import torch

import weightlight as wl
from weightlight import baselines


def test_cnns_get_static_peers_and_other_models_dynamic_ones():
    assert list(baselines.available(wl.models.mnist_cnn())) == [
        "baseline-torch-static-int8", "baseline-ort-static-int8"]  # fmt: skip
    assert list(baselines.available(wl.models.mlp())) == [
        "baseline-torch-dynamic-int8", "baseline-ort-dynamic-int8"]  # fmt: skip


def test_static_peers_quantize_the_convolutions(tmp_path, digits):
    torch.manual_seed(0)
    model = wl.models.mnist_cnn().eval()
    fx = baselines.torch_static_int8(model, digits, tmp_path / "t")
    quantized_convs = [m for m in fx.modules() if isinstance(m, torch.ao.nn.quantized.Conv2d)]
    assert len(quantized_convs) == 2  # both convolutions run int8, not only the Linear layers
    ort = baselines.ort_static_int8(model, digits, tmp_path / "o")
    ops = [n.op_type for n in onnx.load(str(ort.path)).graph.node]
    assert ops.count("QuantizeLinear") >= 2 and "Conv" in ops  # QDQ: ORT's default format
    ref = model(digits.example_batch(8))
    for peer in (fx, ort):
        out = wl.measure.as_runnable(peer).run(digits.example_batch(8))
        assert torch.allclose(out, ref, atol=0.1 * ref.abs().max().item())
