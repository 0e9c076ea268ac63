"""Building the architecture a file's weights go into, and filling it in."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from weightlight._factory import import_factory
from weightlight.errors import UserError
from weightlight.models import registry
from weightlight.models.hf import is_hf_spec, load_hf


def build_from_factory(factory: str | Callable[[], nn.Module]) -> nn.Module:
    """Call a model factory (registry name, `module:function` or callable) and check it."""
    if isinstance(factory, str) and registry.is_registered(factory):
        return registry.create(factory)
    if isinstance(factory, str) and is_hf_spec(factory):
        return load_hf(factory)
    fn = import_factory(factory, "model") if isinstance(factory, str) else factory
    try:
        model = fn()
    except UserError:
        raise
    except Exception as exc:
        raise UserError(
            f"model factory {factory!r} raised {type(exc).__name__}: {exc}",
            "fix the factory so it returns an nn.Module",
        ) from None
    if not isinstance(model, nn.Module):
        raise UserError(
            f"model factory {factory!r} returned {type(model).__name__}, not an nn.Module",
            "return the model instance",
        )
    return model


def architecture(arch: dict | None, factory, problem: str, path: Path) -> nn.Module:
    """The model a file's weights go into: the user's factory, else the built-in it names.

    A built-in named by the file is built on the meta device first (no memory): arguments a
    forged header made absurd (negative or 2**40-wide layers) fail in one line, and a model
    far larger than the file's weights could fill is refused before it is allocated.
    """
    if factory is not None:
        return build_from_factory(factory)
    if arch is None:
        raise UserError(problem, "pass the architecture with --model mypkg.mod:build (or factory=)")
    name, kwargs = arch["name"], arch.get("kwargs", {})
    try:
        with torch.device("meta"):
            probe = registry.create(name, **kwargs)
    except (RuntimeError, ValueError, OverflowError) as exc:
        raise UserError(
            f"'{path}' names model '{name}' with arguments it cannot build ({first_line(exc)})",
            "the file is damaged or forged: re-save the model with weightlight",
        ) from None
    elements = sum(t.numel() for t in (*probe.parameters(), *probe.buffers()))
    # Pruning shrinks a saved model below its architecture; 1000x is far beyond any pruning.
    if elements > 1000 * path.stat().st_size + 2**24:
        raise UserError(
            f"'{path}' names a '{name}' of {elements:,} weights but holds "
            f"{path.stat().st_size:,} bytes",
            "the file is damaged or forged: re-save the model with weightlight",
        )
    return registry.create(name, **kwargs)


def load_state(model: nn.Module, state: dict, path: Path) -> None:
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        msg = str(exc)
        detail = msg.split(":", 1)[-1].strip().split("\n")[0][:200]
        raise UserError(
            f"the weights in '{path}' do not fit the architecture ({detail})",
            "pass the --model that produced these weights",
        ) from None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:160]
