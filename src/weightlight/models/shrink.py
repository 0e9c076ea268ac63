"""Student builders: the same built-in architecture with every layer's width scaled.

`shrink(model, width=0.5)` reads how a built-in model was built (the registry name and
arguments it remembers in `weightlight_arch`) and builds a fresh, untrained copy with its
channel / hidden widths multiplied by `width`. Depth, input channels and the number of classes
are kept, so the student takes the teacher's inputs and predicts the teacher's classes.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from weightlight.errors import UserError
from weightlight.models import registry

# How each built-in scales: arguments as recorded at build time -> arguments of the student.
_Scaler = Callable[[dict, float], dict]


def _scale(value: float, width: float) -> int:
    return max(1, round(value * width))


def _cnn(kwargs: dict, width: float) -> dict:
    # MnistCNN already takes a float width multiplier; compose it with the one asked for.
    return {**kwargs, "width": float(kwargs.get("width", 1.0)) * width}


def _resnet(kwargs: dict, width: float) -> dict:
    return {**kwargs, "width": _scale(kwargs.get("width", 16), width)}


def _mlp(kwargs: dict, width: float) -> dict:
    return {**kwargs, "hidden": [_scale(h, width) for h in kwargs.get("hidden", (256, 128))]}


_SCALERS: dict[str, _Scaler] = {"mnist_cnn": _cnn, "resnet_small": _resnet, "mlp": _mlp}


def shrink(model: nn.Module, width: float = 0.5) -> nn.Module:
    """A fresh (untrained) built-in model like `model` with layer widths scaled by `width`.

    Parameters of conv/linear layers scale roughly with `width**2`, so `width=0.5` gives about a
    quarter of the parameters (the seed CNN: 1,199,882 -> 300,426).

    Args:
        model: a model built by the registry (`wl.models.mnist_cnn()`, `create("mlp")`, or one
            loaded from a `.safetensors` file that names its built-in architecture).
        width: multiplier on channels / hidden units, in (0, 1] for a smaller student.

    Returns:
        A new model; `model` is not touched (its weights are not copied either).

    Example:
        >>> import weightlight as wl
        >>> student = wl.models.shrink(wl.models.mnist_cnn(), width=0.5)
        >>> sum(p.numel() for p in student.parameters())
        300426
    """
    if not 0 < width <= 1:
        raise UserError(f"shrink width must be in (0, 1], got {width}", "use e.g. width=0.5")
    arch = getattr(model, "weightlight_arch", None)
    if arch is None or arch.get("name") not in _SCALERS:
        raise UserError(
            f"shrink works on the built-in models ({', '.join(sorted(_SCALERS))}), "
            f"not on a {type(model).__name__}",
            "build the smaller student yourself and pass it to wl.distill",
        )
    kwargs = _SCALERS[arch["name"]](dict(arch["kwargs"]), width)
    return registry.create(arch["name"], **kwargs)
