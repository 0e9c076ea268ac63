"""Sensitivity analysis: prune one layer at a time and see how much the metric drops.

The metric is the data's task's (top-1 for classification, 100 x cosine vs the unpruned
model for embeddings, perplexity for causal language models, MSE for regression), read
through the data's adapter (output and pooling), and "drop" follows its direction.

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
from weightlight.measure.metric import Metric, evaluate, score
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
        metric_name: what the metric is (the task's: accuracy, cosine, perplexity, mse).
        higher_is_better: the metric's direction (False for perplexity and MSE).
    """

    kind: str
    baseline: float
    points: tuple[tuple[str, float, float], ...]
    metric_name: str = "accuracy"
    higher_is_better: bool = True

    def table(self) -> list[dict]:
        """One row per (layer, ratio): layer, ratio, metric and drop versus the baseline
        (positive = worse, whichever the metric's direction)."""
        sign = 1.0 if self.higher_is_better else -1.0
        return [
            {"layer": layer, "ratio": ratio, "metric": metric,
             "drop": sign * (self.baseline - metric)}
            for layer, ratio, metric in self.points
        ]  # fmt: skip

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
        ax.set(xlabel="ratio pruned (this layer only)", ylabel=self.metric_name,
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
        metric: `metric(outputs, targets) -> float` (higher is better); None: the task's
            metric (top-1, 100 x cosine vs this model, perplexity, MSE).

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
    measure, metric_name, higher = _scorer(model, data, metric)
    baseline = measure(model)
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
            points.append((name, float(ratio), measure(pruned)))
    return SensitivityResult(kind=kind, baseline=baseline, points=tuple(points),
                             metric_name=metric_name, higher_is_better=higher)  # fmt: skip


def _scorer(model: nn.Module, data: Data, metric: Metric | None):
    """(model -> metric on the selection split, metric name, higher is better)."""
    if metric is not None:
        return (lambda m: evaluate(TorchRunnable(m, data.adapter).run, data.selection, metric),
                getattr(metric, "__name__", "metric"), True)  # fmt: skip
    task = data.task_spec
    split = "val" if data.val is not None else "eval"
    if task.needs_reference:  # cosine vs the unpruned model's outputs, on the same batches
        data = data.with_reference(model)
    return (lambda m: score(TorchRunnable(m, data.adapter).run, data, split=split).value,
            task.metric_name, task.higher_is_better)  # fmt: skip


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
