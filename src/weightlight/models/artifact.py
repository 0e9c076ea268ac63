"""The deployable artifact of a torch model: the weights as they ship, saved in the best format.

`measure` asks a model for its artifact (through `Runnable.save`) and only weighs the file.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from weightlight.models.io import save_model


def effective_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The weights as deployed: pruning masks applied, tied tensors stored once."""
    state = model.state_dict()
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for name, tensor in state.items():
        if not isinstance(tensor, torch.Tensor) or name.endswith("_mask"):
            continue
        if name.endswith("_orig"):
            mask = state.get(name[: -len("_orig")] + "_mask")
            name, tensor = name[: -len("_orig")], tensor * mask if mask is not None else tensor
        ptr = tensor.untyped_storage().data_ptr() if not tensor.is_quantized else id(tensor)
        if ptr in seen and tensor.numel() > 0:
            continue
        seen.add(ptr)
        out[name] = tensor.detach().contiguous()
    return out


def save_torch_artifact(model: nn.Module, directory: Path) -> Path:
    """Save the deployable weights; safetensors when possible, else a weights-only .pt.

    Quantized torch.ao modules keep packed weights that safetensors cannot hold, so those
    go through `torch.save(state_dict)`, which `torch.load(weights_only=True)` reads back.
    """
    directory.mkdir(parents=True, exist_ok=True)
    state = effective_state_dict(model)
    if all(not t.is_quantized for t in state.values()) and not _has_packed(model):
        from safetensors.torch import save_file

        path = directory / "model.safetensors"
        save_file(state, str(path))
        return path
    # a wl.quantize result is written self-contained, so load_model reloads it on its own
    return save_model(model, directory / "model.pt")


def _has_packed(model: nn.Module) -> bool:
    return any(hasattr(m, "_packed_params") for m in model.modules())
