"""How much each attention head, FFN neuron and block of a transformer matters.

Scores are compared within one block (every block keeps the same counts, so the config can
still describe the model with one head count and one FFN width):
- `l2` / `l1`: the p-th power of the norm of a unit's weights, summed over every slice that
  goes with it (a head's query/key/value rows and output-projection columns; a neuron's
  gate/up rows and down column), as Torch-Pruning's GroupMagnitudeImportance does.
- `taylor`: sum of |w * dL/dw| over the same slices (Molchanov et al. 2019, "Importance
  Estimation for Neural Network Pruning", CVPR), gradients of the task loss on data.calib.
- `activation`: what the unit adds to the block's output on the caller's data, mean over real
  tokens: for neuron j, |a_j| * ||W_down[:, j]|| (Wanda's activation-weighted magnitude, Sun et
  al. 2023, arXiv:2306.11695, over the output column); for head h, ||ctx_h @ W_o[:, h]^T||,
  its share of the attention output (Kobayashi et al. 2020, "Attention is Not Only a Weight").
- `random`: seeded, for comparison.
A block's score is how much it turns its input: mean over real tokens of the angular distance
arccos(cos(x_in, x_out)) / pi between the hidden states entering and leaving it (Gromov et al.
2024, "The Unreasonable Ineffectiveness of the Deeper Layers"; ShortGPT's Block Influence,
Men et al. 2024, is 1 - cos, the same order). A block that barely turns its input is dropped.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from weightlight.batch import split
from weightlight.data import Data
from weightlight.errors import UserError
from weightlight.models.hf_arch import Family, head_counts, head_size


def as_out_in(layer: nn.Module, tensor: torch.Tensor | None = None) -> torch.Tensor:
    """A Linear's weight (or its gradient) as (out, in); GPT-2's Conv1D stores (in, out)."""
    t = layer.weight if tensor is None else tensor
    return t if isinstance(layer, nn.Linear) else t.t()


def unit_scores(
    model: nn.Module, blocks: nn.ModuleList, family: Family, importance: str, data: Data,
    batches: int,
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:  # fmt: skip
    """Per block: (scores of its query heads, scores of its FFN neurons); `blocks` are
    `model`'s, which data.adapter runs on data.calib (at most `batches` batches)."""
    if importance == "random":
        g = torch.Generator().manual_seed(0)
        return (
            [torch.rand(head_counts(b, family)[0], generator=g) for b in blocks],
            [torch.rand(_ffn_width(b, family), generator=g) for b in blocks],
        )
    if importance == "activation":
        return _activation_scores(model, blocks, family, data, batches)
    if importance == "taylor":
        _gradients(model, blocks, data, batches)
        try:
            return _weight_scores(blocks, family, lambda layer: _taylor(layer))
        finally:
            blocks.zero_grad(set_to_none=True)
    p = 1 if importance == "l1" else 2
    return _weight_scores(blocks, family, lambda layer: as_out_in(layer).detach().abs() ** p)


def block_scores(model: nn.Module, blocks: nn.ModuleList, data: Data, batches: int) -> torch.Tensor:
    """Mean angular distance between each block's input and output hidden states."""
    totals, tokens = torch.zeros(len(blocks)), torch.zeros(len(blocks))
    state = {"mask": None, "batches": 0}

    def hook(i: int):
        def on_block(module, args, kwargs, output) -> None:
            x = args[0] if args else kwargs.get("hidden_states")
            y = output if isinstance(output, torch.Tensor) else output[0]
            cos = nn.functional.cosine_similarity(x.float(), y.float(), dim=-1).clamp(-1, 1)
            mask = _mask(state, cos)
            totals[i] += (torch.arccos(cos) / torch.pi * mask).sum()
            tokens[i] += mask.sum()

        return on_block

    handles = [b.register_forward_hook(hook(i), with_kwargs=True) for i, b in enumerate(blocks)]
    try:
        _run(model, data, batches, state)
    finally:
        for handle in handles:
            handle.remove()
    return totals / tokens


def _weight_scores(blocks, family: Family, weight_of) -> tuple[list, list]:
    heads, ffn = [], []
    for block in blocks:
        n, kv = head_counts(block, family)
        d = head_size(block, family)
        score = weight_of(block.get_submodule(family.out)).sum(0).view(n, d).sum(1)
        if family.fused_qkv:
            w = weight_of(block.get_submodule(family.qkv[0]))
            score = score + w.sum(1).view(3, n, d).sum((0, 2))
        else:
            # Key/value heads are shared by a group of query heads (GQA) and are kept whole;
            # with one key/value head per query head they go with it.
            for path in family.qkv if kv == n else family.qkv[:1]:
                score = score + weight_of(block.get_submodule(path)).sum(1).view(n, d).sum(1)
        heads.append(score.float())
        neurons = weight_of(block.get_submodule(family.ffn_out)).sum(0)
        for path in family.ffn_in:
            neurons = neurons + weight_of(block.get_submodule(path)).sum(1)
        ffn.append(neurons.float())
    return heads, ffn


