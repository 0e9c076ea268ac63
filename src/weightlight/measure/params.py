"""Parameter counts: total and non-zero (so unstructured sparsity is visible)."""

from __future__ import annotations

import torch
from torch import nn


def count_params(model: nn.Module) -> tuple[int, int]:
    """(total, non-zero) over the model's weights.

    Counts the state_dict, not `parameters()`, so quantized layers (whose int8 weights are
    packed buffers) and pruning masks applied in place are both seen as they are stored.
    Pruning re-parametrisations (`weight_orig` + `weight_mask`) count once, as the effective
    weight. A tensor tied to another (GPT-2's LM head is its token embedding) counts once, as
    it is stored once.
    """
    total = nonzero = 0
    state = model.state_dict()
    seen: set[tuple] = set()
    for name, tensor in state.items():
        if name.endswith("_mask") or not isinstance(tensor, torch.Tensor):
            continue
        if not tensor.is_quantized and tensor.data_ptr():
            key = (tensor.data_ptr(), tuple(tensor.shape), tensor.dtype)
            if key in seen:
                continue
            seen.add(key)
        if name.endswith("_orig"):
            mask = state.get(name[: -len("_orig")] + "_mask")
            tensor = tensor * mask if mask is not None else tensor
        if _is_buffer_stat(name, tensor):
            continue
        if tensor.is_quantized:
            tensor = tensor.int_repr()
        total += tensor.numel()
        nonzero += int(torch.count_nonzero(tensor))
    for name, module in model.named_modules():  # torch.ao quantized Linear keeps packed weights
        if f"{name}.weight" in state:  # quantized Conv also lists its weight: counted above
            continue
        for packed in _packed_tensors(module):
            total += packed.numel()
            values = packed.int_repr() if packed.is_quantized else packed
            nonzero += int(torch.count_nonzero(values))
    return total, nonzero


def _is_buffer_stat(name: str, tensor: torch.Tensor) -> bool:
    """BatchNorm statistics and quantizer scalars are buffers, not parameters."""
    if name.endswith(("running_mean", "running_var", "num_batches_tracked")):
        return True
    return name.endswith(("scale", "zero_point")) and tensor.numel() <= 1


def _packed_tensors(module: nn.Module) -> list[torch.Tensor]:
    """Weight and bias held inside a torch.ao quantized module's packed parameters."""
    if not hasattr(module, "_packed_params"):
        return []
    found = []
    for attr in ("weight", "bias"):
        getter = getattr(module, attr, None)
        if not callable(getter):
            continue
        try:
            value = getter()
        except Exception:  # packing formats differ across torch versions
            continue
        if isinstance(value, torch.Tensor):
            found.append(value)
    return found
