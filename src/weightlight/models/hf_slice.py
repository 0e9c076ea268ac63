"""Slicing the Linear (and GPT-2 Conv1D) weights of a transformer block, in place.

Used by structured pruning (`weightlight.prune.transformer`) and by the `hf:` loader, which
shrinks a fresh build to the head counts a pruned model's config records.
"""

from __future__ import annotations

import torch
from torch import nn

from weightlight.models.hf_arch import Family, head_counts, head_size


def keep_heads(block: nn.Module, family: Family, heads: torch.Tensor) -> None:
    """Keep query heads `heads` of a block (their key/value heads too without grouping)."""
    n, kv = head_counts(block, family)
    d = head_size(block, family)
    rows = (heads.unsqueeze(1) * d + torch.arange(d)).flatten()
    if family.fused_qkv:  # [q | k | v], each n * d wide
        width = n * d
        keep_out(block.get_submodule(family.qkv[0]),
                 torch.cat([rows, rows + width, rows + 2 * width]))  # fmt: skip
    else:
        for path in family.qkv if kv == n else family.qkv[:1]:
            keep_out(block.get_submodule(path), rows)
        for path in family.extra_head_outputs:
            extra = _optional(block, path)
            if extra is not None:
                keep_out(extra, rows)
    keep_in(block.get_submodule(family.out), rows)


def keep_out(layer: nn.Module, index: torch.Tensor) -> None:
    """Keep only outputs `index` of a Linear or GPT-2 Conv1D (in place)."""
    linear = isinstance(layer, nn.Linear)
    _slice_weight(layer, index, dim=0 if linear else 1)
    if layer.bias is not None:
        layer.bias = nn.Parameter(layer.bias.detach()[index].clone())
    if linear:
        layer.out_features = len(index)
    else:
        layer.nf = len(index)


def keep_in(layer: nn.Module, index: torch.Tensor) -> None:
    """Keep only inputs `index` of a Linear or GPT-2 Conv1D (in place)."""
    linear = isinstance(layer, nn.Linear)
    _slice_weight(layer, index, dim=1 if linear else 0)
    if linear:
        layer.in_features = len(index)
    else:
        layer.nx = len(index)


def _slice_weight(layer: nn.Module, index: torch.Tensor, dim: int) -> None:
    weight = layer.weight.detach().index_select(dim, index.to(layer.weight.device)).clone()
    layer.weight = nn.Parameter(weight, requires_grad=layer.weight.requires_grad)


def _optional(block: nn.Module, path: str) -> nn.Module | None:
    try:
        return block.get_submodule(path)
    except AttributeError:
        return None
