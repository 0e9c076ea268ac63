"""Parameter counts: total and non-zero (so unstructured sparsity is visible)."""

from __future__ import annotations

import torch
from torch import nn


def count_params(model: nn.Module) -> tuple[int, int]:
    """(total, non-zero) over the model's weights.

    Counts the state_dict, not `parameters()`, so quantized layers (whose int8 weights are
    packed buffers) and pruning masks applied in place are both seen as they are stored.
    Pruning re-parametrisations (`weight_orig` + `weight_mask`) count once, as the effective
    weight.
    """
    total = nonzero = 0
    state = model.state_dict()
    for name, tensor in state.items():
        if name.endswith("_mask") or not isinstance(tensor, torch.Tensor):
            continue
        if name.endswith("_orig"):
            mask = state.get(name[: -len("_orig")] + "_mask")
            tensor = tensor * mask if mask is not None else tensor
        if _is_buffer_stat(name, tensor):
            continue
        if tensor.is_quantized:
            tensor = tensor.int_repr()
        total += tensor.numel()
        nonzero += int(torch.count_nonzero(tensor))
    for module in model.modules():  # torch.ao dynamic/static quantized Linear/Conv
        packed = _packed_weight(module)
        if packed is not None:
            total += packed.numel()
            nonzero += int(
                torch.count_nonzero(packed.int_repr() if packed.is_quantized else packed)
            )
    return total, nonzero


def _is_buffer_stat(name: str, tensor: torch.Tensor) -> bool:
    """BatchNorm statistics and quantizer scalars are buffers, not parameters."""
    if name.endswith(("running_mean", "running_var", "num_batches_tracked")):
        return True
    return name.endswith(("scale", "zero_point")) and tensor.numel() <= 1


def _packed_weight(module: nn.Module) -> torch.Tensor | None:
    weight = getattr(module, "weight", None)
    if callable(weight) and hasattr(module, "_packed_params"):
        try:
            w = weight()
            return w if isinstance(w, torch.Tensor) else None
        except Exception:  # packing formats differ across torch versions
            return None
    return None
