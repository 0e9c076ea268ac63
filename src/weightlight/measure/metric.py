"""The quality metric: the task's (top-1, cosine vs base, MSE, perplexity) or any function of
(outputs, targets)."""

from __future__ import annotations

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
    run: Callable[[batches.Inputs], torch.Tensor], data, metric: Metric | None = None
) -> Score:
    """The metric of `run` on `data.eval`: the user's `metric`, else the task's.

    The embedding task compares with `data.reference` (the base model's embeddings); without
    one the model is its own reference (the base measuring itself scores 100).
    """
    if metric is not None:
        return Score(evaluate(run, data.eval, metric))
    task = data.task_spec
    outputs, targets = collect(run, data.eval, task)
    if task.needs_reference:
        targets = list(data.reference) if data.reference is not None else outputs
        if len(targets) != len(outputs):
            raise UserError(
                f"the reference holds {len(targets)} batches, the eval loader gave {len(outputs)}",
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