def _taylor(layer: nn.Module) -> torch.Tensor:
    if layer.weight.grad is None:
        raise UserError(
            "taylor importance found no gradient on the transformer's weights",
            "use importance: activation or l2, or give data whose loss reaches every block",
        )
    return (as_out_in(layer).detach() * as_out_in(layer, layer.weight.grad)).abs()


def _gradients(model: nn.Module, blocks: nn.ModuleList, data: Data, batches: int) -> None:
    blocks.zero_grad(set_to_none=True)
    with torch.enable_grad():  # the caller may be inside no_grad
        _backward(model, data, batches)


def _backward(model: nn.Module, data: Data, batches: int) -> None:
    from weightlight.tasks import task_loss

    for inputs, targets in _batches(data, batches):
        try:
            loss = task_loss(data.task_spec, data.adapter.forward(model, inputs), targets)
        except UserError:
            raise
        except Exception as exc:
            raise UserError(
                f"taylor importance could not compute the task loss ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:120] if str(exc) else ''})",
                "use importance: activation or l2, which need no loss",
            ) from None
        loss.backward()


def _activation_scores(model, blocks, family: Family, data: Data, batches: int):
    heads = [torch.zeros(head_counts(b, family)[0]) for b in blocks]
    ffn = [torch.zeros(_ffn_width(b, family)) for b in blocks]
    state = {"mask": None, "batches": 0}

    def on_out(i: int, block: nn.Module):
        def hook(module: nn.Module, args) -> None:
            n, d = len(heads[i]), head_size(block, family)
            ctx = args[0].float()  # (B, T, heads * d)
            w = as_out_in(module).detach().float().view(-1, n, d)  # (hidden, heads, d)
            per_head = torch.einsum("btnd,hnd->btnh", ctx.view(*ctx.shape[:2], n, d), w)
            norms = per_head.norm(dim=-1)  # (B, T, heads)
            heads[i] += (norms * _mask(state, norms[..., 0]).unsqueeze(-1)).sum((0, 1))

        return hook

    def on_ffn(i: int):
        def hook(module: nn.Module, args) -> None:
            act = args[0].float().abs()
            act = (act * _mask(state, act[..., 0]).unsqueeze(-1)).sum((0, 1))
            ffn[i] += act * as_out_in(module).detach().float().norm(dim=0)

        return hook

    handles = []
    for i, block in enumerate(blocks):
        out = block.get_submodule(family.out)
        handles.append(out.register_forward_pre_hook(on_out(i, block)))
        handles.append(block.get_submodule(family.ffn_out).register_forward_pre_hook(on_ffn(i)))
    try:
        _run(model, data, batches, state)
    finally:
        for handle in handles:
            handle.remove()
    # Sums over tokens: only the order within a block matters.
    return heads, ffn


def _ffn_width(block: nn.Module, family: Family) -> int:
    from weightlight.models.hf_arch import out_dim

    return out_dim(block.get_submodule(family.ffn_in[0]))


def _mask(state: dict, like: torch.Tensor) -> torch.Tensor:
    """(B, T) weights of real tokens for a (B, T) tensor: the batch's attention mask when its
    shape fits (padding does not count), else all ones (ViT patches, unpadded batches)."""
    mask = state["mask"]
    if mask is not None and tuple(mask.shape) == tuple(like.shape):
        return mask.to(like.dtype)
    return torch.ones_like(like)


def _run(model: nn.Module, data: Data, batches: int, state: dict) -> None:
    with torch.inference_mode():
        for inputs, _ in _batches(data, batches):
            mask = inputs.get("attention_mask") if isinstance(inputs, dict) else None
            state["mask"] = mask.float() if isinstance(mask, torch.Tensor) else None
            state["batches"] += 1
            data.adapter.forward(model, inputs)
    if not state["batches"]:
        raise UserError("data.calib yields no batches to score the transformer on", "give data")


def _batches(data: Data, limit: int) -> Iterator[tuple]:
    for i, batch in enumerate(data.calib):
        if i >= limit:
            break
        yield split(batch)
