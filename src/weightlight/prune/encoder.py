"""Attention heads and FFN neurons of a BERT-like encoder, scored on text and removed for real.

Each block keeps its hidden width (residuals, LayerNorms and embeddings stay as they are) and
loses whole heads (rows of query/key/value, columns of the attention output projection) and
FFN neurons (rows of `intermediate.dense`, columns of `output.dense`). The result is a plain,
smaller Hugging Face model; nothing is masked.

Importance is measured on the caller's batches, not read from the weights alone, because the
contribution of a unit is activation times outgoing weight:
- FFN neuron j: mean over real tokens of |a_j| * ||W_out[:, j]||, a_j its GELU output;
- head h: mean over real tokens of ||ctx_h @ W_o[:, h]^T||, its share of the attention output.
This is the first-order "contribution norm" score (Kobayashi et al. 2020, "Attention is Not
Only a Weight", EMNLP; for neurons it is the activation-weighted magnitude of Wanda, Sun et al.
2023, arXiv:2306.11695, summed over the output column). Every block keeps the same counts, so
ORT's Attention fusion sees one head count and GEMMs keep SIMD-friendly widths (`round_to`).
Distillation afterwards (`weightlight.distill.hidden`) recovers most of what is lost.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
from torch import nn

from weightlight.errors import UserError
from weightlight.models.encoder import Batch, check_batch, encoder_layers, run_encoder


def prune_encoder(
    model: nn.Module,
    batches: Iterable[Batch],
    *,
    head_ratio: float = 0.0,
    ffn_ratio: float = 0.0,
    round_to: int = 8,
) -> nn.Module:
    """A copy of `model` with a share of every block's heads and FFN neurons removed.

    Args:
        model: a BERT-like Hugging Face encoder or a `SentenceEncoder` (not modified).
        batches: dict batches (input_ids, attention_mask) the importance is measured on.
        head_ratio: share of heads removed per block, in [0, 1) (at least one head stays).
        ffn_ratio: share of FFN neurons removed per block, in [0, 1).
        round_to: kept FFN width rounded to a multiple of this.

    Example:
        >>> small = prune_encoder(encoder, calib_batches, head_ratio=0.25, ffn_ratio=0.5)
        >>> small.model.encoder.layer[0].intermediate.dense.out_features
        768
    """
    for name, value in (("head_ratio", head_ratio), ("ffn_ratio", ffn_ratio)):
        if not 0 <= value < 1:
            raise UserError(f"{name} must be in [0, 1), got {value}", "e.g. 0.25 or 0.5")
    net = copy.deepcopy(model).eval()
    layers = encoder_layers(net)
    head_scores, ffn_scores = importance(net, batches)
    for layer, h_score, f_score in zip(layers, head_scores, ffn_scores, strict=True):
        n_heads = len(h_score)
        keep_heads = max(1, round(n_heads * (1 - head_ratio)))
        if keep_heads < n_heads:
            _keep_heads(layer, _top(h_score, keep_heads))
        width = len(f_score)
        keep = min(width, max(round_to, round(width * (1 - ffn_ratio) / round_to) * round_to))
        if keep < width:
            _keep_neurons(layer, _top(f_score, keep))
    return net


def importance(model: nn.Module, batches: Iterable[Batch]) -> tuple[list, list]:
    """Per block: (head scores (heads,), FFN neuron scores (neurons,)) averaged over real tokens."""
    layers = encoder_layers(model)
    heads = [torch.zeros(_attention(b).num_attention_heads) for b in layers]
    ffn = [torch.zeros(b.intermediate.dense.out_features) for b in layers]
    state = {"mask": None, "tokens": 0.0}

    def on_attention_output(i: int):
        def hook(module: nn.Linear, args) -> None:
            ctx = args[0] * state["mask"]  # (B, T, heads * d), padding zeroed
            n = heads[i].numel()
            w = module.weight.view(module.out_features, n, -1)  # (hidden, heads, d)
            per_head = torch.einsum("btnd,hnd->btnh", ctx.view(*ctx.shape[:2], n, -1), w)
            heads[i] += per_head.norm(dim=-1).sum((0, 1)).float()

        return hook

    def on_ffn_output(i: int):
        def hook(module: nn.Linear, args) -> None:
            act = (args[0] * state["mask"]).abs().sum((0, 1))
            ffn[i] += (act * module.weight.norm(dim=0)).float()

        return hook

    handles = []
    for i, block in enumerate(layers):
        handles.append(
            block.attention.output.dense.register_forward_pre_hook(on_attention_output(i))
        )
        handles.append(block.output.dense.register_forward_pre_hook(on_ffn_output(i)))
    try:
        with torch.inference_mode():
            for batch in map(check_batch, batches):
                state["mask"] = batch["attention_mask"].unsqueeze(-1).float()
                state["tokens"] += float(batch["attention_mask"].sum())
                run_encoder(model, batch)
    finally:
        for handle in handles:
            handle.remove()
    if not state["tokens"]:
        raise UserError("no batches to measure importance on", "pass a few tokenized batches")
    return [h / state["tokens"] for h in heads], [f / state["tokens"] for f in ffn]


def _attention(block: nn.Module) -> nn.Module:
    return block.attention.self


def _top(scores: torch.Tensor, k: int) -> torch.Tensor:
    return scores.topk(k).indices.sort().values


def _keep_heads(block: nn.Module, keep: torch.Tensor) -> None:
    attn = _attention(block)
    d = attn.attention_head_size
    rows = (keep.unsqueeze(1) * d + torch.arange(d)).flatten()
    for proj in ("query", "key", "value"):
        setattr(attn, proj, _slice(getattr(attn, proj), rows, dim=0))
    block.attention.output.dense = _slice(block.attention.output.dense, rows, dim=1)
    attn.num_attention_heads = len(keep)
    attn.all_head_size = len(keep) * d


def _keep_neurons(block: nn.Module, keep: torch.Tensor) -> None:
    block.intermediate.dense = _slice(block.intermediate.dense, keep, dim=0)
    block.output.dense = _slice(block.output.dense, keep, dim=1)


def _slice(layer: nn.Linear, index: torch.Tensor, dim: int) -> nn.Linear:
    """A new Linear keeping `index` along `dim` (0: outputs, 1: inputs) of the weight."""
    weight = layer.weight.detach().index_select(dim, index).clone()
    out = nn.Linear(weight.shape[1], weight.shape[0], bias=layer.bias is not None)
    out.weight = nn.Parameter(weight)
    if layer.bias is not None:
        bias = layer.bias.detach()
        out.bias = nn.Parameter((bias[index] if dim == 0 else bias).clone())
    return out
