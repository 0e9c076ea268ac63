"""The verb: `prune(model, config, data)` finds the handler registered for the config's type.

One handler per config class, registered with `@handler(ConfigClass)` (torchao style), so a
new method never touches the verb.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from weightlight._registry import Registry
from weightlight._third_party import third_party
from weightlight.accelerator import use_device
from weightlight.config import Finetune
from weightlight.data import Data
from weightlight.errors import UserError
from weightlight.prune._base import PruneConfig

Handler = Callable[[nn.Module, PruneConfig, "Data | None"], nn.Module]
HANDLERS: Registry[Handler] = Registry("pruning method")
# `@handler(Config)` registers `fn(model, config, data) -> new model` for that config type
handler = HANDLERS.register


def prune(
    model: nn.Module, config: PruneConfig, data: Data | None = None, *, device: str | None = None
) -> nn.Module:
    """Prune a copy of `model` as `config` says; the input model is never modified.

    Args:
        model: a trained nn.Module.
        config: one of `weightlight.prune.CONFIGS` (Unstructured, Structured, NM, Gradual).
        data: gives the example input (to trace the model) and the loaders for fine-tuning
            and Taylor importance; needed by structured and gradual pruning and any finetune.
        device: where fine-tuning runs (auto, cpu, cuda, cuda:N); default: the current
            `weightlight.accelerator.use_device` choice. The result stays where `model` was.

    Returns:
        A new nn.Module: physically smaller for Structured, masked (or with zeros baked in
        when `permanent`) for Unstructured and NM.

    Example:
        >>> import weightlight as wl
        >>> data = wl.data.digits()
        >>> small = wl.prune(wl.models.mnist_cnn(), wl.prune.Structured(ratio=0.5), data)
    """
    if not isinstance(model, nn.Module):
        raise UserError(
            f"prune needs an nn.Module, got {type(model).__name__}",
            "prune the PyTorch model before exporting or quantizing it",
        )
    fn = HANDLERS.lookup(config)
    needs_data = getattr(config, "finetune", None) is not None or getattr(
        config, "needs_data", False
    )
    if needs_data and data is None:
        raise UserError(
            f"{type(config).__name__} needs data (example input, training batches)",
            "pass data, e.g. wl.prune(model, config, wl.data.digits())",
        )
    method = getattr(config, "method", type(config).__name__)
    fix = "use wl.prune.Unstructured or NM (masks need no dependency graph), or ignore the layer"
    with use_device(device), third_party(f"prune ({method})", fix):
        return fn(model, config, data)


def run_finetune(model: nn.Module, finetune: Finetune | None, data: Data | None, **kw) -> nn.Module:
    """Fine-tune through the one training loop when asked; return `model` unchanged otherwise."""
    if finetune is None:
        return model
    from weightlight.train import train

    # in_place: handlers pass their own copy, and a masked model (weight computed by a
    # pruning hook, not a leaf) cannot be deep-copied again.
    return train(model, data, progress=False, in_place=True, **finetune.train_kwargs(), **kw)
