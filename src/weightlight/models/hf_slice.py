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


def keep_blocks(hf: nn.Module, name: str, layers, keep: list[int], family: Family) -> nn.ModuleList:
    """Keep blocks `keep` of the block list `name` (in order), renumber their cache indices and
    rewrite the config's layer count (and per-layer types): used by block removal and by
    the loader, which shrinks a fresh build to the blocks a saved model kept."""
    kept = nn.ModuleList(layers[i] for i in keep)
    parent, _, attr = name.rpartition(".")
    setattr(hf.get_submodule(parent) if parent else hf, attr, kept)
    for new, block in enumerate(kept):  # the key/value cache is indexed by layer_idx
        for module in block.modules():
            if type(getattr(module, "layer_idx", None)) is int:
                module.layer_idx = new
    config = hf.config
    types = getattr(config, "layer_types", None)
    if isinstance(types, (list, tuple)) and len(types) == len(layers):
        config.layer_types = [types[i] for i in keep]
    setattr(config, family.config_layers, len(kept))
    return kept
