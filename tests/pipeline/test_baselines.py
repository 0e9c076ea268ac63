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


def test_static_peers_quantize_the_convolutions(tmp_path, digits, trained_cnn):
    model = trained_cnn
    fx = baselines.torch_static_int8(model, digits, tmp_path / "t")
    quantized_convs = [m for m in fx.modules() if isinstance(m, torch.ao.nn.quantized.Conv2d)]
    assert len(quantized_convs) == 2  # both convolutions run int8, not only the Linear layers
    ort = baselines.ort_static_int8(model, digits, tmp_path / "o")
    ops = [n.op_type for n in onnx.load(str(ort.path)).graph.node]
    assert ops.count("QuantizeLinear") >= 2 and "Conv" in ops  # QDQ: ORT's default format
    # Top-1 agreement with fp32 on the trained CNN, not output closeness on an untrained one
    # (its near-constant logits put int8 rounding above any tolerance). The peers keep their
    # tutorial defaults, so without VNNI the ORT peer's u8*s8 saturation costs a few images
    # (docs/hardware.md); a broken conversion would agree on ~10 %.
    for peer in (fx, ort):
        runnable, same, total = wl.measure.as_runnable(peer), 0, 0
        for x, _ in digits.eval:
            same += int((runnable.run(x).argmax(1) == model(x).argmax(1)).sum())
            total += len(x)
        assert same / total > 0.9, f"{type(peer).__name__}: {same}/{total} agree with fp32"
