"""Write the teaching notebooks in docs/notebooks/ from the cells below, executed.

    .venv/bin/python tools/make_notebooks.py             # write and execute all (minutes)
    .venv/bin/python tools/make_notebooks.py --no-execute

The notebooks are generated so they stay small, reviewable and consistent. They are committed
with their outputs (a code host shows the figures without running anything); `make test-docs`
executes them again (tests/test_notebooks.py), so every figure they show is computed by
weightlight itself; CI checks that the API they call still exists.
"""

import argparse
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

OUT = Path(__file__).resolve().parents[1] / "docs" / "notebooks"

# First cell of every notebook: a hosted notebook (Colab, Kaggle) starts without weightlight.
INSTALL = """\
# Hosted notebooks (Colab, Kaggle) start without weightlight: this cell installs it there.
# Where weightlight is importable (a local checkout, `pip install -e .`), it does nothing.
import importlib.util
import os
import subprocess
import sys

if importlib.util.find_spec("weightlight") is None:
    # This repository's git URL or a wheel you uploaded, e.g. "git+https://.../weightlight.git"
    source = os.environ.get("WEIGHTLIGHT_SOURCE")
    if source is None:
        raise SystemExit("set WEIGHTLIGHT_SOURCE to weightlight's git URL or wheel, then rerun")
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", source])"""

SETUP = """\
import matplotlib.pyplot as plt
import torch

import weightlight as wl

torch.manual_seed(0)
data = wl.data.digits()
model = wl.train(wl.models.mnist_cnn(), data, progress=False)   # ~99 % in ~10 s on 2 cores
base = wl.measure(model, data, name="fp32", runs=20)
print(f"fp32: {base.params:,} parameters, {base.size_bytes / 1e6:.2f} MB, "
      f"accuracy {base.metric:.2f} %")"""

QUANTIZATION = [
    new_markdown_cell("""\
# How quantization works

Quantization stores numbers on a small integer grid. An 8-bit grid has 256 levels; a real value
`x` is represented by an integer `q` through two numbers, the **scale** and the **zero point**:

    x ≈ scale * (q - zero_point)
    q  = clamp(round(x / scale) + zero_point, qmin, qmax)

We take a real trained layer, compute both by hand, check them against
`weightlight.quantize.affine`, look at the grid, compare ways of choosing the range, and end with
what int8 does to the whole model's accuracy, size and speed."""),
    new_code_cell(SETUP),
    new_markdown_cell("""\
## Scale and zero point by hand

Asymmetric int8 (`qmin=-128, qmax=127`) for the weights of `fc1` (98 % of the model's weights):
the range `[lo, hi]` is mapped onto the 255 steps of the grid."""),
    new_code_cell("""\
from weightlight.quantize import affine

w = model.fc1.weight.detach()
lo, hi = min(w.min().item(), 0.0), max(w.max().item(), 0.0)   # the range must contain 0
qmin, qmax = -128, 127
scale = (hi - lo) / (qmax - qmin)
zero_point = qmin - round(lo / scale)
print(f"range [{lo:.4f}, {hi:.4f}] -> scale {scale:.6f}, zero point {zero_point}")
qp = affine.scale_zero_point(w, bits=8)
print(f"weightlight.quantize.affine: scale {qp.scale.item():.6f}, zero point {int(qp.zero_point)}")
assert abs(qp.scale.item() - scale) < 1e-6 and int(qp.zero_point) == zero_point"""),
    new_markdown_cell(
        "## The grid over the weight histogram (4 bits, so the 16 levels are visible)"
    ),
    new_code_cell("""\
qp4 = affine.scale_zero_point(w, bits=4)
levels = qp4.scale * (torch.arange(-8, 8) - qp4.zero_point)
fig, ax = plt.subplots(figsize=(8, 3))
ax.hist(w.flatten().numpy(), bins=200, color="tab:blue", alpha=0.7)
for level in levels:
    ax.axvline(level.item(), color="tab:red", linewidth=0.8)
ax.set(title="fc1 weights and the 4-bit grid (red)", xlabel="weight value", yscale="log")
plt.show()"""),
    new_markdown_cell("""\
## Choosing the range: error per method

Min/max keeps every value but wastes levels on rare outliers; a percentile clips them; MSE and
entropy (KL) search the clipping point. Per-channel ranges fit each output channel on its own."""),
    new_code_cell("""\
from weightlight.quantize import calibration

rows = []
for name in ("minmax", "percentile", "mse", "entropy"):
    lo_m, hi_m = getattr(calibration, name)(w)
    qp_m = affine.qparams_from_range(lo_m, hi_m, bits=8)
    err = affine.quant_error(w, bits=8, qparams=qp_m)
    rows.append((name, lo_m, hi_m, err.mse, err.sqnr_db))
per_channel = affine.quant_error(w, bits=8, axis=0)
nan = float("nan")
rows.append(("minmax per-channel", nan, nan, per_channel.mse, per_channel.sqnr_db))
for name, a, b, mse_, sqnr in rows:
    print(f"{name:20s} range [{a:8.4f}, {b:8.4f}]  MSE {mse_:.3e}  SQNR {sqnr:5.1f} dB")"""),
    new_markdown_cell("## The whole model: static int8 with calibration"),
    new_code_cell("""\
int8 = wl.quantize(model, wl.quantize.StaticInt8(calibration="percentile"), data)
q = wl.measure(int8, data, name="int8", runs=20)
for m in (base, q):
    p = m.latency_at(64)
    print(f"{m.name:5s} accuracy {m.metric:6.2f} %  size {m.size_bytes / 1e6:5.2f} MB  "
          f"p50 bs64 {p.p50_ms:7.3f} ms  ({m.threads} threads)")
print(f"size {base.size_bytes / q.size_bytes:.1f}x smaller, "
      f"accuracy change {q.metric - base.metric:+.2f}")"""),
]

