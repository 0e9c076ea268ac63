"""16-bit floats: cast every float parameter and buffer to bf16 or fp16.

bf16 keeps fp32's exponent range (no overflow, fine for inference without scaling); fp16 has
more mantissa but a narrow range. On CPUs, only native support makes them fast:
bf16 with AVX512-BF16 or AMX, fp16 with AVX512-FP16 (see `weightlight.hardware`); without it
the cast halves the size but runs slower than fp32 (measured in docs/quantization.md).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from weightlight.config import Config
from weightlight.data import Data
from weightlight.quantize.dispatch import handler, rebuilder

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class Half(Config):
    """Cast the model to a 16-bit float type (half the bytes of fp32).

    Example (YAML): `quantize: {method: half, dtype: bf16}`
    """

    method: Literal["half"] = "half"
    dtype: Literal["bf16", "fp16"] = Field(
        "bf16", description="bf16 (fast with AVX512-BF16/AMX) or fp16 (fast with AVX512-FP16)."
    )


def _cast_inputs(module: nn.Module, args: tuple) -> tuple:
    """Forward pre-hook: float inputs follow the model's dtype, so fp32 callers just work."""
    dtype = next((p.dtype for p in module.parameters() if p.is_floating_point()), None)
    return tuple(a.to(dtype) if isinstance(a, torch.Tensor) and a.is_floating_point() and dtype
                 else a for a in args)  # fmt: skip


@handler(Half)
def half(model: nn.Module, config: Half, data: Data | None) -> nn.Module:
    model = model.to(DTYPES[config.dtype])
    model.register_forward_pre_hook(_cast_inputs)
    return model


@rebuilder(Half)
def _rebuild(model: nn.Module, config: Half, example: torch.Tensor) -> nn.Module:
    return half(model, config, None)
