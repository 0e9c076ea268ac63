"""Compress the model mnist_training.py saved, several ways, and compare them side by side.

    python examples/mnist_training.py && python examples/model_optimization.py

Pairs that answer a learner's questions, each from the same starting model:
weight pruning vs neuron (channel) pruning, post-training quantization (PTQ) vs
quantization-aware training (QAT) vs dynamic int8, distillation (KD) vs plain fine-tuning to
recover a pruned model, and PyTorch vs ONNX Runtime. Prints one table and what changed and why,
and saves comparison.png (accuracy against latency, and size).
"""

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no screen needed
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from rich.console import Console  # noqa: E402

import weightlight as wl  # noqa: E402
from weightlight.report.table import measurement_table  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--model", default="cnn.safetensors", help="what mnist_training.py saved")
parser.add_argument("--data", default="digits", help="the data it was trained on")
parser.add_argument("--epochs", type=float, default=3, help="recovery epochs, the same for all")
parser.add_argument("--plot", default="comparison.png")
args = parser.parse_args()

if not Path(args.model).is_file():  # a user mistake: one line and exit code 2, as the CLI does
    print(f"{args.model} not found: run python examples/mnist_training.py first", file=sys.stderr)
    raise SystemExit(2)
data = wl.data.load_data(args.data)
base = wl.quick.load(args.model)
torch.manual_seed(0)
recover = {"epochs": args.epochs, "lr": 3e-3}
E = f"{args.epochs:g} epochs"

# Each entry: name -> (model, what changed and why).
variants = {"fp32": (base, "the trained model, the reference")}
weights = wl.prune(base, wl.prune.Unstructured(ratio=0.5, finetune=recover), data)
variants["weights-50%"] = (weights, f"half the weights set to zero, {E} fine-tune: the same "
                           "dense maths, so no faster; smaller only once zipped")  # fmt: skip
raw = wl.prune(base, wl.prune.Structured(ratio=0.5), data)
variants["neurons-50% raw"] = (raw, "half the channels/neurons removed, no recovery: smaller "
                               "matrices, so faster, but accuracy falls")  # fmt: skip
neurons = wl.train(raw, data, epochs=args.epochs, lr=3e-3, progress=False)
variants["neurons-50% +FT"] = (neurons, f"the same, fine-tuned on the labels for {E}")
kd = wl.distill(raw, wl.distill.Logit(temperature=4.0, epochs=args.epochs, lr=3e-3), data,
                teacher=base)  # fmt: skip
variants["neurons-50% +KD"] = (kd, f"the same, {E} learning the fp32 model's soft outputs "
                               "instead of the labels alone")  # fmt: skip
ptq = wl.quantize(neurons, wl.quantize.StaticInt8(calibration="percentile"), data)
variants["+FT PTQ int8"] = (ptq, "static int8 after training: weights and activations in 8 "
                            "bits, ranges from 256 calibration images, no retraining")  # fmt: skip
qat = wl.quantize(neurons, wl.quantize.QAT(finetune={"epochs": 1, "lr": 5e-4}), data)
variants["+FT QAT int8"] = (qat, "int8 after 1 epoch of training with the rounding simulated, "
                            "so the weights adapt to it")  # fmt: skip
dyn = wl.quantize(base, wl.quantize.Dynamic(), data)
variants["fp32 dynamic int8"] = (dyn, "the one-liner: Linear weights int8, activations "
                                 "quantized on the fly; convolutions stay float")  # fmt: skip
out = Path("runs/model_optimization")
onnx = wl.export(neurons, wl.export.Export(), data, out / "pruned.onnx")
variants["+FT ONNX"] = (onnx, "the fine-tuned pruned model in ONNX Runtime (fused kernels)")
onnx8 = wl.export(neurons, wl.export.Export(quantize="static_int8"), data, out / "pruned8.onnx")
variants["+FT ONNX int8"] = (onnx8, "the same with ONNX Runtime's static int8")

rows = [wl.measure(m, data, name=n, runs=20, warmup=5) for n, (m, _) in variants.items()]
Console(width=170).print(measurement_table(rows, baseline=rows[0], title="side by side"))
print("what changed and why:")
for row, (name, (_, why)) in zip(rows, variants.items(), strict=True):
    p64 = row.latency_at(64)
    speed = rows[0].latency_at(64).p50_ms / p64.p50_ms
    print(f"  {name:18s} {row.metric:6.2f} %  {speed:4.1f}x  {row.size_bytes / 1e6:5.2f} MB: {why}")

fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
for row in rows:
    left.scatter(row.latency_at(64).p50_ms, row.metric)
    left.annotate(row.name, (row.latency_at(64).p50_ms, row.metric), fontsize=8)
left.set(xlabel="p50 latency, batch 64 (ms)", ylabel="test accuracy (%)", xscale="log",
         title="accuracy vs latency (up-left is better)")  # fmt: skip
right.barh([r.name for r in rows], [r.size_zipped_bytes / 1e6 for r in rows])
right.set(xlabel="size on disk, zipped (MB)", title="size")
fig.tight_layout()
fig.savefig(args.plot, dpi=90)
print(f"plot: {args.plot}")
