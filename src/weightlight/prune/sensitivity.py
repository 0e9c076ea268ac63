"""Sensitivity analysis: prune one layer at a time and see how much the metric drops.

Layers whose metric barely moves can take a high ratio; fragile ones should get a low one
(pass the result to `Structured(layer_ratios=...)`). Each point prunes a fresh copy of the
model, without fine-tuning, so the numbers compare layers against each other, not the final
accuracy after fine-tuning.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Literal

from torch import nn

from weightlight._io import atomic_path
from weightlight.data import Data
from weightlight.errors import UserError
from weightlight.measure.metric import Metric, evaluate, top1_accuracy
from weightlight.measure.runnable import TorchRunnable
from weightlight.prune._layers import output_layers
from weightlight.prune.dispatch import prune
from weightlight.prune.structured import Structured
from weightlight.prune.unstructured import Unstructured


@dataclasses.dataclass(frozen=True)
class SensitivityResult:
    """Metric of the model with each layer pruned alone at each ratio.

    Attributes:
        kind: "structured" or "unstructured".
        baseline: metric of the unpruned model.
        points: (layer, ratio, metric) for every layer and ratio tried.
    """

    kind: str
    baseline: float
    points: tuple[tuple[str, float, float], ...]

    def table(self) -> list[dict]:
        """One row per (layer, ratio): layer, ratio, metric and drop versus the baseline."""
        return [
            {"layer": layer, "ratio": ratio, "metric": metric, "drop": self.baseline - metric}
            for layer, ratio, metric in self.points
        ]

    def layers(self) -> list[str]:
        return list(dict.fromkeys(layer for layer, _, _ in self.points))

    def plot(self, path: str | os.PathLike) -> None:
        """Write a PNG: metric versus ratio, one line per layer, baseline dashed."""
        # The object API needs no display and leaves the user's pyplot backend alone.
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6, 4), dpi=120)
        ax = fig.subplots()
        for layer in self.layers():
            xs = [r for name, r, _ in self.points if name == layer]
            ys = [m for name, _, m in self.points if name == layer]
            ax.plot(xs, ys, marker="o", label=layer)
        ax.axhline(self.baseline, color="grey", linestyle="--", label="unpruned")
        ax.set(xlabel="ratio pruned (this layer only)", ylabel="metric",
               title=f"{self.kind} pruning sensitivity")  # fmt: skip
        ax.legend(fontsize="small")
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")


def sensitivity(
    model: nn.Module,
    data: Data,
    *,
    ratios: Sequence[float] = (0.25, 0.5, 0.75),
    kind: Literal["structured", "unstructured"] = "structured",
    layers: Sequence[str] | None = None,
    metric: Metric | None = None,
) -> SensitivityResult:
    """Prune each layer alone at each ratio and evaluate on the validation split.

    The split is `data.selection`: a ranking is a choice, so it is not made on the test split.

    Args:
        model: the trained model (not modified).
        data: validation loader for the metric, example input for tracing.
        ratios: fractions to try, each in [0, 1).
        kind: remove channels ("structured") or zero weights ("unstructured").
        layers: module names to analyse; every Linear/Conv except the output layers if None.
        metric: `metric(outputs, targets) -> float`; top-1 accuracy when None.

    Example:
        >>> import weightlight as wl
        >>> result = wl.prune.sensitivity(model, data, ratios=(0.5,))
        >>> result.table()[0]["drop"]  # doctest: +SKIP
    """
    if kind not in ("structured", "unstructured"):
        raise UserError(f"unknown sensitivity kind '{kind}'", "use structured or unstructured")
    if not ratios or any(not 0 <= r < 1 for r in ratios):
        raise UserError(f"ratios must be in [0, 1), got {tuple(ratios)}", "use e.g. 0.25,0.5,0.75")
    names = list(layers) if layers is not None else _default_layers(model, data)
    score = metric or top1_accuracy
    baseline = evaluate(TorchRunnable(model).run, data.selection, score)
    points = []
    for name in names:
        for ratio in ratios:
            if ratio == 0:  # nothing to prune: the unpruned metric, without re-tracing
                points.append((name, 0.0, baseline))
                continue
            config = (
                Structured(ratio=0.0, layer_ratios={name: ratio})
                if kind == "structured"
                else _unstructured_one(model, name, ratio)
            )
            try:
                pruned = prune(model, config, data)
            except UserError:
                if layers is not None:
                    raise
                break  # coupled to an output layer (e.g. a residual stream): not prunable alone
            points.append(
                (name, float(ratio), evaluate(TorchRunnable(pruned).run, data.selection, score))
            )
    return SensitivityResult(kind=kind, baseline=baseline, points=tuple(points))


def _unstructured_one(model: nn.Module, name: str, ratio: float) -> Unstructured:
    """Unstructured pruning of layer `name` only: every other layer is ignored."""
    others = tuple(n for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))
                   and n != name)  # fmt: skip
    return Unstructured(
        ratio=ratio, scope="layer", ignore=others, layer_types=("Linear", "Conv1d", "Conv2d")
    )


def _default_layers(model: nn.Module, data: Data) -> list[str]:
    skip = {id(m) for m in output_layers(model, data.example_input)}
    return [n for n, m in model.named_modules()
            if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)) and id(m) not in skip]  # fmt: skip
