"""One handler per config type, registered by decorator (torchao's pattern).

Every verb (prune, quantize, distill, export, quantize_onnx) keeps one `Registry`; a method
module registers its function with `@REGISTRY.register(TheConfig)`, and the verb looks it up
with `REGISTRY.lookup(config)`, so adding a method never touches the verb, and a wrong config
gets the same one-line error everywhere, naming the valid choices.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from weightlight.errors import UserError

F = TypeVar("F", bound=Callable)


class Registry(Generic[F]):
    """Config type -> handler function, for one verb.

    Args:
        what: what the handlers do, for error messages ("pruning method").
        fix: how to call the verb right; `{names}` becomes the registered config names.

    Example:
        >>> r = Registry("greeting")
        >>> @r.register(int)
        ... def _(x): return "int!"
        >>> r.lookup(3)(3)
        'int!'
        >>> r.lookup("a")
        Traceback (most recent call last):
        weightlight.errors.UserError: str is not a greeting; use one of: int
    """

    def __init__(self, what: str, fix: str = "use one of: {names}") -> None:
        self.what = what
        self.fix = fix
        self._handlers: dict[object, F] = {}

    def register(self, key: object) -> Callable[[F], F]:
        """Decorator: make `fn` the handler of `key` (a config type, or a file format name)."""

        def wrap(fn: F) -> F:
            self._handlers[key] = fn
            return fn

        return wrap

    def lookup(self, config: object) -> F:
        """The handler of `config`'s exact type; UserError listing the valid types otherwise."""
        fn = self._handlers.get(type(config))
        if fn is None:
            names = ", ".join(self.names())
            raise UserError(f"{type(config).__name__} is not a {self.what}",
                            self.fix.format(names=names))  # fmt: skip
        return fn

    def get(self, key: object) -> F | None:
        """The handler registered under `key` itself (not its type), or None."""
        return self._handlers.get(key)

    def names(self) -> list[str]:
        """The registered config class names, sorted."""
        return sorted(getattr(k, "__name__", str(k)) for k in self._handlers)

    def __contains__(self, config_type: object) -> bool:
        return config_type in self._handlers

    def __iter__(self) -> Iterator:
        return iter(self._handlers)
