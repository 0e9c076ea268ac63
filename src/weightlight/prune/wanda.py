"""Wanda: prune the weights whose removal changes the layer's output least on real inputs.

A weight's score is |W_ij| x ||X_j||_2, its magnitude times the L2 norm of its input feature
j over every calibration token; weights are compared within each output row i (each row loses
the same share), unstructured at a ratio or N:M (2:4). Where magnitude pruning drops a small
weight that multiplies a huge activation (LLMs have a few such outlier features), Wanda keeps
it. No weight update, no retraining: one forward pass over the calibration text.
Paper: Sun et al., "A Simple and Effective Pruning Approach for Large Language Models", 2023.

Here the norms come from one pass of the dense model (the paper feeds each block the already
pruned blocks' outputs; on small models the two agree closely and one pass is simpler).
Padding tokens (attention_mask 0) are left out of the norms.
"""

from __future__ import annotations

import copy
import itertools
from typing import Literal

import torch
import torch.nn.utils.prune as tprune
from pydantic import Field, model_validator
from torch import nn

from weightlight import batch as batches
from weightlight.data import Data
from weightlight.errors import UserError
from weightlight.prune._base import OneShotPruneConfig
from weightlight.prune.dispatch import handler, run_finetune
from weightlight.prune.unstructured import make_permanent, target_layers


class Wanda(OneShotPruneConfig):
    """Activation-aware pruning of Linear weights, calibrated on the data's text.

    Example (YAML): `{method: wanda, ratio: 0.5}` or `{method: wanda, n: 2, m: 4}`
    """

    method: Literal["wanda"] = "wanda"
    ratio: float = Field(0.5, ge=0, lt=1, description="Share of each row's weights set to zero.")
    n: int | None = Field(None, ge=1, description="N:M pattern: keep n of every m (ratio unused).")
    m: int | None = Field(None, ge=2, description="N:M pattern: group size along the inputs.")
    calibration_batches: int = Field(8, ge=1, description="Calibration batches read.")
    ignore: tuple[str, ...] = Field(
        ("lm_head",), description="Linear layer names left dense (the output head by default)."
    )
    permanent: bool = Field(True, description="Bake the zeros in and drop the masks at the end.")

    @property
    def needs_data(self) -> bool:
        return True  # the calibration text is the method

    @model_validator(mode="after")
    def _pattern(self) -> Wanda:
        if (self.n is None) != (self.m is None):
            raise ValueError("give both n and m for an N:M pattern, or neither")
        if self.n is not None and self.n >= self.m:
            raise ValueError(f"n must be smaller than m, got {self.n}:{self.m}")
        return self


def input_norms(model: nn.Module, layers: dict[str, nn.Linear], data: Data, count: int):
    """{layer name: ||X_j||_2 per input feature} over `count` calibration batches."""
    sums = {name: torch.zeros(layer.in_features, dtype=torch.float64)
            for name, layer in layers.items()}  # fmt: skip
    mask: list[torch.Tensor | None] = [None]

    def hook(name):
        def record(module, args):
            x = args[0].detach().double()
            m = mask[0]
            if m is not None and x.dim() == 3 and tuple(x.shape[:2]) == tuple(m.shape):
                x = x * m.unsqueeze(-1)
            sums[name] += x.reshape(-1, x.shape[-1]).pow(2).sum(0).cpu()

        return record

    device = next(model.parameters()).device
    handles = [layer.register_forward_pre_hook(hook(n)) for n, layer in layers.items()]
    try:
        with torch.no_grad():
            for batch in itertools.islice(data.calib, count):
                inputs, _ = batches.split(batch)
                inputs = batches.to_device(inputs, device)
                given = inputs.get("attention_mask") if isinstance(inputs, dict) else None
                mask[0] = None if given is None else given.double()
                batches.call(model, inputs)
    finally:
        for h in handles:
            h.remove()
    return {name: s.sqrt().float() for name, s in sums.items()}


def wanda_mask(weight: torch.Tensor, norms: torch.Tensor, ratio: float,
               n: int | None = None, m: int | None = None) -> torch.Tensor:  # fmt: skip
    """0/1 mask keeping, in each output row, the weights with the largest |W| x ||X||.

    Example:
        >>> wanda_mask(torch.tensor([[1.0, 2.0]]), torch.tensor([10.0, 1.0]), 0.5)
        tensor([[1., 0.]])
    """
    score = weight.detach().abs().float() * norms.to(weight.device)[None, :]
    if n is not None:
        groups = score.reshape(score.shape[0], -1, m)
        keep = groups.topk(n, dim=-1).indices
        return torch.zeros_like(groups).scatter_(-1, keep, 1.0).reshape(weight.shape)
    drop = int(weight.shape[1] * ratio)
    mask = torch.ones_like(score)
    if drop:
        lowest = score.topk(drop, dim=1, largest=False).indices
        mask.scatter_(1, lowest, 0.0)
    return mask


@handler(Wanda)
def _prune_wanda(model: nn.Module, config: Wanda, data: Data | None) -> nn.Module:
    net = copy.deepcopy(model).eval()
    kept = {id(mod) for mod, _ in target_layers(net, ("Linear",), config.ignore, "Wanda")}
    layers = {name: mod for name, mod in net.named_modules() if id(mod) in kept}
    if config.m is not None:
        layers = {k: v for k, v in layers.items() if v.in_features % config.m == 0}
        if not layers:
            raise UserError(f"no Linear layer has inputs divisible by m={config.m}", "use m=4")
    norms = input_norms(net, layers, data, config.calibration_batches)
    if not any(float(v.sum()) > 0 for v in norms.values()):
        raise UserError("Wanda saw no calibration activations", "pass data with a calib loader")
    for name, layer in layers.items():
        mask = wanda_mask(layer.weight, norms[name], config.ratio, config.n, config.m)
        tprune.custom_from_mask(layer, "weight", mask)
    net = run_finetune(net, config.finetune, data)
    return (make_permanent(net) if config.permanent else net).eval()
