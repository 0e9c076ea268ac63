"""Quantization, step by step, on a real trained layer of the seed CNN.

1. The affine maths on fc1's weights: scale and zero point per tensor and per channel,
   and the error each introduces.
2. The four calibration methods on a real activation (conv2's output on calibration data).
3. `wl.quantize` with StaticInt8, measured against fp32.

    .venv/bin/python examples/quantization_example.py
"""

from __future__ import annotations

import torch

import weightlight as wl
from weightlight.quantize import affine
from weightlight.quantize.calibration import RANGE_METHODS

torch.set_num_threads(2)
data = wl.data.digits(seed=0)
model = wl.train(wl.models.mnist_cnn(), data, epochs=3, seed=0, progress=False)

# 1. Weights of fc1 (128 x 9216): symmetric int8, zero point 0, scale = max|w| / 127.5.
w = model.fc1.weight.detach()
per_tensor = affine.scale_zero_point(w, 8, symmetric=True)
per_channel = affine.scale_zero_point(w, 8, symmetric=True, axis=0)
print(f"fc1 weight range [{w.min():.4f}, {w.max():.4f}]")
print(f"per tensor : scale {float(per_tensor.scale):.6f}, zero point {int(per_tensor.zero_point)}")
print(f"per channel: scale {float(per_channel.scale.min()):.6f} .. "
      f"{float(per_channel.scale.max()):.6f} over {per_channel.scale.numel()} rows")  # fmt: skip
q = affine.quantize(w, per_tensor)
print(f"first weights {w[0, :4].tolist()}\n -> int8 {q[0, :4].tolist()}"
      f"\n -> back {affine.dequantize(q[0, :4], per_tensor).tolist()}")  # fmt: skip
for name, axis in (("per tensor", None), ("per channel", 0)):
    err = affine.quant_error(w, 8, symmetric=True, axis=axis)
    print(f"{name:11s}: max error {err.max_abs:.2e} (<= scale/2), SQNR {err.sqnr_db:.1f} dB")
for bits in (8, 4, 2):
    sqnr = affine.quant_error(w, bits, symmetric=True, axis=0).sqnr_db
    print(f"{bits}-bit per channel SQNR {sqnr:5.1f} dB")

# 2. conv2's output (after ReLU) on calibration data: where should the uint8 range end?
acts = []
hook = model.conv2.register_forward_hook(lambda m, i, o: acts.append(torch.relu(o).flatten()))
with torch.no_grad():
    for x, _ in data.calib:
        model(x)
hook.remove()
values = torch.cat(acts)
for name, method in RANGE_METHODS.items():
    lo, hi = method(values[::7], 8)
    qp = affine.qparams_from_range(lo, hi, 8, signed=False)
    err = affine.quant_error(values[::7], 8, signed=False, qparams=qp)
    print(f"{name:10s} range [{lo:.3f}, {hi:.3f}] scale {float(qp.scale):.5f} "
          f"zero point {int(qp.zero_point)} MSE {err.mse:.2e}")  # fmt: skip

# 3. The whole model, static int8 (fbgemm/x86 kernels), measured like any other variant.
int8 = wl.quantize(model, wl.quantize.StaticInt8(calibration="percentile"), data)
rows = [wl.measure(m, data, name=n, runs=20) for n, m in (("fp32", model), ("int8", int8))]
for r in rows:
    print(f"{r.name}: accuracy {r.metric:.2f} %, {r.size_bytes / 1e6:.2f} MB, "
          f"bs64 p50 {r.latency_at(64).p50_ms:.2f} ms")  # fmt: skip
