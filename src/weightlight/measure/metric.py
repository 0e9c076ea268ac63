"""The quality metric: top-1 accuracy by default, or any function of (outputs, targets)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch.utils.data import DataLoader

from weightlight.errors import UserError

Metric = Callable[[torch.Tensor, torch.Tensor], float]


def top1_accuracy(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Percentage of samples whose arg-max output equals the label."""
    return 100.0 * (outputs.argmax(dim=1) == targets).float().mean().item()


def evaluate(
    run: Callable[[torch.Tensor], torch.Tensor], loader: DataLoader, metric: Metric = top1_accuracy
) -> float:
    """Run over `loader` and apply `metric` to all outputs and targets at once."""
    outputs, targets = [], []
    for inputs, labels in loader:
        try:
            outputs.append(run(inputs))
        except UserError:
            raise
        except RuntimeError as exc:
            raise UserError(
                f"the model could not run on inputs of shape {tuple(inputs.shape)} "
                f"({str(exc).splitlines()[0][:160]})",
                "pass data whose input shape matches the model",
            ) from None
        targets.append(labels)
    return float(metric(torch.cat(outputs), torch.cat(targets)))


def wilson_interval(percent: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval (in %) of an accuracy of `percent` % measured on `n` samples.

    Wilson rather than the normal approximation because accuracies near 100 % on a few
    hundred samples would otherwise get an interval reaching past 100 %.

    Example:
        >>> [round(b, 2) for b in wilson_interval(99.17, 360)]
        [97.58, 99.72]
    """
    if n < 1:
        raise ValueError("an interval needs at least one sample")
    p = percent / 100.0
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return 100.0 * max(centre - half, 0.0), 100.0 * min(centre + half, 1.0)


def within_noise(a: float, n_a: int, b: float, n_b: int, z: float = 1.96) -> bool:
    """Whether two accuracies (in %) differ by less than sampling noise at ~95 %.

    Two-proportion z-test with the pooled rate. Both variants are scored on the same images,
    so a paired test would be tighter; without per-image results this errs towards calling a
    difference noise, never towards a difference that is not there.
    """
    pooled = (a * n_a + b * n_b) / (100.0 * (n_a + n_b))
    spread = math.sqrt(max(pooled * (1 - pooled), 0.0) * (1 / n_a + 1 / n_b))
    return abs(a - b) / 100.0 <= z * spread
