"""Feature taps: capture intermediate outputs by module name with forward hooks.

Loss code never reaches into a model: it names layers (`"conv2"`, `"layers.1"`), a `Taps`
checks the names exist before any training starts (a typo fails in one line, listing close
names), and after each forward the captured tensors are read from `taps[name]`.
"""

from __future__ import annotations

import torch
from torch import nn

from weightlight.errors import UserError
from weightlight.layer_names import check_layer_names


class Taps:
    """Forward hooks on named modules of one model; a context manager that removes them.

    Example:
        >>> import weightlight as wl
        >>> model = wl.models.mnist_cnn()
        >>> with Taps(model, ["conv2"], role="student") as taps:
        ...     _ = model(torch.zeros(1, 1, 28, 28))
        ...     tuple(taps["conv2"].shape)
        (1, 64, 24, 24)
    """

    def __init__(self, model: nn.Module, names: list[str], *, role: str = "model") -> None:
        check_layer_names(model, names, owner=role)
        modules = dict(model.named_modules())
        self.features: dict[str, torch.Tensor] = {}
        self._handles = [
            modules[name].register_forward_hook(self._hook(name)) for name in dict.fromkeys(names)
        ]

    def _hook(self, name: str):
        def capture(_module: nn.Module, _inputs, output) -> None:
            # Modules that return tuples (attention, RNNs) contribute their first output.
            self.features[name] = output[0] if isinstance(output, (tuple, list)) else output

        return capture

    def __getitem__(self, name: str) -> torch.Tensor:
        if name not in self.features:
            raise UserError(
                f"layer '{name}' was not called during the forward pass",
                "tap a module that the model's forward() actually runs",
            )
        return self.features[name]

    def clear(self) -> None:
        self.features.clear()

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def __enter__(self) -> Taps:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()
