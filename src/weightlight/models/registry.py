"""A small registry of built-in models: `create("mnist_cnn")`, parametrized tests for free."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

from torch import nn

from weightlight.errors import UserError

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: register a model builder under `name`."""

    def wrap(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def build(*args, **kwargs) -> nn.Module:
            bound = signature.bind(*args, **kwargs)
            model = fn(*args, **kwargs)
            # Remember how it was built, so a saved file can name its built-in architecture.
            model.weightlight_arch = {"name": name, "kwargs": _jsonable(bound.arguments)}
            return model

        _REGISTRY[name] = build
        return build

    return wrap


def names() -> list[str]:
    """Names of the built-in models."""
    return sorted(_REGISTRY)


def create(name: str, **kwargs) -> nn.Module:
    """Build a registered model; the instance remembers how it was built (for saving)."""
    if name not in _REGISTRY:
        raise UserError(f"unknown model '{name}'", f"choose one of: {', '.join(names())}")
    try:
        return _REGISTRY[name](**kwargs)
    except TypeError as exc:
        raise UserError(f"model '{name}': {exc}", "check the model's arguments") from None


def is_registered(name: str) -> bool:
    return name in _REGISTRY


def _jsonable(arguments: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in arguments.items()}
