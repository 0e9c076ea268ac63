"""Structured pruning of Hugging Face transformers: whole heads, FFN neurons and blocks.

Each block keeps its hidden width (residual stream, LayerNorms and embeddings stay as they
are) and loses the same number of
- attention heads: rows of the query/key/value projections (GPT-2's fused c_attn: the same
  rows in each third) and columns of the output projection. With grouped-query attention the
  key/value heads are kept and every group loses the same number of query heads, so each
  query head still reads its own key/value head and the head size never changes;
- FFN neurons: rows of the input projections (gated MLPs: gate and up together) and columns of
  the output projection;
- and whole blocks are dropped (`layers`), the ones that change their input least on the data.
The weights are sliced in place of a copy, guided by `weightlight.models.hf_arch` (where each
family keeps its modules), and the model's config is rewritten (heads, key/value heads, head
size, FFN width, blocks, layer_types), so `save_pretrained` / `from_pretrained` and the `hf:`
loader rebuild it. Why slicing rather than Torch-Pruning's dependency graph: docs/pruning.md.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from weightlight.errors import UserError
from weightlight.models.hf_arch import (
    PRUNED_HEADS_KEY,
    Family,
    blocks,
    head_counts,
    head_size,
    model_type,
    out_dim,
    sync_attributes,
)
from weightlight.models.hf_slice import keep_blocks, keep_heads, keep_in, keep_out
from weightlight.prune.transformer_scores import block_scores, unit_scores


def prune_transformer(net: nn.Module, hf: nn.Module, family: Family, config, data) -> None:
    """Prune `net` (a copy, in place): `hf` is the Hugging Face model inside it."""
    name, layers = blocks(hf, family)
    drop = blocks_to_drop(config.layers, len(layers), model_type(hf))
    if drop:
        scores = block_scores(net, layers, data, config.calib_batches)
        keep = sorted(scores.topk(len(layers) - drop).indices.tolist())
        layers = keep_blocks(hf, name, layers, keep, family)
    ffn_ratio = config.ratio if config.ffn_ratio is None else config.ffn_ratio
    if config.head_ratio == 0 and ffn_ratio == 0:
        return
    head_scores, ffn_scores = unit_scores(
        net, layers, family, config.importance, data, config.calib_batches
    )
    for block, h_score, f_score in zip(layers, head_scores, ffn_scores, strict=True):
        if config.head_ratio > 0:
            n, kv = head_counts(block, family)
            # Without grouping (kv == n) key/value heads go with their query head: one group.
            groups = kv if kv < n else 1
            keep_heads(block, family, heads_to_keep(h_score, n, groups, config.head_ratio))
        width = len(f_score)
        keep = ffn_to_keep(width, ffn_ratio, config.round_to)
        if keep < width:
            _keep_neurons(block, family, _top(f_score, keep))
        sync_attributes(block, family)
    _update_config(hf.config, layers[0], family, len(layers))


def blocks_to_drop(layers: float, total: int, kind: str | None) -> int:
    """`layers` as a count (>= 1) or a fraction (< 1) of `total` blocks, checked."""
    if layers == 0:
        return 0
    if kind in ("albert",):
        raise UserError("ALBERT runs one shared block many times: there is no block to drop",
                        "set layers: 0 (or num_hidden_layers in its config)")  # fmt: skip
    if layers >= 1 and layers != int(layers):
        raise UserError(
            f"Structured.layers {layers} is neither a count nor a fraction below 1",
            "use a whole number of blocks (e.g. 2) or a fraction (e.g. 0.25)",
        )
    drop = int(layers) if layers >= 1 else math.floor(total * layers + 0.5)
    if drop >= total:
        raise UserError(f"Structured.layers drops {drop} of the model's {total} blocks",
                        f"drop at most {total - 1} (a count) or a fraction below 1")  # fmt: skip
    return drop


def heads_to_keep(scores: torch.Tensor, heads: int, groups: int, ratio: float) -> torch.Tensor:
    """Indices of the query heads kept: the best of each of `groups` key/value groups, the
    same number in every group (at least one), so the grouping stays regular."""
    size = heads // groups
    keep = max(1, math.floor(size * (1 - ratio) + 0.5))
    best = scores.view(groups, size).topk(keep, dim=1).indices.sort(dim=1).values
    return (best + torch.arange(groups).unsqueeze(1) * size).flatten()


def ffn_to_keep(width: int, ratio: float, round_to: int | None) -> int:
    keep = max(1, math.floor(width * (1 - ratio) + 0.5))
    if round_to:
        keep = min(width, max(round_to, math.floor(keep / round_to + 0.5) * round_to))
    return keep


def _top(scores: torch.Tensor, k: int) -> torch.Tensor:
    return scores.topk(k).indices.sort().values


def _keep_neurons(block: nn.Module, family: Family, neurons: torch.Tensor) -> None:
    for path in family.ffn_in:
        keep_out(block.get_submodule(path), neurons)
    keep_in(block.get_submodule(family.ffn_out), neurons)


def _update_config(config, block: nn.Module, family: Family, n_layers: int) -> None:
    heads, kv = head_counts(block, family)
    if family.heads_divide_hidden and config.hidden_size % heads:
        # The config would refuse to save (and load) this count: it keeps the count it was
        # built with and the pruned one goes under its own key, read by the hf: loader.
        setattr(config, PRUNED_HEADS_KEY, heads)
    else:
        setattr(config, family.config_heads, heads)
        if hasattr(config, PRUNED_HEADS_KEY):  # pruned again, to a count the config takes
            delattr(config, PRUNED_HEADS_KEY)
    if family.config_kv_heads:
        setattr(config, family.config_kv_heads, kv)
    # The head size stays; families that compute it as hidden / heads cannot read it back
    # (only weightlight's hf: loader does, from `head_dim`).
    setattr(config, family.config_head_dim or "head_dim", head_size(block, family))
    setattr(config, family.config_ffn, out_dim(block.get_submodule(family.ffn_in[0])))
    setattr(config, family.config_layers, n_layers)
