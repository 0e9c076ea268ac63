"""SmoothQuant for any model: fold per-channel scales out of int8's way, graph unchanged.

int8 with one scale per activation tensor loses the small values of a tensor when a few
channels carry outliers 10-100x larger. Per input channel j of a Linear, with
s_j = max|X_j|^alpha / max|W_:,j|^(1 - alpha), the product is unchanged,
    Y = X W^T = (X diag(1/s)) (W diag(s))^T,
and X / s has flat channels. Xiao et al. 2023, "SmoothQuant: Accurate and Efficient
Post-Training Quantization for Large Language Models" (ICML, arXiv:2211.10438), eq. 4.

1/s must be folded into whatever produces X, or the graph grows a Mul. Two producers can take
it exactly: a norm (LayerNorm / RMSNorm: divide its weight and bias) whose output feeds only
Linears, and a Linear whose output reaches the next Linear through linear maps only (a value
projection through attention into the output projection; `up` through `act(gate) * up` into
`down`). No attribute paths are assumed: candidates come from one traced forward (which
Linears read a norm's very output tensor; which earlier Linear in the same block has the
matching width), and a candidate is kept only if folding random scales into it leaves the
model's output unchanged (a post-LN BERT's LayerNorm output is also its residual, so folding
there would change the model: that fold is refused). What cannot be folded is left as it is.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable
from typing import Annotated

import torch
from pydantic import Field
from torch import nn

from weightlight import batch as batches
from weightlight.errors import UserError
from weightlight.outputs import output_tensor

# The `smooth` field of every int8 config that smooths (torch static / dynamic, ONNX export).
Smooth = Annotated[
    float | None,
    Field(
        None,
        ge=0,
        le=1,
        description="SmoothQuant migration strength alpha (e.g. 0.5), folded into norms / "
        "producing Linears before int8; None: off.",
    ),
]


@dataclasses.dataclass(frozen=True)
class Fold:
    """One smoothing site: `producer`'s output channels feed the input of `consumers`."""

    producer: str
    consumers: tuple[str, ...]


def smooth(model: nn.Module, inputs: Iterable[batches.Inputs], alpha: float = 0.5) -> nn.Module:
    """A copy of `model` with the same outputs and flatter Linear inputs (SmoothQuant).

    Args:
        model: any PyTorch model with nn.Linear (or Hugging Face Conv1D) layers; not modified.
        inputs: calibration input batches (the activation ranges are their max).
        alpha: migration strength in [0, 1]: 0 changes nothing, 1 moves all of the
            activations' range into the weights (SmoothQuant uses 0.5 for most models).

    Returns:
        The smoothed copy; `model.smoothing_folds` lists the `Fold`s applied.

    Example:
        >>> smoothed = smooth(model, [batch], alpha=0.5)
        >>> torch.allclose(smoothed(x), model(x), atol=1e-4)
        True
    """
    if not 0 <= alpha <= 1:
        raise UserError(f"smooth must be in [0, 1], got {alpha}", "SmoothQuant's default is 0.5")
    inputs = list(inputs)
    if not inputs:
        raise UserError("smoothing got no calibration batches", "give the data a calib split")
    net = copy.deepcopy(model).eval()
    modules = dict(net.named_modules())
    ranges, norm_edges = _trace(net, modules, inputs)
    folds = [f for f in _candidates(modules, norm_edges) if _exact(net, modules, f, inputs[0])]
    with torch.no_grad():
        for fold in folds:
            consumers = [modules[c] for c in fold.consumers]
            x_max = torch.stack([ranges[c] for c in fold.consumers]).amax(0)
            w_max = torch.stack([_in_columns(m).abs().amax(0) for m in consumers]).amax(0)
            s = smoothing_scale(x_max, w_max, alpha)
            _scale_fold(modules, fold, s)
    net.smoothing_folds = folds
    return net


def smoothing_scale(x_max: torch.Tensor, w_max: torch.Tensor, alpha: float) -> torch.Tensor:
    """s_j = max|X_j|^alpha / max|W_:,j|^(1-alpha), guarded against dead channels."""
    s = x_max.clamp_min(1e-5).pow(alpha) / w_max.clamp_min(1e-5).pow(1 - alpha)
    return s.clamp_min(1e-5)


def _is_linear(module: nn.Module) -> bool:
    # transformers' Conv1D (GPT-2) is a Linear with its weight stored (in, out)
    return isinstance(module, nn.Linear) or type(module).__name__ == "Conv1D"


def _is_norm(module: nn.Module) -> bool:
    weight = getattr(module, "weight", None)
    return (
        "Norm" in type(module).__name__
        and isinstance(weight, torch.Tensor)
        and weight.dim() == 1
        and not list(module.children())
    )


