"""Dynamic int8: int8 weights; activations quantized per batch at run time (no calibration).

Uses `torch.ao.quantization.quantize_dynamic` (fbgemm/x86 kernels for Linear, LSTM, GRU and
their cells). Good for transformers and RNNs, whose cost is in Linear layers and whose
activation ranges vary from input to input.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field, model_validator
from torch import nn
from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig

from weightlight.config import Config
from weightlight.data import Data
from weightlight.layer_names import check_layer_names
from weightlight.quantize import _fx
from weightlight.quantize.dispatch import handler, rebuilder
from weightlight.quantize.smoothing import Smooth

DynamicLayer = Literal["Linear", "LSTM", "GRU", "LSTMCell", "GRUCell", "RNNCell"]


class Dynamic(Config):
    """Post-training dynamic int8 quantization of Linear / recurrent layers.

    Example (YAML): `quantize: {method: dynamic_int8, layer_types: [Linear, LSTM]}`
    """

    method: Literal["dynamic_int8"] = "dynamic_int8"
    layer_types: tuple[DynamicLayer, ...] = Field(
        ("Linear", "LSTM", "GRU"), min_length=1, description="Layer types to quantize."
    )
    per_channel: bool = Field(
        True, description="One weight scale per output row for Linear layers (more accurate)."
    )
    exclude: tuple[str, ...] = Field((), description="Layer names kept in float.")
    smooth: Smooth = None

    @model_validator(mode="before")
    @classmethod
    def _former_dtype(cls, data: Any) -> Any:
        # files and recipes written before carry `dtype: int8`, the only value it ever had
        if isinstance(data, dict) and data.get("dtype") == "int8":
            data = {k: v for k, v in data.items() if k != "dtype"}
        return data


def _spec(model: nn.Module, config: Dynamic) -> dict:
    check_layer_names(model, config.exclude, "Dynamic.exclude")
    spec: dict = {}
    for name in config.layer_types:
        cls = getattr(nn, name)
        # Per-channel dynamic weights exist for Linear only; RNN packing is per tensor.
        linear = cls is nn.Linear and config.per_channel
        spec[cls] = per_channel_dynamic_qconfig if linear else default_dynamic_qconfig
    for name in config.exclude:
        spec[name] = None  # a name entry overrides the type entry for that module
    return spec


@handler(Dynamic)
def dynamic_int8(model: nn.Module, config: Dynamic, data: Data | None) -> nn.Module:
    from weightlight.quantize.static import smoothed

    return _quantize_dynamic(smoothed(model, config.smooth, data), config)


def _quantize_dynamic(model: nn.Module, config: Dynamic) -> nn.Module:
    with _fx.quiet():
        return torch.ao.quantization.quantize_dynamic(model, _spec(model, config), inplace=True)


@rebuilder(Dynamic)
def _rebuild(model: nn.Module, config: Dynamic, example: torch.Tensor) -> nn.Module:
    # a saved smoothed model's state_dict carries the folded weights: no smoothing here
    return _quantize_dynamic(model, config)
