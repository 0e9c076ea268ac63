"""Quantization-aware training: fake-quantize, fine-tune through `wl.train`, convert to int8.

Fake quantization rounds weights and activations to the int8 grid in the forward pass and
passes gradients straight through (STE), so fine-tuning learns weights that survive rounding.
It recovers accuracy where post-training quantization loses it: narrow weight grids (4 bits)
or activations with wide ranges. torch.ao FX `prepare_qat_fx` / `convert_fx`, x86 backend,
the same int8 kernels as StaticInt8.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from weightlight.config import Config, Finetune
from weightlight.data import Data
from weightlight.errors import UserError
from weightlight.layer_names import check_layer_names
from weightlight.quantize import _fx
from weightlight.quantize._capture import CaptureError
from weightlight.quantize.dispatch import handler, layer_types, rebuilder
from weightlight.quantize.static import PerChannel, ReduceRange, StaticInt8
from weightlight.quantize.static import _rebuild as _rebuild_static


class QAT(Config):
    """Quantization-aware fine-tuning, then int8 conversion.

    Example (YAML): `quantize: {method: qat, finetune: {epochs: 2, lr: 0.0005}}`
    """

    method: Literal["qat"] = "qat"
    finetune: Finetune = Field(
        Finetune(epochs=2, lr=5e-4), description="Fine-tuning with fake quantization."
    )
    per_channel: PerChannel = None
    reduce_range: ReduceRange = None
    weight_bits: int = Field(8, ge=2, le=8, description="Weight grid bits (stored in int8).")
    exclude: tuple[str, ...] = Field((), description="Layer names kept in float.")
    exclude_types: tuple[str, ...] = Field((), description="torch.nn layer types kept in float.")


@handler(QAT)
def qat(model: nn.Module, config: QAT, data: Data | None) -> nn.Module:
    from weightlight.train import train

    if data is None:
        raise UserError("qat needs training data", "pass data (with a train loader)")
    check_layer_names(model, config.exclude, "QAT.exclude")
    mapping = _fx.qconfig_mapping(
        weight_bits=config.weight_bits,
        **_fx.settings_of(config),
        exclude=config.exclude,
        exclude_types=layer_types(config.exclude_types),
        qat=True,
    )
    try:
        prepared = _fx.prepare(model, mapping, data.example_input, qat=True)
    except CaptureError as exc:
        raise UserError(
            f"qat needs a model torch.fx can trace; {type(model).__name__} fails in {exc.line()}",
            "use static_int8 (it captures models with torch.export too) or ONNX Runtime int8 "
            "(wl.export.Export(quantize='static_int8'))",
        ) from None
    with _fx.quiet():
        tuned = train(
            prepared, data, progress=False, in_place=True, **config.finetune.train_kwargs()
        )
    # Fake-quantized training ran on the chosen device; the int8 kernels run on the CPU only.
    try:
        return _fx.convert(tuned.to("cpu"))
    except CaptureError as exc:
        raise UserError(f"qat of {type(model).__name__} failed in {exc.line()}",
                        "exclude the failing layer (exclude=[...])") from None  # fmt: skip


@rebuilder(QAT)
def _rebuild(model: nn.Module, config: QAT, example: torch.Tensor) -> nn.Module:
    # After conversion a QAT model has the same int8 modules as a static one.
    keep = {"per_channel", "reduce_range", "weight_bits", "exclude", "exclude_types"}
    fields = config.model_dump(include=keep)
    return _rebuild_static(model, StaticInt8(**fields), example)
