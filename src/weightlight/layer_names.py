"""The one check of user-given layer names (prune `ignore`, quantize `exclude`, distill taps).

A typo in a layer name fails before any work starts, in one line that says which field named
it, suggests close names and lists valid ones.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from torch import nn

from weightlight.errors import UserError


def modules_by_name(
    model: nn.Module, names: Iterable[str], where: str = "", owner: str = "model"
) -> dict[str, nn.Module]:
    """The modules of `model` called `names`; UserError on the first name it does not have.

    Args:
        where: the field that named the layers (`Structured.ignore`), put before the problem.
        owner: what `model` is to the user (`model`, `student`, `teacher`).

    Example:
        >>> import weightlight as wl
        >>> list(modules_by_name(wl.models.mnist_cnn(), ["conv1"]))
        ['conv1']
    """
    modules = dict(model.named_modules())
    available = [n for n in modules if n]
    out = {}
    for name in names:
        if name not in available:
            close = difflib.get_close_matches(name, available, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            shown = ", ".join(available[:12]) + (" ..." if len(available) > 12 else "")
            raise UserError(
                f"{where + ': ' if where else ''}the {owner} has no layer named {name!r}{hint}",
                f"use a name from model.named_modules(): {shown}",
            )
        out[name] = modules[name]
    return out


def check_layer_names(
    model: nn.Module, names: Iterable[str], where: str = "", owner: str = "model"
) -> None:
    """UserError naming the first of `names` that `model` has no module called."""
    modules_by_name(model, names, where, owner)
