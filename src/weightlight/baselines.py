"""The peers a user would really pick, measured beside every recipe, called as their docs show.

A compression recipe is only worth its complexity if it beats what a user gets from the
libraries' own tutorials, with their defaults (not tuned by us; tuning them is the recipe's job):

- CNNs (a model with convolutions): static int8, because dynamic int8 leaves convolutions in
  fp32 and is the wrong tool for them.
  - `torch-static-int8`: torch.ao FX post-training static quantization as in PyTorch's "FX
    Graph Mode Post Training Static Quantization" tutorial: `prepare_fx(model,
    get_default_qconfig_mapping("x86"), example_inputs)`, calibrate on `data.calib`,
    `convert_fx`.
  - `ort-static-int8`: export to ONNX, then `onnxruntime.quantization.quantize_static(fp32,
    int8, reader)` with every default (QDQ, MinMax calibration, per-tensor) on `data.calib`.
- Other models (transformers, MLPs): dynamic int8, which is what their tutorials use.
  - `torch-dynamic-int8`: `torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, qint8)`.
  - `ort-dynamic-int8`: export to ONNX, then `onnxruntime.quantization.quantize_dynamic`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from weightlight.data import Data
from weightlight.export._quiet import quiet

Baseline = Callable[[nn.Module, Data, Path], object]


def torch_dynamic_int8(model: nn.Module, data: Data, prefix: Path) -> nn.Module:
    with quiet():
        return torch.ao.quantization.quantize_dynamic(
            copy.deepcopy(model).eval(), {nn.Linear}, dtype=torch.qint8
        )


def torch_static_int8(model: nn.Module, data: Data, prefix: Path) -> nn.Module:
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    with quiet():
        prepared = prepare_fx(
            copy.deepcopy(model).eval(),
            get_default_qconfig_mapping("x86"),
            (data.example_input,),
        )
        with torch.inference_mode():
            for inputs, _ in data.calib:
                prepared(inputs)
        return convert_fx(prepared)


def ort_dynamic_int8(model: nn.Module, data: Data, prefix: Path):
    from onnxruntime.quantization import quantize_dynamic

    fp32, target = _export(model, data, prefix)
    with quiet():
        quantize_dynamic(str(fp32), str(target))
    return _load(target)


def ort_static_int8(model: nn.Module, data: Data, prefix: Path):
    from onnxruntime.quantization import quantize_static

    from weightlight.export.ort_quant import CalibrationReader

    fp32, target = _export(model, data, prefix)
    reader = CalibrationReader(data, _input_name(fp32), len(data.calib), fp32)
    with quiet():
        quantize_static(str(fp32), str(target), reader)
    return _load(target)


def _export(model: nn.Module, data: Data, prefix: Path) -> tuple[Path, Path]:
    from weightlight.export.onnx import export_onnx

    fp32 = export_onnx(model, data, prefix.with_suffix(".fp32.onnx"), optimize="none")
    return fp32.path, prefix.with_suffix(".onnx")


def _input_name(path: Path) -> str:
    import onnx

    return onnx.load(str(path), load_external_data=False).graph.input[0].name


def _load(path: Path):
    from weightlight.export import load_onnx

    return load_onnx(path)


def has_convolutions(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.conv._ConvNd) for m in model.modules())


def available(model: nn.Module | None = None) -> dict[str, Baseline]:
    """The peers for `model` by variant name, in report order (dynamic ones without a model)."""
    if model is not None and has_convolutions(model):
        return {"baseline-torch-static-int8": torch_static_int8,
                "baseline-ort-static-int8": ort_static_int8}  # fmt: skip
    return {"baseline-torch-dynamic-int8": torch_dynamic_int8,
            "baseline-ort-dynamic-int8": ort_dynamic_int8}  # fmt: skip
