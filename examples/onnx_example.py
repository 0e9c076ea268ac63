"""The seed MNIST CNN to ONNX Runtime: export, parity, int8, measure; then a tiny BERT.

Run: .venv/bin/python examples/onnx_example.py [--epochs 15]   (about a minute on 2 cores)
"""

from __future__ import annotations

import argparse

import torch
from rich.console import Console

import weightlight as wl
from weightlight.report.table import measurement_table

OUT = "runs/onnx_example"


def cnn(epochs: float) -> None:
    data = wl.data.digits()
    model = wl.train(wl.models.mnist_cnn(), data, epochs=epochs, progress=False)

    # 1. Export: torch.export-based exporter (TorchScript fallback), dynamic batch, full
    #    onnx.checker, onnxslim, then parity against PyTorch on the eval set.
    onnx_model = wl.export.onnx(model, data, f"{OUT}/cnn.onnx", opset=18, optimize="all")
    p = onnx_model.parity
    print(f"exporter {onnx_model.exporter}: max abs {p.max_abs:.1e}, top-1 {p.top1_agreement}%")

    # 2. Static int8 (QDQ, U8S8, per-channel), calibrated on data.calib.
    config = wl.export.OrtStaticInt8(calibration="percentile", per_channel=True)
    int8 = wl.export.quantize_onnx(onnx_model, data, f"{OUT}/cnn.int8.onnx", config)
    print(f"int8 vs fp32 ONNX: top-1 agreement {int8.parity.top1_agreement:.2f}%")

    # 3. Measure all three the same way; the guardrail notes an int8 that is slower.
    variants = {"torch fp32": model, "ORT fp32": onnx_model, "ORT int8": int8}
    rows = [wl.measure(m, data, name=n, threads=2) for n, m in variants.items()]
    rows[2] = wl.export.guardrail(rows[2], rows[1], precision="int8")
    Console().print(measurement_table(rows, title="seed CNN: torch vs ONNX Runtime"))
    for note in rows[2].notes:
        print("note:", note)


def bert() -> None:
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=128, vocab_size=100, num_labels=3,
                        attn_implementation="eager")  # fmt: skip
    model = BertForSequenceClassification(config).eval()
    ids, labels = torch.randint(0, 100, (160, 16)), torch.randint(0, 3, (160,))
    data = wl.data.from_tensors(ids[:96], labels[:96], ids[96:], labels[96:], name="tokens")

    # BERT-like models get ORT's transformer fusions (Attention, SkipLayerNorm, ...).
    onnx_model = wl.export.onnx(model, data, f"{OUT}/bert.onnx")
    print(f"BERT: parity max abs {onnx_model.parity.max_abs:.1e}, fused {onnx_model.fusions}")
    int8 = wl.export.quantize_onnx(onnx_model, data, f"{OUT}/bert.int8.onnx",
                                   wl.export.OrtDynamicInt8(per_channel=True))  # fmt: skip
    print(f"BERT dynamic int8: mean cosine vs fp32 {int8.parity.mean_cosine:.5f}")


def epochs_argument() -> float:
    """`--epochs N` for the seed CNN (default 15, about 25 s on 2 cores); tests pass 2."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=float, default=15, help="training epochs of the CNN")
    return parser.parse_args().epochs


if __name__ == "__main__":
    cnn(epochs_argument())
    bert()
