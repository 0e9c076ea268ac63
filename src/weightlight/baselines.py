"""The one-liners a user would otherwise reach for, measured beside every recipe.

A compression recipe is only worth its complexity if it beats these:
- `torch-dynamic-int8`: `torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, qint8)`.
- `ort-dynamic-int8`: export to ONNX, then `onnxruntime.quantization.quantize_dynamic`.
Both are called exactly as their docs show, with default options, on purpose.
"""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from weightlight.data import Data

Baseline = Callable[[nn.Module, Data, Path], object]


def torch_dynamic_int8(model: nn.Module, data: Data, prefix: Path) -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization is deprecated in torch 2.13
        return torch.ao.quantization.quantize_dynamic(
            copy.deepcopy(model).eval(), {nn.Linear}, dtype=torch.qint8
        )


def ort_dynamic_int8(model: nn.Module, data: Data, prefix: Path):
    from onnxruntime.quantization import quantize_dynamic

    from weightlight.export import load_onnx
    from weightlight.export.onnx import export_onnx

    fp32 = export_onnx(model, data, prefix.with_suffix(".fp32.onnx"), optimize="none")
    target = prefix.with_suffix(".onnx")
    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(logging.ERROR)  # ORT logs a pre-processing hint on the root logger
    try:
        quantize_dynamic(str(fp32.path), str(target))
    finally:
        logger.setLevel(level)
    return load_onnx(target)


def available() -> dict[str, Baseline]:
    """Baselines by variant name, in report order."""
    return {"baseline-torch-dynamic-int8": torch_dynamic_int8,
            "baseline-ort-dynamic-int8": ort_dynamic_int8}  # fmt: skip
