"""Finding layers by name, and the output layers that pruning must leave alone."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from weightlight.batch import call

# Parameter-free modules an output may pass through after its last weighted layer.
_PASS_THROUGH = (nn.Dropout, nn.ReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.Identity, nn.Softmax,
                 nn.LogSoftmax, nn.Flatten)  # fmt: skip


def output_layers(model: nn.Module, example: torch.Tensor) -> list[nn.Module]:
    """The weighted layers whose outputs are the model's outputs (the classifier, a final norm).

    Pruning their output channels would change the shape of what the model returns, so
    structured pruning always ignores them. Found by running `example` with hooks and walking
    back from the output tensors through parameter-free modules (dropout, activations); if the
    output is made by functional code no hook sees, the last weighted layer run is used.
    """
    # (module, output, first input); holding the tensors keeps ids unique (no reuse).
    order: list[tuple[nn.Module, torch.Tensor, torch.Tensor | None]] = []
    hooks = []
    for module in model.modules():
        if next(iter(module.children()), None) is not None:
            continue  # leaves only

        def hook(mod, args, out, _order=order):
            if isinstance(out, torch.Tensor):
                first = args[0] if args and isinstance(args[0], torch.Tensor) else None
                _order.append((mod, out, first))

        hooks.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            outputs = _tensors(call(model, example))
    finally:
        for h in hooks:
            h.remove()
    wanted = {id(t) for t in outputs}
    found: list[nn.Module] = []
    for module, out, first in reversed(order):
        if id(out) not in wanted:
            continue
        if isinstance(module, _PASS_THROUGH) and first is not None:
            wanted.add(id(first))
        elif _is_weighted(module):
            found.append(module)
    if not found:
        weighted = [m for m, _, _ in order if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))]
        found = weighted[-1:]
    return found


def _tensors(out) -> list[torch.Tensor]:
    """Tensors in a model output: a tensor, tuple/list, dict or HF ModelOutput."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, Mapping):
        out = list(out.values())
    if isinstance(out, (tuple, list)):
        return [t for item in out for t in _tensors(item)]
    return []


def _is_weighted(module: nn.Module) -> bool:
    return any(True for _ in module.parameters(recurse=False))