PRUNING = [
    new_markdown_cell("""\
# Pruning: sparsity patterns, sensitivity, and real speed-ups

Unstructured pruning zeroes single weights (smaller when compressed, not faster on CPUs);
N:M keeps N of every M weights (fast only on hardware that supports it); structured pruning
removes whole channels, so the layers really shrink and the model gets faster."""),
    new_code_cell(SETUP),
    new_markdown_cell("## What each pattern leaves in conv2's weights"),
    new_code_cell("""\
patterns = {
    "unstructured 50 %": wl.prune(model, wl.prune.Unstructured(ratio=0.5, scope="layer"), data),
    "2:4": wl.prune(model, wl.prune.NM(n=2, m=4), data),
}
fig, axes = plt.subplots(1, 3, figsize=(12, 3))
dense = model.conv2.weight.detach().flatten(1)[:32, :72]
axes[0].imshow(dense != 0, cmap="gray_r")
axes[0].set_title("dense")
for ax, (name, m) in zip(axes[1:], patterns.items(), strict=True):
    ax.imshow(m.conv2.weight.detach().flatten(1)[:32, :72] != 0, cmap="gray_r")
    ax.set_title(name)
plt.show()"""),
    new_markdown_cell("## Sensitivity: prune one layer at a time"),
    new_code_cell("""\
from IPython.display import Image

sens = wl.prune.sensitivity(model, data, ratios=(0.25, 0.5, 0.75))
for row in sens.table():
    print(f"{row['layer']:6s} ratio {row['ratio']:.2f}  drop {row['drop']:+.2f} points")
sens.plot("sensitivity.png")
Image("sensitivity.png")"""),
    new_markdown_cell("## Real speed: structured vs unstructured"),
    new_code_cell("""\
from weightlight.config import Finetune

structured = wl.prune.Structured(ratio=0.5, finetune=Finetune(epochs=3))
variants = {
    "unstructured 80 %": wl.prune(model, wl.prune.Unstructured(ratio=0.8), data),
    "structured 50 %": wl.prune(model, structured, data),
}
b64 = base.latency_at(64).p50_ms
for name, m in variants.items():
    r = wl.measure(m, data, name=name, runs=20)
    print(f"{name:18s} params {r.params:>9,} non-zero {r.nonzero_params:>9,}  "
          f"zipped {r.size_zipped_bytes / 1e6:5.2f} MB  "
          f"bs64 {b64 / r.latency_at(64).p50_ms:4.1f}x faster  accuracy {r.metric:.2f}")"""),
]

