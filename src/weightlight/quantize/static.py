"""Static int8: weights and activations in int8, activation ranges calibrated on data.

Two ways to capture the model, tried in order (docs/quantization.md says what each costs):
1. torch.ao FX graph mode with the x86 backend (`_fx.py`): the model is traced, observers
   record activations on `data.calib`, and conversion swaps Conv/Linear(+ReLU) for int8
   kernels that are faster than fp32 in plain eager (the seed CNN, ResNets, MLPs).
2. PT2E (`_pt2e.py`, torchao, the `[ao]` extra) for what FX cannot trace but `torch.export`
   can: Hugging Face transformers and vision models. Its graph keeps fp32 ops between
   quantize / dequantize pairs, so it is smaller and int8-faithful, not faster.
Where neither captures the model, one line points to ONNX Runtime int8, which quantizes the
exported ONNX graph instead. Activation ranges come from `calibration.py` in both paths.
"""

from __future__ import annotations

import copy
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
from weightlight.quantize import _fx, _pt2e
from weightlight.quantize._capture import CaptureError, first_line
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
    return _fx.qconfig_mapping(
        weight_bits=config.weight_bits,
        **_fx.settings_of(config),
        exclude=config.exclude,
        exclude_types=layer_types(config.exclude_types),
        calibration=calibration,
    )


def _quantizer(model: nn.Module, config: StaticInt8, calibration: str):
    types = layer_types(config.exclude_types)
    # torchao's quantizer filters by module name; excluded types become their layers' names
    by_type = tuple(name for name, m in model.named_modules() if name and isinstance(m, types))
    return _pt2e.quantizer(
        calibration=calibration,
        weight_bits=config.weight_bits,
        **_fx.settings_of(config),
        exclude=config.exclude + by_type,
    )


def _quantized(model: nn.Module, config: StaticInt8, inputs: list, calibration: str | None):
    """FX first (fast int8 kernels in eager), PT2E where FX cannot trace the model.

    `inputs` are the calibration batches; `calibration` None means a rebuild: `inputs` is one
    example that only shapes the graph, and load_state_dict then overwrites every qparam.
    """
    check_layer_names(model, config.exclude, "StaticInt8.exclude")
    try:
        # FX may fuse layers before it gives up: it works on a copy, PT2E on the original.
        mapping = _mapping(model, config, calibration or "minmax")
        prepared = _fx.prepare(copy.deepcopy(model), mapping, take(inputs[0], 1))
        if calibration is not None:
            _calibrate(prepared, inputs, resolve_device())
        # The int8 kernels (x86 / fbgemm) exist on the CPU only: convert there.
        return _fx.convert(prepared.to("cpu"))
    except CaptureError as exc:
        fx_failure = exc
    name = type(model).__name__
    if not _pt2e.available():
        raise UserError(
            f"static_int8: torch.fx cannot trace {name} ({fx_failure.line()}), and the "
            "torch.export path needs torchao",
            f"pip install 'weightlight[ao]', or {_ORT_INT8}",
        )
    try:
        graph = _pt2e.capture(model, inputs[0])
        prepared = _pt2e.prepare(graph, _quantizer(model, config, calibration or "minmax"))
        # Weight observers run in the graph: a rebuild also needs one forward to give its
        # per-channel scales their shape. The captured graph stays on the CPU.
        _calibrate(prepared, inputs, "cpu")
        return _pt2e.convert(prepared)
    except CaptureError as exc:
        if exc.stage != "torch.export":
            raise UserError(f"static_int8 of {name} failed in {exc.line()}", _ORT_INT8) from None
        raise UserError(
            f"static_int8: neither torch.fx nor torch.export can capture {name} "
            f"({fx_failure.line()}; {exc.line()})",
            _ORT_INT8,
        ) from None


_ORT_INT8 = (
    "use ONNX Runtime int8 instead: wl.export(model, wl.export.Export(quantize='static_int8' "
    "or 'dynamic_int8'), data, path), CLI `weightlight export --quantize static_int8`"
)


def _calibrate(prepared: nn.Module, inputs: list, device) -> None:
    prepared.to(device)  # calibration forwards run where training does (FX)
    try:
        with torch.inference_mode():
            for x in inputs:
                call(prepared, place(x, device))
    except Exception as exc:  # an observer or a captured graph failing on a later batch
        raise CaptureError("calibration", first_line(exc)) from None


@handler(StaticInt8)
def static_int8(model: nn.Module, config: StaticInt8, data: Data | None) -> nn.Module:
    model = smoothed(model, config.smooth, data)
    inputs = calibration_batches(data, config.batches, "static_int8")
    return _quantized(model, config, inputs, config.calibration)


@rebuilder(StaticInt8)
def _rebuild(model: nn.Module, config: StaticInt8, example: torch.Tensor) -> nn.Module:
    # The same path as when it was made (FX where FX traces); no calibration: observers give
    # placeholder qparams, and load_state_dict overwrites them (PT2E's lifted ones too).
    return _quantized(model, config, [example], None)
