"""SmoothQuant for BERT-like encoders: move activation outliers into the weights before int8.

int8 with one scale per activation tensor (ORT and torch dynamic int8) loses the small values
of a tensor when a few channels carry outliers 10-100x larger, which is what the inputs of a
transformer's FFN output projection (after GELU) look like. Per input channel j, with
s_j = max|X_j|^alpha / max|W_:,j|^(1 - alpha), the product is unchanged,
    Y = X W^T = (X diag(1/s)) (W diag(s))^T,
but X / s has flat channels and W diag(s) stays easy to quantize per output channel.
Xiao et al. 2023, "SmoothQuant: Accurate and Efficient Post-Training Quantization for Large
Language Models" (ICML, arXiv:2211.10438), eq. 4 with migration strength alpha.

Where 1/s goes decides the cost:
- attention output projection: its input is softmax(QK^T) V, linear in V's output rows, so
  1/s is folded into the value projection exactly (free);
- FFN output projection: its input comes through GELU, which no scale passes, so the layer
  keeps a per-channel `input_scale` (one elementwise Mul in front of the MatMul);
- query/key/value and FFN input: their input is the previous LayerNorm's output, which in a
  post-LN BERT is also the residual, so folding into the LayerNorm would change the residual;
  they are left alone (they are the robust ones: LayerNorm outputs have few outliers).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
from torch import nn

from weightlight.errors import UserError
from weightlight.models.encoder import Batch, check_batch, encoder_layers, run_encoder


class ScaledLinear(nn.Linear):
    """A Linear that multiplies its input by a fixed per-channel `input_scale` first."""

    def __init__(self, linear: nn.Linear, input_scale: torch.Tensor) -> None:
        super().__init__(linear.in_features, linear.out_features, bias=linear.bias is not None)
        with torch.no_grad():
            self.weight.copy_(linear.weight / input_scale)
            if linear.bias is not None:
                self.bias.copy_(linear.bias)
        self.register_buffer("input_scale", input_scale.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x * self.input_scale)


def smooth_encoder(
    model: nn.Module,
    batches: Iterable[Batch],
    *,
    alpha: float = 0.5,
    attention: bool = True,
    ffn: bool = True,
) -> nn.Module:
    """A copy of `model` with the same fp32 outputs and flatter int8-facing activations.

    Args:
        model: a BERT-like Hugging Face encoder or a `SentenceEncoder` (not modified).
        batches: dict batches (calibration text) the activation ranges are taken from.
        alpha: migration strength in [0, 1]: 0 leaves activations as they are, 1 moves all
            of their range into the weights (SmoothQuant uses 0.5 for most models).
        attention: smooth the attention output projections (folded into `value`).
        ffn: smooth the FFN output projections (a `ScaledLinear` with an input scale).

    Example:
        >>> smoothed = smooth_encoder(encoder, calib_batches, alpha=0.5)
        >>> torch.allclose(smoothed(ids, mask), encoder(ids, mask), atol=1e-4)
        True
    """
    if not 0 <= alpha <= 1:
        raise UserError(f"alpha must be in [0, 1], got {alpha}", "SmoothQuant's default is 0.5")
    net = copy.deepcopy(model).eval()
    blocks = encoder_layers(net)
    targets = [b.attention.output.dense for b in blocks if attention]
    targets += [b.output.dense for b in blocks if ffn]
    ranges = input_ranges(net, targets, batches)
    with torch.no_grad():
        for block in blocks:
            if attention:
                out = block.attention.output.dense
                s = smoothing_scale(ranges[id(out)], out.weight, alpha)
                value = block.attention.self.value
                value.weight.div_(s.unsqueeze(1))
                value.bias.div_(s)
                out.weight.mul_(s)
            if ffn:
                out = block.output.dense
                plain = _unwrap(out)  # the hook saw the input before any earlier scale
                s = smoothing_scale(ranges[id(out)], plain.weight, alpha)
                block.output.dense = ScaledLinear(plain, 1 / s)
    return net


def smoothing_scale(x_max: torch.Tensor, weight: torch.Tensor, alpha: float) -> torch.Tensor:
    """s_j = max|X_j|^alpha / max|W_:,j|^(1-alpha), guarded against dead channels."""
    w_max = weight.abs().amax(dim=0).clamp_min(1e-5)
    s = x_max.clamp_min(1e-5).pow(alpha) / w_max.pow(1 - alpha)
    return s.clamp_min(1e-5)


def input_ranges(
    model: nn.Module, layers: list[nn.Linear], batches: Iterable[Batch]
) -> dict[int, torch.Tensor]:
    """Per input channel max |x| of each layer in `layers` over real tokens of `batches`."""
    ranges: dict[int, torch.Tensor] = {}
    state = {"mask": None}

    def hook(module: nn.Module, args) -> None:
        x = args[0][state["mask"]]  # (real tokens, channels)
        current = x.abs().amax(dim=0).float()
        prev = ranges.get(id(module))
        ranges[id(module)] = current if prev is None else torch.maximum(prev, current)

    handles = [layer.register_forward_pre_hook(hook) for layer in layers]
    try:
        with torch.inference_mode():
            for batch in map(check_batch, batches):
                state["mask"] = batch["attention_mask"].bool()
                run_encoder(model, batch)
    finally:
        for handle in handles:
            handle.remove()
    if len(ranges) != len(layers):
        raise UserError("no calibration batches reached the layers", "pass tokenized batches")
    return ranges


def _unwrap(layer: nn.Linear) -> nn.Linear:
    """A plain Linear computing what `layer` computes (smoothing an already smoothed layer)."""
    if not isinstance(layer, ScaledLinear):
        return layer
    plain = nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None)
    with torch.no_grad():
        plain.weight.copy_(layer.weight * layer.input_scale)
        if layer.bias is not None:
            plain.bias.copy_(layer.bias)
    return plain
