"""Write the teaching notebooks in docs/notebooks/ from the cells below (unexecuted).

    .venv/bin/python tools/make_notebooks.py

The notebooks are generated so they stay small, reviewable and consistent; tests execute them
(tests/test_notebooks.py), so every figure they show is computed by weightlight itself.
"""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

OUT = Path(__file__).resolve().parents[1] / "docs" / "notebooks"

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


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, cells in (("how-quantization-works", QUANTIZATION), ("pruning", PRUNING),
                        ("distillation", DISTILLATION)):  # fmt: skip
        nb = new_notebook(cells=cells, metadata={"kernelspec": {
            "name": "python3", "display_name": "Python 3", "language": "python"}})  # fmt: skip
        nbformat.write(nb, OUT / f"{name}.ipynb")


if __name__ == "__main__":
    main()
