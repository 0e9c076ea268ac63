"""Hidden-state distillation of a sentence encoder on unlabelled text.

After heads and FFN neurons are pruned (`wl.prune.Structured(head_ratio=..., ffn_ratio=...)`),
the student has the
teacher's depth and hidden width, so every block's output can be matched one to one: the loss
is the per-token MSE of each block's hidden states (TinyBERT's hidden-state term) plus
`1 - cosine` of the mean-pooled embeddings, the figure an embedding model is judged on. No
labels are needed: any text the model will see is training data.

The loop is short and local because the batches are dicts of token tensors; the losses are
`distill.losses` functions and the block outputs are captured by `distill.taps.Taps`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
from torch import nn

from weightlight.distill.losses import embedding_cosine_loss, masked_hidden_loss
from weightlight.distill.taps import Taps
from weightlight.errors import UserError
from weightlight.models.encoder import Batch, encoder_layers, mean_pool, run_encoder


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
    student = copy.deepcopy(student).eval()
    teacher = copy.deepcopy(teacher).eval().requires_grad_(False)
    s_names, t_names = _block_names(student), _block_names(teacher)
    if len(s_names) != len(t_names):
        raise UserError(
            f"student has {len(s_names)} blocks, teacher {len(t_names)}",
            "distill_hidden matches blocks one to one: prune heads / neurons, not layers",
        )
    steps = max(1, math.ceil(epochs * len(batches)))
    opt = torch.optim.AdamW(student.parameters(), lr=lr, weight_decay=0.0)
    warm = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: min((i + 1) / warm, max(0.0, (steps - i) / (steps - warm + 1)))
    )
    order = torch.Generator().manual_seed(seed)
    with Taps(student, s_names, role="student") as s_taps, Taps(teacher, t_names) as t_taps:
        for step in range(steps):
            if step % len(batches) == 0:
                perm = torch.randperm(len(batches), generator=order).tolist()
            batch = batches[perm[step % len(batches)]]
            mask = batch["attention_mask"]
            with torch.no_grad():
                t_pooled = mean_pool(run_encoder(teacher, batch), mask)
            s_pooled = mean_pool(run_encoder(student, batch), mask)
            hidden = sum(
                masked_hidden_loss(s_taps[s], t_taps[t], mask)
                for s, t in zip(s_names, t_names, strict=True)
            )
            loss = hidden_weight * hidden + embedding_weight * embedding_cosine_loss(
                s_pooled, t_pooled
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return student.eval()


def _block_names(model: nn.Module) -> list[str]:
    """Module names of the encoder blocks, in order (what `Taps` hooks)."""
    names = {id(m): n for n, m in model.named_modules()}
    return [names[id(block)] for block in encoder_layers(model)]
