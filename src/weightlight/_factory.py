"""Resolve a `module:function` named explicitly on the command line (never from a recipe)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path

from weightlight.errors import UserError


def is_factory_spec(spec: str) -> bool:
    """True for `pkg.mod:func` (a Windows drive letter like `C:\\x` is not one)."""
    head, sep, tail = spec.partition(":")
    return bool(sep) and bool(tail) and len(head) > 1 and "/" not in head and "\\" not in head


def import_factory(spec: str, what: str) -> Callable:
    """Import `module:function`; `what` names the thing for error messages ("model", "data")."""
    if not is_factory_spec(spec):
        raise UserError(
            f"{what} factory '{spec}' is not of the form module:function",
            f"pass e.g. --{what} mypkg.models:build",
        )
    module_name, _, attr = spec.partition(":")
    # The current directory is importable, like `python -m`, so a local my_models.py works.
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise UserError(
            f"{what} factory module '{module_name}' was not found ({exc})",
            "check the spelling and that the module is importable from the current directory",
        ) from None
    fn = getattr(module, attr, None)
    if fn is None or not callable(fn):
        raise UserError(
            f"{what} factory '{spec}': module '{module_name}' has no function '{attr}'",
            "name a function defined in that module",
        )
    return fn
