"""Static int8: weights and activations in int8, activation ranges calibrated on data.

torch.ao FX graph mode with the x86 backend (see `_fx.py` for why): the model is traced,
observers record activations on `data.calib`, and conversion swaps Conv/Linear(+ReLU) for
int8 kernels. Activation ranges come from the calibration methods of `calibration.py`.
"""

from __future__ import annotations

from itertools import islice
from typing import Annotated, Literal

import torch
from pydantic import Field
from torch import nn

from weightlight.accelerator import place, resolve_device
from weightlight.batch import call, size, split, take
from weightlight.config import Config
from weightlight.data import Data
from weightlight.errors import UserError
from weightlight.layer_names import check_layer_names
from weightlight.quantize import _fx
from weightlight.quantize.dispatch import handler, layer_types, rebuilder
from weightlight.quantize.smoothing import Smooth, smooth

# The CPU-dependent int8 settings StaticInt8 and QAT share (None: weightlight.hardware decides).
PerChannel = Annotated[
    bool | None, Field(description="One weight scale per output channel; None: this CPU's choice.")
]
ReduceRange = Annotated[
    bool | None,
    Field(
        description="7-bit activations, so x86 CPUs without VNNI cannot saturate; None: on "
        "exactly where the CPU needs it (weightlight.hardware)."
    ),
]


class StaticInt8(Config):
    """Post-training static int8 quantization calibrated on `data.calib`.

    Example (YAML): `quantize: {method: static_int8, calibration: percentile, exclude: [fc2]}`
    """

    method: Literal["static_int8"] = "static_int8"
    calibration: Literal["minmax", "percentile", "entropy", "mse"] = Field(
        "percentile",
        description="How activation ranges are chosen from calibration data: minmax (full "
        "range), percentile (99.99th), entropy (KL, TensorRT) or mse (least squared error).",
    )
    per_channel: PerChannel = None
    reduce_range: ReduceRange = None
    batches: int = Field(16, ge=1, description="Calibration batches read from data.calib.")
    weight_bits: int = Field(
        8, ge=2, le=8, description="Weight grid bits (stored in int8); below 8 to study loss."
    )
    exclude: tuple[str, ...] = Field((), description="Layer names kept in float.")
    exclude_types: tuple[str, ...] = Field(
        (), description="torch.nn layer types kept in float, e.g. [LayerNorm]."
    )
    smooth: Smooth = None


def calibration_batches(data: Data | None, batches: int, what: str) -> list:
    """Up to `batches` input batches from `data.calib`; UserError when there are none."""
    if data is None:
        raise UserError(f"{what} needs calibration data", "pass data (with a calib loader)")
    inputs = [split(b)[0] for b in islice(data.calib, batches)]
    inputs = [x for x in inputs if size(x) > 0]
    if not inputs:
        raise UserError(
            f"{what}: data.calib yielded no batches, so activation ranges cannot be calibrated",
            "give the data a non-empty calibration split",
        )
    return inputs


def smoothed(model: nn.Module, alpha: float | None, data: Data | None) -> nn.Module:
    """`model` with SmoothQuant folded in on `data.calib` (itself when `alpha` is None)."""
    if alpha is None:
        return model
    return smooth(model, calibration_batches(data, 8, "smooth"), alpha)


def _mapping(model: nn.Module, config: StaticInt8, calibration: str):
    check_layer_names(model, config.exclude, "StaticInt8.exclude")
    return _fx.qconfig_mapping(
        weight_bits=config.weight_bits,
        **_fx.settings_of(config),
        exclude=config.exclude,
        exclude_types=layer_types(config.exclude_types),
        calibration=calibration,
    )


@handler(StaticInt8)
def static_int8(model: nn.Module, config: StaticInt8, data: Data | None) -> nn.Module:
    model = smoothed(model, config.smooth, data)
    mapping = _mapping(model, config, config.calibration)
    inputs = calibration_batches(data, config.batches, "static_int8")
    prepared = _fx.prepare(model, mapping, take(inputs[0], 1))
    device = resolve_device()  # calibration forwards run where training does
    prepared.to(device)
    with torch.inference_mode():
        for x in inputs:
            call(prepared, place(x, device))
    # The int8 kernels (x86 / fbgemm) exist on the CPU only: convert there.
    return _fx.convert(prepared.to("cpu"))


@rebuilder(StaticInt8)
def _rebuild(model: nn.Module, config: StaticInt8, example: torch.Tensor) -> nn.Module:
    # Uncalibrated observers give placeholder qparams; load_state_dict overwrites them.
    prepared = _fx.prepare(model, _mapping(model, config, "minmax"), example)
    return _fx.convert(prepared)