DISTILLATION = [
    new_markdown_cell("""\
# Knowledge distillation: soft targets and a small student

A trained teacher's output probabilities carry more than the label: how much a 3 looks like an
8. Dividing the logits by a temperature T > 1 softens them so the student can learn from that
(Hinton et al., 2015)."""),
    new_code_cell(SETUP),
    new_markdown_cell("## Soft targets at several temperatures"),
    new_code_cell("""\
x, y = next(iter(data.eval))
with torch.no_grad():
    logits = model(x[:1])[0]
fig, axes = plt.subplots(1, 3, figsize=(12, 2.5))
for ax, t in zip(axes, (1, 4, 10), strict=True):
    ax.bar(range(10), torch.softmax(logits / t, dim=0).numpy())
    ax.set(title=f"T = {t} (label {y[0].item()})", xticks=range(10), ylim=(0, 1))
plt.show()"""),
    new_markdown_cell("## A student with about a quarter of the teacher's parameters"),
    new_code_cell("""\
student = wl.models.shrink(model, width=0.5)
alone = wl.train(student, data, epochs=3, progress=False, seed=0)
kd = wl.distill.Logit(temperature=4.0, alpha=0.7, epochs=3)
taught = wl.distill(student, kd, data, teacher=model)
for name, m in (("teacher", model), ("student alone", alone), ("student + KD", taught)):
    r = wl.measure(m, data, name=name, runs=20)
    print(f"{name:14s} params {r.params:>9,}  accuracy {r.metric:6.2f} %  "
          f"p50 bs64 {r.latency_at(64).p50_ms:6.3f} ms")"""),
]


STATIC_VS_DYNAMIC = [
    new_markdown_cell("""\
# Static vs dynamic int8 quantization

Both store weights as int8. They differ in the **activations** (what flows between layers):

- **dynamic**: activations stay float between layers; each quantized layer measures its input's
  range on every call and quantizes it on the fly. No calibration data. In PyTorch it covers
  `Linear` (and LSTM/GRU) only: convolutions stay float.
- **static**: activation ranges are fixed in advance from a few calibration batches, so every
  layer, convolutions included, runs int8 to int8 with no range search at run time.

Which one pays depends on where the model spends its time: here, in convolutions."""),
    new_code_cell(SETUP),
    new_markdown_cell("## Which layers each method turns into int8"),
    new_code_cell("""\
dynamic = wl.quantize(model, wl.quantize.Dynamic(), data)
static = wl.quantize(model, wl.quantize.StaticInt8(calibration="percentile"), data)
for name, m in (("dynamic", dynamic), ("static", static)):
    kinds = sorted({type(mod).__module__.split(".")[-2] + "." + type(mod).__name__
                    for mod in m.modules() if "quantized" in type(mod).__module__})
    print(f"{name:8s} int8 layers: {', '.join(kinds)}")"""),
    new_markdown_cell("## Accuracy, size and speed side by side"),
    new_code_cell("""\
rows = [base] + [wl.measure(m, data, name=n, runs=20) for n, m in
                 (("dynamic", dynamic), ("static", static))]
for r in rows:
    print(f"{r.name:8s} accuracy {r.metric:6.2f} %  size {r.size_bytes / 1e6:5.2f} MB  "
          f"p50 bs64 {r.latency_at(64).p50_ms:6.3f} ms "
          f"({base.latency_at(64).p50_ms / r.latency_at(64).p50_ms:4.1f}x)")
fig, (a, b) = plt.subplots(1, 2, figsize=(9, 2.8))
a.bar([r.name for r in rows], [r.latency_at(64).p50_ms for r in rows])
a.set(title="p50 latency, batch 64 (ms)")
b.bar([r.name for r in rows], [r.size_bytes / 1e6 for r in rows])
b.set(title="size (MB)")
plt.show()"""),
    new_markdown_cell("""\
Both shrink the file about 4x (the weights are int8 either way), but only static int8 runs the
convolutions in int8, which is where this CNN's time goes. Dynamic int8 is the right first try
for models whose time is in `Linear` layers (transformers, MLPs); static int8 for CNNs."""),
]

