"""Hidden-state / embedding distillation of a transformer on unlabelled text (`Hidden`).

The student's hidden states are matched to the teacher's through a layer map (student state i
<- teacher state j, read with `output_hidden_states=True`, so any Hugging Face encoder or
decoder works): per-token MSE or 1 - cosine (TinyBERT's hidden-state term), plus `1 - cosine`
of the pooled embeddings, the figure an embedding model is judged on. No labels are needed:
any text the model will see is training data. After heads and FFN neurons are pruned the
student keeps the teacher's hidden width, so states compare without a projection; a student
with fewer blocks is mapped uniformly.

`distill_hidden` is the same loss in a short local loop over a list of batches, for
benchmarks/bench_encoder.py.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import ClassVar, Literal

import torch
from pydantic import Field
from torch import nn

from weightlight.adapter import ModelAdapter
from weightlight.batch import split
from weightlight.data import Data
from weightlight.distill.core import (
    DistillConfig,
    DistillLoss,
    Teacher,
    fit,
    handles,
    single_teacher,
)
from weightlight.distill.losses import (
    embedding_cosine_loss,
    masked_cosine_loss,
    masked_hidden_loss,
)
from weightlight.distill.states import forward_states, layer_map
from weightlight.errors import UserError
from weightlight.models.encoder import Batch, SentenceEncoder
from weightlight.outputs import output_tensor
from weightlight.pooling import pool


class Hidden(DistillConfig):
    """Hidden-state + embedding distillation of any Hugging Face transformer.

    loss = hidden_weight * sum over mapped layers of d(h_s,i, h_t,j) over real tokens
         + embedding_weight * (1 - cosine(pooled student, pooled teacher)),
    with d the per-token MSE (`hidden_loss: mse`) or 1 - cosine (`cosine`).

    Example (YAML): `distill: {method: hidden, epochs: 2, lr: 1e-4, max_seconds: 600}`
    """

    TASKS: ClassVar[tuple[str, ...]] = ("embedding", "classification", "regression", "causal_lm")

    method: Literal["hidden"] = "hidden"
    lr: float = Field(1e-4, gt=0, description="Peak learning rate (one-cycle schedule).")
    epochs: float = Field(2, gt=0, description="Passes over the training text.")
    weight_decay: float = Field(0.0, ge=0, description="Decoupled weight decay.")
    layers: dict[int, int] | None = Field(
        None,
        description="Student hidden state -> teacher's (0 = embeddings, k = block k); "
        "default: uniform (student block i <- teacher block i * teacher/student blocks).",
    )
    hidden_loss: Literal["mse", "cosine"] = Field(
        "mse", description="Per-token distance of hidden states: mse or cosine."
    )
    hidden_weight: float = Field(1.0, ge=0, description="Weight of the hidden-state terms.")
    embedding_weight: float = Field(
        10.0, ge=0, description="Weight of 1 - cosine of the pooled embeddings."
    )


class HiddenLoss(DistillLoss):
    """The `Hidden` loss on one batch; the layer map is fixed on the first call."""

    def __init__(
        self, teacher: nn.Module, config: Hidden, adapter: ModelAdapter, task: str
    ) -> None:
        super().__init__([teacher])
        self.config, self.adapter, self.task = config, adapter, task
        self.pairs: dict[int, int] | None = None

    def compute(self, model: nn.Module, inputs, targets=None) -> torch.Tensor:
        (teacher,) = self.teachers
        with torch.no_grad():
            t_out, t_states = forward_states(teacher, inputs, "teacher")
        s_out, s_states = forward_states(model, inputs, "student")
        if self.pairs is None:
            self.pairs = checked_pairs(s_states, t_states, self.config.layers)
        mask = inputs.get("attention_mask")
        if mask is None:
            mask = torch.ones(s_states[-1].shape[:2], device=s_states[-1].device)
        distance = masked_hidden_loss if self.config.hidden_loss == "mse" else masked_cosine_loss
        hidden = sum(distance(s_states[i], t_states[j], mask) for i, j in self.pairs.items())
        pooled = embedding_cosine_loss(
            self._pooled(s_out, s_states, mask), self._pooled(t_out, t_states, mask)
        )
        return self.config.hidden_weight * hidden + self.config.embedding_weight * pooled

    def _pooled(self, out, states, mask) -> torch.Tensor:
        """The embedding the task reads (the data's declared output and pooling) for embedding
        data; the mean of the last hidden state for any other task."""
        if self.task == "embedding":
            value = output_tensor(out, self.adapter.output)
            if value.dim() == 3:
                value = pool(value, mask, self.adapter.pooling or "mean")
            return value.flatten(1)
        return pool(states[-1], mask, "mean")


def checked_pairs(s_states, t_states, given: dict[int, int] | None) -> dict[int, int]:
    """The layer map, once the widths of every mapped pair are known to match."""
    pairs = layer_map(len(s_states) - 1, len(t_states) - 1, given)
    for i, j in pairs.items():
        if s_states[i].shape[-1] != t_states[j].shape[-1]:
            raise UserError(
                f"student hidden state {i} has width {s_states[i].shape[-1]}, the teacher's "
                f"{j} has {t_states[j].shape[-1]}",
                "prune heads / FFN neurons / blocks, not the hidden width, before distill "
                "method 'hidden'",
            )
    return pairs


@handles(Hidden)
def distill_hidden_states(
    student: nn.Module, config: Hidden, data: Data, teacher: Teacher, progress: bool
) -> nn.Module:
    teacher = single_teacher(teacher, config.method)
    loss = HiddenLoss(teacher, config, data.adapter, data.task)
    with torch.no_grad():  # width / layer-map mistakes fail here, before any training
        loss.compute(student.eval(), _inputs(data.example_batch(2)))
    return fit(student, loss, data, config, progress)


def _inputs(batch):
    return split(batch)[0]


def distill_hidden(
    student: nn.Module,
    teacher: nn.Module,
    batches: Sequence[Batch],
    *,
    epochs: float = 2.0,
    lr: float = 1e-4,
    hidden_weight: float = 1.0,
    embedding_weight: float = 10.0,
    seed: int = 0,
) -> nn.Module:
    """Train a copy of `student` so its hidden states and embeddings match `teacher`'s.

    Args:
        student: the (pruned) encoder; same depth and hidden width as the teacher.
        teacher: the original encoder (not modified; run without gradients).
        batches: dict batches of unlabelled text (input_ids, attention_mask).
        epochs: passes over `batches` (fractions allowed).
        lr: peak AdamW learning rate (linear warm-up over 10 %, then linear decay to 0).
        hidden_weight: weight of the per-block hidden-state MSE (summed over blocks).
        embedding_weight: weight of the 1 - cosine term on mean-pooled embeddings.
        seed: shuffling order of the batches.

    Returns:
        The trained student in eval mode, with no hooks left on it.

    Example:
        >>> small = wl.prune(encoder, wl.prune.Structured(ratio=0.5), calib_data)
        >>> student = distill_hidden(small, encoder, train_batches, epochs=2)
    """
    if not batches:
        raise UserError("distill_hidden got no batches", "pass tokenized batches of text")
    if epochs <= 0 or lr <= 0:
        raise UserError(f"epochs and lr must be > 0, got {epochs} and {lr}", "e.g. 2 and 1e-4")
    # Trained in eval mode: dropout would only add noise to an exact-match objective.
    wrapped = isinstance(student, SentenceEncoder)
    student = copy.deepcopy(_unwrap(student)).eval()
    teacher = copy.deepcopy(_unwrap(teacher)).eval().requires_grad_(False)
    config = Hidden(hidden_weight=hidden_weight, embedding_weight=embedding_weight)
    loss_fn = HiddenLoss(teacher, config, ModelAdapter(), task="regression")
    with torch.no_grad():
        _, s_states = forward_states(student, batches[0], "student")
        _, t_states = forward_states(teacher, batches[0], "teacher")
    if len(s_states) != len(t_states):
        raise UserError(
            f"student has {len(s_states) - 1} blocks, teacher {len(t_states) - 1}",
            "distill_hidden matches blocks one to one: prune heads / neurons, not layers",
        )
    steps = max(1, math.ceil(epochs * len(batches)))
    opt = torch.optim.AdamW(student.parameters(), lr=lr, weight_decay=0.0)
    warm = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: min((i + 1) / warm, max(0.0, (steps - i) / (steps - warm + 1)))
    )
    order = torch.Generator().manual_seed(seed)
    for step in range(steps):
        if step % len(batches) == 0:
            perm = torch.randperm(len(batches), generator=order).tolist()
        batch = dict(batches[perm[step % len(batches)]])
        loss = loss_fn.compute(student, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return SentenceEncoder(student.eval()) if wrapped else student.eval()


def _unwrap(model: nn.Module) -> nn.Module:
    """The Hugging Face model inside a `SentenceEncoder` (it takes output_hidden_states)."""
    return model.model if isinstance(model, SentenceEncoder) else model
