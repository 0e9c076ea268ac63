"""The techniques of the support matrix, each one call of the public API, and their bounds.

A technique takes a `Cell` (the family's base model, its data, a folder for files) and
returns the compressed model, or raises `UserError` (a refusal). Every call goes through a
verb (`wl.prune`, `wl.quantize`, `wl.distill`, `wl.export`), so the matrix shows what a user
gets, not what a helper could do.

A bound is the least fidelity a working cell must keep against the base model, per task.
Random weights make classifiers' logits nearly flat, so a lossy technique (masks, pruning
without fine-tuning) is held only to "still the same model, roughly"; a numeric format change
(int8, bf16, int4) to "nearly the same outputs"; export to float rounding.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from torch import nn

import weightlight as wl


@dataclasses.dataclass
class Cell:
    """What a technique gets: the family, its base model (never modified), its data."""

    family: object  # matrix_families.Family
    model: nn.Module
    data: wl.data.Data
    folder: Path
    onnx_fp32: Callable[[], object]  # the family's fp32 ONNX export, made once


@dataclasses.dataclass(frozen=True)
class Bound:
    """The fidelity a working cell must reach, per metric (None: the metric is not bounded)."""

    top1: float  # least % of eval predictions equal to the base's (classifiers)
    cosine: float  # least mean cosine of pooled embeddings with the base's (encoders)
    ppl_ratio: float  # largest perplexity / the base's perplexity (causal LMs)


@dataclasses.dataclass(frozen=True)
class Technique:
    name: str  # the column id: the test id and the page's column
    title: str
    apply: Callable[[Cell], object]
    bound: Bound
    parity: bool = False  # judged by ONNX parity (max relative error) instead of the task


# numeric formats: nearly the same outputs
NEAR = Bound(top1=75.0, cosine=0.95, ppl_ratio=1.05)
# int4 weights: coarser
INT4 = Bound(top1=60.0, cosine=0.90, ppl_ratio=1.15)
# masks / removed channels, no fine-tuning, on random weights: still recognizably the model
LOSSY = Bound(top1=25.0, cosine=0.70, ppl_ratio=1.5)
ONNX_PARITY = 1e-4  # max |onnx - torch| / max(1, max |torch|)


def _tune(cell: Cell) -> dict:
    """Classifiers fine-tune after 2:4 and structured pruning (as long as the base trained), as
    users do: without it, or with 2 epochs, MobileNetV2 (depthwise kernels, BatchNorm) kept
    12.5 % and 6.25 % top-1 agreement on the 32 eval images."""
    return {"finetune": {"epochs": 10, "lr": 3e-3}} if cell.family.task == "classification" else {}


def _nm(cell: Cell):
    return wl.prune(cell.model, wl.prune.NM(**_tune(cell)), cell.data)


def _structured(cell: Cell):
    heads = {"head_ratio": 0.25} if cell.family.attention else {}
    config = wl.prune.Structured(ratio=0.3, **heads, **_tune(cell))
    return wl.prune(cell.model, config, cell.data)


def _onnx_int8(config_factory: Callable[[], object], suffix: str) -> Callable[[Cell], object]:
    def apply(cell: Cell):
        fp32 = cell.onnx_fp32()  # raises the export's own refusal when the export refused
        return wl.export.quantize_onnx(fp32, cell.data, cell.folder / suffix, config_factory())

    return apply


# The distillation each task learns from: logits for classifiers, hidden states and the pooled
# embedding for encoders, token-level KL for causal LMs.
_DISTILL = {
    "classification": lambda: wl.distill.Logit(temperature=2.0, epochs=1, lr=1e-3),
    "embedding": lambda: wl.distill.Hidden(epochs=1, lr=1e-3),
    "causal_lm": lambda: wl.distill.LanguageModel(epochs=1, lr=1e-3),
}


def _distill(cell: Cell):
    # The student is the base with half its weights zeroed (a new small model would need far
    # more than a few steps to agree with its teacher); one pass over the training batches.
    student = wl.prune(cell.model, wl.prune.Unstructured(ratio=0.5, permanent=True), cell.data)
    config = _DISTILL[cell.family.task]()
    return wl.distill(student, config, cell.data, teacher=cell.model)


TECHNIQUES: dict[str, Technique] = {
    t.name: t
    for t in [
        Technique(
            "unstructured", "unstructured 50 %",
            lambda c: wl.prune(c.model, wl.prune.Unstructured(ratio=0.5), c.data), LOSSY,
        ),
        Technique("nm-2-4", "2:4", _nm, LOSSY),
        Technique("structured", "structured 30 %", _structured, LOSSY),
        Technique(
            "dynamic-int8", "dynamic int8",
            lambda c: wl.quantize(c.model, wl.quantize.Dynamic(), c.data), NEAR,
        ),
        Technique(
            "static-int8", "torch static int8",
            lambda c: wl.quantize(c.model, wl.quantize.StaticInt8(batches=2), c.data), NEAR,
        ),
        Technique(
            "bf16", "bf16",
            lambda c: wl.quantize(c.model, wl.quantize.Half(dtype="bf16"), c.data), NEAR,
        ),
        Technique(
            "int4", "int4 weights",
            lambda c: wl.quantize(c.model, wl.quantize.WeightOnly(bits=4), c.data), INT4,
        ),
        Technique("onnx", "ONNX fp32", lambda c: c.onnx_fp32(), NEAR, parity=True),
        Technique(
            "onnx-dynamic-int8", "ONNX dynamic int8",
            _onnx_int8(wl.export.OrtDynamicInt8, "dynamic.int8.onnx"), NEAR,
        ),
        Technique(
            "onnx-static-int8", "ONNX static int8",
            _onnx_int8(lambda: wl.export.OrtStaticInt8(calib_batches=2), "static.int8.onnx"),
            NEAR,
        ),
        Technique("distill", "distillation (logit / hidden / LM KL)", _distill, LOSSY),
    ]
}  # fmt: skip