QAT = [
    new_markdown_cell("""\
# Quantization-aware training (QAT)

Post-training quantization (PTQ) rounds a trained model's weights to the int8 grid and hopes
the model tolerates it. QAT trains a little longer with the rounding **simulated** in the forward
pass (fake quantization), so the weights move to values that survive it. The cost: a few
epochs of training. The gain shows when rounding hurts, so we also try a coarse 4-bit grid."""),
    new_code_cell(SETUP),
    new_markdown_cell("## PTQ and QAT on the same model, at 8 and 4 bits"),
    new_code_cell("""\
variants = {}
for bits in (8, 4):
    variants[f"PTQ {bits}-bit"] = wl.quantize(
        model, wl.quantize.StaticInt8(calibration="percentile", weight_bits=bits), data)
    variants[f"QAT {bits}-bit"] = wl.quantize(
        model, wl.quantize.QAT(weight_bits=bits, finetune={"epochs": 1, "lr": 5e-4}), data)
rows = [wl.measure(m, data, name=n, runs=10) for n, m in variants.items()]
for r in rows:
    print(f"{r.name:10s} accuracy {r.metric:6.2f} % ({r.metric - base.metric:+.2f} vs fp32)")"""),
    new_code_cell("""\
fig, ax = plt.subplots(figsize=(7, 2.8))
ax.bar([r.name for r in rows], [r.metric for r in rows])
ax.axhline(base.metric, color="black", linestyle="--", label="fp32")
ax.set(ylabel="accuracy (%)", ylim=(min(r.metric for r in rows) - 2, 100))
ax.legend()
plt.show()"""),
    new_markdown_cell("""\
At 8 bits the rounding error is small and PTQ is usually enough: QAT's extra epoch buys little.
At 4 bits (16 levels) rounding costs PTQ more, and QAT, having trained with it, gets more of it
back. Both convert to the same int8 runtime, so they run at the same speed."""),
]

NOTEBOOKS = {
    "how-quantization-works": QUANTIZATION,
    "static-vs-dynamic-quantization": STATIC_VS_DYNAMIC,
    "quantization-aware-training": QAT,
    "pruning": PRUNING,
    "distillation": DISTILLATION,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-execute", action="store_true", help="write them without outputs")
    parser.add_argument("names", nargs="*", help="notebooks to write (default: all)")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for name in args.names or NOTEBOOKS:
        cells = [new_code_cell(INSTALL), *NOTEBOOKS[name]]
        nb = new_notebook(cells=cells, metadata={"kernelspec": {
            "name": "python3", "display_name": "Python 3", "language": "python"}})  # fmt: skip
        if not args.no_execute:
            _execute(nb)
        nbformat.write(nb, OUT / f"{name}.ipynb")
        print(f"wrote docs/notebooks/{name}.ipynb")


def _execute(nb) -> None:
    """Run the notebook in a scratch folder; small figures keep the committed file small."""
    import tempfile

    from nbclient import NotebookClient

    nb.cells.insert(1, new_code_cell("import matplotlib\nmatplotlib.rcParams['figure.dpi'] = 60"))
    with tempfile.TemporaryDirectory() as tmp:
        NotebookClient(nb, timeout=900, kernel_name="python3",
                       resources={"metadata": {"path": tmp}}).execute()  # fmt: skip
    del nb.cells[1]
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # timestamps: noise in every diff


if __name__ == "__main__":
    main()