def _in_columns(linear: nn.Module) -> torch.Tensor:
    """The weight as (out, in), whatever the storage (a view: scaling it scales the layer)."""
    return linear.weight if isinstance(linear, nn.Linear) else linear.weight.t()


def _out_rows(linear: nn.Module) -> torch.Tensor:
    return _in_columns(linear)


def _trace(net: nn.Module, modules: dict, inputs: list):
    """Per-Linear input max |x| per channel over `inputs`, and which Linears read which norm's
    output tensor itself (seen on the first batch)."""
    ranges: dict[str, torch.Tensor] = {}
    norm_out: dict[int, tuple[str, torch.Tensor]] = {}  # id -> (name, tensor kept alive)
    edges: dict[str, list[str]] = {}
    first = {"on": True}

    def norm_hook(name):
        def hook(_module, _args, out):
            if first["on"] and isinstance(out, torch.Tensor):
                norm_out[id(out)] = (name, out)

        return hook

    def linear_hook(name):
        def hook(_module, args):
            x = args[0]
            if first["on"] and id(x) in norm_out and norm_out[id(x)][1] is x:
                edges.setdefault(norm_out[id(x)][0], []).append(name)
            current = x.detach().abs().reshape(-1, x.shape[-1]).amax(0).float()
            ranges[name] = current if name not in ranges else torch.maximum(ranges[name], current)

        return hook

    handles = []
    for name, m in modules.items():
        if _is_norm(m):
            handles.append(m.register_forward_hook(norm_hook(name)))
        elif _is_linear(m):
            handles.append(m.register_forward_pre_hook(linear_hook(name)))
    try:
        with torch.inference_mode():
            for x in inputs:
                batches.call(net, x)
                first["on"], norm_out = False, {}
    finally:
        for h in handles:
            h.remove()
    return ranges, edges


def _candidates(modules: dict, norm_edges: dict[str, list[str]]) -> list[Fold]:
    """Norm -> its Linear readers; else an earlier same-width Linear of the same block."""
    folds = [Fold(n, tuple(c)) for n, c in norm_edges.items() if modules[n].weight.numel()]
    taken = {c for f in folds for c in f.consumers}
    names = [n for n, m in modules.items() if _is_linear(m)]
    for i, name in enumerate(names):
        if name in taken:
            continue
        parts = name.split(".")
        width = _in_columns(modules[name]).shape[1]
        for prev in reversed(names[:i]):
            shared = len(_common_prefix(parts, prev.split(".")))
            if shared >= len(parts) - 2 and _out_rows(modules[prev]).shape[0] == width:
                folds.append(Fold(prev, (name,)))
    return folds


def _common_prefix(a: list[str], b: list[str]) -> list[str]:
    out = []
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        out.append(x)
    return out


def _exact(net: nn.Module, modules: dict, fold: Fold, x) -> bool:
    """Whether folding random scales r at `fold` is exact: the consumers' input becomes
    exactly input / r (a linear path) and the model's output does not move (no other reader,
    such as a residual, sees the producer's output)."""
    width = _in_columns(modules[fold.consumers[0]]).shape[1]
    if any(_in_columns(modules[c]).shape[1] != width for c in fold.consumers):
        return False
    params = [p for n in (fold.producer, *fold.consumers) for p in modules[n].parameters()]
    saved = [p.detach().clone() for p in params]
    r = torch.exp(torch.rand(width, generator=torch.Generator().manual_seed(0)) * 4 - 2)
    seen: list[torch.Tensor] = []
    hook = modules[fold.consumers[0]].register_forward_pre_hook(
        lambda _m, args: seen.append(args[0].detach().float().clone())
    )
    try:
        with torch.inference_mode():
            ref = output_tensor(batches.call(net, x)).float()
            with torch.no_grad():
                _scale_fold(modules, fold, r)
            out = output_tensor(batches.call(net, x)).float()
    finally:
        hook.remove()
        with torch.no_grad():
            for p, s in zip(params, saved, strict=True):
                p.copy_(s)
    if len(seen) != 2:
        return False
    before, after = seen
    linear = (after * r - before).abs().max() <= 1e-4 * max(1.0, float(before.abs().max()))
    same = (out - ref).abs().max() <= 1e-4 * max(1.0, float(ref.abs().max()))
    return bool(linear and same)


def _scale_fold(modules: dict, fold: Fold, s: torch.Tensor) -> None:
    """Producer's output channel j divided by s_j, consumers' input column j multiplied."""
    producer = modules[fold.producer]
    s = s.to(producer.weight.dtype)
    if _is_linear(producer):
        _out_rows(producer).div_(s.unsqueeze(1))
    else:
        producer.weight.div_(s)
    if getattr(producer, "bias", None) is not None:
        producer.bias.div_(s)
    for name in fold.consumers:
        _in_columns(modules[name]).mul_(s)
