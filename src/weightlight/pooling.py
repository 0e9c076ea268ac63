"""Pooling token states into one vector per sequence, as sentence-transformers does.

The encoder never knows it is being pooled: pooling reads its last hidden state and the
batch's attention mask. Mean pooling weights each token by its mask, so padding tokens add
nothing and a sentence's embedding does not depend on how much it was padded.
"""

from __future__ import annotations

import torch

POOLINGS = ("mean", "cls", "max")


def pool(hidden: torch.Tensor, mask: torch.Tensor | None, how: str) -> torch.Tensor:
    """(batch, tokens, features) -> (batch, features).

    Args:
        hidden: token states.
        mask: the attention mask (batch, tokens), 1 for real tokens; None: all real.
        how: "mean" (mask-weighted mean), "cls" (first token) or "max" (mask-aware max).

    Example:
        >>> pool(torch.ones(2, 5, 8), torch.tensor([[1, 1, 1, 0, 0]] * 2), "mean").shape
        torch.Size([2, 8])
    """
    if how == "cls":
        return hidden[:, 0]
    if mask is None:
        mask = torch.ones(hidden.shape[:2], dtype=hidden.dtype, device=hidden.device)
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    if how == "max":
        return hidden.masked_fill(weights == 0, torch.finfo(hidden.dtype).min).amax(dim=1)
    # clamp: a fully padded row gives zeros instead of NaN.
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
