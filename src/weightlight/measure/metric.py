"""The quality metric: top-1 accuracy by default, or any function of (outputs, targets)."""

from __future__ import annotations

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
