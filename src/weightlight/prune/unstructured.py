"""Unstructured pruning: zero individual weights with `torch.nn.utils.prune`.

Masks live as `weight_mask` buffers (weight = weight_orig * mask) until `permanent=True`
bakes the zeros into `weight` with `prune.remove`. The tensors keep their shape, so speed does
not change on dense kernels; the gain is in the zipped artifact and in non-zero parameters.
Paper: Han et al., "Learning both Weights and Connections for Efficient Neural Networks", 2015.
"""

from __future__ import annotations

import copy
from typing import Literal

import torch.nn.utils.prune as tprune
from pydantic import Field
from torch import nn

from weightlight.data import Data
from weightlight.errors import UserError
from weightlight.layer_names import modules_by_name
from weightlight.prune._base import OneShotPruneConfig
from weightlight.prune.dispatch import handler, run_finetune

LayerType = Literal["Linear", "Conv1d", "Conv2d", "Conv3d"]


class Unstructured(OneShotPruneConfig):
    """Zero the smallest (or random) weights, per layer or ranked across the whole model.

    Example (YAML): `{method: unstructured, ratio: 0.8, scope: global, permanent: true}`
    """

    method: Literal["unstructured"] = "unstructured"
    ratio: float = Field(0.5, ge=0, lt=1, description="Fraction of the weights set to zero.")
    scope: Literal["global", "layer"] = Field(
        "global", description="Rank all weights together (global) or each layer on its own."
    )
    importance: Literal["l1", "random"] = Field(
        "l1", description="Which weights go: smallest magnitude (l1) or random."
    )
    layer_types: tuple[LayerType, ...] = Field(
        ("Linear", "Conv2d"), min_length=1, description="Layer classes whose weights are pruned."
    )
    ignore: tuple[str, ...] = Field((), description="Layer names left dense.")
    permanent: bool = Field(
        True, description="Bake the zeros into the weights and drop the masks at the end."
    )


def target_layers(model: nn.Module, layer_types, ignore, what: str) -> list[tuple[nn.Module, str]]:
    """(module, "weight") pairs of the chosen layer types, minus the ignored names."""
    skipped = set(modules_by_name(model, ignore, f"{what}.ignore"))
    types = tuple(getattr(nn, t) for t in layer_types)
    pairs = [(m, "weight") for n, m in model.named_modules()
             if isinstance(m, types) and n not in skipped]  # fmt: skip
    if not pairs:
        raise UserError(
            f"{what} found no {'/'.join(layer_types)} layers to prune",
            "set layer_types to the layer classes this model uses",
        )
    return pairs


def prune_to_sparsity(pairs, sparsity: float, scope: str, importance: str) -> None:
    """Mask weights in place until `sparsity` of them are masked (counts are exact integers).

    Works on already-masked layers too (gradual pruning): torch's PruningContainer prunes the
    extra amount among the weights still alive, so the masks only ever grow.
    """
    method = tprune.L1Unstructured if importance == "l1" else tprune.RandomUnstructured
    if scope == "global":
        total = sum(getattr(m, n).numel() for m, n in pairs)
        extra = round(sparsity * total) - sum(_masked(m, n) for m, n in pairs)
        if extra > 0:
            tprune.global_unstructured(pairs, pruning_method=method, amount=extra)
        return
    for module, name in pairs:
        extra = round(sparsity * getattr(module, name).numel()) - _masked(module, name)
        if extra > 0:
            method.apply(module, name, amount=extra)


def make_permanent(model: nn.Module) -> nn.Module:
    """Fold every pruning mask into its weight (`prune.remove`), leaving plain parameters."""
    for module in model.modules():
        for hook in list(module._forward_pre_hooks.values()):
            if isinstance(hook, tprune.BasePruningMethod):
                tprune.remove(module, hook._tensor_name)
    return model


def _masked(module: nn.Module, name: str) -> int:
    mask = getattr(module, f"{name}_mask", None)
    return 0 if mask is None else int((mask == 0).sum())


@handler(Unstructured)
def _prune_unstructured(model: nn.Module, config: Unstructured, data: Data | None) -> nn.Module:
    net = copy.deepcopy(model)
    pairs = target_layers(net, config.layer_types, config.ignore, "Unstructured")
    prune_to_sparsity(pairs, config.ratio, config.scope, config.importance)
    # Fine-tune with the masks on, so pruned weights stay zero; bake them in afterwards.
    net = run_finetune(net, config.finetune, data)
    return (make_permanent(net) if config.permanent else net).eval()
