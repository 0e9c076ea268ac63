"""The quality metric: the task's (top-1, cosine vs base, MSE, perplexity) or any function of
(outputs, targets)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch.utils.data import DataLoader

from weightlight import batch as batches
from weightlight.errors import UserError
from weightlight.tasks import Score, Task, get_task, lm_targets

Metric = Callable[[torch.Tensor, torch.Tensor], float]


def top1_accuracy(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Percentage of samples whose arg-max output equals the label."""
    return 100.0 * (outputs.argmax(dim=1) == targets).float().mean().item()


def evaluate(
    run: Callable[[batches.Inputs], torch.Tensor],
    loader: DataLoader,
    metric: Metric = top1_accuracy,
) -> float:
    """Run over `loader` and apply `metric` to all outputs and targets at once."""
    outputs, targets = collect(run, loader, get_task("classification"))
    return float(metric(torch.cat(outputs), torch.cat(targets)))


def score(
    run: Callable[[batches.Inputs], torch.Tensor],
    data,
    metric: Metric | None = None,
    *,
    split: str = "eval",
) -> Score:
    """The metric of `run` on `data.eval` (or `data.val`, split="val"): the user's `metric`,
    else the task's.

    The embedding task compares with `data.reference` (`data.val_reference` for val: the base
    model's embeddings); without one the model is its own reference (the base scores 100).
    """
    loader = data.val if split == "val" else data.eval
    if metric is not None:
        return Score(evaluate(run, loader, metric))
    task = data.task_spec
    outputs, targets = collect(run, loader, task)
    if task.needs_reference:
        reference = data.val_reference if split == "val" else data.reference
        targets = list(reference) if reference is not None else outputs
        if len(targets) != len(outputs):
            raise UserError(
                f"the reference holds {len(targets)} batches, the {split} loader gave "
                f"{len(outputs)}",
                "make the eval loader yield the same batches every pass (no shuffling)",
            )
    return task.score(outputs, targets)


def collect(run, loader: DataLoader, task: Task) -> tuple[list, list]:
    """Outputs and targets of every batch of `loader` (lists: token outputs differ in length)."""
    outputs, targets = [], []
    for b in loader:
        inputs, labels = batches.split(b)
        try:
            outputs.append(run(inputs))
        except UserError:
            raise
        except (RuntimeError, TypeError, ValueError) as exc:
            raise UserError(
                f"the model could not run on inputs of {batches.describe(inputs)} "
                f"({(str(exc).splitlines() or [type(exc).__name__])[0][:160]})",
                "pass data whose inputs match the model",
            ) from None
        if task.name == "causal_lm" and labels is None and isinstance(inputs, dict):
            labels = lm_targets(inputs["input_ids"], inputs.get("attention_mask"))
        if labels is None and not task.needs_reference:
            raise UserError(
                f"the data's batches carry no labels, which the {task.name} task scores against",
                "yield (inputs, labels) or a dict with 'labels', or declare the embedding task",
            )
        targets.append(labels)
    return outputs, targets


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
