"""Tasks: what a model is for decides its metric, its direction and its training loss.

| task           | model output read             | metric                                | better |
|----------------|-------------------------------|---------------------------------------|--------|
| classification | logits (batch, classes)       | top-1 accuracy, %                     | higher |
| embedding      | pooled states (batch, dim)    | 100 x cosine vs the base model (mean; | higher |
|                |                               | the worst sentence kept as well)      |        |
| regression     | predictions                   | mean squared error                    | lower  |
| causal_lm      | logits (batch, tokens, vocab) | perplexity of the next token          | lower  |

An embedding has no labels: its targets are the base model's embeddings of the same batches
(`Data.with_reference`), so "how good" means "how close to the model we started from".
Metrics take per-batch lists because token outputs of padded batches differ in length.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F

from weightlight.errors import UserError

TASKS = ("classification", "embedding", "regression", "causal_lm")


@dataclasses.dataclass(frozen=True)
class Score:
    """A metric value, with the worst single sample where the task defines one."""

    value: float
    worst: float | None = None


@dataclasses.dataclass(frozen=True)
class Task:
    """One task: its metric's name and direction, and whether it needs reference outputs."""

    name: str
    metric_name: str
    higher_is_better: bool
    needs_reference: bool = False
    pooled: bool = False  # reads one vector per sequence (mask-weighted pooling by default)

    def score(self, outputs: list[torch.Tensor], targets: list[torch.Tensor]) -> Score:
        return _SCORERS[self.name](outputs, targets)

    def drop(self, base: float, value: float) -> float:
        """How much worse `value` is than `base` (positive = worse), whatever the direction."""
        return base - value if self.higher_is_better else value - base


def get_task(name: str) -> Task:
    """The task called `name`; a UserError listing the tasks otherwise."""
    if name not in _TASKS:
        raise UserError(f"unknown task '{name}'", f"use one of {', '.join(TASKS)}")
    return _TASKS[name]


def lm_targets(input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """Next-token labels of a causal LM batch: the ids, with padding set to -100 (ignored)."""
    labels = input_ids.clone().long()
    if attention_mask is not None:
        labels[attention_mask == 0] = -100
    return labels


def task_loss(task: Task, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The training loss of `task` (cross-entropy, MSE or next-token cross-entropy)."""
    if task.name == "classification":
        return F.cross_entropy(outputs, targets)
    if task.name == "regression":
        return F.mse_loss(outputs.reshape(targets.shape).float(), targets.float())
    if task.name == "causal_lm":
        vocab = outputs.shape[-1]
        return F.cross_entropy(
            outputs[:, :-1].reshape(-1, vocab), targets[:, 1:].reshape(-1), ignore_index=-100
        )
    raise UserError(
        f"the {task.name} task has no labels to train on",
        "distill from the base model instead (a teacher's embeddings are the targets)",
    )


def _top1(outputs: list[torch.Tensor], targets: list[torch.Tensor]) -> Score:
    out, tgt = torch.cat(outputs), torch.cat(targets)
    if out.dim() != 2 or tgt.dim() != 1:
        raise UserError(
            f"classification reads (batch, classes) outputs and (batch,) labels, got "
            f"{tuple(out.shape)} and {tuple(tgt.shape)}",
            "declare the task that fits the model (embedding, regression, causal_lm)",
        )
    return Score(100.0 * (out.argmax(dim=1) == tgt).float().mean().item())


def _cosine(outputs: list[torch.Tensor], targets: list[torch.Tensor]) -> Score:
    out = torch.cat([o.flatten(1) for o in outputs]).float()
    ref = torch.cat([t.flatten(1) for t in targets]).float()
    if out.shape != ref.shape:
        raise UserError(
            f"embeddings of shape {tuple(out.shape)} cannot be compared with the base's "
            f"{tuple(ref.shape)}",
            "keep the embedding width when compressing (prune inside the encoder, not its output)",
        )
    cos = F.cosine_similarity(out, ref, dim=1, eps=1e-12)
    return Score(100.0 * float(cos.mean()), worst=100.0 * float(cos.min()))


def _mse(outputs: list[torch.Tensor], targets: list[torch.Tensor]) -> Score:
    out, tgt = torch.cat(outputs).float(), torch.cat(targets).float()
    return Score(float(F.mse_loss(out.reshape(tgt.shape), tgt)))


def _perplexity(outputs: list[torch.Tensor], targets: list[torch.Tensor]) -> Score:
    total, count = 0.0, 0
    for logits, labels in zip(outputs, targets, strict=True):
        shifted = labels[:, 1:].reshape(-1)
        nll = F.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]).float(), shifted,
            ignore_index=-100, reduction="sum",
        )  # fmt: skip
        total += float(nll)
        count += int((shifted != -100).sum())
    if count == 0:
        raise UserError("no tokens to score perplexity on", "give sequences of 2+ tokens")
    return Score(math.exp(total / count))


_SCORERS = {
    "classification": _top1,
    "embedding": _cosine,
    "regression": _mse,
    "causal_lm": _perplexity,
}
_TASKS = {
    "classification": Task("classification", "accuracy", higher_is_better=True),
    "embedding": Task(
        "embedding",
        "cosine vs base (x100)",
        higher_is_better=True,
        needs_reference=True,
        pooled=True,
    ),  # fmt: skip
    "regression": Task("regression", "mse", higher_is_better=False),
    "causal_lm": Task("causal_lm", "perplexity", higher_is_better=False),
}
