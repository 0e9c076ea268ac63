"""The advisor: measure a model quickly and say which techniques to try first, and why.

Everything it says comes from a measurement on this model and this CPU:
- where the MACs and the bytes are, per layer (forward hooks on Linear / Conv layers);
- what the CPU runs fast: its flags (weightlight.hardware: VNNI, BF16, FP16) and a few-second
  probe timing int8 / bf16 / fp16 kernels against fp32 here (weightlight.search.probe);
- how fragile each layer is when quantized alone (output cosine vs fp32) and, for models
  torch-pruning can trace, when half its channels are pruned alone (metric drop).
The ranked advice turns those figures into "try this first" lines that quote them.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field

import torch
from torch import nn

from weightlight.batch import call
from weightlight.data import Data
from weightlight.hardware import CpuFeatures, cpu_features
from weightlight.search.probe import SpeedProbe, speed_probe
from weightlight.search.sensitivity import pruning_sensitivity, quantization_sensitivity

_COUNTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Embedding)


@dataclass(frozen=True)
class LayerCost:
    """MACs (batch 1) and parameter bytes of one Linear / Conv / Embedding layer."""

    name: str
    type: str
    params: int
    bytes: int
    macs: int


@dataclass(frozen=True)
class Recommendation:
    """One technique to try, its score (higher first) and the measured reason."""

    technique: str
    score: float
    reason: str
    recipe: str  # a recipe stage to paste, e.g. "quantize: {method: dynamic_int8}"


@dataclass(frozen=True)
class Advice:
    """What the advisor measured and what it recommends, best first."""

    layers: list[LayerCost]
    cpu: CpuFeatures
    quant_sensitivity: list[tuple[str, float]]
    prune_sensitivity: list[tuple[str, float]]
    recommendations: list[Recommendation]
    metric: float | None = None
    notes: list[str] = field(default_factory=list)
    speeds: SpeedProbe | None = None

    @property
    def total_macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def total_bytes(self) -> int:
        return sum(layer.bytes for layer in self.layers)


def layer_costs(model: nn.Module, example: torch.Tensor) -> list[LayerCost]:
    """Per-layer MACs at batch 1 and parameter bytes, in forward order.

    Example:
        >>> costs = layer_costs(wl.models.mnist_cnn(), torch.zeros(1, 1, 28, 28))
        >>> costs[2].name, costs[2].params
        ('fc1', 1179776)
    """
    found: dict[str, LayerCost] = {}

    def hook(name):
        def record(module, inputs, output):
            out = output if isinstance(output, torch.Tensor) else output[0]
            if isinstance(module, nn.Linear):
                macs = out.numel() * module.in_features
            elif isinstance(module, (nn.Conv1d, nn.Conv2d)):
                kernel = math.prod(module.kernel_size) * module.in_channels // module.groups
                macs = out.numel() * kernel
            else:  # Embedding: a lookup, no multiply-adds
                macs = 0
            params = sum(p.numel() for p in module.parameters(recurse=False))
            nbytes = sum(p.numel() * p.element_size() for p in module.parameters(recurse=False))
            found.setdefault(name, LayerCost(name, type(module).__name__, params, nbytes, 0))
            prev = found[name]
            found[name] = LayerCost(name, prev.type, params, nbytes, prev.macs + macs)

        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules()
               if n and isinstance(m, _COUNTED)]  # fmt: skip
    try:
        with torch.inference_mode():
            call(model.eval(), example)
    finally:
        for h in handles:
            h.remove()
    return list(found.values())


def advise(model: nn.Module, data: Data, *, quick: bool = True) -> Advice:
    """Measure `model` on `data` and rank the techniques to try first, with reasons.

    Args:
        model: the trained model (not modified).
        data: eval batches for the sensitivity checks, the example input for the costs.
        quick: compare outputs on 2 eval batches (else 8).

    Example:
        >>> advice = wl.search.advise(model, data)
        >>> advice.recommendations[0].technique  # doctest: +SKIP
        'structured pruning'
    """
    from weightlight.quantize.dynamic import Dynamic
    from weightlight.quantize.static import StaticInt8

    costs = layer_costs(model, data.example_input)
    cpu = cpu_features()
    notes: list[str] = []
    has_conv = any(c.type.startswith("Conv") for c in costs)
    config = StaticInt8() if has_conv else Dynamic()
    batches = 2 if quick else 8
    quant: list[tuple[str, float]] = []
    try:
        quant = quantization_sensitivity(model, data, config, batches=batches)
    except Exception as exc:  # advice goes on without this figure, and says so
        notes.append(f"quantization sensitivity unavailable ({type(exc).__name__})")
    prune: list[tuple[str, float]] = []
    try:
        prune = pruning_sensitivity(model, data)
    except Exception as exc:
        notes.append(f"pruning sensitivity unavailable ({type(exc).__name__})")
    metric = None
    with contextlib.suppress(Exception):
        from weightlight.measure.metric import evaluate, top1_accuracy
        from weightlight.measure.runnable import TorchRunnable

        metric = evaluate(TorchRunnable(model).run, data.eval, top1_accuracy)
    speeds = speed_probe()
    notes.append(speeds.describe())
    recs = recommend(costs, cpu, quant, prune, has_conv, speeds)
    return Advice(costs, cpu, quant, prune, recs, metric, notes, speeds)


def recommend(
    costs: list[LayerCost],
    cpu: CpuFeatures,
    quant: list[tuple[str, float]],
    prune: list[tuple[str, float]],
    has_conv: bool,
    speeds: SpeedProbe | None = None,
) -> list[Recommendation]:
    """Turn the measurements into ranked recommendations (pure: testable without a model).

    Scores are rough expected gains: the share of MACs or bytes a technique touches times the
    speed-up `speeds` measured for its kernels on this CPU (1x when not probed), lowered when
    the layers it touches are fragile. bf16 is suggested only where the CPU has it natively
    (weightlight.hardware) and the probe found it faster than fp32.
    """
    probed = speeds or SpeedProbe(None, None, None, None, None, 0.0, 0)

    def speed(value: float | None) -> tuple[float, str]:
        return (value, f"{value:.1f}x") if value is not None else (1.0, "not probed")

    total_macs = max(1, sum(c.macs for c in costs))
    total_bytes = max(1, sum(c.bytes for c in costs))
    linear_macs = sum(c.macs for c in costs if c.type == "Linear") / total_macs
    conv_macs = sum(c.macs for c in costs if c.type.startswith("Conv")) / total_macs
    biggest = max(costs, key=lambda c: c.bytes, default=None)
    recs: list[Recommendation] = []
    fragile = [(n, cos) for n, cos in quant if cos < 0.999]
    keep = [n for n, _ in fragile[:2]]
    worst = f"{quant[0][0]} (cosine {quant[0][1]:.4f} quantized alone)" if quant else "n/a"
    conv_speed, conv_text = speed(probed.int8_conv)
    gemm_speed, gemm_text = speed(probed.int8_gemm)
    if has_conv:
        recs.append(Recommendation(
            "ORT static int8", conv_macs * conv_speed,
            f"Conv layers hold {conv_macs:.0%} of the MACs; int8 conv measured {conv_text} vs "
            f"fp32 here; CPU int8 "
            f"{'has VNNI' if cpu.fast_int8 else 'lacks VNNI (reduce_range is on)'}; most fragile "
            f"layer {worst}",
            "export: {format: onnx, quantize: static_int8, calibration: percentile}",
        ))  # fmt: skip
    if linear_macs > 0.3:
        exclude = f", exclude: {keep}" if keep else ""
        recs.append(Recommendation(
            "dynamic int8 (Linear)", linear_macs * gemm_speed * (0.7 if keep else 1.0),
            f"Linear layers hold {linear_macs:.0%} of the MACs; int8 GEMM measured {gemm_text} "
            f"vs fp32 here; most fragile layer {worst}"
            + (f"; keep {', '.join(keep)} in float" if keep else ""),
            f"quantize: {{method: dynamic_int8{exclude}}}",
        ))  # fmt: skip
    if biggest is not None and prune:
        robust = [n for n, d in prune if d <= 1.0]
        share = biggest.bytes / total_bytes
        recs.append(Recommendation(
            "structured pruning + fine-tune", 1.0 + 4.0 * len(robust) / max(1, len(prune)) * share,
            f"{biggest.name} holds {share:.0%} of the bytes; pruning half of "
            f"{len(robust)}/{len(prune)} layers alone costs <= 1 point (most fragile: "
            f"{prune[0][0]}, -{prune[0][1]:.1f} pt); fine-tune recovers the rest",
            "prune: {method: structured, ratio: 0.5, finetune: {epochs: 3}}",
        ))  # fmt: skip
    if cpu.fast_bf16 and probed.bf16 is not None and probed.bf16 > 1.0:
        recs.append(Recommendation(
            "bf16", min(probed.bf16, 4.0) * 0.6,  # matmul-only figure: the model gains less
            f"CPU has AVX512-BF16/AMX: bf16 matmul measured {probed.bf16:.1f}x fp32 here, "
            "half the bytes, no calibration",
            "quantize: {method: half, dtype: bf16}",
        ))  # fmt: skip
    if not cpu.fast_fp16:
        slower = f"measured {probed.fp16:.2f}x fp32 speed here" if probed.fp16 else "not probed"
        recs.append(Recommendation(
            "avoid fp16", 0.0,
            f"CPU lacks AVX512-FP16: fp16 is emulated ({slower})",
            "-",
        ))  # fmt: skip
    recs.append(Recommendation(
        "ONNX Runtime fp32", 1.2,
        "no accuracy cost; ORT's fused kernels are often faster than torch eager on small "
        "models (the run's report measures it)",
        "export: {format: onnx, optimize: all}",
    ))  # fmt: skip
    return sorted(recs, key=lambda r: -r.score)
