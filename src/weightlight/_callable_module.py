"""Let a package be called like its main verb: `wl.prune(model, wl.prune.Structured())`.

The package stays a normal module (submodules import as usual); its class is swapped for a
ModuleType subclass whose `__call__` forwards to the verb.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable


def make_callable(module_name: str, verb: Callable) -> None:
    module = sys.modules[module_name]

    class _CallableModule(types.ModuleType):
        def __call__(self, *args, **kwargs):
            return verb(*args, **kwargs)

    _CallableModule.__call__.__doc__ = verb.__doc__
    module.__class__ = _CallableModule
    module.__wrapped__ = verb  # inspect.signature(wl.prune) is the verb's (IDEs, checks)
