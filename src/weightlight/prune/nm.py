"""N:M semi-structured sparsity: in every group of M consecutive weights keep the N largest.

2:4 is the pattern NVIDIA Ampere+ sparse tensor cores (and some CPU kernels) accelerate; here
it is applied as `torch.nn.utils.prune` masks, so the model stays a plain nn.Module. Groups run
along the input dimension (a Conv weight is viewed as [out, in * kh * kw]); layers whose input
size is not a multiple of M are left dense. Paper: Mishra et al., "Accelerating Sparse Deep
Neural Networks", 2021.
"""

from __future__ import annotations

import copy
from typing import Literal

import torch
import torch.nn.utils.prune as tprune
from pydantic import Field, model_validator
from torch import nn

from weightlight.data import Data
from weightlight.errors import UserError
from weightlight.prune._base import OneShotPruneConfig
from weightlight.prune.dispatch import handler, run_finetune
from weightlight.prune.unstructured import LayerType, make_permanent, target_layers


class NM(OneShotPruneConfig):
    """Keep N of every M consecutive weights (2:4 by default) in Linear / Conv layers.

    Example (YAML): `{method: nm, n: 2, m: 4}`
    """

    method: Literal["nm"] = "nm"
    n: int = Field(2, ge=1, description="Weights kept in each group.")
    m: int = Field(4, ge=2, description="Group size (consecutive input weights).")
    layer_types: tuple[LayerType, ...] = Field(
        ("Linear", "Conv2d"), min_length=1, description="Layer classes whose weights are masked."
    )
    ignore: tuple[str, ...] = Field((), description="Layer names left dense.")
    permanent: bool = Field(True, description="Bake the zeros in and drop the masks at the end.")

    @model_validator(mode="after")
    def _n_below_m(self) -> NM:
        if self.n >= self.m:
            raise ValueError(f"n must be smaller than m, got {self.n}:{self.m}")
        return self


def nm_mask(weight: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """A 0/1 mask keeping the n largest |w| in each run of m weights along the input dim.

    Example:
        >>> nm_mask(torch.tensor([[4.0, -1.0, 3.0, 0.5]]), 2, 4)
        tensor([[1., 0., 1., 0.]])
    """
    rows = weight.detach().reshape(weight.shape[0], -1)
    groups = rows.abs().reshape(rows.shape[0], -1, m)
    keep = groups.topk(n, dim=-1).indices
    mask = torch.zeros_like(groups).scatter_(-1, keep, 1.0)
    return mask.reshape(weight.shape)


@handler(NM)
def _prune_nm(model: nn.Module, config: NM, data: Data | None) -> nn.Module:
    net = copy.deepcopy(model)
    pairs = target_layers(net, config.layer_types, config.ignore, "NM")
    fitting = [(mod, name) for mod, name in pairs
               if getattr(mod, name)[0].numel() % config.m == 0]  # fmt: skip
    if not fitting:
        raise UserError(
            f"no layer has an input size divisible by m={config.m}",
            "choose a smaller m, or other layer_types",
        )
    for module, name in fitting:
        tprune.custom_from_mask(module, name, nm_mask(getattr(module, name), config.n, config.m))
    net = run_finetune(net, config.finetune, data)
    return (make_permanent(net) if config.permanent else net).eval()
