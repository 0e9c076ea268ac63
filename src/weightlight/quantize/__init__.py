"""Quantization: `wl.quantize(model, wl.quantize.StaticInt8(), data)` -> a new, smaller model.

Methods (one config class each; `method` is the recipe discriminator):
- `StaticInt8` ("static_int8"): int8 weights and activations, calibrated (minmax, percentile,
  entropy, mse), per-channel weights, layers excluded by name or type. torch.ao FX, x86.
- `Dynamic` ("dynamic_int8"): int8 weights, activations quantized on the fly (Linear/LSTM/GRU).
- `Half` ("half"): bf16 or fp16 cast (bf16 is fast only on CPUs with AVX512-BF16/AMX).
- `QAT` ("qat"): fake quantization, fine-tuned through `wl.train`, then converted to int8.
- `WeightOnly` ("weight_only"): int8 / group-wise int4 Linear weights, float compute.
`affine` holds the maths (scale, zero point); `calibration` the range methods;
`save_quantized` / `load_quantized` store a quantized model as state_dict + config.
"""

from weightlight._callable_module import make_callable
from weightlight.quantize import affine, calibration
from weightlight.quantize.dispatch import handler, parse_config, quantize, rebuilder
from weightlight.quantize.dynamic import Dynamic
from weightlight.quantize.fp16 import Half
from weightlight.quantize.io import load_quantized, save_quantized
from weightlight.quantize.qat import QAT
from weightlight.quantize.static import StaticInt8
from weightlight.quantize.weight_only import WeightOnly

# The recipe schema is built from these (discriminated on `method`).
CONFIGS = (StaticInt8, Dynamic, Half, QAT, WeightOnly)

__all__ = [
    "CONFIGS",
    "QAT",
    "Dynamic",
    "Half",
    "StaticInt8",
    "WeightOnly",
    "affine",
    "calibration",
    "handler",
    "load_quantized",
    "parse_config",
    "quantize",
    "rebuilder",
    "save_quantized",
]

make_callable(__name__, quantize)
